/* Clients that hold on to a connection without using it, or use it without
 * letting others have their turn: a silent connection is closed after
 * --idle-timeout, a frame begun and not finished gets BAD_FRAME and a close
 * after --frame-timeout, a client whose replies pile up unread is
 * disconnected after --frame-timeout, and a client pipelining thousands of
 * writes is paused (--max-inflight, a quarter of the write queue) so a
 * polite client beside it is never answered OVERLOADED. Each limit is also
 * shown not to hit the client that stays within it. Waits are bounded;
 * no assertion is about the server's speed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define LOG_WAIT_MS 15000

/* Times `needle` occurs in the server's log. */
static int log_count(const harness_server *hs, const char *needle)
{
    FILE *f = fopen(hs->log_path, "r");
    if (!f) return 0;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* Waits (bounded) until the log holds `needle` at least `want` times. */
static bool log_wait(const harness_server *hs, const char *needle, int want, int timeout_ms)
{
    int64_t deadline = harness_mono_ms() + timeout_ms;
    while (log_count(hs, needle) < want) {
        if (harness_mono_ms() >= deadline) return false;
        harness_sleep_ms(50);
    }
    return true;
}

/* Appends `count` request frames of `method`, msgids from first_msgid, with
 * params {} or, given a session, {session, amount: 1}. */
static void build_frames(msgpack_sbuffer *sb, const char *method, const char *session, int count,
                         uint32_t first_msgid)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    for (int i = 0; i < count; i++) {
        size_t at = msg_frame_begin(sb);
        msg_pack_request_head(&pk, first_msgid + (uint32_t)i, method);
        if (session) {
            msgpack_pack_map(&pk, 2);
            msg_pack_cstr(&pk, "session");
            msg_pack_cstr(&pk, session);
            msg_pack_cstr(&pk, "amount");
            msgpack_pack_int64(&pk, 1);
        } else {
            msgpack_pack_map(&pk, 0);
        }
        msg_frame_end(sb, at);
    }
}

/* Sends what the socket takes without blocking, until all is sent or it
 * took nothing for stall_ms. Returns the bytes sent. */
static size_t send_until_stuck(int fd, const uint8_t *p, size_t n, int stall_ms)
{
    size_t sent = 0;
    while (sent < n) {
        ssize_t k = send(fd, p + sent, n - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k > 0) { sent += (size_t)k; continue; }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;
        struct pollfd pf = { .fd = fd, .events = POLLOUT };
        if (poll(&pf, 1, stall_ms) <= 0) break;
    }
    return sent;
}

static void test_silent_connection_closed_after_idle_timeout_talking_one_kept(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--idle-timeout 2s");
    harness_conn *talker = harness_fx_connect(fx, hs->port);
    harness_conn *silent = harness_fx_connect(fx, hs->port);

    /* Within the limit: a request every 200 ms for more than twice the timeout. */
    int64_t until = harness_mono_ms() + 4500;
    while (harness_mono_ms() < until) {
        harness_callf_expect(talker, OK, "sys.ping", "{}");
        harness_sleep_ms(200);
    }
    /* Past it: the silent one was closed, once, and said so in the log. */
    assert_true(harness_conn_closed(silent, 5000));
    assert_true(log_wait(hs, "conn_idle_timeout", 1, LOG_WAIT_MS));
    harness_callf_expect(talker, OK, "sys.ping", "{}");
    assert_int_equal(log_count(hs, "conn_idle_timeout"), 1);

    /* The talker, once it stops, goes the same way. */
    assert_true(harness_conn_closed(talker, 10000));
    assert_true(log_wait(hs, "conn_idle_timeout", 2, LOG_WAIT_MS));
}

static void test_partial_frame_gets_bad_frame_after_frame_timeout(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--frame-timeout 1s --idle-timeout 1h");
    harness_conn *silent = harness_fx_connect(fx, hs->port);
    harness_conn *loris = harness_fx_connect(fx, hs->port);
    harness_conn *slow = harness_fx_connect(fx, hs->port);

    /* Past the limit: 6 bytes of a 100-byte frame, then nothing. */
    static const uint8_t partial[] = { 0, 0, 0, 100, 0x94, 0x00 };
    harness_send_raw(loris, partial, sizeof partial);
    harness_reply r;
    assert_int_equal(harness_read_reply(loris, &r), HARNESS_IO_OK);
    harness_expect(&r, BAD_FRAME);
    assert_int_equal(r.msgid, 0);
    harness_reply_free(&r);
    assert_true(harness_conn_closed(loris, 5000));
    assert_true(log_wait(hs, "conn_frame_timeout", 1, LOG_WAIT_MS));

    /* Within it: a frame sent in three pieces is answered. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    build_frames(&sb, "sys.ping", NULL, 1, 7);
    harness_send_raw(slow, sb.data, 2);
    harness_sleep_ms(100);
    harness_send_raw(slow, sb.data + 2, 4);
    harness_sleep_ms(100);
    harness_send_raw(slow, sb.data + 6, sb.size - 6);
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(harness_recv(slow, 7, &r), USHER_ERR_OK);
    harness_reply_free(&r);

    /* A connection that sent nothing has no frame to time out (the loris
     * outlived the frame timeout by now). */
    harness_callf_expect(silent, OK, "sys.ping", "{}");
    harness_callf_expect(slow, OK, "sys.ping", "{}");
    assert_int_equal(log_count(hs, "conn_frame_timeout"), 1);
}

