/* Group commit: the writer runs every request handed over in one loop turn
 * in one write transaction, each in its own child transaction, commits once,
 * and only then hands the requests back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <ftw.h>
#include <unistd.h>
#include "../../server/writer.h"
#include "store_fixture.h"

#define CHARGE_KRW 100

typedef struct fixture {
    char dir[64];
    store *st;
    struct ev_loop *loop;
    writer *w;
    size_t expected, done;
    size_t done_ok;
    bool committed_before_reply;   /* every reply found its effect committed */
} fixture;

/* Charges the call's user, then succeeds. */
static usher_err charge_then_succeed(call *c)
{
    int64_t balance;
    usher_err e = store_wallet_charge(c->txn, &c->user, CHARGE_KRW, c->now_ms, &balance);
    if (e != USHER_ERR_OK) return e;
    msgpack_pack_map(c->out, 0);
    return USHER_ERR_OK;
}

/* Charges the call's user, then fails: the charge must vanish with its child txn. */
static usher_err charge_then_fail(call *c)
{
    int64_t balance;
    store_wallet_charge(c->txn, &c->user, CHARGE_KRW, c->now_ms, &balance);
    return USHER_ERR_INSUFFICIENT_BALANCE;
}

static const method_def succeeding = { USHER_METHOD_WALLET_CHARGE, charge_then_succeed, METHOD_WRITE, NULL };
static const method_def failing = { USHER_METHOD_WALLET_CHARGE, charge_then_fail, METHOD_WRITE, NULL };


static void on_done(void *ctx, request *req)
{
    fixture *f = ctx;
    f->done++;
    if (req->err == USHER_ERR_OK) {
        f->done_ok++;   /* acknowledged means committed: a fresh snapshot sees it */
        if (fx_balance_of(f->st, &req->call.user) != CHARGE_KRW) f->committed_before_reply = false;
    }
    request_free(req);
    if (f->done == f->expected) ev_break(f->loop, EVBREAK_ALL);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static fixture *start(size_t batch_max)
{
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/usher-writer-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    store_options opt = store_options_default();
    opt.sync = STORE_SYNC_NONE;
    opt.map_size_bytes = 64u << 20;
    assert_int_equal(store_open(&f->st, f->dir, &opt), USHER_ERR_OK);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->w = writer_start(f->loop, f->st, batch_max, on_done, f);
    assert_non_null(f->w);
    f->committed_before_reply = true;
    return f;
}

static void finish(fixture *f)
{
    writer_stop(f->w);
    ev_loop_destroy(f->loop);
    store_close(f->st);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
}

/* Submits n requests for users numbered from 1; every third one fails. */
static void submit(fixture *f, call_env *env, size_t n, user_id *users)
{
    for (size_t i = 0; i < n; i++) {
        request *req = request_new(env, NULL);
        assert_non_null(req);
        req->method = (i % 3 == 2) ? &failing : &succeeding;
        req->call.method = req->method;
        memset(&users[i], 0, sizeof users[i]);
        users[i].bytes[15] = (uint8_t)(i + 1);
        req->call.user = users[i];
        req->call.has_user = true;
        writer_submit(f->w, req);
    }
    f->expected += n;
}

static void test_one_loop_turn_is_one_commit_and_failures_stay_alone(void **state)
{
    (void)state;
    fixture *f = start(256);
    usher_config cfg;
    call_env env = { .cfg = &cfg };
    user_id users[12];
    submit(f, &env, 12, users);
    writer_flush(f->w);
    ev_run(f->loop, 0);

    uint64_t batches, requests;
    writer_counts(f->w, &batches, &requests);
    assert_int_equal(batches, 1);
    assert_int_equal(requests, 12);
    assert_int_equal(f->done, 12);
    assert_int_equal(f->done_ok, 8);
    assert_true(f->committed_before_reply);
    for (size_t i = 0; i < 12; i++)   /* failing neighbours rolled back alone */
        assert_int_equal(fx_balance_of(f->st, &users[i]), i % 3 == 2 ? 0 : CHARGE_KRW);
    finish(f);
}

static void test_batch_max_splits_a_long_turn(void **state)
{
    (void)state;
    fixture *f = start(4);
    usher_config cfg;
    call_env env = { .cfg = &cfg };
    user_id users[10];
    submit(f, &env, 10, users);
    writer_flush(f->w);
    ev_run(f->loop, 0);
    uint64_t batches, requests;
    writer_counts(f->w, &batches, &requests);
    assert_int_equal(batches, 3);      /* 4 + 4 + 2 */
    assert_int_equal(requests, 10);
    assert_true(f->committed_before_reply);
    finish(f);
}

static void test_nothing_runs_before_flush(void **state)
{
    (void)state;
    fixture *f = start(256);
    usher_config cfg;
    call_env env = { .cfg = &cfg };
    user_id users[3];
    submit(f, &env, 3, users);
    usleep(50 * 1000);
    uint64_t batches, requests;
    writer_counts(f->w, &batches, &requests);
    assert_int_equal(batches, 0);      /* queued in this turn, not yet handed over */
    writer_flush(f->w);
    ev_run(f->loop, 0);
    assert_int_equal(f->done, 3);
    finish(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_loop_turn_is_one_commit_and_failures_stay_alone),
        cmocka_unit_test(test_batch_max_splits_a_long_turn),
        cmocka_unit_test(test_nothing_runs_before_flush),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
