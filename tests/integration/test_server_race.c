/* End to end over TCP: races. Many connections reserving one seat at the same
 * moment (exactly one wins), two usherd processes with --workers 2 on one data
 * dir racing for ten seats (each seat held exactly once), and one user paying
 * or charging from two connections at once (paid once, never negative, no
 * lost charge). Requests are all sent first, then all replies read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <string.h>

#define DAY_MS 86400000LL
#define PRICE 10000
#define RACERS 50
#define SPLIT_USERS 40
#define SPLIT_SEATS 10

static void test_fifty_connections_reserving_one_seat_exactly_one_wins(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--max-active 100");
    harness_conn *admin_conn = harness_fx_connect(fx, hs->port);
    uint64_t concert_id, schedule_id;
    harness_make_concert(admin_conn, harness_admin_token(hs), 50, PRICE, harness_now_ms() + DAY_MS,
                         &concert_id, &schedule_id);

    static harness_shopper sh[RACERS];
    harness_conn *conns[RACERS];
    for (size_t i = 0; i < RACERS; i++) {
        conns[i] = harness_fx_connect(fx, hs->port);
        harness_shopper_new(conns[i], concert_id, 100000, &sh[i]);
    }

    for (uint32_t seat = 25; seat <= 27; seat++) {
        uint32_t msgids[RACERS];
        for (size_t i = 0; i < RACERS; i++)
            msgids[i] = harness_sendf(conns[i], "seat.reserve",
                                      "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%u}", sh[i].token,
                                      (unsigned long long)schedule_id, seat);
        int ok = 0, unavailable = 0;
        size_t winner = 0;
        uint64_t winning_rid = 0;
        for (size_t i = 0; i < RACERS; i++) {
            harness_reply r;
            harness_recv(conns[i], msgids[i], &r);
            if (r.err == USHER_ERR_OK) {
                ok++;
                winner = i;
                winning_rid = harness_get_u64(&r, "reservation_id");
            } else if (r.err == USHER_ERR_SEAT_UNAVAILABLE) {
                unavailable++;
            } else {
                fail_msg("racer %zu on seat %u: unexpected %s: %s", i, seat, r.code, r.message);
            }
            harness_reply_free(&r);
        }
        assert_int_equal(ok, 1);
        assert_int_equal(unavailable, RACERS - 1);

        /* The winner holds it; the hold is what every other racer sees. */
        harness_reply r;
        harness_callf(conns[winner], &r, "reservation.list", "{\"session\":\"%s\"}", sh[winner].user.session);
        harness_expect(&r, OK);
        size_t n;
        const msgpack_object *list = harness_get_array(&r, "reservations", &n);
        bool holds = false;
        for (size_t k = 0; k < n; k++)
            holds |= harness_obj_u64(&list[k], "reservation_id") == winning_rid &&
                     harness_obj_u64(&list[k], "seat_no") == seat &&
                     harness_obj_str_is(&list[k], "status", "HELD");
        assert_true(holds);
        harness_reply_free(&r);
        size_t other = (winner + 1) % RACERS;
        harness_callf(conns[other], &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}",
                      sh[other].token, (unsigned long long)concert_id);
        harness_expect(&r, OK);
        const msgpack_object *dates = harness_get_array(&r, "dates", &n);
        assert_int_equal(harness_obj_i64(&dates[0], "available"), 50 - (int64_t)(seat - 24));
        harness_reply_free(&r);
    }
}

