/* End to end over TCP: queue.watch and its notifications. A watched entry is
 * told of its admission (queue.admitted) and of its end (queue.expired) on
 * whichever of two usherd processes on one data dir admitted it; a fifth
 * watch on one connection is refused; unwatch and close end the pushes; a
 * waiting entry gets updates at most once a second and keep-alives; a
 * reader that does not read is owed only its entry's latest state. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_notify.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define PRICE 10000
/* One admission at a time: each entry waits for the one before to expire. */
#define ONE_AT_A_TIME "--max-active 1 --active-ttl 700ms --admit-interval 100ms"

typedef struct queued {
    harness_user user;
    char token[HARNESS_TOKEN_CAP];
    uint64_t position;
} queued;

static void enter(harness_conn *c, uint64_t concert_id, queued *q)
{
    harness_register(c, &q->user);
    harness_reply r;
    harness_callf(c, &r, "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}", q->user.session,
                  (unsigned long long)concert_id);
    harness_expect(&r, OK);
    snprintf(q->token, sizeof q->token, "%s", harness_get_str(&r, "token"));
    q->position = harness_get_u64(&r, "position");
    harness_reply_free(&r);
}

/* queue.watch of token on c; returns the reply's status letter. */
static char watch(harness_conn *c, const char *token)
{
    harness_reply r;
    harness_callf(c, &r, "queue.watch", "{\"token\":\"%s\"}", token);
    harness_expect(&r, OK);
    char s = harness_obj_str_is(r.result, "status", "WAITING") ? 'W'
           : harness_obj_str_is(r.result, "status", "ACTIVE")  ? 'A' : 'E';
    harness_reply_free(&r);
    return s;
}

static void test_watch_tells_admission_then_expiry(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-active 1 --active-ttl 1s --admit-interval 100ms", 10, PRICE, &v);
    queued first, second;
    enter(v.c, v.concert_id, &first);
    enter(v.c, v.concert_id, &second);
    assert_int_equal(second.position, 1);
    harness_conn *w = harness_fx_connect(fx, v.hs->port);
    assert_int_equal(watch(w, second.token), 'W');
    assert_int_equal(watch(w, second.token), 'W');   /* idempotent */
    harness_note n;
    harness_expect_note(w, "queue.admitted", 5000, &n);
    assert_true(harness_note_token_is(&n, second.token));
    assert_int_equal(harness_obj_u64(n.params, "concert_id"), v.concert_id);
    int64_t until = harness_obj_i64(n.params, "active_until");
    assert_true(until > harness_now_ms());
    harness_note_free(&n);
    /* admitted once only, then the end */
    harness_expect_note(w, "queue.expired", 5000, &n);
    assert_true(harness_note_token_is(&n, second.token));
    assert_true(harness_obj_str_is(n.params, "status", "EXPIRED"));
    harness_note_free(&n);
    /* the subscription ended: nothing more */
    assert_int_equal(harness_read_note(w, 1500, &n), HARNESS_IO_TIMEOUT);
}

static void test_fifth_watch_is_refused_unwatch_frees_a_place(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-active 1 --active-ttl 1h", 10, PRICE, &v);
    queued q[6];
    for (int i = 0; i < 6; i++) enter(v.c, v.concert_id, &q[i]);
    harness_conn *w = harness_fx_connect(fx, v.hs->port);
    for (int i = 0; i < 4; i++) watch(w, q[i].token);
    harness_reply r;
    harness_callf(w, &r, "queue.watch", "{\"token\":\"%s\"}", q[4].token);
    harness_expect(&r, INVALID_ARGUMENT);
    harness_expect_message(&r, "token");
    harness_expect_message(&r, "at most 4 watched entries per connection");
    harness_reply_free(&r);
    watch(w, q[3].token);   /* one already watched is still fine */
    harness_callf(w, &r, "queue.unwatch", "{\"token\":\"%s\"}", q[3].token);
    harness_expect(&r, OK);
    assert_int_equal(harness_get_obj(&r, "watching")->type, MSGPACK_OBJECT_BOOLEAN);
    assert_false(harness_get_obj(&r, "watching")->via.boolean);
    harness_reply_free(&r);
    harness_callf_expect(w, OK, "queue.unwatch", "{\"token\":\"%s\"}", q[5].token);   /* not watched: OK */
    watch(w, q[4].token);
    harness_callf(w, &r, "queue.watch", "{\"token\":\"%s\"}", q[5].token);
    harness_expect(&r, INVALID_ARGUMENT);
    harness_reply_free(&r);
    /* another connection has its own four */
    harness_conn *w2 = harness_fx_connect(fx, v.hs->port);
    watch(w2, q[5].token);
}

