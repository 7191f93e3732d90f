/* libusher's synchronous client: misbehaving fake servers (timeouts, hang-ups,
 * stale replies, garbage) and a real usherd (every typed call in one purchase,
 * catalogue errors surfacing as the matching usher_status). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include "harness.h"
#include "harness_fake.h"
#include "../../client/usher.h"

#define CONNECT_TIMEOUT_MS 5000

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connected client or a failed test. */
static usher_client *connect_ok(uint16_t port)
{
    usher_client *c = usher_connect("127.0.0.1", port, CONNECT_TIMEOUT_MS);
    assert_non_null(c);
    if (usher_last_status(c) != USHER_OK)
        fail_msg("connect to %u: %s: %s", port, usher_status_name(usher_last_status(c)), usher_last_message(c));
    assert_true(usher_is_connected(c));
    return c;
}

/* Fails the test unless st is want, naming both and the client's message. */
static void expect_status_at(usher_client *c, usher_status st, usher_status want, int line)
{
    if (st != want)
        fail_msg("line %d: got %s (%s), wanted %s", line, usher_status_name(st), usher_last_message(c),
                 usher_status_name(want));
    assert_int_equal(usher_last_status(c), want);
}
#define expect_status(c, st, want) expect_status_at((c), (st), (want), __LINE__)

/* ================================================================ fake servers */

static void test_sync_call_times_out_on_silent_server_then_stays_closed(void **state)
{
    fake_server *fs = fake_start(FAKE_SILENT, 0);
    *state = fs;
    usher_client *c = connect_ok(fs->port);
    usher_set_timeout(c, 200);
    int64_t time_ms = 0;

    int64_t t0 = mono_ms();
    expect_status(c, usher_sys_ping(c, &time_ms), USHER_ETIMEOUT);
    int64_t waited = mono_ms() - t0;
    assert_true(waited >= 190 && waited < 2000);
    assert_false(usher_is_connected(c));

    /* dead until an explicit reconnect: no silent retry, no waiting */
    t0 = mono_ms();
    expect_status(c, usher_sys_ping(c, &time_ms), USHER_ECLOSED);
    usher_reply *reply = (usher_reply *)1;
    expect_status(c, usher_call(c, "sys.ping", NULL, &reply), USHER_ECLOSED);
    assert_null(reply);
    assert_true(mono_ms() - t0 < 100);

    expect_status(c, usher_reconnect(c), USHER_OK);
    assert_true(usher_is_connected(c));
    expect_status(c, usher_sys_ping(c, &time_ms), USHER_ETIMEOUT);
    usher_close(c);
}

static void test_sync_server_closing_mid_call_is_eclosed_until_reconnect(void **state)
{
    fake_server *fs = fake_start(FAKE_CLOSE_AFTER_READ, 0);
    *state = fs;
    usher_client *c = connect_ok(fs->port);
    usher_set_timeout(c, 3000);
    usher_balance balance;
    usher_status st = usher_wallet_balance(c, "some-session", &balance);
    if (st != USHER_ECLOSED && st != USHER_EIO)
        fail_msg("wanted ECLOSED or EIO, got %s", usher_status_name(st));
    assert_false(usher_is_connected(c));
    assert_true(strlen(usher_last_message(c)) > 0);
    assert_null(balance.user_id);
    usher_balance_free(&balance);

    int64_t time_ms;
    expect_status(c, usher_sys_ping(c, &time_ms), USHER_ECLOSED);
    expect_status(c, usher_sys_ping(c, &time_ms), USHER_ECLOSED);
    assert_int_equal(__atomic_load_n(&fs->requests, __ATOMIC_RELAXED), 1);  /* the dead client sent nothing more */

    expect_status(c, usher_reconnect(c), USHER_OK);
    st = usher_sys_ping(c, &time_ms);
    assert_true(st == USHER_ECLOSED || st == USHER_EIO);
    assert_int_equal(__atomic_load_n(&fs->requests, __ATOMIC_RELAXED), 2);
    usher_close(c);
}

