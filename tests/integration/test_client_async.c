/* libusher's asynchronous client on libev: pipelining against a real usherd,
 * replies matched by msgid when a fake server answers out of order, per-call
 * timeouts, hang-ups, refused connects, and teardown with calls in flight. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ev.h>
#include <string.h>
#include "harness.h"
#include "harness_fake.h"
#include "msg.h"
#include "../../client/usher.h"

#define LOOP_LIMIT_S 10.0
#define MAX_CALLS 64

/* What one test observed; the handle's data. */
typedef struct observed {
    struct ev_loop *loop;
    int connects;
    usher_status connect_status;
    int disconnects;
    usher_status disconnect_status;
    int notes;
    int replies;                       /* reply callbacks fired */
    usher_status status[MAX_CALLS];    /* by call index */
    int fired[MAX_CALLS];              /* callbacks per call index */
    int order[MAX_CALLS];              /* call indexes in callback order */
    uint64_t echo[MAX_CALLS];          /* result "echo" (fake) or 0 */
    bool free_in_callback;             /* free the handle from the first reply callback */
    bool disconnect_in_callback;       /* graceful disconnect from the first reply callback */
    bool call_after_disconnect_refused;
    usher_async *ac;                   /* NULL once disconnected */
} observed;

/* One call: its index in the test and the test's record. */
typedef struct call_slot {
    observed *obs;
    int index;
} call_slot;

static void on_connect(usher_async *ac, usher_status status)
{
    observed *obs = usher_async_data(ac);
    obs->connects++;
    obs->connect_status = status;
}

static void on_disconnect(usher_async *ac, usher_status status)
{
    observed *obs = usher_async_data(ac);
    obs->disconnects++;
    obs->disconnect_status = status;
    obs->ac = NULL;  /* libusher frees the handle after this returns */
}

static void on_notify(usher_async *ac, const usher_reply *note)
{
    observed *obs = usher_async_data(ac);
    assert_string_equal(note->method, "fake.note");
    obs->notes++;
}

static void on_reply(usher_async *ac, usher_status status, const usher_reply *reply, void *privdata)
{
    call_slot *slot = privdata;
    observed *obs = slot->obs;
    assert_ptr_equal(usher_async_data(ac), obs);
    obs->status[slot->index] = status;
    obs->fired[slot->index]++;
    obs->order[obs->replies++] = slot->index;
    if (reply) {
        assert_int_equal(reply->status, status);
        const msgpack_object *echo = msg_map_get(&reply->result, "echo");
        if (echo) {
            assert_int_equal(echo->via.u64, reply->msgid);  /* the fake echoes the msgid it answers */
            obs->echo[slot->index] = echo->via.u64;
        }
    } else {
        assert_true(status >= USHER_EIO);
    }
    if (obs->free_in_callback && obs->replies == 1)
        usher_async_free(ac);
    if (obs->disconnect_in_callback && obs->replies == 1) {
        usher_async_disconnect(ac);
        call_slot dummy = { obs, MAX_CALLS - 1 };
        obs->call_after_disconnect_refused =
            usher_async_call(ac, "sys.ping", NULL, on_reply, &dummy) == USHER_ECLOSED;
    }
}

