/* End to end over TCP: the business errors. NOT_FOUND, SEAT_UNAVAILABLE,
 * HOLD_LIMIT, HOLD_EXPIRED, ALREADY_PAID, INSUFFICIENT_BALANCE (changing
 * nothing) and AMOUNT_LIMIT. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <string.h>

#define DAY_MS 86400000LL
#define PRICE 20000
#define SEATS 50

/* Status string of reservation rid in the user's reservation.list. */
static bool reservation_status_is(harness_conn *c, const char *session, uint64_t rid, const char *status)
{
    harness_reply r;
    harness_callf(c, &r, "reservation.list", "{\"session\":\"%s\"}", session);
    harness_expect(&r, OK);
    size_t n;
    const msgpack_object *list = harness_get_array(&r, "reservations", &n);
    bool found = false, is = false;
    for (size_t i = 0; i < n; i++) {
        if (harness_obj_u64(&list[i], "reservation_id") == rid) {
            found = true;
            is = harness_obj_str_is(&list[i], "status", status);
        }
    }
    harness_reply_free(&r);
    if (!found)
        fail_msg("reservation %llu is not listed", (unsigned long long)rid);
    return is;
}

static void test_unknown_objects_are_not_found(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper sh;
    harness_shopper_new(c, v.concert_id, 100000, &sh);

    harness_callf_expect(c, NOT_FOUND, "queue.enter", "{\"session\":\"%s\",\"concert_id\":999999}", sh.user.session);
    harness_callf_expect(c, NOT_FOUND, "reservation.cancel", "{\"session\":\"%s\",\"reservation_id\":999999}",
                         sh.user.session);
    harness_callf_expect(c, NOT_FOUND, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[999999]}", sh.token);
    harness_callf_expect(c, NOT_FOUND, "admin.schedule.create",
                         "{\"admin\":\"%s\",\"concert_id\":999999,\"starts_at\":%lld,\"price\":1}", v.admin,
                         (long long)(harness_now_ms() + DAY_MS));
    /* A schedule that does not exist is NOT_FOUND (PROTOCOL.md: checked before FORBIDDEN). */
    harness_callf_expect(c, NOT_FOUND, "concert.seats", "{\"token\":\"%s\",\"schedule_id\":999999}", sh.token);
    harness_callf_expect(c, NOT_FOUND, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":999999,\"seat_no\":1}", sh.token);
    assert_int_equal(harness_balance(c, sh.user.session), 100000);
}

static void test_held_or_sold_seat_is_unavailable_to_others(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper a, b, d;
    harness_shopper_new(c, v.concert_id, 100000, &a);
    harness_shopper_new(c, v.concert_id, 100000, &b);
    harness_shopper_new(c, v.concert_id, 100000, &d);
    unsigned long long sid = v.schedule_id;

    uint64_t held = harness_reserve(c, a.token, sid, 5, NULL);
    harness_callf_expect(c, SEAT_UNAVAILABLE, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":5}", b.token, sid);

    uint64_t sold = harness_reserve(c, a.token, sid, 6, NULL);
    harness_callf_expect(c, OK, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         a.token, (unsigned long long)sold);
    harness_callf_expect(c, SEAT_UNAVAILABLE, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":6}", b.token, sid);
    harness_callf_expect(c, SEAT_UNAVAILABLE, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":6}", d.token, sid);
    /* The payment covered only seat 6, so the hold on 5 still blocks it. */
    assert_true(reservation_status_is(c, a.user.session, held, "HELD"));
    harness_callf_expect(c, SEAT_UNAVAILABLE, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":5}", d.token, sid);
}

