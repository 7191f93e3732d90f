/* Scenarios, money: concurrent charges with and without request_id retries
 * (some clients vanish with a charge in flight), payments that together
 * exceed a balance, and one reservation paid from several connections at
 * once. Each runs on every topology with one thread per connection and ends
 * with usher-check and the history checker (every acknowledged charge and
 * payment in the ledger, balances explained, retries repeating their first
 * result). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL
#define PRICE 1000
#define MONEY_ARGS "--max-active 100000 --max-holds 4"
#define MONEY_CHECK "--max-holds 4 --max-active 100000"

/* What one payment told its client. */
typedef struct pay_seen {
    usher_err err;              /* OK, the error, or INTERNAL for no reply */
    uint64_t payment_id;
    int64_t balance;
} pay_seen;

/* payment.pay of reservation rid with token by client j, with request_id
 * when not NULL. */
static pay_seen pay(harness_crowd *cw, size_t j, const char *token, uint64_t rid, const char *request_id)
{
    harness_hclient *c = &cw->clients[j];
    uint32_t user = cw->users[j / cw->per_user].index;
    harness_reply r;
    char extra[96] = "";
    if (request_id)
        snprintf(extra, sizeof extra, ",\"request_id\":\"%s\"", request_id);
    pay_seen seen = { .err = USHER_ERR_INTERNAL };
    harness_outcome o = harness_hclient_call(c, user, &r, "payment.pay",
                                             "{\"token\":\"%s\",\"reservation_ids\":[%llu]%s}", token,
                                             (unsigned long long)rid, extra);
    if (o == HARNESS_OP_NO_REPLY)
        return seen;
    seen.err = r.err;
    if (r.err == USHER_ERR_OK && (!harness_find_u64(r.result, "payment_id", &seen.payment_id) ||
                                  !harness_find_i64(r.result, "balance", &seen.balance)))
        seen.err = USHER_ERR_INTERNAL;
    harness_reply_free(&r);
    return seen;
}

/* seat.reserve by client j with token; the reservation_id, 0 on failure. */
static uint64_t hold(harness_crowd *cw, size_t j, const char *token, uint64_t schedule_id, uint32_t seat_no)
{
    harness_reply r;
    uint64_t rid = 0;
    harness_outcome o = harness_hclient_call(&cw->clients[j], cw->users[j / cw->per_user].index, &r, "seat.reserve",
                                             "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%u}", token,
                                             (unsigned long long)schedule_id, seat_no);
    if (o == HARNESS_OP_OK && !harness_find_u64(r.result, "reservation_id", &rid))
        rid = 0;
    if (o != HARNESS_OP_NO_REPLY)
        harness_reply_free(&r);
    return rid;
}

/* ---------------------------------------------------------------- charges */

#define CHARGE_USERS 12
#define CHARGE_CLIENTS_PER_USER 10
#define CHARGE_PLAIN 4          /* charges without request_id per client */
#define CHARGE_KEYED 2          /* request_ids per client, shared with its twin */

typedef struct charge_run {
    harness_crowd cw;
    size_t *failures;           /* per client: charges that did not succeed */
    size_t *vanished;
} charge_run;

/* One charge by client j, with request_id when not NULL; true on OK. */
static bool charge(harness_crowd *cw, size_t j, int64_t amount, const char *request_id)
{
    const harness_huser *u = &cw->users[j / cw->per_user];
    char extra[96] = "";
    if (request_id)
        snprintf(extra, sizeof extra, ",\"request_id\":\"%s\"", request_id);
    harness_reply r;
    harness_outcome o = harness_hclient_call(&cw->clients[j], u->index, &r, "wallet.charge",
                                             "{\"session\":\"%s\",\"amount\":%lld%s}", u->session,
                                             (long long)amount, extra);
    if (o != HARNESS_OP_NO_REPLY)
        harness_reply_free(&r);
    return o == HARNESS_OP_OK;
}

