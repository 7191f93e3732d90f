/* Scenarios, seats: many users on one seat, many users on different seats
 * of one performance, one user's two connections on one seat, and a hold
 * expiring while a crowd races for the freed seat. Each runs on every
 * topology (one process, --workers 2, two processes on one data dir) with
 * one thread per connection released together, records its history, and
 * ends with usher-check and the history checker. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRICE 1000
#define MAX_HOLDS 2
#define SEAT_ARGS "--max-active 100000 --max-holds 2"
#define SEAT_CHECK "--max-holds 2 --max-active 100000"

/* What one reserve told its client. */
typedef struct reserve_seen {
    usher_err err;              /* OK, the error, or INTERNAL for no reply */
    uint64_t rid;
    int64_t expires_at;
} reserve_seen;

/* seat.reserve of seat_no on the crowd's performance by client j. */
static reserve_seen reserve(harness_crowd *cw, size_t j, uint32_t seat_no)
{
    harness_hclient *c = &cw->clients[j];
    const harness_huser *u = &cw->users[j / cw->per_user];
    harness_reply r;
    reserve_seen seen = { .err = USHER_ERR_INTERNAL };
    harness_outcome o = harness_hclient_call(c, u->index, &r, "seat.reserve",
                                             "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%u}", u->token,
                                             (unsigned long long)cw->schedule_id, seat_no);
    if (o == HARNESS_OP_NO_REPLY)
        return seen;
    seen.err = r.err;
    if (r.err == USHER_ERR_OK &&
        (!harness_find_u64(r.result, "reservation_id", &seen.rid) ||
         !harness_find_i64(r.result, "expires_at", &seen.expires_at)))
        seen.err = USHER_ERR_INTERNAL;
    harness_reply_free(&r);
    return seen;
}

/* The seats of the crowd's performance unavailable now, read with user 0's
 * token: out[seat] true when taken; returns how many. */
static size_t seats_taken(harness_crowd *cw, bool *out, uint32_t seats)
{
    harness_reply r;
    harness_callf(cw->st.setup, &r, "concert.seats", "{\"token\":\"%s\",\"schedule_id\":%llu}", cw->users[0].token,
                  (unsigned long long)cw->schedule_id);
    harness_expect(&r, OK);
    size_t n, taken = 0;
    const msgpack_object *list = harness_get_array(&r, "seats", &n);
    assert_int_equal(n, seats);
    for (size_t i = 0; i < n; i++) {
        uint32_t seat = (uint32_t)harness_obj_u64(&list[i], "seat_no");
        const msgpack_object *available = msg_map_get(&list[i], "available");
        assert_non_null(available);
        out[seat] = !available->via.boolean;
        taken += out[seat];
    }
    harness_reply_free(&r);
    return taken;
}

/* ------------------------------------------------- many users, one seat */

#define ONE_SEAT_ROUNDS 3

typedef struct one_seat_run {
    harness_crowd cw;
    reserve_seen (*seen)[ONE_SEAT_ROUNDS];
} one_seat_run;

static void one_seat_racer(void *arg, size_t j)
{
    one_seat_run *run = arg;
    for (uint32_t k = 0; k < ONE_SEAT_ROUNDS; k++)
        run->seen[j][k] = reserve(&run->cw, j, k + 1);
}

static void test_many_users_on_one_seat_exactly_one_holds_it(void **state)
{
    size_t users = harness_stress() ? 400 : 120;
    for (size_t t = 0; t < HARNESS_TOPOLOGIES; t++) {
        one_seat_run run;
        harness_crowd_spec spec = { .args = SEAT_ARGS, .seats = 50, .price = PRICE,
                                    .users = users, .per_user = 1, .balance = 0 };
        harness_crowd_open(*state, &harness_topologies[t], &spec, &run.cw);
        run.seen = calloc(users, sizeof *run.seen);
        assert_non_null(run.seen);
        /* Everyone asks for seat 1, then 2, then 3, at once. */
        harness_run_threads(users, one_seat_racer, &run);
        size_t won[ONE_SEAT_ROUNDS] = { 0 };
        for (size_t j = 0; j < users; j++)
            for (size_t k = 0; k < ONE_SEAT_ROUNDS; k++) {
                usher_err e = run.seen[j][k].err;
                if (e == USHER_ERR_OK)
                    won[k]++;
                else if (e != USHER_ERR_SEAT_UNAVAILABLE && e != USHER_ERR_HOLD_LIMIT)
                    fail_msg("[%s] user %zu seat %zu: %s", harness_topologies[t].name, j, k + 1, usher_err_name(e));
            }
        for (size_t k = 0; k < ONE_SEAT_ROUNDS; k++)
            if (won[k] != 1)
                fail_msg("[%s] seat %zu was won %zu times by %zu racers", harness_topologies[t].name, k + 1, won[k],
                         users);
        bool taken[51] = { false };
        assert_int_equal(seats_taken(&run.cw, taken, 50), ONE_SEAT_ROUNDS);
        free(run.seen);
        harness_crowd_finish(&run.cw, SEAT_CHECK, "many users on one seat");
        harness_fx_release(*state);
    }
}

