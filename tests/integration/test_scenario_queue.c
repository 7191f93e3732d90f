/* Scenario, the queue: many users enter one concert's queue at once with a
 * few ACTIVE slots. Entries must be unique and gapless, and admitted
 * strictly in sequence order as slots free, whether a slot frees by a
 * payment (the next entry is admitted in the payment's transaction) or by
 * an ACTIVE time running out (the timer). Every client polls queue.status
 * while it waits, so the history holds many WAITING observations for the
 * checker's order rule. Runs on every topology; ends with usher-check
 * (--max-active) and the history checker. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ACTIVE 8
#define QUEUE_ARGS "--max-active 8 --active-ttl 400ms --admit-interval 50ms --max-holds 1"
#define QUEUE_CHECK "--max-active 8 --max-holds 1"
#define PRICE 500
#define POLL_MS 40
#define ADMIT_DEADLINE_MS 30000

#define ACTIVE_TTL_MS 400

/* What one user lived through. */
typedef struct queue_life {
    usher_err err;              /* of the first request that failed, else OK */
    uint64_t seq;               /* from the token */
    bool admitted, paid;
    int64_t active_until;       /* server time: admitted at active_until - ttl */
    int64_t paid_at;            /* server time the payment expired the entry */
} queue_life;

typedef struct queue_run {
    harness_crowd cw;
    queue_life *lives;
} queue_run;

/* One call by user j's client; the reply's status letter into *status when
 * given. Returns the error (INTERNAL for no reply). */
static usher_err call(harness_crowd *cw, size_t j, harness_reply *r, const char *method, const char *json)
{
    harness_outcome o = harness_hclient_call(&cw->clients[j], cw->users[j].index, r, method, "%s", json);
    return o == HARNESS_OP_NO_REPLY ? USHER_ERR_INTERNAL : r->err;
}

/* Enters, polls until admitted, then two users in three buy a seat (their
 * payment frees the slot at once) and the third leaves its slot to time
 * out. */
static void queue_user(void *arg, size_t j)
{
    queue_run *run = arg;
    harness_crowd *cw = &run->cw;
    harness_huser *u = &cw->users[j];
    queue_life *life = &run->lives[j];
    char json[1024];
    harness_reply r;
    snprintf(json, sizeof json, "{\"session\":\"%s\",\"concert_id\":%llu}", u->session,
             (unsigned long long)cw->concert_id);
    life->err = call(cw, j, &r, "queue.enter", json);
    if (life->err != USHER_ERR_OK)
        return;
    uint64_t concert_id = 0;
    const char *status = "";
    size_t len = 0;
    if (!harness_find_strcpy(r.result, "token", u->token, sizeof u->token) ||
        !harness_queue_token_entry(u->token, strlen(u->token), &concert_id, &life->seq) ||
        !harness_find_str(r.result, "status", &status, &len))
        life->err = USHER_ERR_INTERNAL;
    bool active = len > 0 && status[0] == 'A', expired_after_admission = false;
    harness_find_i64(r.result, "active_until", &life->active_until);
    harness_reply_free(&r);
    int64_t deadline = harness_now_ms() + ADMIT_DEADLINE_MS;
    snprintf(json, sizeof json, "{\"token\":\"%s\"}", u->token);
    while (life->err == USHER_ERR_OK && !active && harness_now_ms() < deadline) {
        harness_sleep_ms(POLL_MS);
        life->err = call(cw, j, &r, "queue.status", json);
        if (life->err == USHER_ERR_OK && harness_find_str(r.result, "status", &status, &len) && len > 0) {
            active = status[0] == 'A';
            harness_find_i64(r.result, "active_until", &life->active_until);
            /* Admitted and already timed out between two polls: admitted. */
            expired_after_admission = status[0] == 'E' && msg_map_get(r.result, "active_until");
            if (status[0] == 'E' && !expired_after_admission)
                life->err = USHER_ERR_TOKEN_EXPIRED;
        }
        if (life->err != USHER_ERR_INTERNAL)
            harness_reply_free(&r);
        if (expired_after_admission)
            break;
    }
    life->admitted = active || expired_after_admission;
    if (!active || j % 3 == 0)
        return;
    snprintf(json, sizeof json, "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%zu}", u->token,
             (unsigned long long)cw->schedule_id, j + 1);
    usher_err e = call(cw, j, &r, "seat.reserve", json);
    uint64_t rid = 0;
    if (e == USHER_ERR_OK && !harness_find_u64(r.result, "reservation_id", &rid))
        e = USHER_ERR_INTERNAL;
    if (e != USHER_ERR_INTERNAL)
        harness_reply_free(&r);
    if (e == USHER_ERR_OK) {
        snprintf(json, sizeof json, "{\"token\":\"%s\",\"reservation_ids\":[%llu]}", u->token, (unsigned long long)rid);
        e = call(cw, j, &r, "payment.pay", json);
        if (e == USHER_ERR_OK && !harness_find_i64(r.result, "paid_at", &life->paid_at))
            e = USHER_ERR_INTERNAL;
        if (e != USHER_ERR_INTERNAL)
            harness_reply_free(&r);
    }
    /* A slot may run out between admission and the reserve: then the
     * reserve or payment says TOKEN_EXPIRED, which is legal. */
    if (e != USHER_ERR_OK && e != USHER_ERR_TOKEN_EXPIRED)
        life->err = e;
    life->paid = e == USHER_ERR_OK;
}

