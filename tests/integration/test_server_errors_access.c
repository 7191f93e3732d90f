/* End to end over TCP: who may do what. UNAUTHENTICATED sessions,
 * TOKEN_INVALID and TOKEN_EXPIRED queue tokens, QUEUE_WAITING, and FORBIDDEN
 * (other people's objects, the wrong concert, admin methods without a valid
 * admin token of this deployment). */
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

static void test_bad_sessions_are_unauthenticated(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper sh;
    harness_shopper_new(c, v.concert_id, 1000, &sh);

    harness_callf_expect(c, UNAUTHENTICATED, "wallet.balance", "{}");
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.balance", "{\"session\":\"\"}");
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.balance", "{\"session\":\"garbage\"}");
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.balance", "{\"session\":\"u1.AAAA\"}");
    char forged[HARNESS_TOKEN_CAP];
    snprintf(forged, sizeof forged, "%s", sh.user.session);
    harness_tamper(forged);
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.balance", "{\"session\":\"%s\"}", forged);
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.charge", "{\"session\":\"%s\",\"amount\":5}", forged);
    harness_callf_expect(c, UNAUTHENTICATED, "reservation.list", "{\"session\":\"%s\"}", forged);
    harness_callf_expect(c, UNAUTHENTICATED, "payment.list", "{\"session\":\"%s\"}", forged);
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.history", "{\"session\":\"%s\"}", forged);
    harness_callf_expect(c, UNAUTHENTICATED, "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}",
                         forged, (unsigned long long)v.concert_id);
    harness_callf_expect(c, UNAUTHENTICATED, "reservation.cancel",
                         "{\"session\":\"%s\",\"reservation_id\":1}", forged);
    /* Other kinds of token are not sessions. */
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.balance", "{\"session\":\"%s\"}", sh.token);
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.balance", "{\"session\":\"%s\"}", v.admin);

    /* A session signed by another deployment's key. */
    harness_server *other = harness_fx_start(fx, NULL);
    harness_conn *oc = harness_fx_connect(fx, other->port);
    harness_user stranger;
    harness_register(oc, &stranger);
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.balance", "{\"session\":\"%s\"}", stranger.session);

    /* The real one still works and nothing was charged. */
    assert_int_equal(harness_balance(c, sh.user.session), 1000);
}

static void test_expired_session_is_unauthenticated(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--session-ttl 1s");
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    assert_int_equal(harness_balance(c, u.session), 0);
    harness_sleep_ms(1300);
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.balance", "{\"session\":\"%s\"}", u.session);
    /* Logging in again gives a fresh session. */
    harness_reply r;
    harness_callf(c, &r, "auth.login", "{\"user_id\":\"%s\",\"secret\":\"%s\"}", u.user_id, u.secret);
    harness_expect(&r, OK);
    char session[HARNESS_TOKEN_CAP];
    snprintf(session, sizeof session, "%s", harness_get_str(&r, "session"));
    harness_reply_free(&r);
    assert_int_equal(harness_balance(c, session), 0);
}

static void test_bad_queue_tokens_are_token_invalid(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper sh;
    harness_shopper_new(c, v.concert_id, 100000, &sh);
    unsigned long long cid = v.concert_id, sid = v.schedule_id;

    harness_callf_expect(c, TOKEN_INVALID, "concert.dates", "{\"concert_id\":%llu}", cid);
    harness_callf_expect(c, TOKEN_INVALID, "concert.dates", "{\"token\":\"garbage\",\"concert_id\":%llu}", cid);
    harness_callf_expect(c, TOKEN_INVALID, "queue.status", "{\"token\":\"garbage\"}");
    harness_callf_expect(c, TOKEN_INVALID, "queue.status", "{}");
    char forged[HARNESS_TOKEN_CAP];
    snprintf(forged, sizeof forged, "%s", sh.token);
    harness_tamper(forged);
    harness_callf_expect(c, TOKEN_INVALID, "queue.status", "{\"token\":\"%s\"}", forged);
    harness_callf_expect(c, TOKEN_INVALID, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", forged, cid);
    harness_callf_expect(c, TOKEN_INVALID, "concert.seats", "{\"token\":\"%s\",\"schedule_id\":%llu}", forged, sid);
    harness_callf_expect(c, TOKEN_INVALID, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":1}", forged, sid);
    harness_callf_expect(c, TOKEN_INVALID, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[1]}", forged);
    /* A session or admin token is not a queue token. */
    harness_callf_expect(c, TOKEN_INVALID, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}",
                         sh.user.session, cid);
    harness_callf_expect(c, TOKEN_INVALID, "queue.status", "{\"token\":\"%s\"}", v.admin);

    /* A queue token signed by another deployment. */
    harness_venue w;
    harness_venue_open(fx, NULL, SEATS, PRICE, &w);
    harness_shopper stranger;
    harness_shopper_new(w.c, w.concert_id, 0, &stranger);
    harness_callf_expect(c, TOKEN_INVALID, "queue.status", "{\"token\":\"%s\"}", stranger.token);
    harness_callf_expect(c, TOKEN_INVALID, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}",
                         stranger.token, (unsigned long long)w.concert_id);

    /* Nothing was reserved by any of it. */
    harness_reply r;
    harness_callf(c, &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", sh.token, cid);
    harness_expect(&r, OK);
    size_t n;
    const msgpack_object *dates = harness_get_array(&r, "dates", &n);
    assert_int_equal(n, 1);
    assert_int_equal(harness_obj_i64(&dates[0], "available"), SEATS);
    harness_reply_free(&r);
}