/* ------------------------------------------ many users, different seats */

#define SPREAD_SEATS 100
#define SPREAD_TRIES 3

typedef struct spread_run {
    harness_crowd cw;
    reserve_seen (*seen)[SPREAD_TRIES];
} spread_run;

/* The seat user j asks for on try k: spread over the house, with clashes. */
static uint32_t spread_seat(size_t j, size_t k)
{
    return (uint32_t)((j * 37 + k * 53) % SPREAD_SEATS) + 1;
}

static void spread_racer(void *arg, size_t j)
{
    spread_run *run = arg;
    for (size_t k = 0; k < SPREAD_TRIES; k++)
        run->seen[j][k] = reserve(&run->cw, j, spread_seat(j, k));
}

static void test_many_users_on_different_seats_hold_each_at_most_once(void **state)
{
    size_t users = harness_stress() ? 500 : 150;
    for (size_t t = 0; t < HARNESS_TOPOLOGIES; t++) {
        spread_run run;
        harness_crowd_spec spec = { .args = SEAT_ARGS, .seats = SPREAD_SEATS, .price = PRICE,
                                    .users = users, .per_user = 1, .balance = 0 };
        harness_crowd_open(*state, &harness_topologies[t], &spec, &run.cw);
        run.seen = calloc(users, sizeof *run.seen);
        assert_non_null(run.seen);
        harness_run_threads(users, spread_racer, &run);
        size_t winners[SPREAD_SEATS + 1] = { 0 }, held = 0;
        for (size_t j = 0; j < users; j++) {
            size_t mine = 0;
            for (size_t k = 0; k < SPREAD_TRIES; k++) {
                usher_err e = run.seen[j][k].err;
                if (e == USHER_ERR_OK) {
                    winners[spread_seat(j, k)]++;
                    mine++;
                } else if (e != USHER_ERR_SEAT_UNAVAILABLE && e != USHER_ERR_HOLD_LIMIT) {
                    fail_msg("[%s] user %zu seat %u: %s", harness_topologies[t].name, j, spread_seat(j, k),
                             usher_err_name(e));
                }
            }
            if (mine > MAX_HOLDS)
                fail_msg("[%s] user %zu holds %zu seats with --max-holds %d", harness_topologies[t].name, j, mine,
                         MAX_HOLDS);
        }
        /* No seat was won twice, and the house shows exactly the seats won
         * taken. */
        bool taken[SPREAD_SEATS + 1] = { false };
        size_t ntaken = seats_taken(&run.cw, taken, SPREAD_SEATS);
        for (uint32_t s = 1; s <= SPREAD_SEATS; s++) {
            if (winners[s] > 1)
                fail_msg("[%s] seat %u was won %zu times", harness_topologies[t].name, s, winners[s]);
            if (taken[s] != (winners[s] == 1))
                fail_msg("[%s] seat %u: won %zu times but reads %s", harness_topologies[t].name, s, winners[s],
                         taken[s] ? "taken" : "free");
            held += winners[s];
        }
        assert_int_equal(ntaken, held);
        print_message("[%s] %zu of %d seats held by %zu users\n", harness_topologies[t].name, held, SPREAD_SEATS,
                      users);
        free(run.seen);
        harness_crowd_finish(&run.cw, SEAT_CHECK, "many users on different seats");
        harness_fx_release(*state);
    }
}

/* ------------------------------------------- one user, two connections */

typedef struct twin_run {
    harness_crowd cw;
    reserve_seen (*seen)[2];    /* per client: first reserve, and again */
} twin_run;

/* Both connections of user j/2 reserve seat j/2 + 1 at once, then again. */
static void twin_racer(void *arg, size_t j)
{
    twin_run *run = arg;
    uint32_t seat = (uint32_t)(j / 2) + 1;
    run->seen[j][0] = reserve(&run->cw, j, seat);
    run->seen[j][1] = reserve(&run->cw, j, seat);
}

