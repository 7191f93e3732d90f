/* End to end over TCP: the money and queue races of the brief, across several
 * usherd processes on one data dir (harness_fx_start_shared and --workers 2).
 * In every scenario the requests of all clients are sent before any reply is
 * read, spread over many connections, so they genuinely race: lost charges,
 * double spends, duplicate request_ids, FIFO admission, cancel against pay,
 * and a seat storm that refills once its holds expire. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL
#define PIPELINE_MAX 32 /* most requests one test pipelines on one connection */

/* ---------------------------------------------------------------- helpers */

/* Reads the replies to the n requests sent on c with msgids first..first+n-1,
 * in whatever order they come, into out[msgid - first]; fails on a missing,
 * unexpected or repeated reply. */
static void recv_pipelined(harness_conn *c, uint32_t first, size_t n, harness_reply *out)
{
    bool seen[PIPELINE_MAX] = { false };
    assert_true(n <= PIPELINE_MAX);
    for (size_t k = 0; k < n; k++) {
        harness_reply r;
        if (harness_read_reply(c, &r) != HARNESS_IO_OK)
            fail_msg("port %u: reply %zu of %zu missing", (unsigned)c->port, k + 1, n);
        uint32_t idx = r.msgid - first;
        if (idx >= n || seen[idx]) {
            uint32_t msgid = r.msgid;
            harness_reply_free(&r);
            fail_msg("port %u: unexpected reply msgid %u", (unsigned)c->port, msgid);
        }
        seen[idx] = true;
        out[idx] = r;
    }
}

/* Fails unless r is an error whose code is `want`, naming what was raced. */
static void expect_loser(const harness_reply *r, usher_err want, const char *what, unsigned idx)
{
    if (r->err != want)
        fail_msg("%s %u: expected %s, got %s%s%s", what, idx, usher_err_name(want),
                 r->err == USHER_ERR_OK ? "OK" : r->code, r->message ? ": " : "",
                 r->message ? r->message : "");
}

/* Copies string key of r into out[cap]; fails when it does not fit. */
static void copy_result_str(harness_reply *r, const char *key, char *out, size_t cap)
{
    const char *s = harness_get_str(r, key);
    if (strlen(s) >= cap)
        fail_msg("'%s' is %zu bytes, more than %zu", key, strlen(s), cap - 1);
    memcpy(out, s, strlen(s) + 1);
}

/* One wallet.history entry. */
typedef struct ledger_entry {
    uint64_t entry_id;
    bool charge;            /* kind CHARGE (else PAYMENT) */
    int64_t amount, balance_after;
} ledger_entry;

/* Reads the whole ledger of session, newest first, `page` entries a request,
 * passing the last entry_id of each page as the next `before` until a page is
 * empty; fills out[cap] and returns the count. Fails when ids do not strictly
 * descend across pages or more than cap entries come. */
static size_t ledger_read(harness_conn *c, const char *session, unsigned page, ledger_entry *out,
                          size_t cap)
{
    size_t count = 0;
    uint64_t before = 0;
    for (;;) {
        harness_reply r;
        if (before == 0)
            harness_callf(c, &r, "wallet.history", "{\"session\":\"%s\",\"limit\":%u}", session, page);
        else
            harness_callf(c, &r, "wallet.history", "{\"session\":\"%s\",\"limit\":%u,\"before\":%llu}",
                          session, page, (unsigned long long)before);
        harness_expect(&r, OK);
        size_t n;
        const msgpack_object *entries = harness_get_array(&r, "entries", &n);
        assert_true(n <= page);
        for (size_t i = 0; i < n; i++) {
            if (count == cap)
                fail_msg("the ledger has more than %zu entries", cap);
            ledger_entry *e = &out[count++];
            e->entry_id = harness_obj_u64(&entries[i], "entry_id");
            e->charge = harness_obj_str_is(&entries[i], "kind", "CHARGE");
            e->amount = harness_obj_i64(&entries[i], "amount");
            e->balance_after = harness_obj_i64(&entries[i], "balance_after");
            if (before != 0 && e->entry_id >= before)
                fail_msg("entry_id %llu does not descend below %llu", (unsigned long long)e->entry_id,
                         (unsigned long long)before);
            before = e->entry_id;
        }
        harness_reply_free(&r);
        if (n == 0)
            return count;
    }
}

/* Fails unless the ledger of session sums to balance, holds `payments`
 * PAYMENT entries, and each balance_after is the running sum in id order. */
static void check_ledger(harness_conn *c, const char *session, int64_t balance, size_t payments)
{
    ledger_entry entries[64];
    size_t n = ledger_read(c, session, 50, entries, 64);
    int64_t running = 0;
    size_t paid = 0;
    for (size_t i = n; i-- > 0;) {
        running += entries[i].amount;
        assert_int_equal(entries[i].balance_after, running);
        assert_true(running >= 0);
        paid += !entries[i].charge;
    }
    assert_int_equal(running, balance);
    assert_int_equal(paid, payments);
}

