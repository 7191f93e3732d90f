/* kill -9 in the middle of a flash sale: writes are in flight on many
 * pipelined connections when usherd is killed at a random instant; it is
 * restarted on the same data dir and every write a client saw acknowledged
 * must be there, whole; unanswered ones absent or whole; usher-check clean.
 * 20 kills (USHER_STRESS=1: 200), cycling --sync full, meta and none (the
 * page cache survives a killed process, so every mode must pass this). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "../crash/crash_check.h"
#include "../crash/crash_sale.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define KILLS 20
#define KILLS_STRESS 200
#define SCHEDULES 8
#define SEATS 1000              /* STORE_SEATS_MAX */
#define PRICE_KRW 5000
#define CONNS 8
#define USERS_MAX 64
#define KILL_DELAY_MIN_MS 5
#define KILL_DELAY_SPAN_MS 150

static const char *const sync_modes[] = { "full", "meta", "none" };

typedef struct killer {
    harness_server *hs;
    int64_t kill_at_ms;
    bool killed;
} killer;

/* The sale's stop hook: kill -9 once the instant has come. */
static bool kill_when_due(void *ctx)
{
    killer *k = ctx;
    if (k->killed || harness_mono_ms() < k->kill_at_ms)
        return false;
    int status = harness_kill(k->hs, SIGKILL);
    if (status < 0 || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("usherd did not die of SIGKILL (status %d)", status);
    k->killed = true;
    return true;
}

/* ---- reading one user's state through the protocol ---- */

static char res_status(const msgpack_object *o)
{
    return harness_obj_str_is(o, "status", "HELD")        ? 'H'
           : harness_obj_str_is(o, "status", "CONFIRMED") ? 'C'
           : harness_obj_str_is(o, "status", "EXPIRED")   ? 'E'
           : harness_obj_str_is(o, "status", "CANCELLED") ? 'X'
                                                          : '?';
}

/* Reads every page of a paged list method; calls take() per element. */
static void read_pages(harness_conn *c, const char *method, const char *session, const char *array_key,
                       const char *id_key, crash_view *v,
                       void (*take)(crash_view *v, const msgpack_object *o))
{
    uint64_t before = 0;
    for (;;) {
        harness_reply r;
        if (before)
            harness_callf(c, &r, method, "{\"session\":\"%s\",\"limit\":500,\"before\":%llu}", session,
                          (unsigned long long)before);
        else
            harness_callf(c, &r, method, "{\"session\":\"%s\",\"limit\":500}", session);
        harness_expect(&r, OK);
        size_t n = 0;
        const msgpack_object *first = harness_get_array(&r, array_key, &n);
        for (size_t i = 0; i < n; i++) {
            take(v, &first[i]);
            before = harness_obj_u64(&first[i], id_key);
        }
        harness_reply_free(&r);
        if (n < 500)
            return;
    }
}

static void take_entry(crash_view *v, const msgpack_object *o)
{
    if (v->nledger >= CRASH_VIEW_MAX)
        fail_msg("more than %d ledger entries", CRASH_VIEW_MAX);
    struct crash_view_entry *e = &v->ledger[v->nledger++];
    bool charge = harness_obj_str_is(o, "kind", "CHARGE");
    e->kind = charge ? STORE_LEDGER_CHARGE : STORE_LEDGER_PAYMENT;
    e->amount_krw = harness_obj_i64(o, "amount");
    e->balance_after_krw = harness_obj_i64(o, "balance_after");
    e->payment_id = charge ? 0 : harness_obj_u64(o, "payment_id");
}

static void take_reservation(crash_view *v, const msgpack_object *o)
{
    if (v->nres >= CRASH_VIEW_MAX)
        fail_msg("more than %d reservations", CRASH_VIEW_MAX);
    struct crash_view_res *r = &v->res[v->nres++];
    r->reservation_id = harness_obj_u64(o, "reservation_id");
    r->schedule_id = harness_obj_u64(o, "schedule_id");
    r->seat_no = (uint32_t)harness_obj_u64(o, "seat_no");
    r->price_krw = harness_obj_i64(o, "price");
    r->status = res_status(o);
    r->payment_id = 0;          /* reservation.list does not say */
}

static void take_payment(crash_view *v, const msgpack_object *o)
{
    if (v->npay >= CRASH_VIEW_MAX)
        fail_msg("more than %d payments", CRASH_VIEW_MAX);
    struct crash_view_pay *p = &v->pay[v->npay++];
    p->payment_id = harness_obj_u64(o, "payment_id");
    p->amount_krw = harness_obj_i64(o, "amount");
    size_t n = 0;
    const msgpack_object *ids = harness_obj_array(o, "reservation_ids", &n);
    if (n > STORE_HOLDS_MAX)
        fail_msg("payment %llu pays %zu reservations", (unsigned long long)p->payment_id, n);
    p->n = n;
    for (size_t i = 0; i < n; i++)
        p->reservation_ids[i] = ids[i].via.u64;
}

static void read_view(harness_conn *c, const crash_user *u, crash_view *v)
{
    v->nledger = v->nres = v->npay = 0;
    harness_reply r;
    harness_callf(c, &r, "auth.login", "{\"user_id\":\"%s\",\"secret\":\"%s\"}", u->user_id, u->secret);
    v->exists = r.err == USHER_ERR_OK;
    harness_reply_free(&r);
    v->balance_krw = harness_balance(c, u->session);
    read_pages(c, "wallet.history", u->session, "entries", "entry_id", v, take_entry);
    read_pages(c, "reservation.list", u->session, "reservations", "reservation_id", v, take_reservation);
    read_pages(c, "payment.list", u->session, "payments", "payment_id", v, take_payment);
}

/* Every queue entry acknowledged in this round still answers queue.status. */
static size_t check_queue_tokens(harness_conn *c, const crash_sale *s, size_t first_op, size_t *checked)
{
    size_t bad = 0;
    for (size_t i = first_op; i < s->nops; i++) {
        const crash_op *op = &s->ops[i];
        if (op->kind != CRASH_OP_ENTER || op->outcome != CRASH_OK)
            continue;
        harness_reply r;
        harness_callf(c, &r, "queue.status", "{\"token\":\"%s\"}", op->token);
        (*checked)++;
        if (r.err != USHER_ERR_OK) {
            fprintf(stderr, "VIOLATION: an acknowledged queue entry of user %s answers %s\n",
                    s->users[op->user].user_id, r.code);
            bad++;
        }
        harness_reply_free(&r);
    }
    return bad;
}

/* Live holds left by a round (a hold whose payment got no reply), to cancel
 * so the users stay under --max-holds. */
typedef struct orphans {
    size_t n, cap;
    struct orphan { size_t user; uint64_t reservation_id; } *list;
} orphans;

static void orphans_add(orphans *o, const crash_view *v, size_t ui)
{
    for (size_t r = 0; r < v->nres; r++) {
        if (v->res[r].status != 'H')
            continue;
        if (o->n == o->cap) {
            o->cap = o->cap ? o->cap * 2 : 64;
            o->list = realloc(o->list, o->cap * sizeof *o->list);
            if (!o->list)
                fail_msg("out of memory");
        }
        o->list[o->n++] = (struct orphan){ ui, v->res[r].reservation_id };
    }
}

/* Cancels them, pipelined on one connection. */
static void orphans_cancel(harness_conn *c, const crash_sale *s, orphans *o)
{
    uint32_t first = c->next_msgid;
    for (size_t i = 0; i < o->n; i++)
        harness_sendf(c, "reservation.cancel", "{\"session\":\"%s\",\"reservation_id\":%llu}",
                      s->users[o->list[i].user].session, (unsigned long long)o->list[i].reservation_id);
    for (size_t i = 0; i < o->n; i++) {
        harness_reply r;
        harness_recv(c, first + (uint32_t)i, &r);
        harness_expect(&r, OK);
        harness_reply_free(&r);
    }
    o->n = 0;
}

static void test_kill_nine_mid_sale_keeps_every_acknowledged_write(void **state)
{
    harness_fixture *fx = *state;
    uint64_t seed = crash_seed("test_crash_kill");
    uint64_t rng = seed;
    int kills = crash_stress() ? KILLS_STRESS : KILLS;
    /* a sanitized usherd serves several times slower: give each round the
     * same amount of work before the kill */
    const char *sanitized = getenv("USHER_SANITIZED");
    int slow = sanitized && *sanitized ? 4 : 1;
    const char *fixed = "--max-active 100000 --hold-ttl 10m";
    char args[sizeof ((harness_server *)0)->extra_args];
    snprintf(args, sizeof args, "--sync full %s", fixed);
    harness_server *hs = harness_fx_start(fx, args);
    harness_conn *admin_conn = harness_connect(hs->port);
    const char *admin = harness_admin_token(hs);
    uint64_t concert_id, schedule_ids[SCHEDULES];
    int64_t starts_at = harness_now_ms() + 86400000;
    harness_make_concert(admin_conn, admin, SEATS, PRICE_KRW, starts_at, &concert_id, &schedule_ids[0]);
    for (size_t i = 1; i < SCHEDULES; i++)
        schedule_ids[i] = harness_make_schedule(admin_conn, admin, concert_id, SEATS, PRICE_KRW,
                                                starts_at + (int64_t)i * 3600000);
    harness_conn_free(admin_conn);

    crash_sale sale;
    crash_sale_init(&sale, concert_id, schedule_ids, SCHEDULES, SEATS, seed);
    crash_view *view = calloc(1, sizeof *view);
    orphans orphan_holds = { 0 };
    if (!view)
        fail_msg("out of memory");
    crash_tally tally = { 0 };
    size_t queue_checked = 0, queue_bad = 0, kills_in_flight = 0;
    int64_t t0 = harness_mono_ms();
    for (int round = 0; round < kills; round++) {
        harness_conn *conns[CONNS];
        for (size_t i = 0; i < CONNS; i++)
            conns[i] = harness_fx_connect(fx, hs->port);
        int delay_ms = slow * (KILL_DELAY_MIN_MS + (int)(crash_rand(&rng) % KILL_DELAY_SPAN_MS));
        killer k = { .hs = hs, .kill_at_ms = harness_mono_ms() + delay_ms };
        size_t first_op = sale.nops;
        crash_run_plan plan = {
            .users_target = 16 + (size_t)round * 4 < USERS_MAX ? 16 + (size_t)round * 4 : USERS_MAX,
            .chain_ops = 400, .charges = 150, .stop = kill_when_due, .stop_ctx = &k, .drain_ms = 3000,
        };
        crash_sale_run(&sale, conns, CONNS, &plan);
        if (!k.killed)      /* the round's budget ran out first: kill it now */
            kill_when_due(&(killer){ .hs = hs, .kill_at_ms = 0 });
        for (size_t i = 0; i < CONNS; i++) {
            harness_conn_disconnect(conns[i]);
            frame_reader_free(&conns[i]->reader);   /* 200 kills keep 1,600 of them */
        }
        crash_sale_counts n = crash_sale_count(&sale, first_op);
        kills_in_flight += k.killed && n.no_reply > 0;

        /* restart in the next mode, on the same data dir */
        snprintf(hs->extra_args, sizeof hs->extra_args, "--sync %s %s",
                 sync_modes[(round + 1) % 3], fixed);
        harness_restart(hs);
        harness_usher_check(hs->data_dir, "--max-active 100000");
        harness_conn *c = harness_fx_connect(fx, hs->port);
        char where[32];
        snprintf(where, sizeof where, "kill %d", round + 1);
        size_t before = tally.violations;
        for (size_t ui = 0; ui < sale.nusers; ui++) {
            read_view(c, &sale.users[ui], view);
            crash_check_user(&sale, ui, view, INT64_MAX, INT64_MAX, where, &tally);
            orphans_add(&orphan_holds, view, ui);
        }
        queue_bad += check_queue_tokens(c, &sale, first_op, &queue_checked);
        printf("  kill %2d (--sync %s) after %3d ms: %4zu acknowledged, %3zu refused, %3zu no reply, "
               "%zu violations\n", round + 1, sync_modes[round % 3], delay_ms, n.ok, n.refused,
               n.no_reply, tally.violations - before);
        orphans_cancel(c, &sale, &orphan_holds);
        harness_conn_disconnect(c);
    }
    crash_sale_counts all = crash_sale_count(&sale, 0);
    printf("  %d kills survived in %lld ms: %zu users, %zu operations (%zu acknowledged: %zu registers, "
           "%zu charges, %zu queue entries, %zu holds, %zu payments; %zu refused; %zu no reply); "
           "%zu judgements over all kills (%zu of acknowledged writes; of unanswered: %zu present whole, %zu absent); "
           "%zu queue tokens rechecked; kills with writes in flight: %zu\n",
           kills, (long long)(harness_mono_ms() - t0), sale.nusers, sale.nops, all.ok,
           all.ok_by_kind[CRASH_OP_REGISTER], all.ok_by_kind[CRASH_OP_CHARGE],
           all.ok_by_kind[CRASH_OP_ENTER], all.ok_by_kind[CRASH_OP_HOLD], all.ok_by_kind[CRASH_OP_PAY],
           all.refused, all.no_reply, tally.checked, tally.must_present, tally.may_present,
           tally.may_absent, queue_checked, kills_in_flight);
    free(view);
    free(orphan_holds.list);
    crash_sale_free(&sale);
    assert_int_equal(tally.violations, 0);
    assert_int_equal(queue_bad, 0);
    /* the test is about writes in flight: the kill comes right after a turn
     * of sends, so nearly every kill must catch some */
    assert_true(kills_in_flight * 4 >= (size_t)kills * 3);
    assert_true(all.ok_by_kind[CRASH_OP_PAY] > 0 && all.ok_by_kind[CRASH_OP_CHARGE] > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_kill_nine_mid_sale_keeps_every_acknowledged_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
