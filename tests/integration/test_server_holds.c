/* End to end over TCP: seat holds and idempotent retries. Hold expiry with a
 * short --hold-ttl (the seat is free again at once, no sweeper needed),
 * re-reserving one's own seat, cancel, and request_id on wallet.charge and
 * payment.pay. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <string.h>

#define DAY_MS 86400000LL
#define PRICE 25000
#define SEATS 50

/* The "available" flag of seat_no in concert.seats. */
static bool seat_available(harness_conn *c, const char *token, uint64_t schedule_id, uint32_t seat_no)
{
    harness_reply r;
    harness_callf(c, &r, "concert.seats", "{\"token\":\"%s\",\"schedule_id\":%llu}", token,
                  (unsigned long long)schedule_id);
    harness_expect(&r, OK);
    size_t n;
    const msgpack_object *seats = harness_get_array(&r, "seats", &n);
    assert_true(seat_no >= 1 && seat_no <= n);
    const msgpack_object *a = msg_map_get(&seats[seat_no - 1], "available");
    assert_non_null(a);
    assert_int_equal(a->type, MSGPACK_OBJECT_BOOLEAN);
    bool available = a->via.boolean;
    harness_reply_free(&r);
    return available;
}

/* Status of reservation rid in the user's reservation.list is `status`. */
static bool listed_as(harness_conn *c, const char *session, uint64_t rid, const char *status)
{
    harness_reply r;
    harness_callf(c, &r, "reservation.list", "{\"session\":\"%s\"}", session);
    harness_expect(&r, OK);
    size_t n;
    const msgpack_object *list = harness_get_array(&r, "reservations", &n);
    bool is = false;
    for (size_t i = 0; i < n; i++)
        if (harness_obj_u64(&list[i], "reservation_id") == rid)
            is = harness_obj_str_is(&list[i], "status", status);
    harness_reply_free(&r);
    return is;
}

static void test_expired_hold_frees_the_seat_at_once(void **state)
{
    harness_fixture *fx = *state;
    /* A long admit interval: no timer tick can tidy up before we look. */
    harness_venue v;
    harness_venue_open(fx, "--hold-ttl 1500ms --admit-interval 10s", SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper a, b;
    harness_shopper_new(c, v.concert_id, 100000, &a);
    harness_shopper_new(c, v.concert_id, 100000, &b);
    unsigned long long sid = v.schedule_id;

    int64_t expires_at = 0;
    uint64_t rid = harness_reserve(c, a.token, sid, 5, &expires_at);
    assert_false(seat_available(c, b.token, sid, 5));
    harness_callf_expect(c, SEAT_UNAVAILABLE, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":5}", b.token, sid);
    assert_true(listed_as(c, a.user.session, rid, "HELD"));

    harness_sleep_ms(expires_at - harness_now_ms() + 20);
    assert_true(seat_available(c, b.token, sid, 5));
    harness_callf_expect(c, HOLD_EXPIRED, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         a.token, (unsigned long long)rid);
    uint64_t rid_b = harness_reserve(c, b.token, sid, 5, NULL);
    assert_true(rid_b != rid);
    assert_true(listed_as(c, a.user.session, rid, "EXPIRED"));
    assert_int_equal(harness_balance(c, a.user.session), 100000);
    /* B's fresh hold is payable. */
    harness_callf_expect(c, OK, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         b.token, (unsigned long long)rid_b);
}

static void test_expired_hold_is_listed_expired_without_a_new_reservation(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--hold-ttl 1500ms --admit-interval 10s", SEATS, PRICE, &v);
    harness_shopper a;
    harness_shopper_new(v.c, v.concert_id, 0, &a);
    int64_t expires_at = 0;
    uint64_t rid = harness_reserve(v.c, a.token, v.schedule_id, 9, &expires_at);
    harness_sleep_ms(expires_at - harness_now_ms() + 20);
    assert_true(listed_as(v.c, a.user.session, rid, "EXPIRED"));
}

static void test_reserving_your_own_held_seat_returns_the_same_reservation(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_shopper a;
    harness_shopper_new(v.c, v.concert_id, 0, &a);
    int64_t e1 = 0, e2 = 0;
    uint64_t r1 = harness_reserve(v.c, a.token, v.schedule_id, 30, &e1);
    uint64_t r2 = harness_reserve(v.c, a.token, v.schedule_id, 30, &e2);
    assert_int_equal(r1, r2);
    assert_int_equal(e1, e2);
    harness_reply r;
    harness_callf(v.c, &r, "reservation.list", "{\"session\":\"%s\"}", a.user.session);
    harness_expect(&r, OK);
    size_t n;
    harness_get_array(&r, "reservations", &n);
    assert_int_equal(n, 1);
    harness_reply_free(&r);
}

static void test_cancel_frees_the_seat_and_repeats_the_same_result(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper a, b;
    harness_shopper_new(c, v.concert_id, 0, &a);
    harness_shopper_new(c, v.concert_id, 0, &b);
    uint64_t rid = harness_reserve(c, a.token, v.schedule_id, 40, NULL);
    assert_false(seat_available(c, b.token, v.schedule_id, 40));

    for (int i = 0; i < 2; i++) {
        harness_reply r;
        harness_callf(c, &r, "reservation.cancel", "{\"session\":\"%s\",\"reservation_id\":%llu}",
                      a.user.session, (unsigned long long)rid);
        harness_expect(&r, OK);
        assert_int_equal(harness_get_u64(&r, "reservation_id"), rid);
        assert_true(harness_obj_str_is(r.result, "status", "CANCELLED"));
        harness_reply_free(&r);
        if (i == 0) {
            assert_true(seat_available(c, b.token, v.schedule_id, 40));
            harness_reserve(c, b.token, v.schedule_id, 40, NULL);
        }
    }
    assert_true(listed_as(c, a.user.session, rid, "CANCELLED"));
    assert_false(seat_available(c, a.token, v.schedule_id, 40));
}

/* Writes on one connection take effect in order, also for seat.reserve,
 * whose refusals may be answered from a snapshot: a reserve pipelined right
 * behind the cancel that frees a hold slot is not refused with HOLD_LIMIT. */
static void test_reserve_pipelined_behind_a_cancel_sees_the_cancel(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-holds 2", SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper a;
    harness_shopper_new(c, v.concert_id, 0, &a);
    unsigned long long sid = v.schedule_id;
    uint64_t held[2] = { harness_reserve(c, a.token, sid, 1, NULL), harness_reserve(c, a.token, sid, 2, NULL) };
    harness_callf_expect(c, HOLD_LIMIT, "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":3}",
                         a.token, sid);
    for (unsigned round = 0; round < 20; round++) {
        uint32_t cancel = harness_sendf(c, "reservation.cancel", "{\"session\":\"%s\",\"reservation_id\":%llu}",
                                        a.user.session, (unsigned long long)held[round % 2]);
        uint32_t reserve = harness_sendf(c, "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%u}",
                                         a.token, sid, 3 + round);
        harness_reply r;
        assert_int_equal(harness_recv(c, cancel, &r), USHER_ERR_OK);
        harness_reply_free(&r);
        usher_err e = harness_recv(c, reserve, &r);
        if (e != USHER_ERR_OK)
            fail_msg("round %u: the reserve behind the cancel got %s", round, usher_err_name(e));
        held[round % 2] = harness_get_u64(&r, "reservation_id");
        harness_reply_free(&r);
    }
}