/* Status of reservation rid in the caller's reservation.list: 'H'eld,
 * 'C'onfirmed, 'E'xpired or 'X' (cancelled); fails when it is not listed. */
static char reservation_status(harness_conn *c, const char *session, uint64_t rid)
{
    harness_reply r;
    harness_callf(c, &r, "reservation.list", "{\"session\":\"%s\",\"limit\":500}", session);
    harness_expect(&r, OK);
    size_t n;
    const msgpack_object *list = harness_get_array(&r, "reservations", &n);
    char status = 0;
    for (size_t i = 0; i < n && !status; i++) {
        if (harness_obj_u64(&list[i], "reservation_id") != rid)
            continue;
        status = harness_obj_str_is(&list[i], "status", "HELD")        ? 'H'
                 : harness_obj_str_is(&list[i], "status", "CONFIRMED") ? 'C'
                 : harness_obj_str_is(&list[i], "status", "EXPIRED")   ? 'E'
                 : harness_obj_str_is(&list[i], "status", "CANCELLED") ? 'X'
                                                                       : '?';
    }
    harness_reply_free(&r);
    if (!status)
        fail_msg("reservation %llu is not in its owner's list", (unsigned long long)rid);
    if (status == '?')
        fail_msg("reservation %llu has an unknown status", (unsigned long long)rid);
    return status;
}

/* Number of payments in the caller's payment.list. */
static size_t payment_count(harness_conn *c, const char *session)
{
    harness_reply r;
    harness_callf(c, &r, "payment.list", "{\"session\":\"%s\"}", session);
    harness_expect(&r, OK);
    size_t n;
    harness_get_array(&r, "payments", &n);
    harness_reply_free(&r);
    return n;
}

/* Free seats of the only performance of concert_id, from concert.dates. */
static int64_t seats_left(harness_conn *c, const char *token, uint64_t concert_id)
{
    harness_reply r;
    harness_callf(c, &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", token,
                  (unsigned long long)concert_id);
    harness_expect(&r, OK);
    size_t n;
    const msgpack_object *dates = harness_get_array(&r, "dates", &n);
    assert_int_equal(n, 1);
    int64_t available = harness_obj_i64(&dates[0], "available");
    harness_reply_free(&r);
    return available;
}

/* Starts n usherd processes on one data dir through the fixture: servers[0]
 * with first_args, the others on its data dir with other_args. */
static void start_shared(harness_fixture *fx, harness_server **servers, size_t n, const char *first_args,
                         const char *other_args)
{
    servers[0] = harness_fx_start(fx, first_args);
    for (size_t i = 1; i < n; i++)
        servers[i] = harness_fx_start_shared(fx, servers[0], other_args);
}

/* Connects conns[0..n-1] round-robin to the ports of servers[0..nservers-1]. */
static void connect_spread(harness_fixture *fx, harness_server *const *servers, size_t nservers,
                           harness_conn **conns, size_t n)
{
    for (size_t i = 0; i < n; i++)
        conns[i] = harness_fx_connect(fx, servers[i % nservers]->port);
}

/* ----------------------------------------------------------- lost charges */

#define CHARGE_CONNS 40
#define CHARGES_PER_CONN 25
#define CHARGES (CHARGE_CONNS * CHARGES_PER_CONN)
#define CHARGES_SUM ((int64_t)CHARGES * (CHARGES + 1) / 2)