static void test_one_users_two_connections_on_one_seat_get_one_hold(void **state)
{
    size_t users = harness_stress() ? 200 : 60;
    for (size_t t = 0; t < HARNESS_TOPOLOGIES; t++) {
        twin_run run;
        harness_crowd_spec spec = { .args = SEAT_ARGS, .seats = (uint32_t)users, .price = PRICE,
                                    .users = users, .per_user = 2, .balance = 0 };
        harness_crowd_open(*state, &harness_topologies[t], &spec, &run.cw);
        run.seen = calloc(2 * users, sizeof *run.seen);
        assert_non_null(run.seen);
        harness_run_threads(2 * users, twin_racer, &run);
        /* Reserving a seat one holds returns that hold: all four replies of
         * a user name one reservation with one expiry. */
        for (size_t u = 0; u < users; u++) {
            const reserve_seen *first = &run.seen[2 * u][0];
            for (size_t j = 2 * u; j < 2 * u + 2; j++)
                for (size_t k = 0; k < 2; k++) {
                    const reserve_seen *s = &run.seen[j][k];
                    if (s->err != USHER_ERR_OK)
                        fail_msg("[%s] user %zu connection %zu: %s", harness_topologies[t].name, u, j % 2,
                                 usher_err_name(s->err));
                    if (s->rid != first->rid || s->expires_at != first->expires_at)
                        fail_msg("[%s] user %zu got holds %llu and %llu of one seat", harness_topologies[t].name, u,
                                 (unsigned long long)first->rid, (unsigned long long)s->rid);
                }
        }
        free(run.seen);
        harness_crowd_finish(&run.cw, SEAT_CHECK, "one user's two connections on one seat");
        harness_fx_release(*state);
    }
}

/* ------------------------------------------- a hold expiring under a crowd */

#define EXPIRY_TTL_MS 1000
#define EXPIRY_ARGS "--max-active 100000 --max-holds 2 --hold-ttl 1000ms"
#define EXPIRY_EARLY_MS 150     /* racers start this long before the expiry */
#define EXPIRY_WINDOW_MS 700    /* and stop this long after it: under one ttl, so one winner */
#define EXPIRY_PAUSE_MS 30      /* between one racer's attempts */

typedef struct expiry_run {
    harness_crowd cw;
    int64_t expires_at;         /* of user 0's first hold of seat 1 */
    reserve_seen *won;          /* per client: its winning reserve, err INTERNAL when none */
    size_t *attempts;
} expiry_run;

static void expiry_racer(void *arg, size_t j)
{
    expiry_run *run = arg;
    run->won[j].err = USHER_ERR_INTERNAL;
    if (j == 0)
        return;  /* the holder */
    int64_t wait = run->expires_at - EXPIRY_EARLY_MS - harness_now_ms();
    if (wait > 0)
        harness_sleep_ms(wait);
    while (harness_now_ms() < run->expires_at + EXPIRY_WINDOW_MS) {
        reserve_seen s = reserve(&run->cw, j, 1);
        run->attempts[j]++;
        if (s.err == USHER_ERR_OK) {
            run->won[j] = s;
            return;
        }
        harness_sleep_ms(EXPIRY_PAUSE_MS);
    }
}

static void test_hold_expiring_while_many_race_goes_to_one_after_expiry(void **state)
{
    size_t users = harness_stress() ? 300 : 120;
    for (size_t t = 0; t < HARNESS_TOPOLOGIES; t++) {
        expiry_run run;
        harness_crowd_spec spec = { .args = EXPIRY_ARGS, .seats = 10, .price = PRICE,
                                    .users = users, .per_user = 1, .balance = 0 };
        harness_crowd_open(*state, &harness_topologies[t], &spec, &run.cw);
        run.won = calloc(users, sizeof *run.won);
        run.attempts = calloc(users, sizeof *run.attempts);
        assert_true(run.won && run.attempts);
        reserve_seen first = reserve(&run.cw, 0, 1);
        assert_int_equal(first.err, USHER_ERR_OK);
        run.expires_at = first.expires_at;
        harness_run_threads(users, expiry_racer, &run);
        size_t winners = 0, attempts = 0, early = 0;
        for (size_t j = 1; j < users; j++) {
            attempts += run.attempts[j];
            if (run.won[j].err != USHER_ERR_OK)
                continue;
            winners++;
            /* The server's clock: the new hold began at expires_at - ttl,
             * never before the old hold ran out. */
            if (run.won[j].expires_at - EXPIRY_TTL_MS < run.expires_at) {
                print_error("[%s] user %zu's hold began at %lld, before the old one expired at %lld\n",
                            harness_topologies[t].name, j, (long long)(run.won[j].expires_at - EXPIRY_TTL_MS),
                            (long long)run.expires_at);
                early++;
            }
        }
        print_message("[%s] %zu attempts on the freed seat\n", harness_topologies[t].name, attempts);
        free(run.won);
        free(run.attempts);
        /* The checker first: an early hold whose reply came before the old
         * expiry is an overlap it must report on its own. */
        harness_crowd_finish(&run.cw, SEAT_CHECK, "a hold expiring while many race");
        harness_fx_release(*state);
        assert_int_equal(early, 0);
        if (winners != 1)
            fail_msg("[%s] %zu racers won the freed seat within %d ms of its expiry", harness_topologies[t].name,
                     winners, EXPIRY_WINDOW_MS);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_many_users_on_one_seat_exactly_one_holds_it),
        HARNESS_TEST(test_many_users_on_different_seats_hold_each_at_most_once),
        HARNESS_TEST(test_one_users_two_connections_on_one_seat_get_one_hold),
        HARNESS_TEST(test_hold_expiring_while_many_race_goes_to_one_after_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