static void count_notification(usher_client *c, const usher_reply *note, void *privdata)
{
    (void)c;
    assert_int_equal(note->kind, USHER_REPLY_NOTIFICATION);
    assert_string_equal(note->method, "fake.note");
    (*(int *)privdata)++;
}

static void test_sync_stale_reply_is_discarded_and_notification_delivered(void **state)
{
    fake_server *fs = fake_start(FAKE_STALE_THEN_ANSWER, 0);
    *state = fs;
    usher_client *c = connect_ok(fs->port);
    int notes = 0;
    usher_set_notify_cb(c, count_notification, &notes);
    for (int i = 1; i <= 3; i++) {
        int64_t time_ms = 0;
        expect_status(c, usher_sys_ping(c, &time_ms), USHER_OK);
        assert_int_equal(time_ms, FAKE_STALE_TIME);  /* the stale reply carries time 1 */
        assert_int_equal(notes, i);
        assert_string_equal(usher_last_message(c), "");
    }
    usher_close(c);
}

static void test_sync_result_missing_a_field_is_eproto(void **state)
{
    fake_server *fs = fake_start(FAKE_STALE_THEN_ANSWER, 0);
    *state = fs;
    usher_client *c = connect_ok(fs->port);
    usher_hello hello;
    expect_status(c, usher_sys_hello(c, &hello), USHER_EPROTO);  /* {"time": ...} has no "server" */
    assert_null(hello.server);
    assert_non_null(strstr(usher_last_message(c), "server"));
    assert_false(usher_is_connected(c));
    usher_hello_free(&hello);
    usher_close(c);
}

static void test_sync_garbage_reply_is_eproto(void **state)
{
    fake_server *fs = fake_start(FAKE_GARBAGE, 0);
    *state = fs;
    usher_client *c = connect_ok(fs->port);
    usher_reply *reply = NULL;
    expect_status(c, usher_call(c, "sys.ping", NULL, &reply), USHER_EPROTO);
    assert_null(reply);
    int64_t time_ms;
    expect_status(c, usher_sys_ping(c, &time_ms), USHER_ECLOSED);
    usher_close(c);
}

static void test_sync_reply_above_max_frame_is_eproto(void **state)
{
    fake_server *fs = fake_start(FAKE_OVERSIZED, 0);
    *state = fs;
    usher_client *c = connect_ok(fs->port);
    usher_set_max_frame(c, USHER_MAX_FRAME_MIN);
    expect_status(c, usher_reconnect(c), USHER_OK);
    usher_set_timeout(c, 3000);
    int64_t t0 = mono_ms();
    int64_t time_ms;
    expect_status(c, usher_sys_ping(c, &time_ms), USHER_EPROTO);
    assert_true(mono_ms() - t0 < 2000);  /* refused on the header, not after waiting for the body */
    usher_close(c);
}

static void test_sync_connect_refused_is_eio_and_calls_are_eclosed(void **state)
{
    (void)state;
    uint16_t port = harness_free_port();
    usher_client *c = usher_connect("127.0.0.1", port, CONNECT_TIMEOUT_MS);
    assert_non_null(c);
    assert_int_equal(usher_last_status(c), USHER_EIO);
    assert_false(usher_is_connected(c));
    assert_true(strlen(usher_last_message(c)) > 0);
    int64_t time_ms;
    expect_status(c, usher_sys_ping(c, &time_ms), USHER_ECLOSED);
    expect_status(c, usher_reconnect(c), USHER_EIO);
    usher_close(c);

    c = usher_connect("127.0.0.1", 0, CONNECT_TIMEOUT_MS);
    assert_int_equal(usher_last_status(c), USHER_EARG);
    usher_close(c);
}

