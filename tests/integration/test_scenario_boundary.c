/* Scenarios, boundaries: a payment racing its hold's expiry (sent from a
 * little before to a little after expires_at: it succeeds and the seat is
 * sold, or it fails and the seat is free; never both, never neither), and a
 * cancel racing a payment of the same hold from two connections (exactly one
 * wins). Each runs on every topology, one thread per connection, and ends
 * with usher-check and the history checker. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRICE 1000
#define BALANCE 5000

/* What one request told its client, with its [sent, replied] interval. */
typedef struct seen {
    usher_err err;              /* OK, the error, or INTERNAL for no reply */
    int64_t sent_ms, replied_ms;
    uint64_t rid;               /* seat.reserve */
    int64_t expires_at;         /* seat.reserve */
} seen;

/* One call by client j (printf-style params). */
static seen call(harness_crowd *cw, size_t j, const char *method, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static seen call(harness_crowd *cw, size_t j, const char *method, const char *fmt, ...)
{
    char json[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof json, fmt, ap);
    va_end(ap);
    seen s = { .err = USHER_ERR_INTERNAL, .sent_ms = harness_now_ms() };
    harness_reply r;
    harness_outcome o = harness_hclient_call(&cw->clients[j], cw->users[j / cw->per_user].index, &r, method, "%s",
                                             json);
    s.replied_ms = harness_now_ms();
    if (o == HARNESS_OP_NO_REPLY)
        return s;
    s.err = r.err;
    if (r.err == USHER_ERR_OK && strcmp(method, "seat.reserve") == 0 &&
        (!harness_find_u64(r.result, "reservation_id", &s.rid) ||
         !harness_find_i64(r.result, "expires_at", &s.expires_at)))
        s.err = USHER_ERR_INTERNAL;
    harness_reply_free(&r);
    return s;
}

/* seat.reserve of seat_no by the first client of user u. */
static seen hold(harness_crowd *cw, size_t u, uint32_t seat_no)
{
    return call(cw, u * cw->per_user, "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%u}",
                cw->users[u].token, (unsigned long long)cw->schedule_id, seat_no);
}

/* --------------------------------------------------- pay against expiry */

#define EXPIRY_ARGS "--max-active 100000 --max-holds 16 --hold-ttl 400ms"
#define EXPIRY_CHECK "--max-holds 16 --max-active 100000"
#define EXPIRY_SPREAD_MS 20     /* payments go from this much before to this much after expires_at */
#define OBSERVER_HOLDS 16       /* freed seats the observer reserves to prove them free */

typedef struct expiry_run {
    harness_crowd cw;
    seen *holds, *pays;         /* per user */
} expiry_run;

static void expiry_hold(void *arg, size_t u)
{
    expiry_run *run = arg;
    run->holds[u] = hold(&run->cw, u, (uint32_t)u + 1);
}

/* User u pays its hold at expires_at + an offset in [-spread, +spread]. */
static void expiry_payer(void *arg, size_t u)
{
    expiry_run *run = arg;
    int64_t offset = (int64_t)(u % (2 * EXPIRY_SPREAD_MS + 1)) - EXPIRY_SPREAD_MS;
    int64_t wait = run->holds[u].expires_at + offset - harness_now_ms();
    if (wait > 0)
        harness_sleep_ms(wait);
    run->pays[u] = call(&run->cw, u, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                        run->cw.users[u].token, (unsigned long long)run->holds[u].rid);
}

static void test_pay_racing_hold_expiry_sells_the_seat_or_frees_it(void **state)
{
    size_t users = harness_stress() ? 300 : 100;
    for (size_t t = 0; t < HARNESS_TOPOLOGIES; t++) {
        const char *topo = harness_topologies[t].name;
        expiry_run run;
        harness_crowd_spec spec = { .args = EXPIRY_ARGS, .seats = (uint32_t)users, .price = PRICE,
                                    .users = users, .balance = BALANCE };
        harness_crowd_open(*state, &harness_topologies[t], &spec, &run.cw);
        run.holds = calloc(users, sizeof *run.holds);
        run.pays = calloc(users, sizeof *run.pays);
        assert_true(run.holds && run.pays);
        harness_run_threads(users, expiry_hold, &run);
        for (size_t u = 0; u < users; u++)
            if (run.holds[u].err != USHER_ERR_OK)
                fail_msg("[%s] user %zu could not hold seat %zu: %s", topo, u, u + 1, usher_err_name(run.holds[u].err));
        harness_run_threads(users, expiry_payer, &run);

        /* What the intervals prove: a payment answered before expires_at ran
         * while the hold was live and must have paid; one sent at or after
         * it ran on an expired hold and must have failed. */
        size_t paid = 0, expired = 0;
        for (size_t u = 0; u < users; u++) {
            const seen *p = &run.pays[u];
            int64_t expires_at = run.holds[u].expires_at;
            if (p->err != USHER_ERR_OK && p->err != USHER_ERR_HOLD_EXPIRED)
                fail_msg("[%s] user %zu: payment at the boundary got %s", topo, u, usher_err_name(p->err));
            if (p->replied_ms < expires_at && p->err != USHER_ERR_OK)
                fail_msg("[%s] user %zu: payment answered at %lld, before expiry %lld, failed", topo, u,
                         (long long)p->replied_ms, (long long)expires_at);
            if (p->sent_ms >= expires_at && p->err == USHER_ERR_OK)
                fail_msg("[%s] user %zu: payment sent at %lld, after expiry %lld, paid", topo, u,
                         (long long)p->sent_ms, (long long)expires_at);
            paid += p->err == USHER_ERR_OK;
            expired += p->err == USHER_ERR_HOLD_EXPIRED;
        }
        assert_true(expired >= 1);  /* every offset >= 0 was sent after the expiry */

        /* Sold, or free: the house shows each paid seat taken and each other
         * seat available, and a newcomer (recorded too) holds freed seats at
         * once. */
        harness_hclient obs;
        harness_huser newcomer = { .index = (uint32_t)users };
        uint16_t port = run.cw.st.servers[0]->port;
        assert_int_equal(harness_hclient_open(&obs, run.cw.h, (uint32_t)run.cw.nclients, port), 0);
        assert_int_equal(harness_hclient_shopper(&obs, &newcomer, run.cw.concert_id, 0), USHER_ERR_OK);
        harness_reply r;
        assert_int_equal(harness_hclient_call(&obs, newcomer.index, &r, "concert.seats",
                                              "{\"token\":\"%s\",\"schedule_id\":%llu}", newcomer.token,
                                              (unsigned long long)run.cw.schedule_id),
                         HARNESS_OP_OK);
        size_t n;
        const msgpack_object *list = harness_get_array(&r, "seats", &n);
        assert_int_equal(n, users);
        for (size_t u = 0; u < users; u++) {
            const msgpack_object *available = msg_map_get(&list[u], "available");
            assert_non_null(available);
            bool sold = run.pays[u].err == USHER_ERR_OK;
            if (available->via.boolean == sold)
                fail_msg("[%s] seat %zu reads %s although its payment %s", topo, u + 1,
                         available->via.boolean ? "available" : "taken", sold ? "paid" : "failed");
        }
        harness_reply_free(&r);
        size_t taken_back = 0;
        for (size_t u = 0; u < users && taken_back < OBSERVER_HOLDS; u++) {
            if (run.pays[u].err == USHER_ERR_OK)
                continue;
            if (harness_hclient_call(&obs, newcomer.index, &r, "seat.reserve",
                                     "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%zu}", newcomer.token,
                                     (unsigned long long)run.cw.schedule_id, u + 1) == HARNESS_OP_NO_REPLY)
                fail_msg("[%s] no reply to the newcomer's reserve of seat %zu", topo, u + 1);
            harness_expect(&r, OK);
            harness_reply_free(&r);
            taken_back++;
        }
        harness_hclient_close(&obs);
        print_message("[%s] at the boundary %zu payments paid, %zu found the hold expired\n", topo, paid, expired);
        free(run.holds);
        free(run.pays);
        harness_crowd_finish(&run.cw, EXPIRY_CHECK, "pay racing hold expiry");
        harness_fx_release(*state);
    }
}

/* ------------------------------------------------------- cancel against pay */

#define DUEL_ARGS "--max-active 100000 --max-holds 4"
#define DUEL_CHECK "--max-holds 4 --max-active 100000"

typedef struct duel_run {
    harness_crowd cw;
    seen *holds;                /* per user */
    seen *moves;                /* per client: even cancels, odd pays */
} duel_run;

static void duel_hold(void *arg, size_t u)
{
    duel_run *run = arg;
    run->holds[u] = hold(&run->cw, u, (uint32_t)u + 1);
}

static void duel_move(void *arg, size_t j)
{
    duel_run *run = arg;
    const harness_huser *u = &run->cw.users[j / 2];
    unsigned long long rid = (unsigned long long)run->holds[j / 2].rid;
    if (j % 2 == 0)
        run->moves[j] = call(&run->cw, j, "reservation.cancel", "{\"session\":\"%s\",\"reservation_id\":%llu}",
                             u->session, rid);
    else
        run->moves[j] = call(&run->cw, j, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                             u->token, rid);
}

static void test_cancel_racing_pay_exactly_one_wins(void **state)
{
    size_t users = harness_stress() ? 200 : 60;
    for (size_t t = 0; t < HARNESS_TOPOLOGIES; t++) {
        const char *topo = harness_topologies[t].name;
        duel_run run;
        harness_crowd_spec spec = { .args = DUEL_ARGS, .seats = (uint32_t)users, .price = PRICE,
                                    .users = users, .per_user = 2, .balance = BALANCE };
        harness_crowd_open(*state, &harness_topologies[t], &spec, &run.cw);
        run.holds = calloc(users, sizeof *run.holds);
        run.moves = calloc(2 * users, sizeof *run.moves);
        assert_true(run.holds && run.moves);
        harness_run_threads(users, duel_hold, &run);
        for (size_t u = 0; u < users; u++)
            if (run.holds[u].err != USHER_ERR_OK)
                fail_msg("[%s] user %zu could not hold its seat", topo, u);
        harness_run_threads(2 * users, duel_move, &run);
        size_t cancels = 0, pays = 0;
        for (size_t u = 0; u < users; u++) {
            usher_err cancel = run.moves[2 * u].err, payment = run.moves[2 * u + 1].err;
            if (payment == USHER_ERR_OK && cancel == USHER_ERR_ALREADY_PAID)
                pays++;
            else if (cancel == USHER_ERR_OK && payment == USHER_ERR_HOLD_EXPIRED)
                cancels++;
            else
                fail_msg("[%s] user %zu: cancel %s, payment %s: not exactly one winner", topo, u,
                         usher_err_name(cancel), usher_err_name(payment));
            int64_t balance = harness_balance(run.cw.st.setup, run.cw.users[u].session);
            assert_int_equal(balance, payment == USHER_ERR_OK ? BALANCE - PRICE : BALANCE);
        }
        print_message("[%s] cancel won %zu duels, payment %zu\n", topo, cancels, pays);
        free(run.holds);
        free(run.moves);
        harness_crowd_finish(&run.cw, DUEL_CHECK, "cancel racing pay");
        harness_fx_release(*state);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_pay_racing_hold_expiry_sells_the_seat_or_frees_it),
        HARNESS_TEST(test_cancel_racing_pay_exactly_one_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