static usher_async *open_async(observed *obs, uint16_t port, int timeout_ms)
{
    memset(obs, 0, sizeof *obs);
    obs->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(obs->loop);
    usher_async *ac = usher_async_connect(obs->loop, "127.0.0.1", port, timeout_ms);
    assert_non_null(ac);
    usher_async_set_data(ac, obs);
    usher_async_set_connect_cb(ac, on_connect);
    usher_async_set_disconnect_cb(ac, on_disconnect);
    usher_async_set_notify_cb(ac, on_notify);
    obs->ac = ac;
    return ac;
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    *(bool *)w->data = true;
    ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until *counter reaches want; fails after LOOP_LIMIT_S. */
static void run_until(observed *obs, const int *counter, int want)
{
    bool expired = false;
    ev_timer guard;
    ev_timer_init(&guard, on_guard, LOOP_LIMIT_S, 0);
    guard.data = &expired;
    ev_timer_start(obs->loop, &guard);
    while (*counter < want && !expired)
        ev_run(obs->loop, EVRUN_ONCE);
    ev_timer_stop(obs->loop, &guard);
    if (*counter < want)
        fail_msg("loop limit: counter at %d, wanted %d", *counter, want);
}

static void close_loop(observed *obs)
{
    if (obs->ac)
        usher_async_free(obs->ac);
    ev_loop_destroy(obs->loop);
}

static void issue(observed *obs, call_slot *slots, int n, const char *method, const char *json)
{
    for (int i = 0; i < n; i++) {
        slots[i].obs = obs;
        slots[i].index = i;
        assert_int_equal(usher_async_call_json(obs->ac, method, json, on_reply, &slots[i]), USHER_OK);
    }
}

/* ================================================================ fake servers */

static void test_async_free_with_calls_in_flight_gives_eclosed(void **state)
{
    fake_server *fs = fake_start(FAKE_SILENT, 0);
    *state = fs;
    observed obs;
    open_async(&obs, fs->port, 2000);
    call_slot slots[10];
    issue(&obs, slots, 10, "sys.ping", NULL);
    assert_int_equal(usher_async_pending(obs.ac), 10);
    run_until(&obs, &obs.connects, 1);
    assert_int_equal(obs.connect_status, USHER_OK);
    ev_run(obs.loop, EVRUN_NOWAIT);  /* let the requests go out */
    assert_int_equal(obs.replies, 0);

    usher_async_free(obs.ac);
    assert_int_equal(obs.replies, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(obs.fired[i], 1);
        assert_int_equal(obs.status[i], USHER_ECLOSED);
    }
    assert_int_equal(obs.disconnects, 1);
    assert_int_equal(obs.disconnect_status, USHER_OK);
    assert_null(obs.ac);
    close_loop(&obs);
}

static void test_async_out_of_order_replies_matched_by_msgid(void **state)
{
    fake_server *fs = fake_start(FAKE_REVERSED, 20);
    *state = fs;
    observed obs;
    open_async(&obs, fs->port, 2000);
    call_slot slots[20];
    issue(&obs, slots, 20, "sys.ping", "{}");
    run_until(&obs, &obs.replies, 20);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(obs.order[i], 19 - i);  /* answered last first */
        assert_int_equal(obs.fired[i], 1);
        assert_int_equal(obs.status[i], USHER_OK);
        assert_true(obs.echo[i] > 0);
        if (i > 0)
            assert_true(obs.echo[i] != obs.echo[i - 1]);
    }
    assert_int_equal(usher_async_pending(obs.ac), 0);
    usher_async_disconnect(obs.ac);
    run_until(&obs, &obs.disconnects, 1);
    assert_int_equal(obs.disconnect_status, USHER_OK);
    close_loop(&obs);
}

