/* End to end over TCP: pipelining and the server's life cycle. Many requests
 * in flight on one connection, clients that vanish in the middle of a write,
 * graceful SIGTERM with clients connected, and data that survives a restart
 * or a crash. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define DAY_MS 86400000LL
#define PIPELINED 100
#define CHARGE 100

static void test_hundred_pipelined_requests_are_all_answered_by_msgid(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);

    /* Reads and writes mixed: every fourth request is a charge. */
    uint32_t first = c->next_msgid;
    char kind[PIPELINED];
    for (int i = 0; i < PIPELINED; i++) {
        switch (i % 4) {
        case 0:
            harness_sendf(c, "wallet.charge", "{\"session\":\"%s\",\"amount\":%d}", u.session, CHARGE);
            break;
        case 1:
            harness_sendf(c, "wallet.balance", "{\"session\":\"%s\"}", u.session);
            break;
        case 2:
            harness_send(c, "sys.ping", "{}");
            break;
        default:
            harness_send(c, "concert.list", "{}");
            break;
        }
        kind[i] = (char)(i % 4);
    }
    bool answered[PIPELINED] = { false };
    bool charge_balance_seen[PIPELINED / 4 + 1] = { false };
    for (int k = 0; k < PIPELINED; k++) {
        harness_reply r;
        harness_io io = harness_read_reply(c, &r);
        if (io != HARNESS_IO_OK)
            fail_msg("only %d of %d pipelined replies arrived (io %d)", k, PIPELINED, (int)io);
        uint32_t idx = r.msgid - first;
        if (idx >= PIPELINED || answered[idx])
            fail_msg("reply with unexpected or repeated msgid %u", r.msgid);
        answered[idx] = true;
        harness_expect(&r, OK);
        switch (kind[idx]) {
        case 0: {
            int64_t balance = harness_get_i64(&r, "balance");
            assert_true(balance % CHARGE == 0 && balance >= CHARGE && balance <= PIPELINED / 4 * CHARGE);
            assert_false(charge_balance_seen[balance / CHARGE]);
            charge_balance_seen[balance / CHARGE] = true;
            break;
        }
        case 1:
            assert_true(harness_get_i64(&r, "balance") % CHARGE == 0);
            break;
        case 2:
            assert_true(harness_get_i64(&r, "time") > 0);
            break;
        default:
            assert_non_null(harness_get_obj(&r, "concerts"));
            break;
        }
        harness_reply_free(&r);
    }
    assert_int_equal(harness_balance(c, u.session), PIPELINED / 4 * CHARGE);
}

static void test_pipelined_charges_with_request_ids_each_charge_once(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    enum { ROUNDS = 5, EACH = 20 };
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < EACH; i++)
            harness_sendf(c, "wallet.charge", "{\"session\":\"%s\",\"amount\":%d,\"request_id\":\"r%d-%d\"}",
                          u.session, CHARGE, round, i);
        for (int i = 0; i < EACH; i++) {
            harness_reply r;
            assert_int_equal(harness_read_reply(c, &r), HARNESS_IO_OK);
            harness_expect(&r, OK);
            harness_reply_free(&r);
        }
    }
    assert_int_equal(harness_balance(c, u.session), ROUNDS * EACH * CHARGE);
}

/* Polls wallet.balance until it equals want (up to 3 s). */
static void wait_for_balance(harness_conn *c, const char *session, int64_t want)
{
    int64_t deadline = harness_now_ms() + 3000;
    int64_t got;
    while ((got = harness_balance(c, session)) != want) {
        if (harness_now_ms() > deadline)
            fail_msg("balance stayed %lld, expected %lld", (long long)got, (long long)want);
        harness_sleep_ms(20);
    }
}

