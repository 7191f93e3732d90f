/* Setup: the concerts the chosen scenarios read and write, and the crowd: --waiting users, each registered,
 * charged and (for status and dates) entered into the status concert, where the first --max-active (100 by
 * default) become ACTIVE and the rest WAIT. Everything is pipelined: many chains of calls in flight at once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define SETUP_DEPTH 32u            /* chains in flight per connection */
#define SETUP_WIDTH_MAX 3000u      /* below the server's queue of waiting writes (4096) */
#define STATUS_PERFS 10u           /* performances of the status concert, read by `dates` */
#define ENTER_RATE_CEILING 50000.0 /* queue.enter per second `enter` could reach: sizes its concerts */
#define ENTER_CONCERTS_MAX 10000u
#define HOUR_MS (3600 * 1000LL)

typedef struct setup_ctx {
    pool *p;
    const options *o;
    crowd *cw;
    scenario_stats scratch;     /* setup's calls are timed too, but not reported */
    bool enter_status;          /* the crowd enters the status concert */
    uint64_t *concerts;         /* made by the concert batch: [status][hold][enter...] */
    size_t n_concerts;
    int64_t first_starts_at;
} setup_ctx;

/* One chain of calls in flight. */
typedef struct item {
    batch *b;
    size_t i;
    int step;
} item;

static setup_ctx *ctx_of(const item *it) { return it->b->ctx; }

static bool setup_failed(const char *what, usher_status status, const usher_reply *reply)
{
    fprintf(stderr, "usher-bench: setup: %s: %s: %s\n", what, usher_status_name(status),
            reply && reply->message ? reply->message : usher_errstr(status));
    return false;
}

static item *item_new(batch *b, size_t i)
{
    item *it = calloc(1, sizeof *it);
    if (!it) {
        batch_item_done(b, false);
        return NULL;
    }
    *it = (item){ .b = b, .i = i };
    return it;
}

static void item_end(item *it, bool ok)
{
    batch *b = it->b;
    free(it);
    batch_item_done(b, ok);
}

static void item_send(item *it, const char *method, call_done_fn *done)
{
    setup_ctx *sx = ctx_of(it);
    if (!pool_send(sx->p, (int)it->i, stats_method(&sx->scratch, method), method, done, it))
        item_end(it, setup_failed(method, USHER_ECLOSED, NULL));
}

/* ---- concerts: [0] status, [1] hold, then the enter concerts; 0 where not needed ---- */
static void on_concert(void *ctx, usher_status status, const usher_reply *reply)
{
    item *it = ctx;
    setup_ctx *sx = ctx_of(it);
    if (status != USHER_OK) {
        item_end(it, setup_failed("admin.concert.create", status, reply));
        return;
    }
    sx->concerts[it->i] = obj_u64(&reply->result, "concert_id");
    item_end(it, sx->concerts[it->i] != 0);
}

static void start_concert(batch *b, size_t i)
{
    setup_ctx *sx = b->ctx;
    bool wanted = i >= 2 || (i == 0 ? sx->enter_status : sx->o->scenarios & (1u << SC_RESERVE));
    if (!wanted) {
        batch_item_done(b, true);
        return;
    }
    item *it = item_new(b, i);
    if (!it)
        return;
    char title[64];
    snprintf(title, sizeof title, i == 0 ? "bench status" : i == 1 ? "bench reserve" : "bench enter-%zu", i - 2);
    msgpack_packer *pk = pool_params(sx->p);
    msgpack_pack_map(pk, 3);
    pack_key_str(pk, "admin", sx->o->admin);
    pack_key_str(pk, "title", title);
    pack_key_str(pk, "venue", "usher-bench");
    item_send(it, "admin.concert.create", on_concert);
}

/* ---- performances: STATUS_PERFS of the status concert, then BENCH_HOLD_PERFS of the hold concert ---- */
static void on_schedule(void *ctx, usher_status status, const usher_reply *reply)
{
    item *it = ctx;
    setup_ctx *sx = ctx_of(it);
    if (status != USHER_OK) {
        item_end(it, setup_failed("admin.schedule.create", status, reply));
        return;
    }
    if (it->i >= STATUS_PERFS)
        sx->cw->hold_perfs[it->i - STATUS_PERFS] = obj_u64(&reply->result, "schedule_id");
    item_end(it, true);
}