/* Client j of user u: plain charges, keyed charges its twin (j ^ 1, same
 * user) sends too, each retried once after its reply; a few clients vanish
 * with one charge in flight, with or without a request_id (the keyed one is
 * then retried on a new connection, which tells its outcome). */
static void charge_client(void *arg, size_t j)
{
    charge_run *run = arg;
    harness_crowd *cw = &run->cw;
    size_t u = j / cw->per_user, k = j % cw->per_user;
    for (size_t m = 0; m < CHARGE_PLAIN; m++)
        run->failures[j] += !charge(cw, j, (int64_t)(1 + j * CHARGE_PLAIN + m), NULL);
    for (size_t m = 0; m < CHARGE_KEYED; m++) {
        char rid[64];
        snprintf(rid, sizeof rid, "u%zu-pair%zu-m%zu", u, k / 2, m);
        int64_t amount = 10000 + (int64_t)(u * 100 + k / 2 * 10 + m);
        run->failures[j] += !charge(cw, j, amount, rid);
        run->failures[j] += !charge(cw, j, amount, rid);
    }
    const harness_huser *user = &cw->users[u];
    if (k == 9 && u % 3 == 0) {
        harness_hclient_send_and_vanish(&cw->clients[j], user->index, "wallet.charge",
                                        "{\"session\":\"%s\",\"amount\":777}", user->session);
        run->vanished[j]++;
    }
    if (k == 8 && u % 3 == 1) {
        char rid[64];
        snprintf(rid, sizeof rid, "u%zu-vanish", u);
        harness_hclient_send_and_vanish(&cw->clients[j], user->index, "wallet.charge",
                                        "{\"session\":\"%s\",\"amount\":555,\"request_id\":\"%s\"}",
                                        user->session, rid);
        run->vanished[j]++;
        run->failures[j] += !charge(cw, j, 555, rid);
    }
}

static void test_concurrent_charges_with_and_without_retries_lose_nothing(void **state)
{
    size_t users = harness_stress() ? 40 : CHARGE_USERS;
    for (size_t t = 0; t < HARNESS_TOPOLOGIES; t++) {
        charge_run run;
        harness_crowd_spec spec = { .args = MONEY_ARGS, .seats = 10, .price = PRICE,
                                    .users = users, .per_user = CHARGE_CLIENTS_PER_USER, .balance = 0 };
        harness_crowd_open(*state, &harness_topologies[t], &spec, &run.cw);
        size_t clients = run.cw.nclients;
        run.failures = calloc(clients, sizeof *run.failures);
        run.vanished = calloc(clients, sizeof *run.vanished);
        assert_true(run.failures && run.vanished);
        harness_run_threads(clients, charge_client, &run);
        size_t failed = 0, vanished = 0;
        for (size_t j = 0; j < clients; j++) {
            failed += run.failures[j];
            vanished += run.vanished[j];
        }
        if (failed != 0)
            fail_msg("[%s] %zu charges did not succeed", harness_topologies[t].name, failed);
        print_message("[%s] %zu clients vanished with a charge in flight\n", harness_topologies[t].name, vanished);
        free(run.failures);
        free(run.vanished);
        harness_crowd_finish(&run.cw, MONEY_CHECK, "concurrent charges with and without request_id retries");
        harness_fx_release(*state);
    }
}

/* --------------------------------------------------- payments over a balance */

#define OVER_CONCERTS 3          /* holds per user, one per concert, paid at once */
#define OVER_BALANCE 2500        /* pays two of the three */

typedef struct over_run {
    harness_crowd cw;
    uint64_t concert_ids[OVER_CONCERTS], schedule_ids[OVER_CONCERTS];
    char (*tokens)[OVER_CONCERTS][HARNESS_TOKEN_CAP];
    uint64_t (*rids)[OVER_CONCERTS];
    usher_err *setup_errors;
    pay_seen *seen;             /* per client */
} over_run;

/* User u enters the other concerts' queues and holds seat u + 1 of each
 * performance. */