static void test_client_vanishing_mid_write_does_not_crash_and_the_write_lands(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *watcher = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(watcher, &u);

    /* Twenty charges sent, then the client hangs up without reading: a FIN
     * behind the frames (shutdown). Closing at once would turn the hang-up
     * into a reset whenever a reply had already arrived unread, and a reset
     * discards what the server had not read yet: that case is the "rude"
     * one below. The socket is closed once the writes are seen to land. */
    harness_conn *leaver = harness_fx_connect(fx, hs->port);
    for (int i = 0; i < 20; i++)
        harness_sendf(leaver, "wallet.charge", "{\"session\":\"%s\",\"amount\":%d}", u.session, CHARGE);
    assert_int_equal(shutdown(leaver->fd, SHUT_WR), 0);
    wait_for_balance(watcher, u.session, 20 * CHARGE);
    harness_conn_disconnect(leaver);

    /* The same with a reset instead of a close: the server survives and
     * stays consistent whatever it managed to apply. */
    harness_conn *rude = harness_fx_connect(fx, hs->port);
    for (int i = 0; i < 20; i++)
        harness_sendf(rude, "wallet.charge", "{\"session\":\"%s\",\"amount\":%d}", u.session, CHARGE);
    struct linger hard = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(rude->fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    harness_conn_disconnect(rude);
    harness_sleep_ms(200);
    assert_true(harness_alive(hs));
    harness_callf_expect(watcher, OK, "sys.ping", "{}");
    int64_t balance = harness_balance(watcher, u.session);
    assert_true(balance >= 20 * CHARGE && balance <= 40 * CHARGE && balance % CHARGE == 0);
    harness_reply r;
    harness_callf(watcher, &r, "wallet.history", "{\"session\":\"%s\",\"limit\":500}", u.session);
    harness_expect(&r, OK);
    size_t n;
    const msgpack_object *entries = harness_get_array(&r, "entries", &n);
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += harness_obj_i64(&entries[i], "amount");
    assert_int_equal(sum, balance);
    harness_reply_free(&r);

    /* A client that sends half a frame and leaves is harmless too. */
    harness_conn *half = harness_fx_connect(fx, hs->port);
    static const uint8_t partial[] = { 0, 0, 0, 50, 0x94, 0x00 };
    harness_send_raw(half, partial, sizeof partial);
    harness_conn_disconnect(half);
    harness_callf_expect(watcher, OK, "sys.ping", "{}");
}

static void test_sigterm_with_clients_connected_exits_0_within_5s(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    assert_int_equal(harness_charge(c, u.session, 4200), 4200);

    /* Idle, half-frame and busy clients. */
    harness_conn *idle = harness_fx_connect(fx, hs->port);
    harness_conn *half = harness_fx_connect(fx, hs->port);
    static const uint8_t partial[] = { 0, 0, 0, 50, 0x94 };
    harness_send_raw(half, partial, sizeof partial);
    harness_conn *busy = harness_fx_connect(fx, hs->port);
    for (int i = 0; i < 10; i++)
        harness_send(busy, "sys.ping", "{}");
    harness_callf_expect(idle, OK, "sys.ping", "{}");

    int64_t t0 = harness_now_ms();
    int status = harness_signal_wait(hs, SIGTERM, 5000);
    int64_t took = harness_now_ms() - t0;
    if (status == -1) {
        harness_print_log_tail(hs, 20);
        fail_msg("usherd did not exit within 5 s of SIGTERM");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        harness_print_log_tail(hs, 20);
        fail_msg("usherd ended with status 0x%x after SIGTERM, expected exit 0", status);
    }
    print_message("usherd exited 0 in %lld ms\n", (long long)took);
    assert_true(harness_conn_closed(idle, 1000));
    assert_true(harness_conn_closed(half, 1000));

    /* The acknowledged charge is there after a restart. */
    harness_restart(hs);
    harness_conn *again = harness_fx_connect(fx, hs->port);
    assert_int_equal(harness_balance(again, u.session), 4200);
}

static void test_data_survives_restart(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--hold-ttl 10m");
    harness_conn *c = harness_fx_connect(fx, hs->port);
    uint64_t concert_id, schedule_id;
    harness_make_concert(c, harness_admin_token(hs), 50, 3000, harness_now_ms() + DAY_MS, &concert_id,
                         &schedule_id);
    harness_shopper sh;
    harness_shopper_new(c, concert_id, 10000, &sh);
    uint64_t held = harness_reserve(c, sh.token, schedule_id, 14, NULL);
    harness_callf_expect(c, OK, "wallet.charge", "{\"session\":\"%s\",\"amount\":5,\"request_id\":\"once\"}",
                         sh.user.session);

    assert_int_equal(harness_kill(hs, SIGTERM), 0);
    harness_restart(hs);
    c = harness_fx_connect(fx, hs->port);

    /* Old tokens still verify (the key lives in the data dir), and the
     * balance, the hold, the queue entry and the request_id are all kept. */
    assert_int_equal(harness_balance(c, sh.user.session), 10005);
    harness_reply r;
    harness_callf(c, &r, "wallet.charge", "{\"session\":\"%s\",\"amount\":5,\"request_id\":\"once\"}",
                  sh.user.session);
    harness_expect(&r, OK);
    assert_int_equal(harness_get_i64(&r, "balance"), 10005);
    harness_reply_free(&r);
    assert_int_equal(harness_queue_state(c, sh.token, NULL), 'A');
    harness_callf(c, &r, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}", sh.token,
                  (unsigned long long)held);
    harness_expect(&r, OK);
    assert_int_equal(harness_get_i64(&r, "balance"), 7005);
    harness_reply_free(&r);
    harness_callf(c, &r, "auth.login", "{\"user_id\":\"%s\",\"secret\":\"%s\"}", sh.user.user_id, sh.user.secret);
    harness_expect(&r, OK);
    harness_reply_free(&r);
}

static void test_acknowledged_write_survives_sigkill(void **state)
{
    harness_fixture *fx = *state;
    /* On PostgreSQL one process: once in CI (not in 5 runs since) the first
     * request after restarting two workers there found its connection
     * closed by the server, which this test does not judge (the closing
     * note of issue 16 records it); the acknowledged writes are the point. */
    const char *store = getenv("USHER_TEST_STORE");
    bool pg = store && harness_store_is_url(store);
    harness_server *hs = harness_fx_start(fx, pg ? "" : "--workers 2");
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    for (int i = 1; i <= 5; i++)
        assert_int_equal(harness_charge(c, u.session, 1000), 1000 * i);
    int status = harness_kill(hs, SIGKILL);
    assert_true(WIFSIGNALED(status));
    harness_restart(hs);
    c = harness_fx_connect(fx, hs->port);
    assert_int_equal(harness_balance(c, u.session), 5000);
    assert_int_equal(harness_charge(c, u.session, 1), 5001);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_hundred_pipelined_requests_are_all_answered_by_msgid),
        HARNESS_TEST(test_pipelined_charges_with_request_ids_each_charge_once),
        HARNESS_TEST(test_client_vanishing_mid_write_does_not_crash_and_the_write_lands),
        HARNESS_TEST(test_sigterm_with_clients_connected_exits_0_within_5s),
        HARNESS_TEST(test_data_survives_restart),
        HARNESS_TEST(test_acknowledged_write_survives_sigkill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
