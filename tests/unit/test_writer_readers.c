/* The writer and dead readers: a reader slot left by a killed process pins
 * every page freed after its snapshot, so a small map fills up. The writer
 * clears dead readers' slots before each group commit, and a request that
 * finds the map full because a reader died in the middle of the batch is
 * run once more after the slots are cleared. The pinning reader is a forked
 * child with its own store (opened after fork, LMDB's rule). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <ftw.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../../server/writer.h"

#define MAP_BYTES ((size_t)2 << 20)
#define FILL_MAX 100000

typedef struct fixture {
    char dir[64];
    pid_t reader;             /* child holding a read snapshot, until killed */
    store *st;
    struct ev_loop *loop;
    writer *w;
    usher_err last_err;
    int attempts;             /* calls of the killing handler */
    usher_config cfg;
    call_env env;
} fixture;

static fixture *current;      /* the handler below reaches the fixture through this */

static store_options small_map(void)
{
    store_options o = store_options_default();
    o.sync = STORE_SYNC_NONE;
    o.map_size_bytes = MAP_BYTES;
    return o;
}

static void kill_reader(fixture *f)
{
    if (f->reader <= 0) return;
    kill(f->reader, SIGKILL);
    waitpid(f->reader, NULL, 0);
    f->reader = 0;
}

/* Fork a child that opens the store and holds a snapshot; then open ours. */
static fixture *start(void)
{
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/usher-wreaders-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    store_options opt = small_map();
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    f->reader = fork();
    assert_true(f->reader >= 0);
    if (f->reader == 0) {
        store *st;
        store_txn *txn;
        if (store_open(&st, f->dir, &opt) != USHER_ERR_OK || store_read_begin(st, &txn) != USHER_ERR_OK)
            _exit(1);
        if (write(ready[1], "r", 1) != 1) _exit(1);
        for (;;) pause();
    }
    char c;
    close(ready[1]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    assert_int_equal(store_open(&f->st, f->dir, &opt), USHER_ERR_OK);
    return f;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static void finish(fixture *f)
{
    if (f->w) writer_stop(f->w);
    if (f->loop) ev_loop_destroy(f->loop);
    kill_reader(f);
    store_close(f->st);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
}

static user_id user_n(uint64_t n)
{
    user_id u;
    memset(&u, 0, sizeof u);
    memcpy(u.bytes, &n, sizeof n);
    return u;
}

/* Commits one charge per transaction for new users until the map is full
 * (the child's snapshot keeps every freed page); returns how many fit. */
static int fill_map(fixture *f)
{
    for (int i = 1; i < FILL_MAX; i++) {
        store_txn *txn;
        int64_t balance;
        user_id u = user_n((uint64_t)i);
        assert_int_equal(store_write_begin(f->st, &txn), USHER_ERR_OK);
        usher_err e = store_wallet_charge(txn, &u, 1, 1700000000000, &balance);
        if (e == USHER_ERR_OK) e = store_txn_commit(txn);
        else store_txn_end(txn);
        if (e == USHER_ERR_STORAGE_FULL) return i - 1;
        assert_int_equal(e, USHER_ERR_OK);
    }
    fail_msg("the map never filled");
    return 0;
}

static usher_err charge(call *c)
{
    int64_t balance;
    usher_err e = store_wallet_charge(c->txn, &c->user, 1, c->now_ms, &balance);
    if (e == USHER_ERR_OK) msgpack_pack_map(c->out, 0);
    return e;
}

/* The reader dies while this request runs, right before it writes. */
static usher_err kill_reader_then_charge(call *c)
{
    current->attempts++;
    kill_reader(current);
    return charge(c);
}

static const method_def plain = { USHER_METHOD_WALLET_CHARGE, charge, METHOD_WRITE, NULL };
static const method_def killing = { USHER_METHOD_WALLET_CHARGE, kill_reader_then_charge, METHOD_WRITE, NULL };

static void on_done(void *ctx, request *req)
{
    fixture *f = ctx;
    f->last_err = req->err;
    request_free(req);
    ev_break(f->loop, EVBREAK_ALL);
}

/* Runs one request of method m through the writer; returns its outcome. */
static usher_err write_one(fixture *f, const method_def *m, uint64_t user)
{
    if (!f->w) {
        f->loop = ev_loop_new(EVFLAG_AUTO);
        f->w = writer_start(f->loop, f->st, 16, on_done, f);
        assert_non_null(f->w);
    }
    f->env.cfg = &f->cfg;
    request *req = request_new(&f->env, NULL);
    assert_non_null(req);
    req->method = m;
    req->call.method = m;
    req->call.user = user_n(user);
    req->call.has_user = true;
    writer_submit(f->w, req);
    writer_flush(f->w);
    ev_run(f->loop, 0);
    return f->last_err;
}

static void test_a_full_map_pinned_by_a_live_reader_stays_full(void **state)
{
    (void)state;
    fixture *f = start();
    int fitted = fill_map(f);
    assert_true(fitted > 0);
    /* store_reader_list shows the child's slot, far behind the newest commit. */
    store_reader slots[16];
    size_t n = 0;
    uint64_t last = 0;
    assert_int_equal(store_reader_list(f->st, slots, 16, &n, &last), USHER_ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(slots[0].pid, f->reader);
    assert_true(last >= slots[0].txnid + (uint64_t)fitted);
    assert_int_equal(write_one(f, &plain, 1), USHER_ERR_STORAGE_FULL);
    assert_int_equal(store_readers_cleared_take(f->st), 0);
    finish(f);
}

static void test_dead_reader_is_cleared_before_the_next_group_commit(void **state)
{
    (void)state;
    fixture *f = start();
    fill_map(f);
    kill_reader(f);
    assert_int_equal(write_one(f, &plain, 1), USHER_ERR_OK);
    assert_int_equal(store_readers_cleared_take(f->st), 1);
    assert_int_equal(store_readers_cleared_take(f->st), 0);   /* taken */
    finish(f);
}

static void test_request_finding_the_map_full_of_a_reader_dead_mid_batch_runs_again(void **state)
{
    (void)state;
    fixture *f = start();
    current = f;
    fill_map(f);
    /* The reader is alive when the batch begins and dies inside it. */
    assert_int_equal(write_one(f, &killing, 1), USHER_ERR_OK);
    assert_int_equal(f->attempts, 2);
    assert_int_equal(store_readers_cleared_take(f->st), 1);
    store_txn *txn;
    int64_t balance = 0;
    user_id u = user_n(1);
    assert_int_equal(store_read_begin(f->st, &txn), USHER_ERR_OK);
    assert_int_equal(store_wallet_balance(txn, &u, &balance), USHER_ERR_OK);
    store_txn_end(txn);
    assert_int_equal(balance, 2);   /* the fill's charge and this one, applied once */
    current = NULL;
    finish(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_full_map_pinned_by_a_live_reader_stays_full),
        cmocka_unit_test(test_dead_reader_is_cleared_before_the_next_group_commit),
        cmocka_unit_test(test_request_finding_the_map_full_of_a_reader_dead_mid_batch_runs_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