static void test_sync_bad_arguments_are_earg_and_keep_the_connection(void **state)
{
    fake_server *fs = fake_start(FAKE_STALE_THEN_ANSWER, 0);
    *state = fs;
    usher_client *c = connect_ok(fs->port);
    char *json = (char *)1;
    expect_status(c, usher_call_json(c, "sys.ping", "{\"a\": ", 0, &json), USHER_EARG);
    assert_null(json);
    assert_non_null(strstr(usher_last_message(c), "JSON"));
    expect_status(c, usher_call_json(c, "sys.ping", "[1, 2]", 0, &json), USHER_EARG);
    expect_status(c, usher_call_json(c, "", "{}", 0, &json), USHER_EARG);

    char long_id[USHER_REQUEST_ID_MAX + 2];
    memset(long_id, 'r', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    usher_charge charge;
    expect_status(c, usher_wallet_charge(c, "s", 100, long_id, &charge), USHER_EARG);
    const uint8_t not_a_map[] = { 0x93, 1, 2, 3 };
    usher_reply *reply;
    expect_status(c, usher_call_packed(c, "sys.ping", not_a_map, sizeof not_a_map, &reply), USHER_EARG);
    assert_true(usher_is_connected(c));

    /* the connection is still in step: the next call gets its own answer */
    expect_status(c, usher_call_json(c, "sys.ping", NULL, 0, &json), USHER_OK);
    assert_non_null(strstr(json, "1234"));
    usher_free(json);
    assert_int_equal(__atomic_load_n(&fs->requests, __ATOMIC_RELAXED), 1);
    usher_close(c);
}

static void test_sync_generated_request_id_is_kept_when_the_call_fails(void **state)
{
    fake_server *fs = fake_start(FAKE_CLOSE_AFTER_READ, 0);
    *state = fs;
    usher_client *c = connect_ok(fs->port);
    usher_charge charge;
    usher_status st = usher_wallet_charge(c, "s", 5000, NULL, &charge);
    assert_true(st == USHER_ECLOSED || st == USHER_EIO);
    assert_int_equal(strlen(charge.request_id), 32);
    assert_int_equal(strspn(charge.request_id, "0123456789abcdef"), 32);

    uint64_t ids[] = { 1, 2 };
    usher_payment pay;
    expect_status(c, usher_reconnect(c), USHER_OK);
    st = usher_payment_pay(c, "t", ids, 2, NULL, &pay);
    assert_true(st == USHER_ECLOSED || st == USHER_EIO);
    assert_int_equal(strlen(pay.request_id), 32);
    assert_string_not_equal(pay.request_id, charge.request_id);
    usher_payment_free(&pay);
    usher_close(c);
}

/* ================================================================ real usherd */

static harness_server *start_usherd(void **state)
{
    return harness_fx_start(*state, NULL);
}

static void test_sync_full_purchase_flow_uses_every_typed_call(void **state)
{
    harness_server *hs = start_usherd(state);
    const char *admin = harness_admin_token(hs);
    usher_client *c = connect_ok(hs->port);

    usher_hello hello;
    expect_status(c, usher_sys_hello(c, &hello), USHER_OK);
    assert_string_equal(hello.server, "usherd");
    assert_int_equal(hello.protocol, 1);
    assert_true(strlen(hello.version) > 0 && strlen(hello.instance) > 0);
    usher_hello_free(&hello);
    assert_null(hello.server);

    int64_t server_ms = 0;
    expect_status(c, usher_sys_ping(c, &server_ms), USHER_OK);
    int64_t now = harness_now_ms();
    assert_true(server_ms > now - 60000 && server_ms < now + 60000);

    /* admin: a concert with two performances */
    uint64_t concert_id = 0, schedule_id = 0, small_schedule_id = 0;
    expect_status(c, usher_admin_concert_create(c, admin, "SDK Night", "Hall C", &concert_id), USHER_OK);
    assert_true(concert_id > 0);
    expect_status(c, usher_admin_schedule_create(c, admin, concert_id, now + 86400000, 30000, 0, NULL, 0,
                                                 &schedule_id), USHER_OK);
    int64_t prices[10] = { 90000, 90000, 50000, 50000, 50000, 50000, 50000, 50000, 20000, 20000 };
    expect_status(c, usher_admin_schedule_create(c, admin, concert_id, now + 2 * 86400000, 0, 10, prices, 10,
                                                 &small_schedule_id), USHER_OK);
    assert_true(schedule_id > 0 && small_schedule_id > 0 && schedule_id != small_schedule_id);

    usher_concerts concerts;
    expect_status(c, usher_concert_list(c, 0, 0, &concerts), USHER_OK);
    bool listed = false;
    for (size_t i = 0; i < concerts.count; i++)
        if (concerts.concerts[i].concert_id == concert_id) {
            listed = true;
            assert_string_equal(concerts.concerts[i].title, "SDK Night");
            assert_string_equal(concerts.concerts[i].venue, "Hall C");
        }
    assert_true(listed);
    usher_concerts_free(&concerts);

    /* a user, logged in again with the secret */
    usher_registration reg;
    expect_status(c, usher_user_register(c, &reg), USHER_OK);
    assert_int_equal(strlen(reg.user_id), 36);
    assert_true(reg.session_expires_at > now);
    usher_session login;
    expect_status(c, usher_auth_login(c, reg.user_id, reg.secret, &login), USHER_OK);
    assert_true(strlen(login.session) > 0);
    const char *session = login.session;

    /* charge, retried with the same generated request_id: charged once */
    usher_charge charge;
    expect_status(c, usher_wallet_charge(c, session, 100000, NULL, &charge), USHER_OK);
    assert_int_equal(charge.balance, 100000);
    assert_int_equal(charge.charged, 100000);
    assert_int_equal(strlen(charge.request_id), 32);
    usher_charge again;
    expect_status(c, usher_wallet_charge(c, session, 100000, charge.request_id, &again), USHER_OK);
    assert_int_equal(again.balance, 100000);
    assert_string_equal(again.request_id, charge.request_id);

    usher_balance balance;
    expect_status(c, usher_wallet_balance(c, session, &balance), USHER_OK);
    assert_int_equal(balance.balance, 100000);
    assert_string_equal(balance.user_id, reg.user_id);
    usher_balance_free(&balance);

    /* queue: nobody waits, so the entry is ACTIVE at once */
    usher_queue entry;
    expect_status(c, usher_queue_enter(c, session, concert_id, &entry), USHER_OK);
    assert_non_null(entry.token);
    for (int i = 0; i < 100 && entry.state != USHER_QUEUE_STATE_ACTIVE; i++) {
        usher_queue poll_status;
        harness_sleep_ms(50);
        expect_status(c, usher_queue_status(c, entry.token, &poll_status), USHER_OK);
        entry.state = poll_status.state;
        usher_queue_free(&poll_status);
    }
    assert_int_equal(entry.state, USHER_QUEUE_STATE_ACTIVE);
    usher_queue status;
    expect_status(c, usher_queue_status(c, entry.token, &status), USHER_OK);
    assert_int_equal(status.state, USHER_QUEUE_STATE_ACTIVE);
    assert_int_equal(status.position, 0);
    assert_null(status.token);
    usher_queue_free(&status);
    const char *token = entry.token;

    usher_dates dates;
    expect_status(c, usher_concert_dates(c, token, concert_id, &dates), USHER_OK);
    assert_int_equal(dates.count, 2);
    assert_int_equal(dates.dates[0].schedule_id, schedule_id);  /* earliest first */
    assert_int_equal(dates.dates[0].available, 50);
    assert_int_equal(dates.dates[0].total, 50);
    assert_int_equal(dates.dates[1].schedule_id, small_schedule_id);
    assert_int_equal(dates.dates[1].total, 10);
    usher_dates_free(&dates);

    usher_seats seats;
    expect_status(c, usher_concert_seats(c, token, small_schedule_id, &seats), USHER_OK);
    assert_int_equal(seats.schedule_id, small_schedule_id);
    assert_int_equal(seats.count, 10);
    for (size_t i = 0; i < seats.count; i++) {
        assert_int_equal(seats.seats[i].seat_no, i + 1);
        assert_int_equal(seats.seats[i].price, prices[i]);
        assert_true(seats.seats[i].available);
    }
    usher_seats_free(&seats);

    /* hold two seats, release one, pay the other */
    usher_reservation held, spare, cancelled;
    expect_status(c, usher_seat_reserve(c, token, schedule_id, 17, &held), USHER_OK);
    assert_int_equal(held.seat_no, 17);
    assert_int_equal(held.schedule_id, schedule_id);
    assert_int_equal(held.price, 30000);
    assert_int_equal(held.state, USHER_RES_HELD);
    assert_true(held.expires_at > now);
    expect_status(c, usher_seat_reserve(c, token, schedule_id, 18, &spare), USHER_OK);
    expect_status(c, usher_reservation_cancel(c, session, spare.reservation_id, &cancelled), USHER_OK);
    assert_int_equal(cancelled.reservation_id, spare.reservation_id);
    assert_int_equal(cancelled.state, USHER_RES_CANCELLED);

    expect_status(c, usher_concert_seats(c, token, schedule_id, &seats), USHER_OK);
    assert_int_equal(seats.count, 50);
    assert_false(seats.seats[16].available);
    assert_true(seats.seats[17].available);
    usher_seats_free(&seats);

    usher_reservations mine;
    expect_status(c, usher_reservation_list(c, session, 0, 0, &mine), USHER_OK);
    assert_int_equal(mine.count, 2);
    assert_int_equal(mine.reservations[0].reservation_id, spare.reservation_id);  /* newest first */
    assert_int_equal(mine.reservations[0].state, USHER_RES_CANCELLED);
    assert_int_equal(mine.reservations[1].reservation_id, held.reservation_id);
    assert_int_equal(mine.reservations[1].state, USHER_RES_HELD);
    usher_reservations_free(&mine);

    usher_payment pay;
    expect_status(c, usher_payment_pay(c, token, &held.reservation_id, 1, NULL, &pay), USHER_OK);
    assert_true(pay.payment_id > 0);
    assert_int_equal(pay.amount, 30000);
    assert_int_equal(pay.balance, 70000);
    assert_int_equal(pay.reservation_count, 1);
    assert_int_equal(pay.reservation_ids[0], held.reservation_id);
    assert_true(pay.paid_at > now - 60000);
    assert_int_equal(strlen(pay.request_id), 32);

    usher_payments payments;
    expect_status(c, usher_payment_list(c, session, 0, 0, &payments), USHER_OK);
    assert_int_equal(payments.count, 1);
    assert_int_equal(payments.payments[0].payment_id, pay.payment_id);
    assert_int_equal(payments.payments[0].amount, 30000);
    assert_int_equal(payments.payments[0].reservation_count, 1);
    assert_int_equal(payments.payments[0].reservation_ids[0], held.reservation_id);
    usher_payments_free(&payments);

    usher_history history;
    expect_status(c, usher_wallet_history(c, session, 10, 0, &history), USHER_OK);
    assert_int_equal(history.count, 2);
    assert_int_equal(history.entries[0].kind, USHER_ENTRY_PAYMENT);
    assert_int_equal(history.entries[0].amount, -30000);
    assert_int_equal(history.entries[0].balance_after, 70000);
    assert_int_equal(history.entries[0].payment_id, pay.payment_id);
    assert_int_equal(history.entries[1].kind, USHER_ENTRY_CHARGE);
    assert_int_equal(history.entries[1].amount, 100000);
    assert_int_equal(history.entries[1].payment_id, 0);
    usher_history_free(&history);
    usher_payment_free(&pay);

    /* the payment expired the queue token */
    expect_status(c, usher_queue_status(c, token, &status), USHER_OK);
    assert_int_equal(status.state, USHER_QUEUE_STATE_EXPIRED);
    usher_queue_free(&status);

    usher_queue_free(&entry);
    usher_session_free(&login);
    usher_registration_free(&reg);
    usher_close(c);
}

/* A registered, charged user admitted to concert_id: session and token owned by the caller. */
typedef struct shopper {
    usher_registration reg;
    usher_queue entry;
} shopper;

static void shopper_new(usher_client *c, uint64_t concert_id, int64_t balance, shopper *s)
{
    expect_status(c, usher_user_register(c, &s->reg), USHER_OK);
    if (balance > 0) {
        usher_charge charge;
        expect_status(c, usher_wallet_charge(c, s->reg.session, balance, NULL, &charge), USHER_OK);
    }
    expect_status(c, usher_queue_enter(c, s->reg.session, concert_id, &s->entry), USHER_OK);
    assert_int_equal(s->entry.state, USHER_QUEUE_STATE_ACTIVE);
}

static void shopper_free(shopper *s)
{
    usher_registration_free(&s->reg);
    usher_queue_free(&s->entry);
}

static void test_sync_server_errors_surface_as_their_enum(void **state)
{
    harness_server *hs = start_usherd(state);
    const char *admin = harness_admin_token(hs);
    usher_client *c = connect_ok(hs->port);
    uint64_t concert_id, schedule_id;
    expect_status(c, usher_admin_concert_create(c, admin, "Errors", NULL, &concert_id), USHER_OK);
    expect_status(c, usher_admin_schedule_create(c, admin, concert_id, harness_now_ms() + 86400000, 40000, 20,
                                                 NULL, 0, &schedule_id), USHER_OK);

    usher_balance balance;
    expect_status(c, usher_wallet_balance(c, NULL, &balance), USHER_UNAUTHENTICATED);
    expect_status(c, usher_wallet_balance(c, "not-a-session", &balance), USHER_UNAUTHENTICATED);
    assert_true(strlen(usher_last_message(c)) > 0);
    assert_true(usher_is_connected(c));  /* a server error leaves the connection up */

    usher_queue status;
    expect_status(c, usher_queue_status(c, "not-a-token", &status), USHER_TOKEN_INVALID);

    shopper rich, poor;
    shopper_new(c, concert_id, 100000, &rich);
    shopper_new(c, concert_id, 0, &poor);
    usher_reservation r1, r2;
    expect_status(c, usher_seat_reserve(c, rich.entry.token, schedule_id, 5, &r1), USHER_OK);
    expect_status(c, usher_seat_reserve(c, poor.entry.token, schedule_id, 5, &r2), USHER_SEAT_UNAVAILABLE);
    expect_status(c, usher_seat_reserve(c, poor.entry.token, schedule_id, 6, &r2), USHER_OK);
    usher_payment pay;
    expect_status(c, usher_payment_pay(c, poor.entry.token, &r2.reservation_id, 1, NULL, &pay),
                  USHER_INSUFFICIENT_BALANCE);
    usher_payment_free(&pay);
    usher_reservation cancelled;
    expect_status(c, usher_reservation_cancel(c, rich.reg.session, 987654321, &cancelled), USHER_NOT_FOUND);
    expect_status(c, usher_reservation_cancel(c, poor.reg.session, r1.reservation_id, &cancelled),
                  USHER_FORBIDDEN);
    uint64_t id;
    expect_status(c, usher_admin_concert_create(c, rich.reg.session, "Nope", NULL, &id), USHER_FORBIDDEN);

    usher_reply *reply = NULL;
    expect_status(c, usher_call(c, "no.such.method", NULL, &reply), USHER_UNKNOWN_METHOD);
    assert_non_null(reply);
    assert_int_equal(reply->status, USHER_UNKNOWN_METHOD);
    assert_string_equal(reply->error_name, "UNKNOWN_METHOD");
    usher_reply_free(reply);

    int64_t time_ms;
    expect_status(c, usher_sys_ping(c, &time_ms), USHER_OK);
    assert_string_equal(usher_last_message(c), "");
    shopper_free(&rich);
    shopper_free(&poor);
    usher_close(c);
}

static void test_sync_generic_and_json_calls(void **state)
{
    harness_server *hs = start_usherd(state);
    usher_client *c = connect_ok(hs->port);

    char *json = NULL;
    expect_status(c, usher_call_json(c, "sys.hello", "{}", USHER_JSON_PRETTY, &json), USHER_OK);
    assert_non_null(strstr(json, "\"usherd\""));
    usher_free(json);
    expect_status(c, usher_call_json(c, "wallet.balance", "{\"session\": \"x\"}", 0, &json),
                  USHER_UNAUTHENTICATED);
    assert_null(json);

    /* params as a msgpack object */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "limit", 5);
    msgpack_pack_uint8(&pk, 3);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 2048);
    msgpack_object params;
    assert_int_equal(msgpack_unpack(sb.data, sb.size, NULL, &zone, &params), MSGPACK_UNPACK_SUCCESS);
    usher_reply *reply = NULL;
    expect_status(c, usher_call(c, "concert.list", &params, &reply), USHER_OK);
    assert_int_equal(reply->kind, USHER_REPLY_RESPONSE);
    assert_int_equal(reply->result.type, MSGPACK_OBJECT_MAP);
    usher_reply_free(reply);
    expect_status(c, usher_call_packed(c, "concert.list", sb.data, sb.size, &reply), USHER_OK);
    usher_reply_free(reply);
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&sb);
    usher_close(c);
}