static void start_schedule(batch *b, size_t i)
{
    setup_ctx *sx = b->ctx;
    uint64_t concert = i < STATUS_PERFS ? sx->cw->status_concert : sx->cw->hold_concert;
    if (concert == 0) {
        batch_item_done(b, true);
        return;
    }
    item *it = item_new(b, i);
    if (!it)
        return;
    msgpack_packer *pk = pool_params(sx->p);
    msgpack_pack_map(pk, 5);
    pack_key_str(pk, "admin", sx->o->admin);
    pack_key_u64(pk, "concert_id", concert);
    pack_key_i64(pk, "starts_at", sx->first_starts_at + (int64_t)i * HOUR_MS);
    pack_key_i64(pk, "price", BENCH_PRICE_KRW);
    pack_key_u64(pk, "seats", BENCH_SEATS_PER_PERF);
    item_send(it, "admin.schedule.create", on_schedule);
}

/* ---- the crowd: register, charge, enter the status concert, enter the hold concert (the first 100) ---- */
enum { CROWD_REGISTER, CROWD_CHARGE, CROWD_ENTER_STATUS, CROWD_ENTER_HOLD, CROWD_DONE };

static void crowd_step(item *it);

static void on_crowd(void *ctx, usher_status status, const usher_reply *reply)
{
    static const char *const what[] = { "user.register", "wallet.charge", "queue.enter", "queue.enter" };
    item *it = ctx;
    setup_ctx *sx = ctx_of(it);
    crowd *cw = sx->cw;
    if (status != USHER_OK) {
        item_end(it, setup_failed(what[it->step], status, reply));
        return;
    }
    switch (it->step) {
    case CROWD_REGISTER:
        cw->session[it->i] = reply_strdup(reply, "session");
        it->step = CROWD_CHARGE;
        break;
    case CROWD_CHARGE:
        it->step = sx->enter_status ? CROWD_ENTER_STATUS : CROWD_ENTER_HOLD;
        break;
    case CROWD_ENTER_STATUS:
        cw->token[it->i] = reply_strdup(reply, "token");
        if (obj_str_is(&reply->result, "status", "ACTIVE"))
            cw->active[cw->n_active++] = (uint32_t)it->i;
        else
            cw->waiting[cw->n_waiting++] = (uint32_t)it->i;
        it->step = CROWD_ENTER_HOLD;
        break;
    case CROWD_ENTER_HOLD:
        cw->hold_token[it->i] = reply_strdup(reply, "token");
        if (obj_str_is(&reply->result, "status", "ACTIVE"))
            cw->hold_active[cw->n_hold_active++] = (uint32_t)it->i;
        it->step = CROWD_DONE;
        break;
    }
    crowd_step(it);
}

static void crowd_step(item *it)
{
    setup_ctx *sx = ctx_of(it);
    crowd *cw = sx->cw;
    if (it->step == CROWD_ENTER_HOLD && it->i >= cw->n_hold_users)
        it->step = CROWD_DONE;
    msgpack_packer *pk = pool_params(sx->p);
    switch (it->step) {
    case CROWD_REGISTER:
        msgpack_pack_map(pk, 0);
        item_send(it, "user.register", on_crowd);
        return;
    case CROWD_CHARGE:
        msgpack_pack_map(pk, 2);
        pack_key_str(pk, "session", cw->session[it->i]);
        pack_key_i64(pk, "amount", BENCH_CHARGE_KRW);
        item_send(it, "wallet.charge", on_crowd);
        return;
    case CROWD_ENTER_STATUS:
    case CROWD_ENTER_HOLD:
        msgpack_pack_map(pk, 2);
        pack_key_str(pk, "session", cw->session[it->i]);
        pack_key_u64(pk, "concert_id", it->step == CROWD_ENTER_STATUS ? cw->status_concert : cw->hold_concert);
        item_send(it, "queue.enter", on_crowd);
        return;
    default:
        item_end(it, true);
    }
}

static void start_crowd(batch *b, size_t i)
{
    item *it = item_new(b, i);
    if (it)
        crowd_step(it);
}