static void test_holds_past_max_holds_get_hold_limit(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-holds 2", SEATS, PRICE, &v);
    harness_conn *c = v.c;
    uint64_t schedule2 = harness_make_schedule(c, v.admin, v.concert_id, SEATS, PRICE,
                                               harness_now_ms() + 2 * DAY_MS);
    harness_shopper sh;
    harness_shopper_new(c, v.concert_id, 100000, &sh);
    unsigned long long sid = v.schedule_id;

    uint64_t first = harness_reserve(c, sh.token, sid, 1, NULL);
    harness_reserve(c, sh.token, sid, 2, NULL);
    harness_callf_expect(c, HOLD_LIMIT, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":3}", sh.token, sid);
    /* Re-reserving a seat already held is not a new hold. */
    assert_int_equal(harness_reserve(c, sh.token, sid, 1, NULL), first);
    /* The limit is per performance. */
    harness_reserve(c, sh.token, schedule2, 3, NULL);
    /* Seat 3 stayed free for others. */
    harness_shopper other;
    harness_shopper_new(c, v.concert_id, 0, &other);
    harness_reserve(c, other.token, sid, 4, NULL);
    /* Cancelling one makes room again. */
    harness_callf_expect(c, OK, "reservation.cancel", "{\"session\":\"%s\",\"reservation_id\":%llu}",
                         sh.user.session, (unsigned long long)first);
    harness_reserve(c, sh.token, sid, 3, NULL);
    /* payment.pay takes at most --max-holds ids. */
    harness_reply r;
    harness_callf(c, &r, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[1,2,3]}", sh.token);
    harness_expect(&r, INVALID_ARGUMENT);
    harness_expect_message(&r, "reservation_ids");
    harness_reply_free(&r);
}

static void test_paying_an_expired_or_cancelled_hold_gives_hold_expired(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--hold-ttl 1500ms", SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper sh;
    harness_shopper_new(c, v.concert_id, 100000, &sh);
    unsigned long long sid = v.schedule_id;

    int64_t expires_at = 0;
    int64_t before = harness_now_ms();
    uint64_t expiring = harness_reserve(c, sh.token, sid, 8, &expires_at);
    assert_true(expires_at >= before + 1400 && expires_at <= harness_now_ms() + 1600);
    uint64_t cancelled = harness_reserve(c, sh.token, sid, 9, NULL);
    harness_callf_expect(c, OK, "reservation.cancel", "{\"session\":\"%s\",\"reservation_id\":%llu}",
                         sh.user.session, (unsigned long long)cancelled);
    harness_callf_expect(c, HOLD_EXPIRED, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         sh.token, (unsigned long long)cancelled);

    harness_sleep_ms(expires_at - harness_now_ms() + 30);
    harness_callf_expect(c, HOLD_EXPIRED, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         sh.token, (unsigned long long)expiring);
    harness_callf_expect(c, HOLD_EXPIRED, "reservation.cancel", "{\"session\":\"%s\",\"reservation_id\":%llu}",
                         sh.user.session, (unsigned long long)expiring);
    /* All or nothing: a live hold with an expired one is not paid either. */
    uint64_t live = harness_reserve(c, sh.token, sid, 10, NULL);
    harness_callf_expect(c, HOLD_EXPIRED, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu,%llu]}",
                         sh.token, (unsigned long long)live, (unsigned long long)expiring);
    assert_true(reservation_status_is(c, sh.user.session, live, "HELD"));
    assert_int_equal(harness_balance(c, sh.user.session), 100000);
}

static void test_paying_a_confirmed_reservation_again_gives_already_paid(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper sh;
    harness_shopper_new(c, v.concert_id, 100000, &sh);
    uint64_t rid = harness_reserve(c, sh.token, v.schedule_id, 12, NULL);
    harness_callf_expect(c, OK, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         sh.token, (unsigned long long)rid);
    /* The payment expired the token: enter again for a fresh one. */
    char token[HARNESS_TOKEN_CAP];
    harness_enter_until_active(c, sh.user.session, v.concert_id, token, 5000);
    assert_string_not_equal(token, sh.token);
    harness_callf_expect(c, ALREADY_PAID, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         token, (unsigned long long)rid);
    harness_callf_expect(c, ALREADY_PAID, "reservation.cancel", "{\"session\":\"%s\",\"reservation_id\":%llu}",
                         sh.user.session, (unsigned long long)rid);
    assert_int_equal(harness_balance(c, sh.user.session), 100000 - PRICE);
    assert_true(reservation_status_is(c, sh.user.session, rid, "CONFIRMED"));
}