static void test_thousand_racing_charges_on_three_servers_lose_none(void **state)
{
    harness_fixture *fx = *state;
    harness_server *servers[3];
    start_shared(fx, servers, 3, NULL, NULL);
    harness_conn *setup = harness_fx_connect(fx, servers[0]->port);
    harness_user u;
    harness_register(setup, &u);
    harness_conn *conns[CHARGE_CONNS];
    connect_spread(fx, servers, 3, conns, CHARGE_CONNS);

    /* Charge j (1..1000) is amount j, so every ledger entry names its request;
     * they go out round-robin over the connections so they interleave. */
    uint32_t first[CHARGE_CONNS];
    for (size_t i = 0; i < CHARGE_CONNS; i++)
        first[i] = conns[i]->next_msgid;
    for (size_t k = 0; k < CHARGES_PER_CONN; k++)
        for (size_t i = 0; i < CHARGE_CONNS; i++)
            harness_sendf(conns[i], "wallet.charge", "{\"session\":\"%s\",\"amount\":%zu}", u.session,
                          i * CHARGES_PER_CONN + k + 1);
    int64_t *reply_balance = calloc(CHARGES + 1, sizeof *reply_balance);
    ledger_entry *ledger = calloc(CHARGES + 1, sizeof *ledger);
    bool *amount_seen = calloc(CHARGES + 1, sizeof *amount_seen);
    assert_true(reply_balance && ledger && amount_seen);
    for (size_t i = 0; i < CHARGE_CONNS; i++) {
        harness_reply r[CHARGES_PER_CONN];
        recv_pipelined(conns[i], first[i], CHARGES_PER_CONN, r);
        for (size_t k = 0; k < CHARGES_PER_CONN; k++) {
            int64_t amount = (int64_t)(i * CHARGES_PER_CONN + k + 1);
            harness_expect(&r[k], OK);
            assert_int_equal(harness_get_i64(&r[k], "charged"), amount);
            int64_t balance = harness_get_i64(&r[k], "balance");
            assert_true(balance >= amount && balance <= CHARGES_SUM);
            reply_balance[amount] = balance;
            harness_reply_free(&r[k]);
        }
    }
    assert_int_equal(harness_balance(setup, u.session), CHARGES_SUM);

    /* The ledger, read in pages of 100, holds each charge exactly once, and in
     * entry_id order each balance_after is the running sum: the charges were
     * applied one after another, none on a stale balance. Each reply told the
     * balance its own entry recorded. */
    size_t n = ledger_read(setup, u.session, 100, ledger, CHARGES + 1);
    assert_int_equal(n, CHARGES);
    int64_t running = 0;
    for (size_t i = n; i-- > 0;) {
        const ledger_entry *e = &ledger[i];
        assert_true(e->charge);
        assert_true(e->amount >= 1 && e->amount <= CHARGES);
        assert_false(amount_seen[e->amount]);
        amount_seen[e->amount] = true;
        assert_true(e->balance_after > running);
        running += e->amount;
        assert_int_equal(e->balance_after, running);
        assert_int_equal(reply_balance[e->amount], e->balance_after);
    }
    assert_int_equal(running, CHARGES_SUM);
    /* How much the connections interleaved in the ledger (39 = not at all):
     * printed to show the charges did race. */
    size_t switches = 0;
    for (size_t i = 1; i < n; i++)
        switches += (ledger[i].amount - 1) / CHARGES_PER_CONN != (ledger[i - 1].amount - 1) / CHARGES_PER_CONN;
    print_message("the ledger switches connection %zu times (at least %d)\n", switches, CHARGE_CONNS - 1);
    free(reply_balance);
    free(ledger);
    free(amount_seen);
}

/* --------------------------------------------------- double spend, one token */

#define SPEND_HOLDS 8
#define SPEND_ROUNDS 4
#define SPEND_PRICE 60
#define SPEND_BALANCE 100