static void test_charge_with_same_request_id_charges_once(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    for (int i = 0; i < 3; i++) {
        harness_reply r;
        harness_callf(c, &r, "wallet.charge", "{\"session\":\"%s\",\"amount\":7000,\"request_id\":\"top-up-1\"}",
                      u.session);
        harness_expect(&r, OK);
        assert_int_equal(harness_get_i64(&r, "balance"), 7000);
        assert_int_equal(harness_get_i64(&r, "charged"), 7000);
        harness_reply_free(&r);
    }
    assert_int_equal(harness_balance(c, u.session), 7000);

    harness_reply r;
    harness_callf(c, &r, "wallet.charge", "{\"session\":\"%s\",\"amount\":8000,\"request_id\":\"top-up-1\"}",
                  u.session);
    harness_expect(&r, INVALID_ARGUMENT);
    harness_expect_message(&r, "request_id");
    harness_reply_free(&r);

    /* A different request_id is a new charge; a later charge does not
     * change what the first one's retry answers. */
    assert_int_equal(harness_charge(c, u.session, 500), 7500);
    harness_callf(c, &r, "wallet.charge", "{\"session\":\"%s\",\"amount\":7000,\"request_id\":\"top-up-1\"}",
                  u.session);
    harness_expect(&r, OK);
    assert_int_equal(harness_get_i64(&r, "balance"), 7000);
    harness_reply_free(&r);
    assert_int_equal(harness_balance(c, u.session), 7500);

    /* request_id is per user: another user's "top-up-1" is their own. */
    harness_user w;
    harness_register(c, &w);
    harness_callf(c, &r, "wallet.charge", "{\"session\":\"%s\",\"amount\":100,\"request_id\":\"top-up-1\"}",
                  w.session);
    harness_expect(&r, OK);
    assert_int_equal(harness_get_i64(&r, "balance"), 100);
    harness_reply_free(&r);

    /* The ledger has exactly two charges for u. */
    harness_callf(c, &r, "wallet.history", "{\"session\":\"%s\"}", u.session);
    harness_expect(&r, OK);
    size_t n;
    harness_get_array(&r, "entries", &n);
    assert_int_equal(n, 2);
    harness_reply_free(&r);
}