/* Entries admitted one at a time by either of two processes: every watcher,
 * on whichever process, hears of its own admission, in admission order. */
static void test_watchers_on_two_processes_hear_admissions_in_order(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, ONE_AT_A_TIME, 10, PRICE, &v);
    harness_server *other = harness_fx_start_shared(fx, v.hs, ONE_AT_A_TIME);
    enum { N = 6 };
    queued q[N];
    harness_conn *w[N];
    for (int i = 0; i < N; i++) enter(v.c, v.concert_id, &q[i]);
    for (int i = 1; i < N; i++) {
        w[i] = harness_fx_connect(fx, i % 2 ? other->port : v.hs->port);
        char s = watch(w[i], q[i].token);
        assert_true(s == 'W' || s == 'A');
    }
    int64_t admitted_at[N] = { 0 };
    for (int i = 1; i < N; i++) {
        harness_note n;
        harness_expect_note(w[i], "queue.admitted", 10000, &n);
        assert_true(harness_note_token_is(&n, q[i].token));
        admitted_at[i] = harness_obj_i64(n.params, "active_until");
        harness_note_free(&n);
    }
    /* one slot, so each admission follows the previous one's expiry */
    for (int i = 2; i < N; i++)
        if (admitted_at[i] <= admitted_at[i - 1])
            fail_msg("entry %d admitted (until %lld) before entry %d (until %lld)", i,
                     (long long)admitted_at[i], i - 1, (long long)admitted_at[i - 1]);
}

/* A waiting entry whose position moves every 0.7 s is told at most once a
 * second; one that does not move hears a keep-alive within 15 s. */
static void test_updates_are_rate_limited_and_kept_alive(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, ONE_AT_A_TIME, 10, PRICE, &v);
    enum { N = 8 };
    queued q[N];
    for (int i = 0; i < N; i++) enter(v.c, v.concert_id, &q[i]);
    harness_conn *w = harness_fx_connect(fx, v.hs->port);
    watch(w, q[N - 1].token);
    int64_t last = harness_mono_ms(), gaps = 0;
    uint64_t last_position = q[N - 1].position;
    for (;;) {
        harness_note n;
        if (harness_read_note(w, 8000, &n) != HARNESS_IO_OK) fail_msg("no notification for 8 s");
        if (strcmp(n.method, "queue.admitted") == 0) { harness_note_free(&n); break; }
        assert_string_equal(n.method, "queue.update");
        assert_true(harness_obj_str_is(n.params, "status", "WAITING"));
        uint64_t position = harness_obj_u64(n.params, "position");
        assert_true(position <= last_position);
        const msgpack_object *eta = harness_get_obj(&(harness_reply){ .result = n.params }, "eta_s");
        assert_true(eta->type == MSGPACK_OBJECT_NIL || eta->type == MSGPACK_OBJECT_POSITIVE_INTEGER);
        /* a little slack for scheduling on a loaded machine */
        if (n.at_ms - last < 900) fail_msg("two updates %lld ms apart", (long long)(n.at_ms - last));
        last = n.at_ms;
        last_position = position;
        gaps++;
        harness_note_free(&n);
    }
    assert_true(gaps >= 2);

    /* keep-alive: a queue that does not move */
    harness_venue still;
    harness_venue_open(fx, "--max-active 1 --active-ttl 1h", 10, PRICE, &still);
    queued a, b;
    enter(still.c, still.concert_id, &a);
    enter(still.c, still.concert_id, &b);
    harness_conn *w2 = harness_fx_connect(fx, still.hs->port);
    watch(w2, b.token);
    harness_note n;
    int64_t from = harness_mono_ms();
    harness_expect_note(w2, "queue.update", 17000, &n);
    assert_true(harness_mono_ms() - from >= 10000);   /* nothing changed: only the keep-alive */
    assert_int_equal(harness_obj_u64(n.params, "position"), 1);
    harness_note_free(&n);
}

/* After unwatch, or on another connection than the closed watcher's, no
 * pushes; the server goes on serving. */
static void test_unwatch_and_close_end_the_pushes(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-active 1 --active-ttl 1s --admit-interval 100ms", 10, PRICE, &v);
    queued first, second, third;
    enter(v.c, v.concert_id, &first);
    enter(v.c, v.concert_id, &second);
    enter(v.c, v.concert_id, &third);
    harness_conn *w = harness_fx_connect(fx, v.hs->port);
    watch(w, second.token);
    harness_callf_expect(w, OK, "queue.unwatch", "{\"token\":\"%s\"}", second.token);
    harness_conn *gone = harness_fx_connect(fx, v.hs->port);
    watch(gone, third.token);
    harness_conn_disconnect(gone);
    harness_note n;
    assert_int_equal(harness_read_note(w, 3500, &n), HARNESS_IO_TIMEOUT);   /* second admitted meanwhile */
    assert_true(harness_queue_state(v.c, second.token, NULL) != 'W');   /* it did move */
    harness_callf_expect(v.c, OK, "sys.ping", "{}");
}