static void test_two_servers_with_workers_hold_each_of_ten_seats_exactly_once(void **state)
{
    harness_fixture *fx = *state;
    harness_server *a = harness_fx_start(fx, "--workers 2 --max-active 100");
    harness_server *b = harness_fx_start_shared(fx, a, "--workers 2 --max-active 100");
    harness_conn *admin_conn = harness_fx_connect(fx, a->port);
    uint64_t concert_id, schedule_id;
    harness_make_concert(admin_conn, harness_admin_token(a), SPLIT_SEATS, PRICE, harness_now_ms() + DAY_MS,
                         &concert_id, &schedule_id);

    static harness_shopper sh[SPLIT_USERS];
    harness_conn *conns[SPLIT_USERS];
    for (size_t i = 0; i < SPLIT_USERS; i++) {
        conns[i] = harness_fx_connect(fx, i % 2 ? b->port : a->port);
        harness_shopper_new(conns[i], concert_id, 100000, &sh[i]);
    }

    /* The connections reach at least the two servers (and usually all four
     * worker processes: sys.hello names each one). */
    char instances[SPLIT_USERS][128];
    size_t distinct = 0;
    for (size_t i = 0; i < SPLIT_USERS; i++) {
        harness_reply r;
        harness_call(conns[i], "sys.hello", "{}", &r);
        harness_expect(&r, OK);
        snprintf(instances[i], sizeof instances[i], "%s", harness_get_str(&r, "instance"));
        harness_reply_free(&r);
        bool fresh = true;
        for (size_t k = 0; k < i; k++)
            fresh &= strcmp(instances[k], instances[i]) != 0;
        distinct += fresh;
    }
    print_message("connections spread over %zu usherd processes\n", distinct);
    assert_true(distinct >= 2);

    /* Every user asks for all ten seats, each starting at another seat. */
    uint32_t first_msgid[SPLIT_USERS];
    for (size_t i = 0; i < SPLIT_USERS; i++) {
        first_msgid[i] = conns[i]->next_msgid;
        for (uint32_t k = 0; k < SPLIT_SEATS; k++)
            harness_sendf(conns[i], "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%u}",
                          sh[i].token, (unsigned long long)schedule_id, (uint32_t)((i + k) % SPLIT_SEATS) + 1);
    }
    int winners[SPLIT_SEATS + 1] = { 0 };
    int held_by_user[SPLIT_USERS] = { 0 };
    for (size_t i = 0; i < SPLIT_USERS; i++) {
        bool seen[SPLIT_SEATS] = { false };
        for (uint32_t k = 0; k < SPLIT_SEATS; k++) {
            harness_reply r;
            if (harness_read_reply(conns[i], &r) != HARNESS_IO_OK)
                fail_msg("user %zu: missing reply %u", i, k);
            uint32_t idx = r.msgid - first_msgid[i];
            if (idx >= SPLIT_SEATS || seen[idx])
                fail_msg("user %zu: unexpected msgid %u", i, r.msgid);
            seen[idx] = true;
            uint32_t seat = (uint32_t)((i + idx) % SPLIT_SEATS) + 1;
            if (r.err == USHER_ERR_OK) {
                assert_int_equal(harness_get_u64(&r, "seat_no"), seat);
                winners[seat]++;
                held_by_user[i]++;
            } else if (r.err != USHER_ERR_SEAT_UNAVAILABLE && r.err != USHER_ERR_HOLD_LIMIT) {
                fail_msg("user %zu seat %u: unexpected %s: %s", i, seat, r.code, r.message);
            }
            harness_reply_free(&r);
        }
    }
    for (uint32_t seat = 1; seat <= SPLIT_SEATS; seat++)
        if (winners[seat] != 1)
            fail_msg("seat %u was won %d times", seat, winners[seat]);

    /* What each user's own list says agrees, and nobody passed --max-holds. */
    int held_total = 0;
    bool seat_listed[SPLIT_SEATS + 1] = { false };
    for (size_t i = 0; i < SPLIT_USERS; i++) {
        assert_true(held_by_user[i] <= 4);
        harness_reply r;
        harness_callf(conns[i], &r, "reservation.list", "{\"session\":\"%s\"}", sh[i].user.session);
        harness_expect(&r, OK);
        size_t n;
        const msgpack_object *list = harness_get_array(&r, "reservations", &n);
        assert_int_equal(n, held_by_user[i]);
        for (size_t k = 0; k < n; k++) {
            uint64_t seat = harness_obj_u64(&list[k], "seat_no");
            assert_true(seat >= 1 && seat <= SPLIT_SEATS);
            assert_false(seat_listed[seat]);
            seat_listed[seat] = true;
            held_total++;
        }
        harness_reply_free(&r);
    }
    assert_int_equal(held_total, SPLIT_SEATS);

    /* Both servers see a sold-out performance. */
    for (size_t i = 0; i < 2; i++) {
        harness_reply r;
        harness_callf(conns[i], &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", sh[i].token,
                      (unsigned long long)concert_id);
        harness_expect(&r, OK);
        size_t n;
        const msgpack_object *dates = harness_get_array(&r, "dates", &n);
        assert_int_equal(n, 1);
        assert_int_equal(harness_obj_i64(&dates[0], "available"), 0);
        harness_reply_free(&r);
    }
}

/* Sums a user's ledger; fails unless it equals balance and has `payments`
 * PAYMENT entries. */
static void check_ledger(harness_conn *c, const char *session, int64_t balance, size_t payments)
{
    harness_reply r;
    harness_callf(c, &r, "wallet.history", "{\"session\":\"%s\",\"limit\":500}", session);
    harness_expect(&r, OK);
    size_t n, paid = 0;
    const msgpack_object *entries = harness_get_array(&r, "entries", &n);
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += harness_obj_i64(&entries[i], "amount");
        paid += harness_obj_str_is(&entries[i], "kind", "PAYMENT");
    }
    harness_reply_free(&r);
    assert_int_equal(sum, balance);
    assert_int_equal(paid, payments);
}