static void test_payment_retry_after_token_expired_returns_the_first_payment(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper a;
    harness_shopper_new(c, v.concert_id, 100000, &a);
    uint64_t r1 = harness_reserve(c, a.token, v.schedule_id, 1, NULL);
    uint64_t r2 = harness_reserve(c, a.token, v.schedule_id, 2, NULL);

    harness_reply r;
    harness_callf(c, &r, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu,%llu],\"request_id\":\"pay-1\"}",
                  a.token, (unsigned long long)r1, (unsigned long long)r2);
    harness_expect(&r, OK);
    uint64_t payment_id = harness_get_u64(&r, "payment_id");
    int64_t paid_at = harness_get_i64(&r, "paid_at");
    assert_int_equal(harness_get_i64(&r, "amount"), 2 * PRICE);
    assert_int_equal(harness_get_i64(&r, "balance"), 100000 - 2 * PRICE);
    harness_reply_free(&r);
    assert_int_equal(harness_queue_state(c, a.token, NULL), 'E');

    /* Retry with the now-expired token, ids in another order. */
    for (int i = 0; i < 2; i++) {
        harness_callf(c, &r, "payment.pay",
                      "{\"token\":\"%s\",\"reservation_ids\":[%llu,%llu],\"request_id\":\"pay-1\"}", a.token,
                      (unsigned long long)(i ? r1 : r2), (unsigned long long)(i ? r2 : r1));
        harness_expect(&r, OK);
        assert_int_equal(harness_get_u64(&r, "payment_id"), payment_id);
        assert_int_equal(harness_get_i64(&r, "amount"), 2 * PRICE);
        assert_int_equal(harness_get_i64(&r, "balance"), 100000 - 2 * PRICE);
        assert_int_equal(harness_get_i64(&r, "paid_at"), paid_at);
        harness_reply_free(&r);
    }
    assert_int_equal(harness_balance(c, a.user.session), 100000 - 2 * PRICE);

    /* Different ids under the same request_id: INVALID_ARGUMENT naming it. */
    harness_callf(c, &r, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu],\"request_id\":\"pay-1\"}",
                  a.token, (unsigned long long)r1);
    harness_expect(&r, INVALID_ARGUMENT);
    harness_expect_message(&r, "request_id");
    harness_reply_free(&r);
    /* Without the request_id the expired token is refused. */
    harness_callf_expect(c, TOKEN_EXPIRED, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu,%llu]}",
                         a.token, (unsigned long long)r1, (unsigned long long)r2);
    /* A forged token does not get the stored result. */
    char forged[HARNESS_TOKEN_CAP];
    snprintf(forged, sizeof forged, "%s", a.token);
    harness_tamper(forged);
    harness_callf_expect(c, TOKEN_INVALID, "payment.pay",
                         "{\"token\":\"%s\",\"reservation_ids\":[%llu,%llu],\"request_id\":\"pay-1\"}", forged,
                         (unsigned long long)r1, (unsigned long long)r2);

    harness_callf(c, &r, "payment.list", "{\"session\":\"%s\"}", a.user.session);
    harness_expect(&r, OK);
    size_t n;
    harness_get_array(&r, "payments", &n);
    assert_int_equal(n, 1);
    harness_reply_free(&r);
}

static void test_failed_payment_is_not_remembered_for_its_request_id(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper a;
    harness_shopper_new(c, v.concert_id, PRICE - 1, &a);
    uint64_t rid = harness_reserve(c, a.token, v.schedule_id, 3, NULL);
    harness_callf_expect(c, INSUFFICIENT_BALANCE, "payment.pay",
                         "{\"token\":\"%s\",\"reservation_ids\":[%llu],\"request_id\":\"p\"}", a.token,
                         (unsigned long long)rid);
    harness_charge(c, a.user.session, 1);
    harness_callf_expect(c, OK, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu],\"request_id\":\"p\"}",
                         a.token, (unsigned long long)rid);
    assert_int_equal(harness_balance(c, a.user.session), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_expired_hold_frees_the_seat_at_once),
        HARNESS_TEST(test_expired_hold_is_listed_expired_without_a_new_reservation),
        HARNESS_TEST(test_reserving_your_own_held_seat_returns_the_same_reservation),
        HARNESS_TEST(test_cancel_frees_the_seat_and_repeats_the_same_result),
        HARNESS_TEST(test_reserve_pipelined_behind_a_cancel_sees_the_cancel),
        HARNESS_TEST(test_charge_with_same_request_id_charges_once),
        HARNESS_TEST(test_payment_retry_after_token_expired_returns_the_first_payment),
        HARNESS_TEST(test_failed_payment_is_not_remembered_for_its_request_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