static int life_by_seq(const void *a, const void *b)
{
    uint64_t x = (*(const queue_life *const *)a)->seq, y = (*(const queue_life *const *)b)->seq;
    return x < y ? -1 : x > y;
}

/* The server's own times: every write reads the clock inside its
 * transaction, and the transactions of all processes on the data dir are
 * serialized, so admission times (active_until - ttl) never go down in
 * sequence order, and at no instant are more than MAX_ACTIVE entries inside
 * [admitted, paid_at or active_until). */
static void check_admission_times(const queue_life *lives, size_t n, const char *topo)
{
    const queue_life **by_seq = calloc(n, sizeof *by_seq);
    int64_t *starts = calloc(n, sizeof *starts), *ends = calloc(n, sizeof *ends);
    assert_true(by_seq && starts && ends);
    for (size_t i = 0; i < n; i++)
        by_seq[i] = &lives[i];
    qsort(by_seq, n, sizeof *by_seq, life_by_seq);
    for (size_t i = 0; i < n; i++) {
        const queue_life *l = by_seq[i];
        if (l->active_until == 0)
            fail_msg("[%s] entry %llu was admitted but no reply told its active_until", topo,
                     (unsigned long long)l->seq);
        starts[i] = l->active_until - ACTIVE_TTL_MS;
        ends[i] = l->paid ? l->paid_at : l->active_until;
        if (i > 0 && starts[i] < starts[i - 1])
            fail_msg("[%s] entry %llu admitted at %lld, before entry %llu at %lld", topo, (unsigned long long)l->seq,
                     (long long)starts[i], (unsigned long long)by_seq[i - 1]->seq, (long long)starts[i - 1]);
    }
    /* Each admission instant is where the count of live entries peaks. */
    for (size_t i = 0; i < n; i++) {
        size_t live = 0;
        for (size_t k = 0; k < n; k++)
            live += starts[k] <= starts[i] && starts[i] < ends[k];
        if (live > MAX_ACTIVE)
            fail_msg("[%s] %zu entries ACTIVE at %lld with --max-active %d", topo, live, (long long)starts[i],
                     MAX_ACTIVE);
    }
    free(by_seq);
    free(starts);
    free(ends);
}

static void test_many_users_entering_one_queue_are_admitted_in_order(void **state)
{
    size_t users = harness_stress() ? 400 : 120;
    for (size_t t = 0; t < HARNESS_TOPOLOGIES; t++) {
        queue_run run;
        harness_crowd_spec spec = { .args = QUEUE_ARGS, .seats = (uint32_t)users, .price = PRICE,
                                    .users = users, .balance = PRICE, .outside_queue = true };
        harness_crowd_open(*state, &harness_topologies[t], &spec, &run.cw);
        run.lives = calloc(users, sizeof *run.lives);
        bool *seq_seen = calloc(users + 1, sizeof *seq_seen);
        assert_true(run.lives && seq_seen);
        int64_t started = harness_now_ms();
        harness_run_threads(users, queue_user, &run);
        int64_t took = harness_now_ms() - started;
        /* One entry each, numbered 1..users without a gap, all admitted. */
        size_t paid = 0;
        for (size_t j = 0; j < users; j++) {
            const queue_life *life = &run.lives[j];
            if (life->err != USHER_ERR_OK)
                fail_msg("[%s] user %zu: %s", harness_topologies[t].name, j, usher_err_name(life->err));
            if (life->seq < 1 || life->seq > users || seq_seen[life->seq])
                fail_msg("[%s] user %zu entered as %llu: repeated or outside 1..%zu", harness_topologies[t].name, j,
                         (unsigned long long)life->seq, users);
            seq_seen[life->seq] = true;
            if (!life->admitted)
                fail_msg("[%s] user %zu (entry %llu) not admitted within %d ms", harness_topologies[t].name, j,
                         (unsigned long long)life->seq, ADMIT_DEADLINE_MS);
            paid += life->paid;
        }
        check_admission_times(run.lives, users, harness_topologies[t].name);
        print_message("[%s] %zu entries admitted through %d slots in %lld ms, %zu freed theirs by paying\n",
                      harness_topologies[t].name, users, MAX_ACTIVE, (long long)took, paid);
        free(run.lives);
        free(seq_seen);
        harness_crowd_finish(&run.cw, QUEUE_CHECK, "many users entering one queue");
        harness_fx_release(*state);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_many_users_entering_one_queue_are_admitted_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