static void test_async_call_timeout_keeps_the_connection(void **state)
{
    fake_server *fs = fake_start(FAKE_SILENT, 0);
    *state = fs;
    observed obs;
    open_async(&obs, fs->port, 2000);
    usher_async_set_timeout(obs.ac, 150);
    call_slot slots[3];
    issue(&obs, slots, 3, "sys.ping", NULL);
    ev_tstamp t0 = ev_time();
    run_until(&obs, &obs.replies, 3);
    ev_tstamp waited = ev_time() - t0;
    assert_true(waited >= 0.14 && waited < 2.0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(obs.status[i], USHER_ETIMEOUT);
    assert_int_equal(obs.disconnects, 0);
    assert_int_equal(usher_async_pending(obs.ac), 0);

    usher_async_disconnect(obs.ac);  /* nothing in flight: ends from the loop, gracefully */
    assert_int_equal(obs.disconnects, 0);
    run_until(&obs, &obs.disconnects, 1);
    assert_int_equal(obs.disconnect_status, USHER_OK);
    close_loop(&obs);
}

static void test_async_server_hanging_up_fails_calls_in_flight(void **state)
{
    fake_server *fs = fake_start(FAKE_CLOSE_AFTER_READ, 0);
    *state = fs;
    observed obs;
    open_async(&obs, fs->port, 2000);
    call_slot slots[3];
    issue(&obs, slots, 3, "sys.ping", NULL);
    run_until(&obs, &obs.disconnects, 1);
    assert_int_equal(obs.disconnect_status, USHER_ECLOSED);
    assert_int_equal(obs.replies, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(obs.status[i], USHER_ECLOSED);
    close_loop(&obs);
}

static void test_async_connect_refused_reports_eio(void **state)
{
    (void)state;
    observed obs;
    open_async(&obs, harness_free_port(), 2000);
    call_slot slots[2];
    issue(&obs, slots, 2, "sys.ping", NULL);
    run_until(&obs, &obs.disconnects, 1);
    assert_int_equal(obs.connects, 1);
    assert_int_equal(obs.connect_status, USHER_EIO);
    assert_int_equal(obs.disconnect_status, USHER_EIO);
    assert_int_equal(obs.status[0], USHER_ECLOSED);
    assert_int_equal(obs.status[1], USHER_ECLOSED);
    close_loop(&obs);
}

static void test_async_bad_arguments_are_refused_without_callback(void **state)
{
    fake_server *fs = fake_start(FAKE_SILENT, 0);
    *state = fs;
    observed obs;
    open_async(&obs, fs->port, 2000);
    call_slot slot = { &obs, 0 };
    assert_int_equal(usher_async_call_json(obs.ac, "sys.ping", "{oops", on_reply, &slot), USHER_EARG);
    assert_int_equal(usher_async_call_json(obs.ac, NULL, "{}", on_reply, &slot), USHER_EARG);
    assert_int_equal(usher_async_call(obs.ac, "sys.ping", NULL, NULL, &slot), USHER_EARG);
    assert_null(usher_async_connect(obs.loop, "127.0.0.1", 0, 0));
    assert_null(usher_async_connect(NULL, "127.0.0.1", 7700, 0));
    assert_int_equal(usher_async_pending(obs.ac), 0);
    close_loop(&obs);
    assert_int_equal(obs.replies, 0);
    assert_int_equal(obs.disconnects, 1);
}

static void test_async_free_inside_callback_fails_the_rest(void **state)
{
    fake_server *fs = fake_start(FAKE_STALE_THEN_ANSWER, 0);
    *state = fs;
    observed obs;
    open_async(&obs, fs->port, 2000);
    obs.free_in_callback = true;
    call_slot slots[5];
    issue(&obs, slots, 5, "sys.ping", NULL);
    run_until(&obs, &obs.disconnects, 1);
    assert_int_equal(obs.status[0], USHER_OK);
    assert_int_equal(obs.notes, 1);  /* the notification before the first answer */
    for (int i = 1; i < 5; i++) {
        assert_int_equal(obs.fired[i], 1);
        assert_int_equal(obs.status[i], USHER_ECLOSED);
    }
    assert_int_equal(obs.disconnect_status, USHER_OK);
    close_loop(&obs);
}

static void test_async_garbage_reply_is_eproto(void **state)
{
    fake_server *fs = fake_start(FAKE_GARBAGE, 0);
    *state = fs;
    observed obs;
    open_async(&obs, fs->port, 2000);
    call_slot slots[2];
    issue(&obs, slots, 2, "sys.ping", NULL);
    run_until(&obs, &obs.disconnects, 1);
    assert_int_equal(obs.disconnect_status, USHER_EPROTO);
    assert_int_equal(obs.status[0], USHER_ECLOSED);
    assert_int_equal(obs.status[1], USHER_ECLOSED);
    close_loop(&obs);
}

/* ================================================================ real usherd */

static void test_async_pipelines_50_calls_to_usherd(void **state)
{
    harness_server *hs = harness_fx_start(*state, NULL);
    observed obs;
    open_async(&obs, hs->port, 5000);
    call_slot slots[50];
    static const char *const methods[] = { "sys.ping", "concert.list", "user.register", "sys.hello" };
    for (int i = 0; i < 50; i++) {
        slots[i].obs = &obs;
        slots[i].index = i;
        assert_int_equal(usher_async_call(obs.ac, methods[i % 4], NULL, on_reply, &slots[i]), USHER_OK);
    }
    assert_int_equal(usher_async_pending(obs.ac), 50);  /* all in flight before any reply */
    run_until(&obs, &obs.replies, 50);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(obs.fired[i], 1);
        assert_int_equal(obs.status[i], USHER_OK);
    }
    assert_int_equal(obs.connects, 1);
    assert_int_equal(usher_async_pending(obs.ac), 0);
    usher_async_disconnect(obs.ac);
    run_until(&obs, &obs.disconnects, 1);
    assert_int_equal(obs.disconnect_status, USHER_OK);
    close_loop(&obs);
}

static void on_error_reply(usher_async *ac, usher_status status, const usher_reply *reply, void *privdata)
{
    (void)ac;
    int *seen = privdata;
    assert_int_equal(status, USHER_UNAUTHENTICATED);
    assert_non_null(reply);
    assert_string_equal(reply->error_name, "UNAUTHENTICATED");
    assert_non_null(reply->message);
    assert_int_equal(reply->result.type, MSGPACK_OBJECT_NIL);
    (*seen)++;
}

static void test_async_server_error_surfaces_as_its_enum(void **state)
{
    harness_server *hs = harness_fx_start(*state, NULL);
    observed obs;
    open_async(&obs, hs->port, 5000);
    int seen = 0;
    assert_int_equal(usher_async_call_json(obs.ac, "wallet.balance", "{\"session\": \"forged\"}",
                                           on_error_reply, &seen), USHER_OK);
    run_until(&obs, &seen, 1);
    assert_int_equal(obs.disconnects, 0);  /* a server error keeps the connection */
    close_loop(&obs);
    assert_int_equal(obs.disconnects, 1);
}

static void test_async_graceful_disconnect_waits_for_replies(void **state)
{
    harness_server *hs = harness_fx_start(*state, NULL);
    observed obs;
    open_async(&obs, hs->port, 5000);
    obs.disconnect_in_callback = true;
    call_slot slots[5];
    issue(&obs, slots, 5, "sys.ping", NULL);
    run_until(&obs, &obs.disconnects, 1);
    assert_true(obs.call_after_disconnect_refused);
    assert_int_equal(obs.replies, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(obs.status[i], USHER_OK);
    assert_int_equal(obs.fired[MAX_CALLS - 1], 0);
    assert_int_equal(obs.disconnect_status, USHER_OK);
    close_loop(&obs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_async_free_with_calls_in_flight_gives_eclosed, fake_fixture_teardown),
        cmocka_unit_test_teardown(test_async_out_of_order_replies_matched_by_msgid, fake_fixture_teardown),
        cmocka_unit_test_teardown(test_async_call_timeout_keeps_the_connection, fake_fixture_teardown),
        cmocka_unit_test_teardown(test_async_server_hanging_up_fails_calls_in_flight, fake_fixture_teardown),
        cmocka_unit_test(test_async_connect_refused_reports_eio),
        cmocka_unit_test_teardown(test_async_bad_arguments_are_refused_without_callback, fake_fixture_teardown),
        cmocka_unit_test_teardown(test_async_free_inside_callback_fails_the_rest, fake_fixture_teardown),
        cmocka_unit_test_teardown(test_async_garbage_reply_is_eproto, fake_fixture_teardown),
        HARNESS_TEST(test_async_pipelines_50_calls_to_usherd),
        HARNESS_TEST(test_async_server_error_surfaces_as_its_enum),
        HARNESS_TEST(test_async_graceful_disconnect_waits_for_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