static void test_racing_payments_of_one_token_pay_one_hold_and_expire_the_rest(void **state)
{
    harness_fixture *fx = *state;
    harness_server *servers[2];
    start_shared(fx, servers, 2, "--workers 2 --max-holds 8", "--max-holds 8");
    harness_conn *setup = harness_fx_connect(fx, servers[0]->port);
    uint64_t concert_id, schedule_id;
    harness_make_concert(setup, harness_admin_token(servers[0]), 50, SPEND_PRICE,
                         harness_now_ms() + DAY_MS, &concert_id, &schedule_id);
    harness_conn *conns[SPEND_HOLDS];
    connect_spread(fx, servers, 2, conns, SPEND_HOLDS);

    for (uint32_t round = 0; round < SPEND_ROUNDS; round++) {
        harness_shopper sh;
        harness_shopper_new(setup, concert_id, SPEND_BALANCE, &sh);
        uint64_t rids[SPEND_HOLDS];
        for (uint32_t i = 0; i < SPEND_HOLDS; i++)
            rids[i] = harness_reserve(setup, sh.token, schedule_id, round * SPEND_HOLDS + i + 1, NULL);

        /* Each connection pays another single hold with the same token. */
        uint32_t msgids[SPEND_HOLDS];
        for (size_t i = 0; i < SPEND_HOLDS; i++)
            msgids[i] = harness_sendf(conns[i], "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                                      sh.token, (unsigned long long)rids[i]);
        harness_reply r[SPEND_HOLDS];
        size_t ok = 0, winner = 0;
        for (size_t i = 0; i < SPEND_HOLDS; i++) {
            harness_recv(conns[i], msgids[i], &r[i]);
            if (r[i].err == USHER_ERR_OK) {
                ok++;
                winner = i;
            }
        }
        if (ok != 1)
            fail_msg("round %u: %zu of %d racing payments succeeded", round, ok, SPEND_HOLDS);
        assert_int_equal(harness_get_i64(&r[winner], "amount"), SPEND_PRICE);
        assert_int_equal(harness_get_i64(&r[winner], "balance"), SPEND_BALANCE - SPEND_PRICE);
        /* Writes are serialized, so every loser ran after the winner had
         * expired the token; PROTOCOL.md 4.4 puts the queue entry (step 7,
         * TOKEN_EXPIRED) before the method's rules (step 9,
         * INSUFFICIENT_BALANCE), so TOKEN_EXPIRED is the only right answer. */
        for (size_t i = 0; i < SPEND_HOLDS; i++) {
            if (i != winner)
                expect_loser(&r[i], USHER_ERR_TOKEN_EXPIRED, "losing payment", (unsigned)i);
            harness_reply_free(&r[i]);
        }

        assert_int_equal(harness_balance(setup, sh.user.session), SPEND_BALANCE - SPEND_PRICE);
        check_ledger(setup, sh.user.session, SPEND_BALANCE - SPEND_PRICE, 1);
        assert_int_equal(payment_count(setup, sh.user.session), 1);
        for (size_t i = 0; i < SPEND_HOLDS; i++)
            assert_int_equal(reservation_status(setup, sh.user.session, rids[i]), i == winner ? 'C' : 'H');
        assert_int_equal(harness_queue_state(setup, sh.token, NULL), 'E');
    }
}

/* ------------------------------------------- double spend, several tokens */

#define WALLET_CONCERTS 6
#define WALLET_ROUNDS 3

static void test_racing_payments_with_tokens_of_several_concerts_never_overdraw(void **state)
{
    harness_fixture *fx = *state;
    harness_server *servers[3];
    start_shared(fx, servers, 3, "--workers 2", NULL);
    harness_conn *setup = harness_fx_connect(fx, servers[0]->port);
    const char *admin = harness_admin_token(servers[0]);
    uint64_t concert_ids[WALLET_CONCERTS], schedule_ids[WALLET_CONCERTS];
    for (size_t j = 0; j < WALLET_CONCERTS; j++)
        harness_make_concert(setup, admin, 10, SPEND_PRICE, harness_now_ms() + DAY_MS, &concert_ids[j],
                             &schedule_ids[j]);
    harness_conn *conns[WALLET_CONCERTS];
    connect_spread(fx, servers, 3, conns, WALLET_CONCERTS);

    /* Round r: one user, ACTIVE in every concert's queue with a hold in each,
     * can afford exactly r + 1 of the holds and pays all of them at once,
     * each with its own (ACTIVE) token. */
    for (uint32_t round = 0; round < WALLET_ROUNDS; round++) {
        size_t affordable = round + 1;
        int64_t leftover = SPEND_PRICE - 20;
        int64_t balance = (int64_t)affordable * SPEND_PRICE + leftover;
        harness_user u;
        harness_register(setup, &u);
        harness_charge(setup, u.session, balance);
        char tokens[WALLET_CONCERTS][HARNESS_TOKEN_CAP];
        uint64_t rids[WALLET_CONCERTS];
        for (size_t j = 0; j < WALLET_CONCERTS; j++) {
            harness_enter_until_active(setup, u.session, concert_ids[j], tokens[j], 5000);
            rids[j] = harness_reserve(setup, tokens[j], schedule_ids[j], round + 1, NULL);
        }
        uint32_t msgids[WALLET_CONCERTS];
        for (size_t j = 0; j < WALLET_CONCERTS; j++)
            msgids[j] = harness_sendf(conns[j], "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                                      tokens[j], (unsigned long long)rids[j]);
        bool paid[WALLET_CONCERTS] = { false };
        size_t ok = 0;
        for (size_t j = 0; j < WALLET_CONCERTS; j++) {
            harness_reply r;
            harness_recv(conns[j], msgids[j], &r);
            if (r.err == USHER_ERR_OK) {
                paid[j] = true;
                ok++;
                int64_t after = harness_get_i64(&r, "balance");
                assert_true(after >= leftover && after < balance);
            } else {
                /* Token ACTIVE and hold live: only the balance can refuse. */
                expect_loser(&r, USHER_ERR_INSUFFICIENT_BALANCE, "losing payment", (unsigned)j);
            }
            harness_reply_free(&r);
        }
        if (ok != affordable)
            fail_msg("round %u: %zu payments succeeded, the wallet paid for %zu", round, ok, affordable);

        assert_int_equal(harness_balance(setup, u.session), leftover);
        check_ledger(setup, u.session, leftover, affordable);
        assert_int_equal(payment_count(setup, u.session), affordable);
        for (size_t j = 0; j < WALLET_CONCERTS; j++) {
            assert_int_equal(reservation_status(setup, u.session, rids[j]), paid[j] ? 'C' : 'H');
            assert_int_equal(harness_queue_state(setup, tokens[j], NULL), paid[j] ? 'E' : 'A');
        }
    }
}

/* ---------------------------------------------------- duplicate request_id */

#define DUP_CONNS 30
#define DUP_ROUNDS 3
#define DUP_FIRST_CHARGE 7
#define DUP_AMOUNT 12345

static void test_one_charge_request_id_from_thirty_connections_charges_once(void **state)
{
    harness_fixture *fx = *state;
    harness_server *servers[2];
    start_shared(fx, servers, 2, "--workers 2", NULL);
    harness_conn *setup = harness_fx_connect(fx, servers[0]->port);
    harness_user u;
    harness_register(setup, &u);
    int64_t expected = harness_charge(setup, u.session, DUP_FIRST_CHARGE);
    harness_conn *conns[DUP_CONNS];
    connect_spread(fx, servers, 2, conns, DUP_CONNS);

    for (uint32_t round = 0; round < DUP_ROUNDS; round++) {
        char request_id[64];
        snprintf(request_id, sizeof request_id, "top-up-%u-%.8s", round, u.user_id);
        int64_t amount = DUP_AMOUNT + round;
        uint32_t msgids[DUP_CONNS];
        for (size_t i = 0; i < DUP_CONNS; i++)
            msgids[i] = harness_sendf(conns[i], "wallet.charge",
                                      "{\"session\":\"%s\",\"amount\":%lld,\"request_id\":\"%s\"}", u.session,
                                      (long long)amount, request_id);
        expected += amount;
        for (size_t i = 0; i < DUP_CONNS; i++) {
            harness_reply r;
            harness_recv(conns[i], msgids[i], &r);
            harness_expect(&r, OK);
            /* Every repeat returns the first result: the same two fields. */
            assert_int_equal(r.result->via.map.size, 2);
            assert_int_equal(harness_get_i64(&r, "charged"), amount);
            assert_int_equal(harness_get_i64(&r, "balance"), expected);
            harness_reply_free(&r);
        }
        assert_int_equal(harness_balance(conns[round % DUP_CONNS], u.session), expected);
    }
    check_ledger(setup, u.session, expected, 0);
    ledger_entry entries[8];
    assert_int_equal(ledger_read(setup, u.session, 50, entries, 8), 1 + DUP_ROUNDS);
}

/* ------------------------------------------------------ FIFO across servers */

#define FIFO_USERS 60
#define FIFO_CHECKED 10          /* positions followed until admitted */
#define FIFO_TTL_MS 300
#define FIFO_INTERVAL_MS 100
#define FIFO_POLL_MS 50
#define FIFO_TIMER_SLACK_MS 250  /* scheduling slack on top of one admit interval */
#define FIFO_ARGS "--max-active 1 --admit-interval 100ms --active-ttl 300ms"

/* One racer of the FIFO test. */
typedef struct fifo_user {
    char session[HARNESS_TOKEN_CAP];
    char token[HARNESS_TOKEN_CAP];
    uint64_t position;           /* as queue.enter returned it */
    uint64_t last_position;      /* latest WAITING position seen */
    int64_t active_until;        /* 0 until seen ACTIVE or EXPIRED after ACTIVE */
} fifo_user;

/* Reads one queue.status reply of user u (user index i), checking that a
 * waiting position never grows and an admitted entry never waits again;
 * returns true when it is WAITING. */
static bool fifo_take_status(harness_reply *r, fifo_user *u, size_t i)
{
    harness_expect(r, OK);
    if (harness_obj_str_is(r->result, "status", "WAITING")) {
        uint64_t position = harness_get_u64(r, "position");
        if (u->active_until != 0)
            fail_msg("user %zu waits again after it was admitted", i);
        if (position < 1 || position > u->last_position)
            fail_msg("user %zu: waiting position went from %llu to %llu", i,
                     (unsigned long long)u->last_position, (unsigned long long)position);
        u->last_position = position;
        return true;
    }
    if (!harness_has(r, "active_until"))
        fail_msg("user %zu expired without being admitted", i);
    int64_t active_until = harness_get_i64(r, "active_until");
    if (u->active_until != 0 && u->active_until != active_until)
        fail_msg("user %zu: active_until changed", i);
    u->active_until = active_until;
    assert_int_equal(harness_get_u64(r, "position"), 0);
    return false;
}

static void test_queue_admits_sixty_racing_users_of_two_servers_in_position_order(void **state)
{
    harness_fixture *fx = *state;
    harness_server *servers[2];
    start_shared(fx, servers, 2, FIFO_ARGS, FIFO_ARGS);
    harness_conn *setup = harness_fx_connect(fx, servers[0]->port);
    uint64_t concert_id, schedule_id;
    harness_make_concert(setup, harness_admin_token(servers[0]), 50, 1000, harness_now_ms() + DAY_MS,
                         &concert_id, &schedule_id);
    harness_conn *conns[FIFO_USERS];
    connect_spread(fx, servers, 2, conns, FIFO_USERS);
    fifo_user *users = calloc(FIFO_USERS, sizeof *users);
    assert_non_null(users);

    uint32_t msgids[FIFO_USERS];
    for (size_t i = 0; i < FIFO_USERS; i++)
        msgids[i] = harness_send(conns[i], "user.register", "{}");
    for (size_t i = 0; i < FIFO_USERS; i++) {
        harness_reply r;
        harness_recv(conns[i], msgids[i], &r);
        harness_expect(&r, OK);
        copy_result_str(&r, "session", users[i].session, sizeof users[i].session);
        harness_reply_free(&r);
    }

    /* Everyone enters at once, half through each server. */
    int64_t burst_start = harness_now_ms();
    for (size_t i = 0; i < FIFO_USERS; i++)
        msgids[i] = harness_sendf(conns[i], "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}",
                                  users[i].session, (unsigned long long)concert_id);
    size_t by_position[FIFO_USERS];
    bool position_taken[FIFO_USERS] = { false };
    for (size_t i = 0; i < FIFO_USERS; i++) {
        harness_reply r;
        harness_recv(conns[i], msgids[i], &r);
        harness_expect(&r, OK);
        copy_result_str(&r, "token", users[i].token, sizeof users[i].token);
        uint64_t p = harness_get_u64(&r, "position");
        bool active = harness_obj_str_is(r.result, "status", "ACTIVE");
        if (active != (p == 0) || p >= FIFO_USERS || position_taken[p])
            fail_msg("user %zu entered %s at position %llu, taken twice or out of 0..%d", i,
                     active ? "ACTIVE" : "WAITING", (unsigned long long)p, FIFO_USERS - 1);
        position_taken[p] = true;
        by_position[p] = i;
        users[i].position = users[i].last_position = p;
        if (active)
            users[i].active_until = harness_get_i64(&r, "active_until");
        harness_reply_free(&r);
    }
    print_message("60 queue.enter answered within %lld ms\n", (long long)(harness_now_ms() - burst_start));

    /* Each ACTIVE entry times out after 300 ms and the next one is admitted.
     * Poll everyone until the first FIFO_CHECKED + 1 positions were admitted;
     * no admitted user may stand behind one who still waits. */
    int64_t deadline = harness_now_ms() + 10000;
    for (;;) {
        for (size_t i = 0; i < FIFO_USERS; i++)
            msgids[i] = harness_sendf(conns[i], "queue.status", "{\"token\":\"%s\"}", users[i].token);
        uint64_t first_waiting = FIFO_USERS, last_admitted = 0;
        for (size_t i = 0; i < FIFO_USERS; i++) {
            harness_reply r;
            harness_recv(conns[i], msgids[i], &r);
            bool waiting = fifo_take_status(&r, &users[i], i);
            harness_reply_free(&r);
            if (waiting && users[i].position < first_waiting)
                first_waiting = users[i].position;
            if (!waiting && users[i].position > last_admitted)
                last_admitted = users[i].position;
        }
        if (last_admitted > first_waiting)
            fail_msg("position %llu was admitted while position %llu still waits",
                     (unsigned long long)last_admitted, (unsigned long long)first_waiting);
        if (first_waiting > FIFO_CHECKED)
            break;
        if (harness_now_ms() > deadline)
            fail_msg("only %llu of the first %d positions admitted within 10 s",
                     (unsigned long long)first_waiting, FIFO_CHECKED + 1);
        harness_sleep_ms(FIFO_POLL_MS);
    }

    /* active_until = admission time + ttl: admissions follow the positions,
     * never overlap (--max-active 1 across both servers), and each freed slot
     * is filled within about one --admit-interval. */
    for (size_t p = 1; p < FIFO_USERS; p++) {
        const fifo_user *prev = &users[by_position[p - 1]], *cur = &users[by_position[p]];
        if (cur->active_until == 0)
            break;
        int64_t gap = cur->active_until - prev->active_until;
        if (gap < FIFO_TTL_MS || gap > FIFO_TTL_MS + FIFO_INTERVAL_MS + FIFO_TIMER_SLACK_MS)
            fail_msg("position %zu admitted %lld ms after position %zu's admission (ttl %d ms)", p,
                     (long long)gap, p - 1, FIFO_TTL_MS);
    }
    free(users);
}

/* ------------------------------------------------------ cancel against pay */

#define DUEL_ROUNDS 12
#define DUEL_SEATS 50
#define DUEL_PRICE 1000
#define DUEL_BALANCE 1500

static void test_cancel_and_pay_of_one_hold_at_once_exactly_one_wins(void **state)
{
    harness_fixture *fx = *state;
    harness_server *servers[2];
    start_shared(fx, servers, 2, NULL, NULL);
    harness_conn *ca = harness_fx_connect(fx, servers[0]->port);
    harness_conn *cb = harness_fx_connect(fx, servers[1]->port);
    uint64_t concert_id, schedule_id;
    harness_make_concert(ca, harness_admin_token(servers[0]), DUEL_SEATS, DUEL_PRICE, harness_now_ms() + DAY_MS, &concert_id,
                         &schedule_id);
    harness_shopper observer;
    harness_shopper_new(cb, concert_id, 0, &observer);

    int cancel_won = 0, pay_won = 0; /* a paid seat is sold for good */
    for (uint32_t round = 0; round < DUEL_ROUNDS; round++) {
        harness_shopper sh;
        harness_shopper_new(ca, concert_id, DUEL_BALANCE, &sh);
        uint32_t seat = round + 1;
        uint64_t rid = harness_reserve(ca, sh.token, schedule_id, seat, NULL);

        /* Alternate servers and which request leaves first. */
        harness_conn *cancel_conn = round % 2 ? ca : cb, *pay_conn = round % 2 ? cb : ca;
        uint32_t mc = 0, mp = 0;
        for (int k = 0; k < 2; k++) {
            if ((k == 0) == (round % 4 < 2))
                mc = harness_sendf(cancel_conn, "reservation.cancel", "{\"session\":\"%s\",\"reservation_id\":%llu}",
                                   sh.user.session, (unsigned long long)rid);
            else
                mp = harness_sendf(pay_conn, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                                   sh.token, (unsigned long long)rid);
        }
        harness_reply rc, rp;
        harness_recv(cancel_conn, mc, &rc);
        harness_recv(pay_conn, mp, &rp);
        bool paid;
        if (rp.err == USHER_ERR_OK) {
            expect_loser(&rc, USHER_ERR_ALREADY_PAID, "cancel after payment, round", round);
            assert_int_equal(harness_get_i64(&rp, "balance"), DUEL_BALANCE - DUEL_PRICE);
            paid = true;
            pay_won++;
        } else {
            expect_loser(&rp, USHER_ERR_HOLD_EXPIRED, "payment after cancel, round", round);
            harness_expect(&rc, OK);
            assert_int_equal(harness_get_u64(&rc, "reservation_id"), rid);
            assert_true(harness_obj_str_is(rc.result, "status", "CANCELLED"));
            paid = false;
            cancel_won++;
        }
        harness_reply_free(&rc);
        harness_reply_free(&rp);

        /* Money, reservation, seat and token all tell the same story. */
        int64_t balance = paid ? DUEL_BALANCE - DUEL_PRICE : DUEL_BALANCE;
        assert_int_equal(harness_balance(cb, sh.user.session), balance);
        check_ledger(ca, sh.user.session, balance, paid ? 1 : 0);
        assert_int_equal(payment_count(cb, sh.user.session), paid ? 1 : 0);
        assert_int_equal(reservation_status(ca, sh.user.session, rid), paid ? 'C' : 'X');
        assert_int_equal(seats_left(cb, observer.token, concert_id), DUEL_SEATS - pay_won);
        assert_int_equal(harness_queue_state(ca, sh.token, NULL), paid ? 'E' : 'A');
    }
    print_message("cancel won %d rounds, payment won %d\n", cancel_won, pay_won);
}

/* ---------------------------------------------------- seat storm, refilled */

#define STORM_USERS 30
#define STORM_SEATS 5
#define STORM_ARGS "--hold-ttl 1s --max-holds 1"

/* What one wave of the storm left: who won each seat, and with which hold. */
typedef struct storm_wave {
    size_t winner[STORM_SEATS + 1];       /* user index per seat */
    uint64_t rid[STORM_SEATS + 1];
    int64_t first_expiry, last_expiry;    /* ms, over the winning holds */
} storm_wave;

/* Every user asks for every seat at once (each starting at another seat,
 * sent round-robin over the connections so the requests interleave).
 * Fails unless each seat is held exactly once and nobody holds two. */
static void storm_run_wave(harness_conn **conns, const harness_shopper *sh, uint64_t schedule_id,
                           storm_wave *w)
{
    uint32_t first[STORM_USERS];
    for (size_t i = 0; i < STORM_USERS; i++)
        first[i] = conns[i]->next_msgid;
    for (uint32_t k = 0; k < STORM_SEATS; k++)
        for (size_t i = 0; i < STORM_USERS; i++)
            harness_sendf(conns[i], "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%u}",
                          sh[i].token, (unsigned long long)schedule_id, (uint32_t)((i + k) % STORM_SEATS) + 1);
    int wins[STORM_SEATS + 1] = { 0 };
    w->first_expiry = INT64_MAX;
    w->last_expiry = 0;
    for (size_t i = 0; i < STORM_USERS; i++) {
        harness_reply r[STORM_SEATS];
        recv_pipelined(conns[i], first[i], STORM_SEATS, r);
        int held = 0;
        for (uint32_t k = 0; k < STORM_SEATS; k++) {
            uint32_t seat = (uint32_t)((i + k) % STORM_SEATS) + 1;
            if (r[k].err == USHER_ERR_OK) {
                assert_int_equal(harness_get_u64(&r[k], "seat_no"), seat);
                int64_t expires_at = harness_get_i64(&r[k], "expires_at");
                w->first_expiry = expires_at < w->first_expiry ? expires_at : w->first_expiry;
                w->last_expiry = expires_at > w->last_expiry ? expires_at : w->last_expiry;
                w->winner[seat] = i;
                w->rid[seat] = harness_get_u64(&r[k], "reservation_id");
                wins[seat]++;
                held++;
            } else if (r[k].err != USHER_ERR_SEAT_UNAVAILABLE && r[k].err != USHER_ERR_HOLD_LIMIT) {
                fail_msg("user %zu seat %u: unexpected %s: %s", i, seat, r[k].code, r[k].message);
            }
            harness_reply_free(&r[k]);
        }
        if (held > 1)
            fail_msg("user %zu holds %d seats with --max-holds 1", i, held);
    }
    for (uint32_t seat = 1; seat <= STORM_SEATS; seat++)
        if (wins[seat] != 1)
            fail_msg("seat %u was won %d times", seat, wins[seat]);
}

static void test_seat_storm_on_three_processes_refills_once_holds_expire(void **state)
{
    harness_fixture *fx = *state;
    harness_server *servers[2];
    start_shared(fx, servers, 2, "--workers 2 " STORM_ARGS, STORM_ARGS);
    harness_conn *setup = harness_fx_connect(fx, servers[0]->port);
    uint64_t concert_id, schedule_id;
    harness_make_concert(setup, harness_admin_token(servers[0]), STORM_SEATS, 1000, harness_now_ms() + DAY_MS,
                         &concert_id, &schedule_id);
    harness_conn *conns[STORM_USERS];
    connect_spread(fx, servers, 2, conns, STORM_USERS);
    harness_shopper *sh = calloc(STORM_USERS, sizeof *sh);
    assert_non_null(sh);
    for (size_t i = 0; i < STORM_USERS; i++)
        harness_shopper_new(conns[i], concert_id, 0, &sh[i]);

    storm_wave first, second;
    int64_t started = harness_now_ms();
    storm_run_wave(conns, sh, schedule_id, &first);
    print_message("first wave of %d requests answered in %lld ms\n", STORM_USERS * STORM_SEATS,
                  (long long)(harness_now_ms() - started));
    assert_int_equal(seats_left(setup, sh[0].token, concert_id), 0);

    /* Nobody pays. Once the last hold has run out every seat is free at once,
     * without waiting for a sweeper, and the same crowd races again. */
    int64_t wait_ms = first.last_expiry + 20 - harness_now_ms();
    if (wait_ms > 0)
        harness_sleep_ms(wait_ms);
    assert_int_equal(seats_left(setup, sh[0].token, concert_id), STORM_SEATS);
    storm_run_wave(conns, sh, schedule_id, &second);

    /* Each list agrees: wave-one holds read EXPIRED, wave-two holds HELD (until
     * they too run out), and nobody has two live holds. */
    for (uint32_t seat = 1; seat <= STORM_SEATS; seat++) {
        size_t u = first.winner[seat];
        assert_int_equal(reservation_status(conns[u], sh[u].user.session, first.rid[seat]), 'E');
        assert_true(second.rid[seat] > first.rid[seat]);
    }
    int live_holds = 0;
    for (size_t i = 0; i < STORM_USERS; i++) {
        harness_reply r;
        harness_callf(conns[i], &r, "reservation.list", "{\"session\":\"%s\"}", sh[i].user.session);
        harness_expect(&r, OK);
        size_t n;
        const msgpack_object *list = harness_get_array(&r, "reservations", &n);
        int held = 0;
        for (size_t k = 0; k < n; k++)
            held += harness_obj_str_is(&list[k], "status", "HELD");
        harness_reply_free(&r);
        assert_true(held <= 1);
        live_holds += held;
    }
    if (harness_now_ms() < second.first_expiry)
        assert_int_equal(live_holds, STORM_SEATS);
    free(sh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_thousand_racing_charges_on_three_servers_lose_none),
        HARNESS_TEST(test_racing_payments_of_one_token_pay_one_hold_and_expire_the_rest),
        HARNESS_TEST(test_racing_payments_with_tokens_of_several_concerts_never_overdraw),
        HARNESS_TEST(test_one_charge_request_id_from_thirty_connections_charges_once),
        HARNESS_TEST(test_queue_admits_sixty_racing_users_of_two_servers_in_position_order),
        HARNESS_TEST(test_cancel_and_pay_of_one_hold_at_once_exactly_one_wins),
        HARNESS_TEST(test_seat_storm_on_three_processes_refills_once_holds_expire),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
