/* A group commit that fails as a whole: when the batch's write transaction
 * cannot begin, or its one top-level commit fails, every request of the
 * batch is answered with that error, none is told OK, none carries a
 * result, and nothing of the batch is stored; the next batch works.
 *
 * The failures are injected at link time: this binary is linked with
 * -Wl,--wrap=store_write_begin,--wrap=store_txn_commit (its own Makefile
 * rule), so the writer's calls land in the __wrap_ functions below and the
 * production code carries no test hook. Only the top-level commit is made
 * to fail; the per-request child commits go through, so the children's
 * writes really are inside the parent when it fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <ftw.h>
#include "../../server/writer.h"
#include "store_fixture.h"
#include "../../server/store_internal.h"

#define CHARGE_KRW 100
#define BATCH 12                  /* every third request fails on its own */

/* What the wrappers inject and what they saw. The linker gives them no
 * context argument, so the plan is file-scope; it is written only while the
 * writer thread is idle (before writer_flush), and read back after the
 * batch came home through the writer's mutex. */
typedef struct fault_plan {
    usher_err begin_err;          /* store_write_begin returns this (OK: runs for real) */
    usher_err commit_err;         /* the top-level commit returns this (OK: commits for real) */
    unsigned begins, top_commits, child_commits, handler_runs;
} fault_plan;

static fault_plan plan;

usher_err __real_store_write_begin(store *st, store_txn **out);
usher_err __real_store_txn_commit(store_txn *txn);

usher_err __wrap_store_write_begin(store *st, store_txn **out)
{
    plan.begins++;
    if (plan.begin_err != USHER_ERR_OK)
        return plan.begin_err;
    return __real_store_write_begin(st, out);
}

/* A failed mdb_txn_commit frees the transaction: abort it, as LMDB does. */
usher_err __wrap_store_txn_commit(store_txn *txn)
{
    if (txn->kind != TXN_WRITE) {
        plan.child_commits++;
        return __real_store_txn_commit(txn);
    }
    plan.top_commits++;
    if (plan.commit_err == USHER_ERR_OK)
        return __real_store_txn_commit(txn);
    store_txn_end(txn);
    return plan.commit_err;
}

/* ---- requests: charges as in test_writer.c, counting their runs ---- */

static usher_err charge_then_succeed(call *c)
{
    int64_t balance;
    plan.handler_runs++;
    usher_err e = store_wallet_charge(c->txn, &c->user, CHARGE_KRW, c->now_ms, &balance);
    if (e != USHER_ERR_OK) return e;
    msgpack_pack_map(c->out, 1);
    msgpack_pack_str_with_body(c->out, "balance", 7);
    msgpack_pack_int64(c->out, balance);
    return USHER_ERR_OK;
}

static usher_err charge_then_fail(call *c)
{
    int64_t balance;
    plan.handler_runs++;
    store_wallet_charge(c->txn, &c->user, CHARGE_KRW, c->now_ms, &balance);
    return USHER_ERR_INSUFFICIENT_BALANCE;
}

/* Charges, then makes an LMDB call fail (an empty key): the shared
 * transaction counts as broken from then on. */
static usher_err charge_then_break(call *c)
{
    int64_t balance;
    plan.handler_runs++;
    store_wallet_charge(c->txn, &c->user, CHARGE_KRW, c->now_ms, &balance);
    return store_put(c->txn, DB_META, "", 0, "x", 1, 0);
}

static const method_def breaking = { USHER_METHOD_WALLET_CHARGE, charge_then_break, METHOD_WRITE, NULL };
static const method_def succeeding = { USHER_METHOD_WALLET_CHARGE, charge_then_succeed, METHOD_WRITE, NULL };
static const method_def failing = { USHER_METHOD_WALLET_CHARGE, charge_then_fail, METHOD_WRITE, NULL };

/* ---- fixture: one store, one loop, one writer ---- */