static void test_active_ttl_expiry_gives_token_expired(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--active-ttl 1s --admit-interval 100ms", SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper sh;
    harness_shopper_new(c, v.concert_id, 100000, &sh);
    unsigned long long cid = v.concert_id, sid = v.schedule_id;
    uint64_t rid = harness_reserve(c, sh.token, sid, 3, NULL);

    harness_reply r;
    harness_callf(c, &r, "queue.status", "{\"token\":\"%s\"}", sh.token);
    harness_expect(&r, OK);
    int64_t active_until = harness_get_i64(&r, "active_until");
    harness_reply_free(&r);
    assert_true(active_until > harness_now_ms());
    harness_sleep_ms(active_until - harness_now_ms() + 50);

    uint64_t position = 9;
    assert_int_equal(harness_queue_state(c, sh.token, &position), 'E');
    assert_int_equal(position, 0);
    harness_callf_expect(c, TOKEN_EXPIRED, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", sh.token, cid);
    harness_callf_expect(c, TOKEN_EXPIRED, "concert.seats", "{\"token\":\"%s\",\"schedule_id\":%llu}", sh.token, sid);
    harness_callf_expect(c, TOKEN_EXPIRED, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":4}", sh.token, sid);
    harness_callf_expect(c, TOKEN_EXPIRED, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         sh.token, (unsigned long long)rid);
    /* Nothing was paid. */
    assert_int_equal(harness_balance(c, sh.user.session), 100000);
}

static void test_waiting_token_gets_queue_waiting(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-active 1", SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper first;
    harness_shopper_new(c, v.concert_id, 100000, &first);

    harness_user u;
    harness_register(c, &u);
    harness_charge(c, u.session, 100000);
    harness_reply r;
    harness_callf(c, &r, "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}", u.session,
                  (unsigned long long)v.concert_id);
    harness_expect(&r, OK);
    assert_true(harness_obj_str_is(r.result, "status", "WAITING"));
    assert_int_equal(harness_get_u64(&r, "position"), 1);
    char token[HARNESS_TOKEN_CAP];
    snprintf(token, sizeof token, "%s", harness_get_str(&r, "token"));
    harness_reply_free(&r);

    unsigned long long cid = v.concert_id, sid = v.schedule_id;
    uint64_t rid = harness_reserve(c, first.token, sid, 1, NULL);
    harness_callf_expect(c, QUEUE_WAITING, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", token, cid);
    harness_callf_expect(c, QUEUE_WAITING, "concert.seats", "{\"token\":\"%s\",\"schedule_id\":%llu}", token, sid);
    harness_callf_expect(c, QUEUE_WAITING, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":2}", token, sid);
    harness_callf_expect(c, QUEUE_WAITING, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         token, (unsigned long long)rid);
    /* The status itself is always readable. */
    uint64_t position = 0;
    assert_int_equal(harness_queue_state(c, token, &position), 'W');
    assert_int_equal(position, 1);
}

static void test_other_users_reservations_are_forbidden(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper owner, thief;
    harness_shopper_new(c, v.concert_id, 100000, &owner);
    harness_shopper_new(c, v.concert_id, 100000, &thief);
    uint64_t rid = harness_reserve(c, owner.token, v.schedule_id, 10, NULL);

    harness_callf_expect(c, FORBIDDEN, "reservation.cancel", "{\"session\":\"%s\",\"reservation_id\":%llu}",
                         thief.user.session, (unsigned long long)rid);
    harness_callf_expect(c, FORBIDDEN, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         thief.token, (unsigned long long)rid);
    /* One foreign id spoils a whole payment: all or nothing. */
    uint64_t own = harness_reserve(c, thief.token, v.schedule_id, 11, NULL);
    harness_callf_expect(c, FORBIDDEN, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu,%llu]}",
                         thief.token, (unsigned long long)own, (unsigned long long)rid);
    assert_int_equal(harness_balance(c, thief.user.session), 100000);
    assert_int_equal(harness_balance(c, owner.user.session), 100000);

    /* The owner's hold is untouched and payable. */
    harness_callf_expect(c, OK, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         owner.token, (unsigned long long)rid);
    assert_int_equal(harness_balance(c, owner.user.session), 100000 - PRICE);
}

