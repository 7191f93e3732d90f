/* The connection pool: o->connections libusher async handles on one loop (connection i to target i mod
 * n_targets), each call timed from send to reply and filed under its method; and the batch runner setup uses to keep many chains of calls in flight. */
#include <stdlib.h>

#include "bench.h"

/* One call in flight. */
typedef struct call_rec {
    pool *p;
    method_stats *ms;
    uint64_t sent_ns;
    call_done_fn *done;
    void *ctx;
} call_rec;

static void on_reply(usher_async *ac, usher_status status, const usher_reply *reply, void *privdata)
{
    (void)ac;
    call_rec *rec = privdata;
    pool *p = rec->p;
    p->inflight--;
    if (reply)
        hist_add(&rec->ms->lat, bench_mono_ns() - rec->sent_ns);
    if (status == USHER_OK)
        rec->ms->ok++;
    else
        rec->ms->by_status[(unsigned)status < STATUS_SLOTS ? (unsigned)status : USHER_INTERNAL]++;
    call_done_fn *done = rec->done;
    void *ctx = rec->ctx;
    free(rec);
    if (!p->closing)
        done(ctx, status, reply);
}

msgpack_packer *pool_params(pool *p)
{
    msgpack_sbuffer_clear(&p->params);
    return &p->pk;
}

bool pool_send(pool *p, int conn, method_stats *ms, const char *method, call_done_fn *done, void *ctx)
{
    call_rec *rec = malloc(sizeof *rec);
    if (!rec)
        return false;
    *rec = (call_rec){ .p = p, .ms = ms, .done = done, .ctx = ctx };
    for (int tries = 0; tries < p->n; tries++) {
        usher_async *ac = p->conns[(unsigned)(conn + tries) % (unsigned)p->n];
        if (!ac)
            continue;
        rec->sent_ns = bench_mono_ns();
        if (usher_async_call_packed(ac, method, p->params.data, p->params.size, on_reply, rec) == USHER_OK) {
            p->inflight++;
            return true;
        }
    }
    free(rec);
    return false;
}

static void on_connect(usher_async *ac, usher_status status)
{
    pool *p = usher_async_data(ac);
    if (status == USHER_OK)
        p->connected++;
    else
        fprintf(stderr, "usher-bench: connect: %s\n", usher_errstr(status));
    if (--p->pending_connects == 0)
        ev_break(p->loop, EVBREAK_ONE);
}

static void on_disconnect(usher_async *ac, usher_status status)
{
    pool *p = usher_async_data(ac);
    if (status != USHER_OK && status != USHER_ECLOSED)
        fprintf(stderr, "usher-bench: connection lost: %s\n", usher_errstr(status));
    for (int i = 0; i < p->n; i++)
        if (p->conns[i] == ac)
            p->conns[i] = NULL;
    if (--p->live == 0 && p->closing)
        ev_break(p->loop, EVBREAK_ONE);
}

const bench_target *bench_target_of(const options *o, int conn)
{
    return &o->targets[(unsigned)conn % (unsigned)o->n_targets];
}

bool pool_open(pool *p, struct ev_loop *loop, const options *o)
{
    *p = (pool){ .loop = loop, .o = o, .n = o->connections };
    msgpack_sbuffer_init(&p->params);
    msgpack_packer_init(&p->pk, &p->params, msgpack_sbuffer_write);
    p->conns = calloc((size_t)p->n, sizeof *p->conns);
    if (!p->conns)
        return false;
    for (int i = 0; i < p->n; i++) {
        const bench_target *t = bench_target_of(o, i);
        usher_async *ac = usher_async_connect(loop, t->host, t->port, BENCH_CALL_TIMEOUT_MS);
        if (!ac)
            return false;
        p->conns[i] = ac;
        usher_async_set_data(ac, p);
        usher_async_set_connect_cb(ac, on_connect);
        usher_async_set_disconnect_cb(ac, on_disconnect);
        usher_async_set_timeout(ac, BENCH_CALL_TIMEOUT_MS);
        p->live++;
        p->pending_connects++;
    }
    ev_run(loop, 0);
    return p->connected == p->n;
}

void pool_close(pool *p)
{
    p->closing = true;
    for (int i = 0; p->conns && i < p->n; i++)
        if (p->conns[i])
            usher_async_free(p->conns[i]);
    if (p->live > 0)
        ev_run(p->loop, 0);
    free(p->conns);
    p->conns = NULL;
    msgpack_sbuffer_destroy(&p->params);
}

/* ---- batch ---- */
static void batch_start_next(batch *b)
{
    while (!b->failed && b->next < b->total && b->next - b->done < b->width)
        b->start(b, b->next++);
}

void batch_item_done(batch *b, bool ok)
{
    b->done++;
    if (!ok)
        b->failed = true;
    batch_start_next(b);
    if (b->done == b->next && (b->failed || b->next == b->total))
        ev_break(b->p->loop, EVBREAK_ONE);
}

bool batch_run(batch *b)
{
    b->next = b->done = 0;
    b->failed = false;
    if (b->total == 0)
        return true;
    batch_start_next(b);
    if (b->done < b->next)
        ev_run(b->p->loop, 0);
    return !b->failed && b->done == b->total;
}

/* ---- one call at a time, for the few calls whose order matters ---- */
typedef struct wait_call {
    pool *p;
    bool done;
    usher_status status;
    call_take_fn *take;
    void *ctx;
} wait_call;

static void on_wait_done(void *ctx, usher_status status, const usher_reply *reply)
{
    wait_call *w = ctx;
    w->done = true;
    w->status = status;
    if (status == USHER_OK && w->take)
        w->take(w->ctx, reply);
    else if (reply && reply->message)
        fprintf(stderr, "usher-bench: %s: %s\n", usher_status_name(status), reply->message);
    ev_break(w->p->loop, EVBREAK_ONE);
}

usher_status pool_call_wait(pool *p, method_stats *ms, const char *method, call_take_fn *take, void *ctx)
{
    wait_call w = { .p = p, .take = take, .ctx = ctx };
    if (!pool_send(p, 0, ms, method, on_wait_done, &w))
        return USHER_ECLOSED;
    while (!w.done)
        ev_run(p->loop, 0);
    return w.status;
}
