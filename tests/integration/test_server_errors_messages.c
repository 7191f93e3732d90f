/* End to end over TCP: refusals whose message says the fact (PROTOCOL.md
 * section 4.2): NOT_FOUND names what and which id, AMOUNT_LIMIT and
 * HOLD_LIMIT give the limit and the figure, INSUFFICIENT_BALANCE the
 * balance and the amount due. And admin.schedule.create refuses a
 * performance in the past and a free seat, naming the parameter. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "../../server/store.h"
#include "../../server/token.h"

#define DAY_MS 86400000LL
#define PRICE 20000
#define SEATS 50

/* One call that must end with code and a message containing text. */
#define EXPECT_MESSAGE(c, CODE, text, method, ...) do { \
        harness_reply r_; \
        harness_callf((c), &r_, (method), __VA_ARGS__); \
        harness_expect(&r_, CODE); \
        harness_expect_message(&r_, (text)); \
        harness_reply_free(&r_); \
    } while (0)

static void test_not_found_names_the_object_and_its_id(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper sh;
    harness_shopper_new(c, v.concert_id, 100000, &sh);
    uint64_t rid = harness_reserve(c, sh.token, v.schedule_id, 1, NULL);

    EXPECT_MESSAGE(c, NOT_FOUND, "concert 99 not found", "queue.enter",
                   "{\"session\":\"%s\",\"concert_id\":99}", sh.user.session);
    EXPECT_MESSAGE(c, NOT_FOUND, "schedule 7777 not found", "concert.seats",
                   "{\"token\":\"%s\",\"schedule_id\":7777}", sh.token);
    EXPECT_MESSAGE(c, NOT_FOUND, "schedule 7 not found", "seat.reserve",
                   "{\"token\":\"%s\",\"schedule_id\":7,\"seat_no\":1}", sh.token);
    EXPECT_MESSAGE(c, NOT_FOUND, "reservation 12 not found", "reservation.cancel",
                   "{\"session\":\"%s\",\"reservation_id\":12}", sh.user.session);
    /* Of several ids, the one that names nothing. */
    char want[64];
    snprintf(want, sizeof want, "reservation %llu not found", (unsigned long long)(rid + 500));
    EXPECT_MESSAGE(c, NOT_FOUND, want, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu,%llu]}",
                   sh.token, (unsigned long long)rid, (unsigned long long)(rid + 500));
    EXPECT_MESSAGE(c, NOT_FOUND, "concert 4242 not found", "admin.schedule.create",
                   "{\"admin\":\"%s\",\"concert_id\":4242,\"starts_at\":%lld,\"price\":1}", v.admin,
                   (long long)(harness_now_ms() + DAY_MS));
}

static void test_hold_limit_and_insufficient_balance_give_the_figures(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-holds 2", SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper sh;
    harness_shopper_new(c, v.concert_id, 30000, &sh);
    uint64_t a = harness_reserve(c, sh.token, v.schedule_id, 1, NULL);
    uint64_t b = harness_reserve(c, sh.token, v.schedule_id, 2, NULL);
    EXPECT_MESSAGE(c, HOLD_LIMIT, "at most 2 live holds per user", "seat.reserve",
                   "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":3}", sh.token,
                   (unsigned long long)v.schedule_id);
    EXPECT_MESSAGE(c, INSUFFICIENT_BALANCE, "balance 30000 is below the amount due 40000", "payment.pay",
                   "{\"token\":\"%s\",\"reservation_ids\":[%llu,%llu]}", sh.token,
                   (unsigned long long)a, (unsigned long long)b);
}

/* Charges amount to user_id through the store directly, with a policy
 * allowing it (the server must be stopped). */
static void charge_in_store(const char *data_dir, const char *user_text, int64_t amount)
{
    user_id user;
    assert_true(user_id_parse(user_text, strlen(user_text), &user));
    store_options opt = store_options_default();
    opt.policy.max_charge_krw = amount;
    store *st;
    assert_int_equal(store_open(&st, data_dir, &opt), USHER_ERR_OK);
    store_txn *t;
    int64_t after;
    assert_int_equal(store_write_begin(st, &t), USHER_ERR_OK);
    assert_int_equal(store_wallet_charge(t, &user, amount, harness_now_ms(), &after), USHER_ERR_OK);
    assert_int_equal(store_txn_commit(t), USHER_ERR_OK);
    store_close(st);
}

static void test_amount_limit_gives_the_limit_and_the_figure(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    EXPECT_MESSAGE(c, AMOUNT_LIMIT, "a charge is at most 10000000 KRW", "wallet.charge",
                   "{\"session\":\"%s\",\"amount\":10000001}", u.session);
    EXPECT_MESSAGE(c, AMOUNT_LIMIT, "a charge is at most 10000000 KRW", "wallet.charge",
                   "{\"session\":\"%s\",\"amount\":18446744073709551615}", u.session);

    /* A balance 10 below the limit, then a charge of 15. */
    harness_conn_disconnect(c);
    assert_true(harness_kill(hs, SIGTERM) >= 0);
    charge_in_store(hs->data_dir, u.user_id, 1000000000000LL - 10);
    harness_restart(hs);
    c = harness_fx_connect(fx, hs->port);
    EXPECT_MESSAGE(c, AMOUNT_LIMIT, "the balance would be 1000000000005, above the limit 1000000000000",
                   "wallet.charge", "{\"session\":\"%s\",\"amount\":15}", u.session);
    assert_int_equal(harness_balance(c, u.session), 1000000000000LL - 10);
    assert_int_equal(harness_charge(c, u.session, 10), 1000000000000LL);
}

/* admin.schedule.create: starts_at must be in the future, every price 1 or more. */
static void test_schedule_create_refuses_past_performances_and_free_seats(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    const char *a = v.admin;
    unsigned long long cid = (unsigned long long)v.concert_id;
    long long now = (long long)harness_now_ms(), later = now + DAY_MS;
    EXPECT_MESSAGE(c, INVALID_ARGUMENT, "starts_at: must be in the future", "admin.schedule.create",
                   "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld,\"price\":1}", a, cid, now - 1000);
    EXPECT_MESSAGE(c, INVALID_ARGUMENT, "starts_at:", "admin.schedule.create",
                   "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":1,\"price\":1}", a, cid);
    EXPECT_MESSAGE(c, INVALID_ARGUMENT, "price:", "admin.schedule.create",
                   "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld,\"price\":0}", a, cid, later);
    EXPECT_MESSAGE(c, INVALID_ARGUMENT, "prices:", "admin.schedule.create",
                   "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld,\"seats\":3,\"prices\":[5,0,5]}",
                   a, cid, later);
    /* Nothing was made: the concert still has its one performance. */
    harness_shopper sh;
    harness_shopper_new(c, v.concert_id, 0, &sh);
    harness_reply r;
    harness_callf(c, &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", sh.token, cid);
    harness_expect(&r, OK);
    size_t n;
    harness_get_array(&r, "dates", &n);
    assert_int_equal(n, 1);
    harness_reply_free(&r);
    harness_callf_expect(c, OK, "admin.schedule.create",
                         "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld,\"seats\":3,\"prices\":[5,1,5]}",
                         a, cid, later);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_not_found_names_the_object_and_its_id),
        HARNESS_TEST(test_hold_limit_and_insufficient_balance_give_the_figures),
        HARNESS_TEST(test_amount_limit_gives_the_limit_and_the_figure),
        HARNESS_TEST(test_schedule_create_refuses_past_performances_and_free_seats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
