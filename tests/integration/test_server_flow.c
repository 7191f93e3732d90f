/* End to end over TCP: the whole purchase flow against a real usherd, and
 * the public system and login methods. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define DAY_MS 86400000LL
#define PRICE 50000
#define SEATS 50

/* True when s is a lowercase 8-4-4-4-12 UUID. */
static bool is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f')) {
            return false;
        }
    }
    return true;
}

/* Free-seat count of schedule_id in concert.dates; fails when absent. */
static int64_t available_on(harness_conn *c, const char *token, uint64_t concert_id,
                            uint64_t schedule_id, int64_t *total)
{
    harness_reply r;
    harness_callf(c, &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", token,
                  (unsigned long long)concert_id);
    harness_expect(&r, OK);
    size_t n;
    const msgpack_object *dates = harness_get_array(&r, "dates", &n);
    int64_t available = -1;
    for (size_t i = 0; i < n; i++) {
        if (harness_obj_u64(&dates[i], "schedule_id") == schedule_id) {
            available = harness_obj_i64(&dates[i], "available");
            if (total)
                *total = harness_obj_i64(&dates[i], "total");
        }
    }
    harness_reply_free(&r);
    assert_true(available >= 0);
    return available;
}

static void test_sys_ping_returns_server_time(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_reply r;
    int64_t before = harness_now_ms();
    harness_call(c, "sys.ping", "{}", &r);
    harness_expect(&r, OK);
    int64_t t = harness_get_i64(&r, "time");
    assert_true(t >= before - 1000 && t <= harness_now_ms() + 1000);
    harness_reply_free(&r);
}

static void test_sys_hello_names_usherd_protocol_1_and_instance(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_reply r;
    harness_call(c, "sys.hello", "{}", &r);
    harness_expect(&r, OK);
    assert_string_equal(harness_get_str(&r, "server"), "usherd");
    assert_int_equal(harness_get_u64(&r, "protocol"), 1);
    assert_true(strlen(harness_get_str(&r, "version")) > 0);
    char instance[128];
    snprintf(instance, sizeof instance, "%s", harness_get_str(&r, "instance"));
    assert_true(strlen(instance) > 0);
    harness_reply_free(&r);

    /* Stable while the process runs: a second connection sees the same one. */
    harness_conn *c2 = harness_fx_connect(fx, hs->port);
    harness_call(c2, "sys.hello", NULL, &r);
    harness_expect(&r, OK);
    assert_string_equal(harness_get_str(&r, "instance"), instance);
    harness_reply_free(&r);
}

static void test_login_with_secret_works_and_wrong_secret_is_unauthenticated(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    assert_true(is_uuid(u.user_id));
    harness_charge(c, u.session, 777);

    harness_reply r;
    harness_callf(c, &r, "auth.login", "{\"user_id\":\"%s\",\"secret\":\"%s\"}", u.user_id, u.secret);
    harness_expect(&r, OK);
    char session[HARNESS_TOKEN_CAP];
    snprintf(session, sizeof session, "%s", harness_get_str(&r, "session"));
    assert_true(harness_get_i64(&r, "session_expires_at") > harness_now_ms());
    harness_reply_free(&r);

    /* The new session is the same user: it sees the same wallet. */
    harness_callf(c, &r, "wallet.balance", "{\"session\":\"%s\"}", session);
    harness_expect(&r, OK);
    assert_string_equal(harness_get_str(&r, "user_id"), u.user_id);
    assert_int_equal(harness_get_i64(&r, "balance"), 777);
    harness_reply_free(&r);

    char wrong[HARNESS_TOKEN_CAP];
    snprintf(wrong, sizeof wrong, "%s", u.secret);
    size_t mid = strlen(wrong) / 2;
    wrong[mid] = wrong[mid] == 'A' ? 'B' : 'A';
    harness_callf_expect(c, UNAUTHENTICATED, "auth.login", "{\"user_id\":\"%s\",\"secret\":\"%s\"}",
                         u.user_id, wrong);
    /* An empty secret is refused too (as a malformed argument or as wrong). */
    harness_callf(c, &r, "auth.login", "{\"user_id\":\"%s\",\"secret\":\"\"}", u.user_id);
    assert_true(r.err == USHER_ERR_UNAUTHENTICATED || r.err == USHER_ERR_INVALID_ARGUMENT);
    harness_reply_free(&r);
    /* A well-formed id nobody registered is refused the same way. */
    harness_callf_expect(c, UNAUTHENTICATED, "auth.login",
                         "{\"user_id\":\"00000000-0000-4000-8000-000000000000\",\"secret\":\"%s\"}",
                         u.secret);
}

