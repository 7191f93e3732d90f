/* The closed-loop scenarios: connections x depth virtual clients, each sending its next call when the reply
 * to its last one arrives, for --seconds. What each one asks, and of whom, models the crowd (see --help). */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct run run;

/* One virtual client. */
typedef struct vclient {
    run *r;
    int conn;
    uint64_t rng;
    uint64_t calls;
    uint64_t cancel_id; /* reserve: the hold to cancel next, 0 when none */
    uint32_t hold_user; /* reserve: crowd index of the ACTIVE user it reserves as */
} vclient;

/* Packs and sends vc's next call; false when the scenario has nothing left to ask. */
typedef bool send_fn(vclient *vc);

struct run {
    pool *p;
    const options *o;
    const crowd *cw;
    scenario_stats *ss;
    send_fn *send;
    method_stats *main, *second;
    uint64_t enter_next;  /* enter: the next (concert, user) pair, as concert * n + user */
    bool stopping, exhausted;
    ev_timer deadline;
};

static void on_done(void *ctx, usher_status status, const usher_reply *reply);

static bool send_main(vclient *vc, method_stats *ms)
{
    return pool_send(vc->r->p, vc->conn, ms, ms->method, on_done, vc);
}

static bool send_ping(vclient *vc)
{
    msgpack_pack_map(pool_params(vc->r->p), 0);
    return send_main(vc, vc->r->main);
}

static bool send_status(vclient *vc)
{
    const crowd *cw = vc->r->cw;
    uint32_t u = cw->waiting[bench_rand(&vc->rng) % cw->n_waiting];
    msgpack_packer *pk = pool_params(vc->r->p);
    msgpack_pack_map(pk, 1);
    pack_key_str(pk, "token", cw->token[u]);
    return send_main(vc, vc->r->main);
}

static bool send_dates(vclient *vc)
{
    const crowd *cw = vc->r->cw;
    uint32_t u = cw->active[bench_rand(&vc->rng) % cw->n_active];
    msgpack_packer *pk = pool_params(vc->r->p);
    msgpack_pack_map(pk, 2);
    pack_key_str(pk, "token", cw->token[u]);
    pack_key_u64(pk, "concert_id", cw->status_concert);
    return send_main(vc, vc->r->main);
}

static bool send_charge(vclient *vc)
{
    const crowd *cw = vc->r->cw;
    size_t u = bench_rand(&vc->rng) % cw->n;
    char request_id[USHER_REQUEST_ID_MAX + 1];
    snprintf(request_id, sizeof request_id, "bench-%p-%llu", (void *)vc, (unsigned long long)vc->calls);
    msgpack_packer *pk = pool_params(vc->r->p);
    msgpack_pack_map(pk, 3);
    pack_key_str(pk, "session", cw->session[u]);
    pack_key_i64(pk, "amount", 1);
    pack_key_str(pk, "request_id", request_id);
    return send_main(vc, vc->r->main);
}

/* Crowd user i enters concert k for the pairs (k, i) in order: nobody enters a queue twice. */
static bool send_enter(vclient *vc)
{
    run *r = vc->r;
    const crowd *cw = r->cw;
    uint64_t k = r->enter_next / cw->n, u = r->enter_next % cw->n;
    if (k >= cw->n_enter_concerts) {
        r->exhausted = true;
        return false;
    }
    r->enter_next++;
    msgpack_packer *pk = pool_params(r->p);
    msgpack_pack_map(pk, 2);
    pack_key_str(pk, "session", cw->session[u]);
    pack_key_u64(pk, "concert_id", cw->enter_concerts[k]);
    return send_main(vc, r->main);
}

/* A random seat of a random performance (or, with --hot K, one of seats 1..K of the first), then the
 * cancel of the hold it got, so the seats stay free and the run can last. */
static bool send_reserve(vclient *vc)
{
    run *r = vc->r;
    const crowd *cw = r->cw;
    msgpack_packer *pk = pool_params(r->p);
    if (vc->cancel_id) {
        msgpack_pack_map(pk, 2);
        pack_key_str(pk, "session", cw->session[vc->hold_user]);
        pack_key_u64(pk, "reservation_id", vc->cancel_id);
        return send_main(vc, r->second);
    }
    uint64_t x = bench_rand(&vc->rng);
    unsigned perf = r->o->hot ? 0 : (unsigned)(x % BENCH_HOLD_PERFS);
    unsigned seat = r->o->hot ? (unsigned)((x >> 20) % (unsigned)r->o->hot)
                              : (unsigned)((x >> 20) % BENCH_SEATS_PER_PERF);
    msgpack_pack_map(pk, 3);
    pack_key_str(pk, "token", cw->hold_token[vc->hold_user]);
    pack_key_u64(pk, "schedule_id", cw->hold_perfs[perf]);
    pack_key_u64(pk, "seat_no", seat + 1);
    return send_main(vc, r->main);
}

