/* The LMDB environment: reopen, nested transactions, snapshots, ids, and
 * two processes sharing one data dir. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <time.h>
#include "store_fixture.h"
#include "../../server/store_internal.h"

static void test_store_data_survives_close_and_reopen(void **state)
{
    store_fixture *fx = *state;
    uint64_t concert_id, schedule_id;
    fx_catalog(fx, 5, 100, FX_T0 + 100000, &concert_id, &schedule_id);
    fx_charge(fx, 1, 777);
    assert_int_equal(fx_hold(fx, 1, concert_id, schedule_id, 3, FX_T0, NULL), USHER_ERR_OK);
    fx_close(fx);
    fx_open(fx);

    store_txn *t = fx_read(fx);
    store_concert c;
    assert_int_equal(store_concert_get(t, concert_id, &c), USHER_ERR_OK);
    assert_string_equal(c.title, "Show");
    store_seat seats[STORE_SEATS_MAX];
    size_t n;
    assert_int_equal(store_schedule_seats(t, schedule_id, FX_T0, seats, &n), USHER_ERR_OK);
    assert_int_equal(n, 5);
    assert_false(seats[2].available);
    assert_true(seats[1].available);
    store_txn_end(t);
    assert_int_equal(fx_balance(fx, 1), 777);
}

static void test_store_ids_continue_after_reopen(void **state)
{
    store_fixture *fx = *state;
    uint64_t ids[3];
    store_txn *t = fx_write(fx);
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_concert_create(t, "A", 1, "", 0, &ids[i]), USHER_ERR_OK);
    fx_commit(t);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 2);
    assert_int_equal(ids[2], 3);
    fx_close(fx);
    fx_open(fx);
    uint64_t next;
    t = fx_write(fx);
    assert_int_equal(store_concert_create(t, "B", 1, "", 0, &next), USHER_ERR_OK);
    fx_commit(t);
    assert_int_equal(next, 4);
}

static void test_store_child_abort_leaves_parent_intact(void **state)
{
    store_fixture *fx = *state;
    user_id u = fx_user(1);
    int64_t after;
    store_txn *parent = fx_write(fx);
    assert_int_equal(store_wallet_charge(parent, &u, 100, FX_T0, &after), USHER_ERR_OK);

    store_txn *child = NULL;
    assert_int_equal(store_child_begin(parent, &child), USHER_ERR_OK);
    assert_int_equal(store_wallet_charge(child, &u, 50, FX_T0, &after), USHER_ERR_OK);
    assert_int_equal(after, 150);
    store_txn_end(child);

    assert_int_equal(store_child_begin(parent, &child), USHER_ERR_OK);
    assert_int_equal(store_wallet_charge(child, &u, 7, FX_T0, &after), USHER_ERR_OK);
    assert_int_equal(store_txn_commit(child), USHER_ERR_OK);
    int64_t balance;
    assert_int_equal(store_wallet_balance(parent, &u, &balance), USHER_ERR_OK);
    assert_int_equal(balance, 107);
    fx_commit(parent);
    assert_int_equal(fx_balance(fx, 1), 107);

    store_ledger_entry e[4];
    size_t n;
    store_txn *r = fx_read(fx);
    assert_int_equal(store_wallet_history(r, &u, 0, e, 4, &n), USHER_ERR_OK);
    store_txn_end(r);
    assert_int_equal(n, 2);
    assert_int_equal(e[0].amount_krw, 7);
    assert_int_equal(e[1].amount_krw, 100);
}

/* The value under key in DB_META as a short string ("" when absent). */
static const char *meta_value(store_txn *t, const char *key, char out[16])
{
    MDB_val v;
    out[0] = '\0';
    if (store_get(t, DB_META, key, strlen(key), &v) == 0 && v.mv_size < 16) {
        memcpy(out, v.mv_data, v.mv_size);
        out[v.mv_size] = '\0';
    }
    return out;
}

/* A child is a savepoint: ending it puts back every key it created,
 * overwrote (twice), deleted or deleted through a cursor, and the parent
 * then commits exactly its own writes. */