static void test_one_user_paying_from_two_connections_pays_once(void **state)
{
    harness_fixture *fx = *state;
    harness_server *a = harness_fx_start(fx, "--max-active 100");
    harness_server *b = harness_fx_start_shared(fx, a, "--max-active 100");
    harness_conn *ca = harness_fx_connect(fx, a->port);
    harness_conn *cb = harness_fx_connect(fx, b->port);
    uint64_t concert_id, schedule_id;
    harness_make_concert(ca, harness_admin_token(a), 50, PRICE, harness_now_ms() + DAY_MS, &concert_id,
                         &schedule_id);

    for (uint32_t round = 0; round < 8; round++) {
        harness_shopper sh;
        harness_shopper_new(ca, concert_id, PRICE + PRICE / 2, &sh);
        bool same_reservation = round % 2 == 0;
        uint64_t r1 = harness_reserve(ca, sh.token, schedule_id, 2 * round + 1, NULL);
        uint64_t r2 = same_reservation ? r1 : harness_reserve(ca, sh.token, schedule_id, 2 * round + 2, NULL);

        uint32_t ma = harness_sendf(ca, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}", sh.token,
                                    (unsigned long long)r1);
        uint32_t mb = harness_sendf(cb, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}", sh.token,
                                    (unsigned long long)r2);
        harness_reply ra, rb;
        harness_recv(ca, ma, &ra);
        harness_recv(cb, mb, &rb);
        int ok = (ra.err == USHER_ERR_OK) + (rb.err == USHER_ERR_OK);
        const harness_reply *loser = ra.err == USHER_ERR_OK ? &rb : &ra;
        if (ok != 1)
            fail_msg("round %u: %d payments succeeded (%s / %s)", round, ok,
                     ra.err == USHER_ERR_OK ? "OK" : ra.code, rb.err == USHER_ERR_OK ? "OK" : rb.code);
        /* The loser finds the seat paid, the token spent, or the money gone. */
        if (loser->err != USHER_ERR_ALREADY_PAID && loser->err != USHER_ERR_TOKEN_EXPIRED &&
            !(loser->err == USHER_ERR_INSUFFICIENT_BALANCE && !same_reservation))
            fail_msg("round %u: the second payment got %s: %s", round, loser->code, loser->message);
        harness_reply_free(&ra);
        harness_reply_free(&rb);

        int64_t balance = harness_balance(cb, sh.user.session);
        assert_int_equal(balance, PRICE / 2);
        check_ledger(ca, sh.user.session, balance, 1);
        harness_reply r;
        harness_callf(cb, &r, "payment.list", "{\"session\":\"%s\"}", sh.user.session);
        harness_expect(&r, OK);
        size_t n;
        harness_get_array(&r, "payments", &n);
        assert_int_equal(n, 1);
        harness_reply_free(&r);
    }
}

static void test_concurrent_charges_on_two_servers_lose_nothing(void **state)
{
    harness_fixture *fx = *state;
    harness_server *a = harness_fx_start(fx, NULL);
    harness_server *b = harness_fx_start_shared(fx, a, NULL);
    harness_conn *ca = harness_fx_connect(fx, a->port);
    harness_conn *cb = harness_fx_connect(fx, b->port);
    harness_user u;
    harness_register(ca, &u);
    enum { EACH = 30, AMOUNT = 1000 };
    for (int i = 0; i < EACH; i++) {
        harness_sendf(ca, "wallet.charge", "{\"session\":\"%s\",\"amount\":%d}", u.session, AMOUNT);
        harness_sendf(cb, "wallet.charge", "{\"session\":\"%s\",\"amount\":%d}", u.session, AMOUNT);
    }
    bool seen_balance[2 * EACH + 1] = { false };
    harness_conn *both[2] = { ca, cb };
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < EACH; i++) {
            harness_reply r;
            assert_int_equal(harness_read_reply(both[k], &r), HARNESS_IO_OK);
            harness_expect(&r, OK);
            int64_t balance = harness_get_i64(&r, "balance");
            assert_true(balance % AMOUNT == 0 && balance >= AMOUNT && balance <= 2 * EACH * AMOUNT);
            /* Each charge saw its own balance: no two landed on the same one. */
            assert_false(seen_balance[balance / AMOUNT]);
            seen_balance[balance / AMOUNT] = true;
            harness_reply_free(&r);
        }
    }
    assert_int_equal(harness_balance(cb, u.session), 2 * EACH * AMOUNT);
    check_ledger(ca, u.session, 2 * EACH * AMOUNT, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_fifty_connections_reserving_one_seat_exactly_one_wins),
        HARNESS_TEST(test_two_servers_with_workers_hold_each_of_ten_seats_exactly_once),
        HARNESS_TEST(test_one_user_paying_from_two_connections_pays_once),
        HARNESS_TEST(test_concurrent_charges_on_two_servers_lose_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