static void vclient_next(vclient *vc)
{
    run *r = vc->r;
    if (r->stopping)
        return;
    vc->calls++;
    if (!r->send(vc))
        r->stopping = true;
}

static void on_done(void *ctx, usher_status status, const usher_reply *reply)
{
    vclient *vc = ctx;
    run *r = vc->r;
    if (r->send == send_reserve) {
        if (vc->cancel_id)
            vc->cancel_id = 0; /* cancelled, or already gone: either way the seat is free */
        else if (status == USHER_OK)
            vc->cancel_id = obj_u64(&reply->result, "reservation_id");
    }
    if (status >= USHER_EIO && status != USHER_ETIMEOUT)
        r->stopping = true; /* the connection is gone */
    vclient_next(vc);
    if (r->p->inflight == 0)
        ev_break(r->p->loop, EVBREAK_ONE);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    run *r = w->data;
    r->stopping = true;
}

static const char *const MAIN_METHOD[SC_COUNT] = {
    [SC_PING] = "sys.ping", [SC_STATUS] = "queue.status", [SC_DATES] = "concert.dates",
    [SC_CHARGE] = "wallet.charge", [SC_ENTER] = "queue.enter", [SC_RESERVE] = "seat.reserve",
};

/* Why the crowd cannot serve scenario sc, or NULL when it can. */
static const char *unfit(const crowd *cw, unsigned sc)
{
    switch (sc) {
    case SC_STATUS: return cw->n_waiting ? NULL : "no WAITING users (is --waiting above the server's --max-active?)";
    case SC_DATES: return cw->n_active ? NULL : "no ACTIVE users";
    case SC_CHARGE: return cw->n ? NULL : "no users";
    case SC_ENTER: return cw->n && cw->n_enter_concerts ? NULL : "no users";
    case SC_RESERVE: return cw->n_hold_active ? NULL : "no ACTIVE users in the reserve concert";
    default: return NULL;
    }
}

void scenario_run(pool *p, const options *o, const crowd *cw, unsigned sc, scenario_stats *ss)
{
    static send_fn *const SEND[SC_COUNT] = {
        [SC_PING] = send_ping, [SC_STATUS] = send_status, [SC_DATES] = send_dates,
        [SC_CHARGE] = send_charge, [SC_ENTER] = send_enter, [SC_RESERVE] = send_reserve,
    };
    ss->name = SCENARIO_NAMES[sc];
    ss->method = MAIN_METHOD[sc];
    ss->ran = true;
    const char *why = unfit(cw, sc);
    if (why) {
        fprintf(stderr, "usher-bench: %s: %s\n", ss->name, why);
        return;
    }
    run r = { .p = p, .o = o, .cw = cw, .ss = ss, .send = SEND[sc] };
    r.main = stats_method(ss, MAIN_METHOD[sc]);
    if (sc == SC_RESERVE)
        r.second = stats_method(ss, "reservation.cancel");
    size_t n = (size_t)o->connections * (size_t)o->depth;
    vclient *vcs = calloc(n, sizeof *vcs);
    if (!vcs)
        return;
    for (size_t i = 0; i < n; i++)
        vcs[i] = (vclient){ .r = &r, .conn = (int)(i % (size_t)o->connections), .rng = 0x9e3779b97f4a7c15ull * (i + 1),
                            .hold_user = cw->n_hold_active ? cw->hold_active[i % cw->n_hold_active] : 0 };
    ev_now_update(p->loop);
    ev_timer_init(&r.deadline, on_deadline, o->seconds, 0.);
    r.deadline.data = &r;
    ev_timer_start(p->loop, &r.deadline);
    uint64_t t0 = bench_mono_ns();
    for (size_t i = 0; i < n && !r.stopping; i++)
        vclient_next(&vcs[i]);
    if (p->inflight > 0)
        ev_run(p->loop, 0);
    ss->secs = (double)(bench_mono_ns() - t0) / 1e9;
    ev_timer_stop(p->loop, &r.deadline);
    ss->stopped_early = r.exhausted;
    if (r.exhausted)
        fprintf(stderr, "usher-bench: %s: ran out of fresh queues after %.1f s; stopped early\n", ss->name,
                ss->secs);
    free(vcs);
}
