/* libusher and pushed queue updates against a real usherd: usher_queue_wait
 * returns when the entry is admitted (and reports progress), times out
 * leaving the connection usable, reports an ended entry; notifications that
 * arrive during sync calls reach the callback without disturbing the calls. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include "harness.h"
#include "../../client/usher.h"

#define PRICE 10000
#define FAST_TURNS "--max-active 1 --active-ttl 1s --admit-interval 100ms"

typedef struct waiting_pair {
    harness_venue v;
    harness_user first, second;
    char second_token[HARNESS_TOKEN_CAP];
} waiting_pair;

/* A venue where one user is ACTIVE and another WAITING behind it. */
static void open_pair(harness_fixture *fx, const char *args, waiting_pair *p)
{
    harness_venue_open(fx, args, 10, PRICE, &p->v);
    harness_register(p->v.c, &p->first);
    harness_register(p->v.c, &p->second);
    harness_callf_expect(p->v.c, OK, "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}",
                         p->first.session, (unsigned long long)p->v.concert_id);
    harness_reply r;
    harness_callf(p->v.c, &r, "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}",
                  p->second.session, (unsigned long long)p->v.concert_id);
    harness_expect(&r, OK);
    assert_true(harness_obj_str_is(r.result, "status", "WAITING"));
    snprintf(p->second_token, sizeof p->second_token, "%s", harness_get_str(&r, "token"));
    harness_reply_free(&r);
}

static usher_client *connect_ok(uint16_t port)
{
    usher_client *c = usher_connect("127.0.0.1", port, 5000);
    assert_non_null(c);
    assert_int_equal(usher_last_status(c), USHER_OK);
    return c;
}

typedef struct progress_seen { int calls; int64_t last_position; } progress_seen;

static void on_progress(const usher_queue *q, void *privdata)
{
    progress_seen *p = privdata;
    assert_int_equal(q->state, USHER_QUEUE_STATE_WAITING);
    p->calls++;
    p->last_position = q->position;
}

static void test_queue_wait_returns_when_admitted_then_reports_the_end(void **state)
{
    waiting_pair p;
    open_pair(*state, FAST_TURNS, &p);
    usher_client *c = connect_ok(p.v.hs->port);
    progress_seen seen = { 0 };
    usher_queue q;
    usher_status st = usher_queue_wait(c, p.second_token, on_progress, &seen, 10000, &q);
    if (st != USHER_OK) fail_msg("usher_queue_wait: %s: %s", usher_status_name(st), usher_last_message(c));
    assert_int_equal(q.state, USHER_QUEUE_STATE_ACTIVE);
    assert_true(q.active_until > harness_now_ms() - 1000);
    assert_true(seen.calls >= 1);               /* the state at the start */
    assert_int_equal(seen.last_position, 1);
    int64_t time_ms;
    assert_int_equal(usher_sys_ping(c, &time_ms), USHER_OK);
    harness_sleep_ms(1500);                     /* its ACTIVE second has passed */
    assert_int_equal(usher_queue_wait(c, p.second_token, NULL, NULL, 2000, &q), USHER_TOKEN_EXPIRED);
    assert_int_equal(q.state, USHER_QUEUE_STATE_EXPIRED);
    assert_true(usher_is_connected(c));
    usher_close(c);
}

static void test_queue_wait_times_out_and_keeps_the_connection(void **state)
{
    waiting_pair p;
    open_pair(*state, "--max-active 1 --active-ttl 1h", &p);
    usher_client *c = connect_ok(p.v.hs->port);
    usher_queue q;
    usher_status st = usher_queue_wait(c, p.second_token, NULL, NULL, 1200, &q);
    assert_int_equal(st, USHER_ETIMEOUT);
    assert_true(usher_is_connected(c));
    int64_t time_ms;
    assert_int_equal(usher_sys_ping(c, &time_ms), USHER_OK);
    assert_int_equal(usher_wait_notify(c, 300), USHER_ETIMEOUT);   /* unwatched: nothing comes */
    assert_true(usher_is_connected(c));
    usher_close(c);
}

typedef struct notes_seen { int admitted; int other; } notes_seen;

static void on_note(usher_client *c, const usher_reply *note, void *privdata)
{
    (void)c;
    notes_seen *n = privdata;
    assert_int_equal(note->kind, USHER_REPLY_NOTIFICATION);
    if (strcmp(note->method, "queue.admitted") == 0) n->admitted++;
    else n->other++;
}

static void test_notifications_during_sync_calls_reach_the_callback(void **state)
{
    waiting_pair p;
    open_pair(*state, FAST_TURNS, &p);
    usher_client *c = connect_ok(p.v.hs->port);
    notes_seen seen = { 0 };
    usher_set_notify_cb(c, on_note, &seen);
    usher_queue q;
    assert_int_equal(usher_queue_watch(c, p.second_token, &q), USHER_OK);
    assert_int_equal(q.state, USHER_QUEUE_STATE_WAITING);
    int64_t until = harness_mono_ms() + 8000;
    while (seen.admitted == 0 && harness_mono_ms() < until) {
        int64_t time_ms;
        assert_int_equal(usher_sys_ping(c, &time_ms), USHER_OK);   /* every call still answered */
        harness_sleep_ms(50);
    }
    assert_int_equal(seen.admitted, 1);
    assert_int_equal(usher_queue_unwatch(c, p.second_token), USHER_OK);
    usher_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_queue_wait_returns_when_admitted_then_reports_the_end),
        HARNESS_TEST(test_queue_wait_times_out_and_keeps_the_connection),
        HARNESS_TEST(test_notifications_during_sync_calls_reach_the_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