static void test_insufficient_balance_changes_nothing(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper sh;
    harness_shopper_new(c, v.concert_id, PRICE * 2 - 1, &sh);
    uint64_t r1 = harness_reserve(c, sh.token, v.schedule_id, 20, NULL);
    uint64_t r2 = harness_reserve(c, sh.token, v.schedule_id, 21, NULL);

    harness_callf_expect(c, INSUFFICIENT_BALANCE, "payment.pay",
                         "{\"token\":\"%s\",\"reservation_ids\":[%llu,%llu]}", sh.token,
                         (unsigned long long)r1, (unsigned long long)r2);
    assert_int_equal(harness_balance(c, sh.user.session), PRICE * 2 - 1);
    assert_true(reservation_status_is(c, sh.user.session, r1, "HELD"));
    assert_true(reservation_status_is(c, sh.user.session, r2, "HELD"));
    assert_int_equal(harness_queue_state(c, sh.token, NULL), 'A');
    harness_reply r;
    harness_callf(c, &r, "payment.list", "{\"session\":\"%s\"}", sh.user.session);
    harness_expect(&r, OK);
    size_t n;
    harness_get_array(&r, "payments", &n);
    assert_int_equal(n, 0);
    harness_reply_free(&r);
    harness_callf(c, &r, "wallet.history", "{\"session\":\"%s\"}", sh.user.session);
    harness_expect(&r, OK);
    harness_get_array(&r, "entries", &n);
    assert_int_equal(n, 1);
    harness_reply_free(&r);

    /* One of the two is affordable, and still payable on the same token. */
    harness_callf(c, &r, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}", sh.token,
                  (unsigned long long)r1);
    harness_expect(&r, OK);
    assert_int_equal(harness_get_i64(&r, "balance"), PRICE - 1);
    harness_reply_free(&r);
}

static void test_charge_above_max_charge_gives_amount_limit(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    harness_callf_expect(c, AMOUNT_LIMIT, "wallet.charge", "{\"session\":\"%s\",\"amount\":10000001}", u.session);
    assert_int_equal(harness_balance(c, u.session), 0);
    assert_int_equal(harness_charge(c, u.session, 10000000), 10000000);
    harness_callf_expect(c, AMOUNT_LIMIT, "wallet.charge",
                         "{\"session\":\"%s\",\"amount\":10000001,\"request_id\":\"big\"}", u.session);
    assert_int_equal(harness_balance(c, u.session), 10000000);
}

/* A performance that has started sells no more seats: INVALID_ARGUMENT
 * naming schedule_id, while a later performance still sells. */
static void test_started_performance_refuses_holds_naming_schedule_id(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "", SEATS, PRICE, &v);
    uint64_t soon = harness_make_schedule(v.c, v.admin, v.concert_id, SEATS, PRICE,
                                          harness_now_ms() + 300);
    harness_shopper sh;
    harness_shopper_new(v.c, v.concert_id, 100000, &sh);
    harness_sleep_ms(400);
    harness_reply r;
    harness_callf(v.c, &r, "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":1}",
                  sh.token, (unsigned long long)soon);
    harness_expect(&r, INVALID_ARGUMENT);
    harness_expect_message(&r, "schedule_id");
    harness_reply_free(&r);
    harness_reserve(v.c, sh.token, v.schedule_id, 1, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_unknown_objects_are_not_found),
        HARNESS_TEST(test_started_performance_refuses_holds_naming_schedule_id),
        HARNESS_TEST(test_held_or_sold_seat_is_unavailable_to_others),
        HARNESS_TEST(test_holds_past_max_holds_get_hold_limit),
        HARNESS_TEST(test_paying_an_expired_or_cancelled_hold_gives_hold_expired),
        HARNESS_TEST(test_paying_a_confirmed_reservation_again_gives_already_paid),
        HARNESS_TEST(test_insufficient_balance_changes_nothing),
        HARNESS_TEST(test_charge_above_max_charge_gives_amount_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