static void over_setup(void *arg, size_t u)
{
    over_run *run = arg;
    harness_crowd *cw = &run->cw;
    size_t j = u * cw->per_user;
    usher_err e = USHER_ERR_OK;
    for (size_t k = 0; k < OVER_CONCERTS && e == USHER_ERR_OK; k++) {
        harness_huser entrant = cw->users[u];
        if (k > 0)
            e = harness_hclient_enter(&cw->clients[j], &entrant, run->concert_ids[k], 50, 10000);
        memcpy(run->tokens[u][k], entrant.token, HARNESS_TOKEN_CAP);
        if (e == USHER_ERR_OK) {
            run->rids[u][k] = hold(cw, j, run->tokens[u][k], run->schedule_ids[k], (uint32_t)u + 1);
            e = run->rids[u][k] ? USHER_ERR_OK : USHER_ERR_SEAT_UNAVAILABLE;
        }
    }
    run->setup_errors[u] = e;
}

/* Connection k of user j / 3 pays the hold of concert k. */
static void over_payer(void *arg, size_t j)
{
    over_run *run = arg;
    size_t u = j / OVER_CONCERTS, k = j % OVER_CONCERTS;
    run->seen[j] = pay(&run->cw, j, run->tokens[u][k], run->rids[u][k], NULL);
}

static void test_payments_that_together_exceed_a_balance_never_overdraw(void **state)
{
    size_t users = harness_stress() ? 150 : 40;
    for (size_t t = 0; t < HARNESS_TOPOLOGIES; t++) {
        over_run run;
        harness_crowd_spec spec = { .args = MONEY_ARGS, .seats = (uint32_t)users, .price = PRICE,
                                    .users = users, .per_user = OVER_CONCERTS, .balance = OVER_BALANCE };
        harness_crowd_open(*state, &harness_topologies[t], &spec, &run.cw);
        run.concert_ids[0] = run.cw.concert_id;
        run.schedule_ids[0] = run.cw.schedule_id;
        for (size_t k = 1; k < OVER_CONCERTS; k++)
            harness_make_concert(run.cw.st.setup, run.cw.st.admin, (uint32_t)users, PRICE, harness_now_ms() + DAY_MS,
                                 &run.concert_ids[k], &run.schedule_ids[k]);
        run.tokens = calloc(users, sizeof *run.tokens);
        run.rids = calloc(users, sizeof *run.rids);
        run.setup_errors = calloc(users, sizeof *run.setup_errors);
        run.seen = calloc(run.cw.nclients, sizeof *run.seen);
        assert_true(run.tokens && run.rids && run.setup_errors && run.seen);
        harness_run_threads(users, over_setup, &run);
        for (size_t u = 0; u < users; u++)
            if (run.setup_errors[u] != USHER_ERR_OK)
                fail_msg("[%s] user %zu: set-up failed: %s", harness_topologies[t].name, u,
                         usher_err_name(run.setup_errors[u]));
        harness_run_threads(run.cw.nclients, over_payer, &run);
        /* Two payments fit the balance, the third must not. */
        for (size_t u = 0; u < users; u++) {
            size_t paid = 0, refused = 0;
            for (size_t k = 0; k < OVER_CONCERTS; k++) {
                const pay_seen *s = &run.seen[u * OVER_CONCERTS + k];
                paid += s->err == USHER_ERR_OK;
                refused += s->err == USHER_ERR_INSUFFICIENT_BALANCE;
                if (s->err == USHER_ERR_OK && s->balance < 0)
                    fail_msg("[%s] user %zu: a payment left balance %lld", harness_topologies[t].name, u,
                             (long long)s->balance);
            }
            if (paid != 2 || refused != 1)
                fail_msg("[%s] user %zu: %zu payments paid and %zu refused of %d over a balance for two",
                         harness_topologies[t].name, u, paid, refused, OVER_CONCERTS);
            assert_int_equal(harness_balance(run.cw.st.setup, run.cw.users[u].session), OVER_BALANCE - 2 * PRICE);
        }
        free(run.tokens);
        free(run.rids);
        free(run.setup_errors);
        free(run.seen);
        harness_crowd_finish(&run.cw, MONEY_CHECK, "payments that together exceed a balance");
        harness_fx_release(*state);
    }
}