static void test_sync_send_raw_bad_frame_then_reconnect(void **state)
{
    harness_server *hs = start_usherd(state);
    usher_client *c = connect_ok(hs->port);
    const uint8_t zero_length[] = { 0, 0, 0, 0 };
    usher_reply *reply = NULL;
    expect_status(c, usher_send_raw(c, zero_length, sizeof zero_length, &reply), USHER_BAD_FRAME);
    assert_non_null(reply);
    assert_int_equal(reply->msgid, 0);
    usher_reply_free(reply);
    assert_false(usher_is_connected(c));
    int64_t time_ms;
    expect_status(c, usher_sys_ping(c, &time_ms), USHER_ECLOSED);
    expect_status(c, usher_reconnect(c), USHER_OK);
    expect_status(c, usher_sys_ping(c, &time_ms), USHER_OK);
    usher_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sync_call_times_out_on_silent_server_then_stays_closed, fake_fixture_teardown),
        cmocka_unit_test_teardown(test_sync_server_closing_mid_call_is_eclosed_until_reconnect, fake_fixture_teardown),
        cmocka_unit_test_teardown(test_sync_stale_reply_is_discarded_and_notification_delivered, fake_fixture_teardown),
        cmocka_unit_test_teardown(test_sync_result_missing_a_field_is_eproto, fake_fixture_teardown),
        cmocka_unit_test_teardown(test_sync_garbage_reply_is_eproto, fake_fixture_teardown),
        cmocka_unit_test_teardown(test_sync_reply_above_max_frame_is_eproto, fake_fixture_teardown),
        cmocka_unit_test(test_sync_connect_refused_is_eio_and_calls_are_eclosed),
        cmocka_unit_test_teardown(test_sync_bad_arguments_are_earg_and_keep_the_connection, fake_fixture_teardown),
        cmocka_unit_test_teardown(test_sync_generated_request_id_is_kept_when_the_call_fails, fake_fixture_teardown),
        HARNESS_TEST(test_sync_full_purchase_flow_uses_every_typed_call),
        HARNESS_TEST(test_sync_server_errors_surface_as_their_enum),
        HARNESS_TEST(test_sync_generic_and_json_calls),
        HARNESS_TEST(test_sync_send_raw_bad_frame_then_reconnect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