static void test_whole_purchase_flow_ends_with_seat_sold_and_token_expired(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    const char *admin = harness_admin_token(hs);
    int64_t starts_at = harness_now_ms() + DAY_MS;
    uint64_t concert_id, schedule_id;
    harness_make_concert(c, admin, SEATS, PRICE, starts_at, &concert_id, &schedule_id);

    harness_user u;
    harness_register(c, &u);
    assert_int_equal(harness_charge(c, u.session, 120000), 120000);

    /* concert.list is public and lists the concert. */
    harness_reply r;
    harness_call(c, "concert.list", "{}", &r);
    harness_expect(&r, OK);
    size_t n;
    const msgpack_object *concerts = harness_get_array(&r, "concerts", &n);
    bool listed = false;
    for (size_t i = 0; i < n; i++) {
        if (harness_obj_u64(&concerts[i], "concert_id") == concert_id) {
            listed = harness_obj_str_is(&concerts[i], "title", "Harness Night") &&
                     harness_obj_str_is(&concerts[i], "venue", "Hall 1");
        }
    }
    assert_true(listed);
    harness_reply_free(&r);

    char token[HARNESS_TOKEN_CAP];
    harness_enter_until_active(c, u.session, concert_id, token, 5000);

    /* Dates: the performance with every seat free. */
    int64_t total = 0;
    assert_int_equal(available_on(c, token, concert_id, schedule_id, &total), SEATS);
    assert_int_equal(total, SEATS);
    harness_callf(c, &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", token,
                  (unsigned long long)concert_id);
    harness_expect(&r, OK);
    const msgpack_object *dates = harness_get_array(&r, "dates", &n);
    assert_int_equal(n, 1);
    assert_int_equal(harness_obj_i64(&dates[0], "starts_at"), starts_at);
    harness_reply_free(&r);

    /* Seats: 1..N in order, all free, at the price. */
    harness_callf(c, &r, "concert.seats", "{\"token\":\"%s\",\"schedule_id\":%llu}", token,
                  (unsigned long long)schedule_id);
    harness_expect(&r, OK);
    assert_int_equal(harness_get_u64(&r, "schedule_id"), schedule_id);
    const msgpack_object *seats = harness_get_array(&r, "seats", &n);
    assert_int_equal(n, SEATS);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(harness_obj_u64(&seats[i], "seat_no"), i + 1);
        assert_int_equal(harness_obj_i64(&seats[i], "price"), PRICE);
        assert_true(harness_get_obj(&r, "seats") != NULL);
        const msgpack_object *avail = msg_map_get(&seats[i], "available");
        assert_non_null(avail);
        assert_int_equal(avail->type, MSGPACK_OBJECT_BOOLEAN);
        assert_true(avail->via.boolean);
    }
    harness_reply_free(&r);

    /* Reserve seat 7. */
    int64_t before = harness_now_ms();
    harness_callf(c, &r, "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":7}",
                  token, (unsigned long long)schedule_id);
    harness_expect(&r, OK);
    uint64_t reservation_id = harness_get_u64(&r, "reservation_id");
    assert_true(reservation_id > 0);
    assert_int_equal(harness_get_u64(&r, "schedule_id"), schedule_id);
    assert_int_equal(harness_get_u64(&r, "seat_no"), 7);
    assert_int_equal(harness_get_i64(&r, "price"), PRICE);
    assert_true(harness_get_i64(&r, "expires_at") > before);
    harness_reply_free(&r);

    assert_int_equal(available_on(c, token, concert_id, schedule_id, NULL), SEATS - 1);
    harness_callf(c, &r, "concert.seats", "{\"token\":\"%s\",\"schedule_id\":%llu}", token,
                  (unsigned long long)schedule_id);
    harness_expect(&r, OK);
    seats = harness_get_array(&r, "seats", &n);
    assert_int_equal(n, SEATS);
    assert_false(msg_map_get(&seats[6], "available")->via.boolean);
    assert_true(msg_map_get(&seats[5], "available")->via.boolean);
    harness_reply_free(&r);

    harness_callf(c, &r, "reservation.list", "{\"session\":\"%s\"}", u.session);
    harness_expect(&r, OK);
    const msgpack_object *res = harness_get_array(&r, "reservations", &n);
    assert_int_equal(n, 1);
    assert_true(harness_obj_str_is(&res[0], "status", "HELD"));
    harness_reply_free(&r);

    /* Pay. */
    harness_callf(c, &r, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}", token,
                  (unsigned long long)reservation_id);
    harness_expect(&r, OK);
    uint64_t payment_id = harness_get_u64(&r, "payment_id");
    assert_true(payment_id > 0);
    assert_int_equal(harness_get_i64(&r, "amount"), PRICE);
    assert_int_equal(harness_get_i64(&r, "balance"), 120000 - PRICE);
    assert_true(harness_get_i64(&r, "paid_at") >= before);
    const msgpack_object *paid_ids = harness_get_array(&r, "reservation_ids", &n);
    assert_int_equal(n, 1);
    assert_int_equal(paid_ids[0].via.u64, reservation_id);
    harness_reply_free(&r);

    assert_int_equal(harness_balance(c, u.session), 120000 - PRICE);

    /* Ledger: newest first, CHARGE positive, PAYMENT negative, sums to the balance. */
    harness_callf(c, &r, "wallet.history", "{\"session\":\"%s\"}", u.session);
    harness_expect(&r, OK);
    const msgpack_object *entries = harness_get_array(&r, "entries", &n);
    assert_int_equal(n, 2);
    assert_true(harness_obj_str_is(&entries[0], "kind", "PAYMENT"));
    assert_int_equal(harness_obj_i64(&entries[0], "amount"), -PRICE);
    assert_int_equal(harness_obj_i64(&entries[0], "balance_after"), 120000 - PRICE);
    assert_int_equal(harness_obj_u64(&entries[0], "payment_id"), payment_id);
    assert_true(harness_obj_str_is(&entries[1], "kind", "CHARGE"));
    assert_int_equal(harness_obj_i64(&entries[1], "amount"), 120000);
    assert_int_equal(harness_obj_i64(&entries[1], "balance_after"), 120000);
    assert_true(harness_obj_u64(&entries[0], "entry_id") > harness_obj_u64(&entries[1], "entry_id"));
    assert_true(harness_obj_i64(&entries[0], "at") >= harness_obj_i64(&entries[1], "at"));
    assert_int_equal(harness_obj_i64(&entries[0], "amount") + harness_obj_i64(&entries[1], "amount"),
                     120000 - PRICE);
    harness_reply_free(&r);

    harness_callf(c, &r, "reservation.list", "{\"session\":\"%s\"}", u.session);
    harness_expect(&r, OK);
    res = harness_get_array(&r, "reservations", &n);
    assert_int_equal(n, 1);
    assert_int_equal(harness_obj_u64(&res[0], "reservation_id"), reservation_id);
    assert_int_equal(harness_obj_u64(&res[0], "seat_no"), 7);
    assert_true(harness_obj_str_is(&res[0], "status", "CONFIRMED"));
    harness_reply_free(&r);

    harness_callf(c, &r, "payment.list", "{\"session\":\"%s\"}", u.session);
    harness_expect(&r, OK);
    const msgpack_object *payments = harness_get_array(&r, "payments", &n);
    assert_int_equal(n, 1);
    assert_int_equal(harness_obj_u64(&payments[0], "payment_id"), payment_id);
    assert_int_equal(harness_obj_i64(&payments[0], "amount"), PRICE);
    harness_obj_array(&payments[0], "reservation_ids", &n);
    assert_int_equal(n, 1);
    harness_reply_free(&r);

    /* The queue token expired with the payment. */
    uint64_t position = 99;
    assert_int_equal(harness_queue_state(c, token, &position), 'E');
    assert_int_equal(position, 0);
    harness_callf_expect(c, TOKEN_EXPIRED, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}",
                         token, (unsigned long long)concert_id);
    harness_callf_expect(c, TOKEN_EXPIRED, "concert.seats", "{\"token\":\"%s\",\"schedule_id\":%llu}",
                         token, (unsigned long long)schedule_id);
    harness_callf_expect(c, TOKEN_EXPIRED, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":8}", token,
                         (unsigned long long)schedule_id);

    /* Someone else now sees the seat sold. */
    harness_user v;
    harness_register(c, &v);
    char token_v[HARNESS_TOKEN_CAP];
    harness_enter_until_active(c, v.session, concert_id, token_v, 5000);
    assert_int_equal(available_on(c, token_v, concert_id, schedule_id, NULL), SEATS - 1);
    harness_callf_expect(c, SEAT_UNAVAILABLE, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":7}", token_v,
                         (unsigned long long)schedule_id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_sys_ping_returns_server_time),
        HARNESS_TEST(test_sys_hello_names_usherd_protocol_1_and_instance),
        HARNESS_TEST(test_login_with_secret_works_and_wrong_secret_is_unauthenticated),
        HARNESS_TEST(test_whole_purchase_flow_ends_with_seat_sold_and_token_expired),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