/* ------------------------------------- one reservation, several connections */

#define MANY_PAYERS 4            /* connections per user: two with one request_id, two without */
#define MANY_BALANCE 5000

typedef struct many_run {
    harness_crowd cw;
    uint64_t *rids;             /* per user */
    pay_seen *seen;             /* per client */
} many_run;

static void many_setup(void *arg, size_t u)
{
    many_run *run = arg;
    run->rids[u] = hold(&run->cw, u * MANY_PAYERS, run->cw.users[u].token, run->cw.schedule_id, (uint32_t)u + 1);
}

static void many_payer(void *arg, size_t j)
{
    many_run *run = arg;
    size_t u = j / MANY_PAYERS;
    char request_id[32];
    snprintf(request_id, sizeof request_id, "pay-%zu", u);
    run->seen[j] = pay(&run->cw, j, run->cw.users[u].token, run->rids[u], j % MANY_PAYERS < 2 ? request_id : NULL);
}

static void test_one_reservation_paid_from_several_connections_is_paid_once(void **state)
{
    size_t users = harness_stress() ? 100 : 30;
    for (size_t t = 0; t < HARNESS_TOPOLOGIES; t++) {
        many_run run;
        harness_crowd_spec spec = { .args = MONEY_ARGS, .seats = (uint32_t)users, .price = PRICE,
                                    .users = users, .per_user = MANY_PAYERS, .balance = MANY_BALANCE };
        harness_crowd_open(*state, &harness_topologies[t], &spec, &run.cw);
        run.rids = calloc(users, sizeof *run.rids);
        run.seen = calloc(run.cw.nclients, sizeof *run.seen);
        assert_true(run.rids && run.seen);
        harness_run_threads(users, many_setup, &run);
        for (size_t u = 0; u < users; u++)
            if (run.rids[u] == 0)
                fail_msg("[%s] user %zu could not hold its seat", harness_topologies[t].name, u);
        harness_run_threads(run.cw.nclients, many_payer, &run);
        for (size_t u = 0; u < users; u++) {
            uint64_t payment_id = 0;
            for (size_t k = 0; k < MANY_PAYERS; k++) {
                const pay_seen *s = &run.seen[u * MANY_PAYERS + k];
                if (s->err == USHER_ERR_OK) {
                    /* Several OKs only as replays of one request_id. */
                    if (payment_id != 0 && s->payment_id != payment_id)
                        fail_msg("[%s] user %zu: one reservation paid by payments %llu and %llu",
                                 harness_topologies[t].name, u, (unsigned long long)payment_id,
                                 (unsigned long long)s->payment_id);
                    payment_id = s->payment_id;
                    assert_int_equal(s->balance, MANY_BALANCE - PRICE);
                } else if (s->err != USHER_ERR_TOKEN_EXPIRED && s->err != USHER_ERR_ALREADY_PAID) {
                    fail_msg("[%s] user %zu connection %zu: %s", harness_topologies[t].name, u, k,
                             usher_err_name(s->err));
                }
            }
            if (payment_id == 0)
                fail_msg("[%s] user %zu: none of %d payments succeeded", harness_topologies[t].name, u, MANY_PAYERS);
            assert_int_equal(harness_balance(run.cw.st.setup, run.cw.users[u].session), MANY_BALANCE - PRICE);
        }
        free(run.rids);
        free(run.seen);
        harness_crowd_finish(&run.cw, MONEY_CHECK, "one reservation paid from several connections");
        harness_fx_release(*state);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_concurrent_charges_with_and_without_retries_lose_nothing),
        HARNESS_TEST(test_payments_that_together_exceed_a_balance_never_overdraw),
        HARNESS_TEST(test_one_reservation_paid_from_several_connections_is_paid_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