static void test_client_that_never_reads_is_disconnected(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--frame-timeout 1s --idle-timeout 1h");
    harness_conn *polite = harness_fx_connect(fx, hs->port);

    /* Within the limit: 1,000 pipelined pings (replies far below 1 MiB),
     * read only after twice the timeout, all arrive. */
    harness_conn *late = harness_fx_connect(fx, hs->port);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    build_frames(&sb, "sys.ping", NULL, 1000, 1);
    harness_send_raw(late, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    late->next_msgid = 1001;
    harness_sleep_ms(2000);
    for (uint32_t id = 1; id <= 1000; id++) {
        harness_reply r;
        assert_int_equal(harness_recv(late, id, &r), USHER_ERR_OK);
        harness_reply_free(&r);
    }

    /* Past it: 200,000 pipelined sys.hello and never a read. */
    harness_conn *hog = harness_fx_connect(fx, hs->port);
    int small = 4096;
    setsockopt(hog->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    msgpack_sbuffer_init(&sb);
    build_frames(&sb, "sys.hello", NULL, 200000, 1);
    send_until_stuck(hog->fd, (const uint8_t *)sb.data, sb.size, 1000);
    msgpack_sbuffer_destroy(&sb);
    harness_callf_expect(polite, OK, "sys.ping", "{}");
    if (!log_wait(hs, "conn_output_unread", 1, LOG_WAIT_MS)) {
        harness_print_log_tail(hs, 20);
        fail_msg("a client not reading 1 MiB of replies was not disconnected");
    }
    assert_true(harness_conn_closed(hog, 5000));
    harness_callf_expect(polite, OK, "sys.ping", "{}");
    harness_callf_expect(late, OK, "sys.ping", "{}");
    assert_int_equal(log_count(hs, "conn_output_unread"), 1);
}

/* One client pipelines `flood` wallet.charge of 1 without reading while a
 * polite one does 20 sequential charges: no write of either is OVERLOADED,
 * and every one of them is in the balances. */
static void flood_beside_polite(harness_fixture *fx, const char *args, int flood)
{
    harness_server *hs = harness_fx_start(fx, args);
    harness_conn *flooder = harness_fx_connect(fx, hs->port);
    harness_conn *polite = harness_fx_connect(fx, hs->port);
    harness_user fu, pu;
    harness_register(flooder, &fu);
    harness_register(polite, &pu);

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    uint32_t first = flooder->next_msgid;
    build_frames(&sb, "wallet.charge", fu.session, flood, first);
    flooder->next_msgid += (uint32_t)flood;
    size_t sent = send_until_stuck(flooder->fd, (const uint8_t *)sb.data, sb.size, 2000);
    bool all_sent = sent == sb.size;

    for (int i = 0; i < 20; i++) {
        harness_reply r;
        usher_err e = harness_callf(polite, &r, "wallet.charge", "{\"session\":\"%s\",\"amount\":1}",
                                    pu.session);
        if (e != USHER_ERR_OK) fail_msg("polite write %d answered %s beside a flood", i, r.code);
        harness_reply_free(&r);
    }
    if (!all_sent) harness_send_raw(flooder, sb.data + sent, sb.size - sent);
    msgpack_sbuffer_destroy(&sb);
    for (int i = 0; i < flood; i++) {
        harness_reply r;
        usher_err e = harness_recv(flooder, first + (uint32_t)i, &r);
        if (e != USHER_ERR_OK) fail_msg("flooding write %d answered %s (paused, not refused)", i, r.code);
        harness_reply_free(&r);
    }
    assert_int_equal(harness_balance(polite, pu.session), 20);
    assert_int_equal(harness_balance(flooder, fu.session), flood);
}

/* --max-inflight 256 (the default) binds. */
static void test_flooding_writer_is_paused_not_overloading_a_polite_one(void **state)
{
    flood_beside_polite(*state, NULL, 20000);
}

/* --max-inflight above a quarter of the write queue (4,096 writes): the
 * quarter binds, so the flood still leaves room for the polite client. */
static void test_flooding_writer_holds_at_most_a_quarter_of_the_queue(void **state)
{
    flood_beside_polite(*state, "--max-inflight 65536", 20000);
}

/* --max-inflight 1: every pipelined write waits for the one before it. */
static void test_max_inflight_1_answers_every_pipelined_write(void **state)
{
    flood_beside_polite(*state, "--max-inflight 1", 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_silent_connection_closed_after_idle_timeout_talking_one_kept),
        HARNESS_TEST(test_partial_frame_gets_bad_frame_after_frame_timeout),
        HARNESS_TEST(test_client_that_never_reads_is_disconnected),
        HARNESS_TEST(test_flooding_writer_is_paused_not_overloading_a_polite_one),
        HARNESS_TEST(test_flooding_writer_holds_at_most_a_quarter_of_the_queue),
        HARNESS_TEST(test_max_inflight_1_answers_every_pipelined_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