static void test_token_for_one_concert_is_forbidden_on_another(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    uint64_t concert_b, schedule_b;
    harness_make_concert(c, v.admin, SEATS, PRICE, harness_now_ms() + 2 * DAY_MS, &concert_b, &schedule_b);

    harness_shopper sh;
    harness_shopper_new(c, v.concert_id, 100000, &sh);
    char token_b[HARNESS_TOKEN_CAP];
    harness_enter_until_active(c, sh.user.session, concert_b, token_b, 5000);
    uint64_t rid_b = harness_reserve(c, token_b, schedule_b, 1, NULL);

    harness_callf_expect(c, FORBIDDEN, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}",
                         sh.token, (unsigned long long)concert_b);
    harness_callf_expect(c, FORBIDDEN, "concert.seats", "{\"token\":\"%s\",\"schedule_id\":%llu}",
                         sh.token, (unsigned long long)schedule_b);
    harness_callf_expect(c, FORBIDDEN, "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":2}",
                         sh.token, (unsigned long long)schedule_b);
    harness_callf_expect(c, FORBIDDEN, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         sh.token, (unsigned long long)rid_b);
    assert_int_equal(harness_balance(c, sh.user.session), 100000);
    /* Both tokens still work where they belong. */
    harness_callf_expect(c, OK, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}",
                         sh.token, (unsigned long long)v.concert_id);
    harness_callf_expect(c, OK, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         token_b, (unsigned long long)rid_b);
}

static void test_admin_methods_without_a_valid_admin_token_are_forbidden(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper sh;
    harness_shopper_new(c, v.concert_id, 0, &sh);
    char forged[HARNESS_TOKEN_CAP];
    snprintf(forged, sizeof forged, "%s", v.admin);
    harness_tamper(forged);
    harness_server *other = harness_fx_start(fx, NULL);
    const char *foreign_admin = harness_admin_token(other);

    const char *const bad[] = { "", "garbage", forged, sh.user.session, sh.token, foreign_admin };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        harness_callf_expect(c, FORBIDDEN, "admin.concert.create", "{\"admin\":\"%s\",\"title\":\"X\"}", bad[i]);
        harness_callf_expect(c, FORBIDDEN, "admin.schedule.create",
                             "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld,\"price\":1}",
                             bad[i], (unsigned long long)v.concert_id, (long long)(harness_now_ms() + DAY_MS));
    }
    harness_callf_expect(c, FORBIDDEN, "admin.concert.create", "{\"title\":\"X\"}");

    /* Nothing was created: still one concert with one performance. */
    harness_reply r;
    harness_call(c, "concert.list", "{}", &r);
    harness_expect(&r, OK);
    size_t n;
    harness_get_array(&r, "concerts", &n);
    assert_int_equal(n, 1);
    harness_reply_free(&r);
    harness_callf(c, &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", sh.token,
                  (unsigned long long)v.concert_id);
    harness_expect(&r, OK);
    harness_get_array(&r, "dates", &n);
    assert_int_equal(n, 1);
    harness_reply_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_bad_sessions_are_unauthenticated),
        HARNESS_TEST(test_expired_session_is_unauthenticated),
        HARNESS_TEST(test_bad_queue_tokens_are_token_invalid),
        HARNESS_TEST(test_active_ttl_expiry_gives_token_expired),
        HARNESS_TEST(test_waiting_token_gets_queue_waiting),
        HARNESS_TEST(test_other_users_reservations_are_forbidden),
        HARNESS_TEST(test_token_for_one_concert_is_forbidden_on_another),
        HARNESS_TEST(test_admin_methods_without_a_valid_admin_token_are_forbidden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
