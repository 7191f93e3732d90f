/* End to end over TCP: every kind of token is refused once its own signed
 * expiry has passed, whatever storage says. The tokens are the server's own,
 * re-signed with the data dir's key and an expiry in the past
 * (harness_tokens.h), so the queue entry stays ACTIVE, the user exists and
 * the deployment is the same: only the signed expiry differs. A control
 * re-signed with a future expiry shows the re-signing itself is accepted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_tokens.h"

#include <stdio.h>
#include <string.h>

#define PRICE 25000
#define SEATS 50
#define HOUR_MS 3600000LL

/* A signed expiry safely in the past (the server compares with its wall clock). */
static int64_t past_ms(void)
{
    return harness_now_ms() - 1000;
}

/* True when the user's only reservation is rid and it is HELD. */
static bool only_reservation_is_held(harness_conn *c, const char *session, uint64_t rid)
{
    harness_reply r;
    harness_callf(c, &r, "reservation.list", "{\"session\":\"%s\"}", session);
    harness_expect(&r, OK);
    size_t n;
    const msgpack_object *list = harness_get_array(&r, "reservations", &n);
    bool is = n == 1 && harness_obj_u64(&list[0], "reservation_id") == rid &&
              harness_obj_str_is(&list[0], "status", "HELD");
    harness_reply_free(&r);
    return is;
}

/* The number of concerts concert.list shows. */
static size_t concert_count(harness_conn *c)
{
    harness_reply r;
    harness_call(c, "concert.list", "{}", &r);
    size_t n;
    harness_get_array(&r, "concerts", &n);
    harness_reply_free(&r);
    return n;
}

static void test_queue_token_past_its_signed_expiry_is_token_expired(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper sh;
    harness_shopper_new(c, v.concert_id, 100000, &sh);
    unsigned long long cid = v.concert_id, sid = v.schedule_id;
    uint64_t rid = harness_reserve(c, sh.token, sid, 3, NULL);
    token_claims real;
    harness_token_claims(v.hs->data_dir, sh.token, &real);
    assert_int_equal(real.kind, TOKEN_QUEUE);

    char expired[HARNESS_TOKEN_CAP], renewed[HARNESS_TOKEN_CAP];
    harness_token_resign(v.hs->data_dir, sh.token, past_ms(), expired, sizeof expired);
    harness_token_resign(v.hs->data_dir, sh.token, harness_now_ms() + HOUR_MS, renewed,
                         sizeof renewed);
    harness_callf_expect(c, OK, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", renewed, cid);

    harness_callf_expect(c, TOKEN_EXPIRED, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}",
                         expired, cid);
    harness_callf_expect(c, TOKEN_EXPIRED, "concert.seats", "{\"token\":\"%s\",\"schedule_id\":%llu}",
                         expired, sid);
    harness_callf_expect(c, TOKEN_EXPIRED, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":7}", expired, sid);
    harness_callf_expect(c, TOKEN_EXPIRED, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         expired, (unsigned long long)rid);

    /* queue.status never answers TOKEN_EXPIRED: it reports the token EXPIRED
     * at position 0, and keeps the entry's active_until. */
    harness_reply r;
    harness_callf(c, &r, "queue.status", "{\"token\":\"%s\"}", sh.token);
    harness_expect(&r, OK);
    assert_true(harness_obj_str_is(r.result, "status", "ACTIVE"));
    int64_t active_until = harness_get_i64(&r, "active_until");
    harness_reply_free(&r);
    harness_callf(c, &r, "queue.status", "{\"token\":\"%s\"}", expired);
    harness_expect(&r, OK);
    assert_true(harness_obj_str_is(r.result, "status", "EXPIRED"));
    assert_int_equal(harness_get_u64(&r, "position"), 0);
    assert_int_equal(harness_get_i64(&r, "active_until"), active_until);
    assert_false(harness_has(&r, "eta_s"));
    harness_reply_free(&r);

    /* None of it changed anything: the entry is still ACTIVE, seat 7 was not
     * held, the hold was not paid; the real token still does all of it. */
    assert_int_equal(harness_queue_state(c, sh.token, NULL), 'A');
    assert_true(only_reservation_is_held(c, sh.user.session, rid));
    assert_int_equal(harness_balance(c, sh.user.session), 100000);
    harness_reserve(c, sh.token, sid, 7, NULL);
    harness_callf_expect(c, OK, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         sh.token, (unsigned long long)rid);
    assert_int_equal(harness_balance(c, sh.user.session), 100000 - PRICE);
}

static void test_admin_token_past_its_signed_expiry_is_forbidden(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    char expired[HARNESS_TOKEN_CAP], renewed[HARNESS_TOKEN_CAP];
    harness_token_resign(v.hs->data_dir, v.admin, past_ms(), expired, sizeof expired);
    harness_token_resign(v.hs->data_dir, v.admin, harness_now_ms() + HOUR_MS, renewed,
                         sizeof renewed);
    assert_int_equal(concert_count(c), 1);

    harness_callf_expect(c, FORBIDDEN, "admin.concert.create",
                         "{\"admin\":\"%s\",\"title\":\"Too Late\"}", expired);
    harness_callf_expect(c, FORBIDDEN, "admin.schedule.create",
                         "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld,\"price\":1000}",
                         expired, (unsigned long long)v.concert_id,
                         (long long)(harness_now_ms() + 2 * 24 * HOUR_MS));
    assert_int_equal(concert_count(c), 1);
    harness_shopper sh;
    harness_shopper_new(c, v.concert_id, 0, &sh);
    harness_reply r;
    harness_callf(c, &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", sh.token,
                  (unsigned long long)v.concert_id);
    size_t n;
    harness_get_array(&r, "dates", &n);
    assert_int_equal(n, 1);
    harness_reply_free(&r);

    harness_callf_expect(c, OK, "admin.concert.create", "{\"admin\":\"%s\",\"title\":\"In Time\"}",
                         renewed);
    assert_int_equal(concert_count(c), 2);
}

static void test_session_past_its_signed_expiry_is_unauthenticated(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    harness_charge(c, u.session, 1000);
    char expired[HARNESS_TOKEN_CAP], renewed[HARNESS_TOKEN_CAP];
    harness_token_resign(hs->data_dir, u.session, past_ms(), expired, sizeof expired);
    harness_token_resign(hs->data_dir, u.session, harness_now_ms() + HOUR_MS, renewed,
                         sizeof renewed);
    assert_int_equal(harness_balance(c, renewed), 1000);

    harness_callf_expect(c, UNAUTHENTICATED, "wallet.balance", "{\"session\":\"%s\"}", expired);
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.charge", "{\"session\":\"%s\",\"amount\":500}",
                         expired);
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.charge",
                         "{\"session\":\"%s\",\"amount\":500,\"request_id\":\"late-1\"}", expired);

    /* The charges changed nothing: one ledger entry, the first charge. */
    assert_int_equal(harness_balance(c, u.session), 1000);
    harness_reply r;
    harness_callf(c, &r, "wallet.history", "{\"session\":\"%s\"}", u.session);
    harness_expect(&r, OK);
    size_t n;
    harness_get_array(&r, "entries", &n);
    assert_int_equal(n, 1);
    harness_reply_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_queue_token_past_its_signed_expiry_is_token_expired),
        HARNESS_TEST(test_admin_token_past_its_signed_expiry_is_forbidden),
        HARNESS_TEST(test_session_past_its_signed_expiry_is_unauthenticated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