typedef struct fixture {
    char dir[64];
    store *st;
    struct ev_loop *loop;
    writer *w;
    usher_config cfg;
    call_env env;
    user_id users[BATCH];
    size_t expected, done, done_ok, with_result;
    usher_err errs[BATCH + 1];    /* in completion order (FIFO: submission order) */
} fixture;

static void on_done(void *ctx, request *req)
{
    fixture *f = ctx;
    if (f->done < BATCH + 1) f->errs[f->done] = req->err;
    f->done++;
    if (req->err == USHER_ERR_OK) f->done_ok++;
    if (req->result.size > 0) f->with_result++;
    request_free(req);
    if (f->done == f->expected) ev_break(f->loop, EVBREAK_ALL);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    memset(&plan, 0, sizeof plan);
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    strcpy(f->dir, "/tmp/usher-writer-faults-XXXXXX");
    if (!mkdtemp(f->dir)) { free(f); return -1; }
    store_options opt = store_options_default();
    opt.sync = STORE_SYNC_NONE;
    opt.map_size_bytes = 64u << 20;
    if (store_open(&f->st, f->dir, &opt) != USHER_ERR_OK) return -1;
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->w = writer_start(f->loop, f->st, 256, on_done, f);
    if (!f->w) return -1;
    f->env.cfg = &f->cfg;
    for (size_t i = 0; i < BATCH; i++) f->users[i].bytes[15] = (uint8_t)(i + 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    memset(&plan, 0, sizeof plan);
    writer_stop(f->w);
    ev_loop_destroy(f->loop);
    store_close(f->st);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Submits BATCH charges (every third fails on its own), plus the
 * housekeeping job when with_housekeeping, and runs them as one batch. */
static void run_one_batch(fixture *f, bool with_housekeeping)
{
    uint64_t batches_before, batches_after, requests;
    writer_counts(f->w, &batches_before, &requests);
    f->done = f->done_ok = f->with_result = 0;
    f->expected = BATCH + (with_housekeeping ? 1 : 0);
    for (size_t i = 0; i < BATCH; i++) {
        request *req = request_new(&f->env, NULL);
        assert_non_null(req);
        req->method = (i % 3 == 2) ? &failing : &succeeding;
        req->call.method = req->method;
        req->call.user = f->users[i];
        req->call.has_user = true;
        writer_submit(f->w, req);
    }
    if (with_housekeeping) {
        request *job = request_new(&f->env, NULL);   /* method NULL: housekeeping */
        assert_non_null(job);
        writer_submit(f->w, job);
    }
    writer_flush(f->w);
    ev_run(f->loop, 0);
    assert_int_equal(f->done, f->expected);
    writer_counts(f->w, &batches_after, &requests);
    assert_int_equal(batches_after - batches_before, 1);   /* one group commit, as a whole */
}


/* Nobody was told OK, nobody got a result, everybody got err. */
static void expect_every_request_failed_with(const fixture *f, usher_err err)
{
    assert_int_equal(f->done_ok, 0);
    assert_int_equal(f->with_result, 0);
    for (size_t i = 0; i < f->expected; i++) {
        if (f->errs[i] != err)
            fail_msg("request %zu of the batch: %s, want %s", i, usher_err_name(f->errs[i]),
                     usher_err_name(err));
    }
}

static void expect_nothing_stored(const fixture *f)
{
    for (size_t i = 0; i < BATCH; i++)
        assert_int_equal(fx_balance_of(f->st, &f->users[i]), 0);
}

static void commit_fails_with(void **state, usher_err err)
{
    fixture *f = *state;
    plan.commit_err = err;
    run_one_batch(f, true);
    assert_int_equal(plan.begins, 1);
    assert_int_equal(plan.handler_runs, BATCH);
    assert_int_equal(plan.child_commits, BATCH - BATCH / 3 + 1);   /* + housekeeping */
    assert_int_equal(plan.top_commits, 1);
    expect_every_request_failed_with(f, err);
    expect_nothing_stored(f);
}

static void test_failed_commit_of_the_batch_fails_every_request_storage_full(void **state)
{
    commit_fails_with(state, USHER_ERR_STORAGE_FULL);
}

static void test_failed_commit_of_the_batch_fails_every_request_internal(void **state)
{
    commit_fails_with(state, USHER_ERR_INTERNAL);
}

static void test_failed_begin_of_the_batch_fails_every_request_and_runs_none(void **state)
{
    fixture *f = *state;
    plan.begin_err = USHER_ERR_STORAGE_FULL;
    run_one_batch(f, true);
    assert_int_equal(plan.begins, 1);
    assert_int_equal(plan.handler_runs, 0);
    assert_int_equal(plan.top_commits, 0);
    expect_every_request_failed_with(f, USHER_ERR_STORAGE_FULL);
    expect_nothing_stored(f);
}

/* The failed batch leaves no trace, and the writer goes on: the same
 * requests in the next batch are applied exactly once. */
static void test_next_batch_after_a_failed_commit_is_applied_once(void **state)
{
    fixture *f = *state;
    plan.commit_err = USHER_ERR_STORAGE_FULL;
    run_one_batch(f, false);
    expect_every_request_failed_with(f, USHER_ERR_STORAGE_FULL);

    plan.commit_err = USHER_ERR_OK;
    run_one_batch(f, false);
    assert_int_equal(plan.top_commits, 2);
    assert_int_equal(f->done_ok, BATCH - BATCH / 3);
    assert_int_equal(f->with_result, BATCH - BATCH / 3);
    for (size_t i = 0; i < BATCH; i++)
        assert_int_equal(fx_balance_of(f->st, &f->users[i]), i % 3 == 2 ? 0 : CHARGE_KRW);
}

/* One request whose LMDB failure breaks the shared transaction gets that
 * failure as its own answer; the batch runs again without it, so everybody
 * else gets the answer they would have had, and its charge is not stored. */
static void test_a_request_that_breaks_the_batch_fails_alone(void **state)
{
    fixture *f = *state;
    enum { BREAKER = 4 };
    f->done = f->done_ok = f->with_result = 0;
    f->expected = BATCH;
    for (size_t i = 0; i < BATCH; i++) {
        request *req = request_new(&f->env, NULL);
        assert_non_null(req);
        req->method = i == BREAKER ? &breaking : (i % 3 == 2) ? &failing : &succeeding;
        req->call.method = req->method;
        req->call.user = f->users[i];
        req->call.has_user = true;
        writer_submit(f->w, req);
    }
    writer_flush(f->w);
    ev_run(f->loop, 0);
    assert_int_equal(f->done, BATCH);
    assert_int_equal(plan.begins, 2);          /* the pass it broke, then one without it */
    assert_int_equal(plan.top_commits, 1);
    assert_int_equal(plan.handler_runs, BREAKER + 1 + BATCH - 1);
    for (size_t i = 0; i < BATCH; i++) {
        usher_err want = i == BREAKER ? USHER_ERR_INTERNAL
                       : i % 3 == 2 ? USHER_ERR_INSUFFICIENT_BALANCE : USHER_ERR_OK;
        if (f->errs[i] != want)
            fail_msg("request %zu: %s, want %s", i, usher_err_name(f->errs[i]), usher_err_name(want));
        assert_int_equal(fx_balance_of(f->st, &f->users[i]), want == USHER_ERR_OK ? CHARGE_KRW : 0);
    }
    assert_int_equal(f->with_result, f->done_ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failed_commit_of_the_batch_fails_every_request_storage_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_of_the_batch_fails_every_request_internal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_begin_of_the_batch_fails_every_request_and_runs_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_batch_after_a_failed_commit_is_applied_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_request_that_breaks_the_batch_fails_alone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