/* ---- the whole setup ---- */
static bool crowd_alloc(crowd *cw, size_t n, size_t n_hold)
{
    cw->n = n;
    cw->n_hold_users = n_hold;
    cw->session = calloc(n + 1, sizeof *cw->session);
    cw->token = calloc(n + 1, sizeof *cw->token);
    cw->waiting = calloc(n + 1, sizeof *cw->waiting);
    cw->active = calloc(n + 1, sizeof *cw->active);
    cw->hold_token = calloc(n_hold + 1, sizeof *cw->hold_token);
    cw->hold_active = calloc(n_hold + 1, sizeof *cw->hold_active);
    return cw->session && cw->token && cw->waiting && cw->active && cw->hold_token && cw->hold_active;
}

bool crowd_setup(pool *p, const options *o, crowd *cw)
{
    unsigned sc = o->scenarios;
    bool big = sc & (1u << SC_STATUS | 1u << SC_CHARGE | 1u << SC_ENTER | 1u << SC_WATCH);
    bool small = sc & (1u << SC_DATES | 1u << SC_RESERVE);
    size_t n = big ? (size_t)o->waiting : 0;
    if (small && n < BENCH_MAX_ACTIVE)
        n = BENCH_MAX_ACTIVE;
    if (n == 0)
        return true;
    setup_ctx *sx = calloc(1, sizeof *sx);
    if (!sx)
        return false;
    sx->p = p;
    sx->o = o;
    sx->cw = cw;
    sx->enter_status = sc & (1u << SC_STATUS | 1u << SC_DATES | 1u << SC_WATCH);
    sx->first_starts_at = bench_wall_ms() + 24 * HOUR_MS;
    size_t width = (size_t)o->connections * SETUP_DEPTH;
    if (width > SETUP_WIDTH_MAX)
        width = SETUP_WIDTH_MAX;
    uint64_t t0 = bench_mono_ns();
    bool ok = crowd_alloc(cw, n, sc & (1u << SC_RESERVE) ? BENCH_MAX_ACTIVE : 0);
    if (ok && (sc & (1u << SC_ENTER))) {
        double want = ceil((double)o->seconds * ENTER_RATE_CEILING / (double)n) + 1;
        cw->n_enter_concerts = want > ENTER_CONCERTS_MAX ? ENTER_CONCERTS_MAX : (size_t)want;
    }
    sx->n_concerts = 2 + cw->n_enter_concerts;
    sx->concerts = calloc(sx->n_concerts, sizeof *sx->concerts);
    ok = ok && sx->concerts;
    batch b = { .p = p, .width = width, .ctx = sx };
    if (ok) {
        b.total = sx->n_concerts;
        b.start = start_concert;
        ok = batch_run(&b);
    }
    if (ok) {
        cw->status_concert = sx->concerts[0];
        cw->hold_concert = sx->concerts[1];
        cw->enter_concerts = malloc((cw->n_enter_concerts + 1) * sizeof *cw->enter_concerts);
        ok = cw->enter_concerts != NULL;
        for (size_t i = 0; ok && i < cw->n_enter_concerts; i++)
            cw->enter_concerts[i] = sx->concerts[2 + i];
    }
    if (ok) {
        b.total = STATUS_PERFS + BENCH_HOLD_PERFS;
        b.start = start_schedule;
        ok = batch_run(&b);
    }
    if (ok) {
        b.total = n;
        b.start = start_crowd;
        ok = batch_run(&b);
    }
    double secs = (double)(bench_mono_ns() - t0) / 1e9;
    if (ok)
        fprintf(stderr, "usher-bench: setup: %zu users (%zu ACTIVE, %zu WAITING in the status concert), "
                        "%zu reserve users ACTIVE, %zu enter concerts, in %.1f s\n",
                n, cw->n_active, cw->n_waiting, cw->n_hold_active, cw->n_enter_concerts, secs);
    free(sx->concerts);
    free(sx);
    return ok;
}

void crowd_free(crowd *cw)
{
    for (size_t i = 0; cw->session && i < cw->n; i++) {
        free(cw->session[i]);
        free(cw->token[i]);
    }
    for (size_t i = 0; cw->hold_token && i < cw->n_hold_users; i++)
        free(cw->hold_token[i]);
    free(cw->session);
    free(cw->token);
    free(cw->waiting);
    free(cw->active);
    free(cw->hold_token);
    free(cw->hold_active);
    free(cw->enter_concerts);
    memset(cw, 0, sizeof *cw);
}