static void test_store_child_end_undoes_every_kind_of_write(void **state)
{
    store_fixture *fx = *state;
    char buf[16];
    store_txn *parent = fx_write(fx);
    assert_int_equal(store_put(parent, DB_META, "t.keep", 6, "a", 1, 0), USHER_ERR_OK);
    assert_int_equal(store_put(parent, DB_META, "t.gone", 6, "b", 1, 0), USHER_ERR_OK);
    assert_int_equal(store_put(parent, DB_META, "t.curs", 6, "c", 1, 0), USHER_ERR_OK);

    store_txn *child = NULL;
    assert_int_equal(store_child_begin(parent, &child), USHER_ERR_OK);
    assert_int_equal(store_put(child, DB_META, "t.new", 5, "n", 1, 0), USHER_ERR_OK);
    assert_int_equal(store_put(child, DB_META, "t.keep", 6, "A1", 2, 0), USHER_ERR_OK);
    assert_int_equal(store_put(child, DB_META, "t.keep", 6, "A22", 3, 0), USHER_ERR_OK);
    assert_int_equal(store_del(child, DB_META, "t.gone", 6), USHER_ERR_OK);
    MDB_cursor *cur;
    assert_int_equal(store_cursor(child, DB_META, &cur), USHER_ERR_OK);
    MDB_val k = { 6, "t.curs" }, v;
    assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_SET), 0);
    assert_int_equal(store_mdb_cursor_del(child, DB_META, cur), 0);
    assert_string_equal(meta_value(child, "t.keep", buf), "A22");
    assert_string_equal(meta_value(child, "t.curs", buf), "");
    store_txn_end(child);

    assert_false(store_txn_broken(parent));
    assert_string_equal(meta_value(parent, "t.new", buf), "");
    assert_string_equal(meta_value(parent, "t.keep", buf), "a");
    assert_string_equal(meta_value(parent, "t.gone", buf), "b");
    assert_string_equal(meta_value(parent, "t.curs", buf), "c");
    fx_commit(parent);

    store_txn *r = fx_read(fx);
    assert_string_equal(meta_value(r, "t.new", buf), "");
    assert_string_equal(meta_value(r, "t.keep", buf), "a");
    assert_string_equal(meta_value(r, "t.gone", buf), "b");
    assert_string_equal(meta_value(r, "t.curs", buf), "c");
    store_txn_end(r);
}

/* An LMDB failure inside a child breaks the parent too: no further child,
 * and its commit keeps nothing. A refusal by a rule breaks nothing. */
static void test_store_lmdb_failure_in_a_child_breaks_the_parent(void **state)
{
    store_fixture *fx = *state;
    user_id u = fx_user(1);
    int64_t after;
    store_txn *parent = fx_write(fx), *child = NULL;
    assert_int_equal(store_wallet_charge(parent, &u, 100, FX_T0, &after), USHER_ERR_OK);
    assert_int_equal(store_child_begin(parent, &child), USHER_ERR_OK);
    assert_int_equal(store_wallet_charge(child, &u, 0, FX_T0, &after), USHER_ERR_INVALID_ARGUMENT);
    store_txn_end(child);
    assert_false(store_txn_broken(parent));

    assert_int_equal(store_child_begin(parent, &child), USHER_ERR_OK);
    assert_int_not_equal(store_put(child, DB_META, "", 0, "x", 1, 0), USHER_ERR_OK);
    assert_true(store_txn_broken(child));
    store_txn_end(child);
    assert_true(store_txn_broken(parent));
    assert_int_equal(store_child_begin(parent, &child), USHER_ERR_INTERNAL);
    assert_int_not_equal(store_txn_commit(parent), USHER_ERR_OK);
    assert_int_equal(fx_balance(fx, 1), 0);
}

/* A schema 1 dir (with its "balances" database) opened by a writer is
 * upgraded: stamped 3, balances dropped, and each balance read from the
 * ledger as before. */
static void test_store_schema_1_dir_is_upgraded_on_open(void **state)
{
    store_fixture *fx = *state;
    fx_charge(fx, 1, 4321);
    MDB_txn *raw;
    assert_int_equal(mdb_txn_begin(fx->st->env, NULL, 0, &raw), 0);
    MDB_dbi balances;
    assert_int_equal(mdb_dbi_open(raw, "balances", MDB_CREATE, &balances), 0);
    user_id u = fx_user(1);
    int64_t old_balance = 4321;
    uint32_t v1 = 1;
    MDB_val k = { 16, u.bytes }, v = { sizeof old_balance, &old_balance };
    assert_int_equal(mdb_put(raw, balances, &k, &v, 0), 0);
    MDB_val sk = { 6, "schema" }, sv = { sizeof v1, &v1 };
    assert_int_equal(mdb_put(raw, fx->st->dbi[DB_META], &sk, &sv, 0), 0);
    assert_int_equal(mdb_txn_commit(raw), 0);
    fx_close(fx);
    fx_open(fx);

    assert_int_equal(mdb_txn_begin(fx->st->env, NULL, MDB_RDONLY, &raw), 0);
    assert_int_equal(mdb_dbi_open(raw, "balances", 0, &balances), MDB_NOTFOUND);
    assert_int_equal(mdb_get(raw, fx->st->dbi[DB_META], &sk, &sv), 0);
    assert_int_equal(sv.mv_size, sizeof v1);
    memcpy(&v1, sv.mv_data, sizeof v1);
    assert_int_equal(v1, 3);
    mdb_txn_abort(raw);
    assert_int_equal(fx_balance(fx, 1), 4321);
    fx_charge(fx, 1, 9);
    assert_int_equal(fx_balance(fx, 1), 4330);
}