/* A watcher that floods sys.hello and reads nothing: its replies pile up past
 * the server's output cap, so the server stops reading it and owes its
 * watched entry only the latest state. Meanwhile the entry is admitted and
 * runs out. When the client reads at last it is told that end (at most one
 * admission before it), and the server served others all along. */
static void test_slow_reader_is_owed_only_the_latest_state(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-active 1 --active-ttl 1s --admit-interval 100ms", 10, PRICE, &v);
    queued first, second;
    enter(v.c, v.concert_id, &first);
    enter(v.c, v.concert_id, &second);
    harness_conn *w = harness_fx_connect(fx, v.hs->port);
    int small = 65536;   /* bounded, so the backlog stays in the server */
    setsockopt(w->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    watch(w, second.token);

    /* ~10 MB of replies owed: past the kernel's buffers and the 1 MiB cap */
    enum { PINGS = 100000 };
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (int i = 0; i < PINGS; i++) {
        size_t at = msg_frame_begin(&sb);
        msgpack_pack_array(&pk, 4);
        msgpack_pack_uint8(&pk, 0);
        msgpack_pack_uint32(&pk, (uint32_t)(1000 + i));
        msgpack_pack_str_with_body(&pk, "sys.hello", 9);
        msgpack_pack_nil(&pk);
        msg_frame_end(&sb, at);
    }
    size_t sent = 0;
    int64_t stop = harness_mono_ms() + 2000;
    while (sent < sb.size && harness_mono_ms() < stop) {
        ssize_t n = send(w->fd, sb.data + sent, sb.size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) sent += (size_t)n;
        else harness_sleep_ms(10);
    }
    msgpack_sbuffer_destroy(&sb);
    harness_sleep_ms(2500);   /* admitted after ~1 s, over after ~2 s */
    harness_callf_expect(v.c, OK, "sys.ping", "{}");   /* the others are served */

    int admitted = 0;
    bool ended = false;
    while (!ended) {
        harness_note n;
        harness_io io = harness_read_note_skipping(w, 8000, &n);
        if (io != HARNESS_IO_OK) { harness_print_log_tail(v.hs, 3); fail_msg("no queue.expired (io %d, %d admitted)", io, admitted); }
        assert_true(harness_note_token_is(&n, second.token));
        if (strcmp(n.method, "queue.admitted") == 0) admitted++;
        ended = strcmp(n.method, "queue.expired") == 0;
        harness_note_free(&n);
    }
    assert_true(admitted <= 1);
    assert_true(harness_alive(v.hs));
}

/* Watching is asking: with --wait-idle 2s, an entry only watched keeps its
 * place for several idle limits while one nobody asks about is dropped, and
 * the watched one's position closes up behind the drop. */
static void test_watching_keeps_a_place_that_silence_loses(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-active 1 --active-ttl 1m --wait-idle 2s --admit-interval 100ms",
                       10, PRICE, &v);
    queued first, silent, watched;
    enter(v.c, v.concert_id, &first);
    enter(v.c, v.concert_id, &silent);
    enter(v.c, v.concert_id, &watched);
    assert_int_equal(watched.position, 2);
    harness_conn *w = harness_fx_connect(fx, v.hs->port);
    assert_int_equal(watch(w, watched.token), 'W');
    int64_t until = harness_mono_ms() + 6000;          /* three idle limits */
    while (harness_mono_ms() < until) {
        harness_note n;
        if (harness_read_note(w, 200, &n) == HARNESS_IO_OK) harness_note_free(&n);
        harness_callf_expect(v.c, OK, "sys.ping", "{}");   /* keeps v.c open; asks about no entry */
    }
    uint64_t pos = 0;
    assert_int_equal(harness_queue_state(v.c, silent.token, &pos), 'X');
    assert_int_equal(harness_queue_state(v.c, watched.token, &pos), 'W');
    assert_int_equal(pos, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_watch_tells_admission_then_expiry),
        HARNESS_TEST(test_fifth_watch_is_refused_unwatch_frees_a_place),
        HARNESS_TEST(test_watchers_on_two_processes_hear_admissions_in_order),
        HARNESS_TEST(test_updates_are_rate_limited_and_kept_alive),
        HARNESS_TEST(test_unwatch_and_close_end_the_pushes),
        HARNESS_TEST(test_slow_reader_is_owed_only_the_latest_state),
        HARNESS_TEST(test_watching_keeps_a_place_that_silence_loses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