static void test_store_second_child_at_once_is_refused(void **state)
{
    store_fixture *fx = *state;
    store_txn *parent = fx_write(fx), *a = NULL, *b = NULL;
    assert_int_equal(store_child_begin(parent, &a), USHER_ERR_OK);
    assert_int_equal(store_child_begin(parent, &b), USHER_ERR_INTERNAL);
    store_txn_end(a);
    assert_int_equal(store_child_begin(parent, &b), USHER_ERR_OK);
    store_txn_end(b);
    store_txn_end(parent);

    store_txn *r = fx_read(fx);
    assert_int_equal(store_child_begin(r, &a), USHER_ERR_INTERNAL);
    store_txn_end(r);
}

static void test_store_read_txn_sees_its_snapshot(void **state)
{
    store_fixture *fx = *state;
    store_txn *r = fx_read(fx);
    bool empty = false;
    assert_int_equal(store_is_empty(r, &empty), USHER_ERR_OK);
    assert_true(empty);
    uint64_t concert_id, schedule_id;
    fx_catalog(fx, 1, 1, FX_T0, &concert_id, &schedule_id);
    assert_int_equal(store_is_empty(r, &empty), USHER_ERR_OK);
    assert_true(empty);   /* the old snapshot */
    store_txn_end(r);
    r = fx_read(fx);
    assert_int_equal(store_is_empty(r, &empty), USHER_ERR_OK);
    assert_false(empty);
    store_txn_end(r);
}

static void test_store_many_read_txns_reuse_slots(void **state)
{
    store_fixture *fx = *state;
    store_txn *open[20];
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 20; i++)
            open[i] = fx_read(fx);
        for (int i = 0; i < 20; i++)
            store_txn_end(open[i]);
    }
    int cleared = -1;
    assert_int_equal(store_reader_check(fx->st, &cleared), USHER_ERR_OK);
    assert_int_equal(cleared, 0);
}

static void test_store_open_refuses_bad_policy(void **state)
{
    store_fixture *fx = *state;
    store_options o = fx_options();
    o.policy.max_holds = STORE_HOLDS_MAX + 1;
    store *st = NULL;
    fx_close(fx);
    assert_int_equal(store_open(&st, fx->dir, &o), USHER_ERR_INTERNAL);
    assert_null(st);
}

/* Child process: opens the store itself, adds a concert, then waits until
 * it sees the other process's concert too. Exit 0 on success. */
static int share_child(const char *dir, const char *title)
{
    store_options o = fx_options();
    store *st = NULL;
    if (store_open(&st, dir, &o) != USHER_ERR_OK)
        return 10;
    store_txn *t = NULL;
    uint64_t id;
    if (store_write_begin(st, &t) != USHER_ERR_OK ||
        store_concert_create(t, title, strlen(title), "", 0, &id) != USHER_ERR_OK ||
        store_txn_commit(t) != USHER_ERR_OK)
        return 11;
    int rc = 12;
    for (int tries = 0; tries < 5000 && rc != 0; tries++) {
        store_concert list[4];
        size_t n = 0;
        if (store_read_begin(st, &t) != USHER_ERR_OK)
            return 13;
        if (store_concert_list(t, 0, list, 4, &n) == USHER_ERR_OK && n == 2 &&
            strcmp(list[0].title, list[1].title) != 0)
            rc = 0;
        store_txn_end(t);
        if (rc != 0)
            usleep(1000);
    }
    store_close(st);
    return rc;
}

static void test_store_two_processes_share_one_dir(void **state)
{
    store_fixture *fx = *state;
    fx_close(fx);   /* the parent holds no env across fork */
    pid_t pids[2];
    const char *titles[2] = { "From A", "From B" };
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(share_child(fx->dir, titles[i]));
    }
    for (int i = 0; i < 2; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    fx_open(fx);
    store_txn *t = fx_read(fx);
    store_concert list[4];
    size_t n;
    assert_int_equal(store_concert_list(t, 0, list, 4, &n), USHER_ERR_OK);
    store_txn_end(t);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].concert_id, 1);
    assert_int_equal(list[1].concert_id, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_store_data_survives_close_and_reopen),
        FX_TEST(test_store_ids_continue_after_reopen),
        FX_TEST(test_store_child_abort_leaves_parent_intact),
        FX_TEST(test_store_child_end_undoes_every_kind_of_write),
        FX_TEST(test_store_schema_1_dir_is_upgraded_on_open),
        FX_TEST(test_store_lmdb_failure_in_a_child_breaks_the_parent),
        FX_TEST(test_store_second_child_at_once_is_refused),
        FX_TEST(test_store_read_txn_sees_its_snapshot),
        FX_TEST(test_store_many_read_txns_reuse_slots),
        FX_TEST(test_store_open_refuses_bad_policy),
        FX_TEST(test_store_two_processes_share_one_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
