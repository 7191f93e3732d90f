/* The housekeeping tick of the queues on PostgreSQL, as LMDB's
 * store_queue_tick.c: the idle walks (WAITING entries unseen for
 * --wait-idle are dropped, ACTIVE ones unseen for --active-idle expire),
 * each a range of the index on seen_at_ms, so a tick visits only entries
 * seen before the cut; then admission (store_pg_queue.c) of every busy
 * queue. The concerts are worked in concert order, each under its queues
 * row's lock taken once, so two hosts' ticks (and any other queue write)
 * never wait on each other in a circle, and the idle candidates are
 * checked again under the lock (a touch or an admission since the walk
 * read them leaves them be). */
#include <stdlib.h>
#include <string.h>
#include "store_pg_queue_internal.h"

#define IDLE_PER_TICK 10000   /* idle entries one tick acts on, per walk; the rest wait a tick */

typedef struct idle_entry {
    uint64_t concert_id, seq;
    bool active;              /* the ACTIVE walk; else the WAITING one */
} idle_entry;

typedef struct tick_work {
    idle_entry *idle;
    size_t n_idle, cap_idle;
    uint64_t *busy;
    size_t n_busy;
} tick_work;

static int idle_cmp(const void *a, const void *b)
{
    const idle_entry *x = a, *y = b;
    if (x->concert_id != y->concert_id) return x->concert_id < y->concert_id ? -1 : 1;
    if (x->active != y->active) return x->active ? 1 : -1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Reads the entries of one walk last seen before cut. */
static usher_err walk_idle(store_txn *t, bool active, int64_t cut, tick_work *w)
{
    pg_params p = { 0 };
    pg_p_i64(&p, cut);
    pg_p_i64(&p, IDLE_PER_TICK);
    PGresult *r;
    usher_err err = active
        ? pg_read(t, "SELECT concert_id, seq FROM queue_entries WHERE seen_at_ms < $1::bigint "
                     "AND NOT dropped AND NOT expired AND active_until_ms > 0 "
                     "ORDER BY seen_at_ms LIMIT $2::bigint", &p, &r)
        : pg_read(t, "SELECT concert_id, seq FROM queue_entries WHERE seen_at_ms < $1::bigint "
                     "AND NOT dropped AND NOT expired AND active_until_ms = 0 "
                     "ORDER BY seen_at_ms LIMIT $2::bigint", &p, &r);
    if (err != USHER_ERR_OK)
        return err;
    size_t rows = (size_t)PQntuples(r);
    if (w->n_idle + rows > w->cap_idle) {
        size_t cap = w->n_idle + rows;
        idle_entry *grown = realloc(w->idle, cap * sizeof *grown);
        if (!grown) {
            pg_done(t, r);
            return USHER_ERR_INTERNAL;
        }
        w->idle = grown;
        w->cap_idle = cap;
    }
    for (size_t i = 0; i < rows; i++)
        w->idle[w->n_idle++] = (idle_entry){ .concert_id = (uint64_t)pg_i64(r, (int)i, 0),
                                             .seq = (uint64_t)pg_i64(r, (int)i, 1),
                                             .active = active };
    pg_done(t, r);
    return USHER_ERR_OK;
}

/* The concerts admission visits: someone waits, or an ACTIVE entry is overdue. */
static usher_err read_busy(store_txn *t, int64_t now_ms, tick_work *w)
{
    pg_params p = { 0 };
    pg_p_i64(&p, now_ms);
    PGresult *r;
    usher_err err = pg_read(t,
        "SELECT concert_id FROM queues WHERE waiting > 0 UNION "
        "SELECT concert_id FROM queue_entries WHERE active_until_ms > 0 AND NOT expired "
        "AND active_until_ms <= $1::bigint ORDER BY 1", &p, &r);
    if (err != USHER_ERR_OK)
        return err;
    size_t rows = (size_t)PQntuples(r);
    w->busy = malloc((rows ? rows : 1) * sizeof *w->busy);
    if (!w->busy) {
        pg_done(t, r);
        return USHER_ERR_INTERNAL;
    }
    for (size_t i = 0; i < rows; i++)
        w->busy[i] = (uint64_t)pg_i64(r, (int)i, 0);
    w->n_busy = rows;
    pg_done(t, r);
    return USHER_ERR_OK;
}

/* Drops (or, active, expires) the idle entries seqs[0..n) of concert_id
 * still idle before cut (queue locked; q follows the row). */
static usher_err act_on_idle(store_txn *t, uint64_t concert_id, bool active, const uint64_t *seqs,
                             size_t n, int64_t cut, pg_queue *q)
{
    size_t cap = n * 21 + 3;
    char *buf = malloc(cap);
    if (!buf)
        return USHER_ERR_INTERNAL;
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    usher_err err = USHER_ERR_INTERNAL;
    PGresult *r = NULL;
    if (pg_p_i64_array(&p, seqs, n, buf, cap)) {
        pg_p_i64(&p, cut);
        if (active)
            err = pg_write(t,
                "UPDATE queue_entries SET expired = true WHERE concert_id = $1 "
                "AND seq = ANY ($2::bigint[]) AND active_until_ms > 0 AND NOT expired "
                "AND NOT dropped AND seen_at_ms < $3::bigint", &p, NULL);
        else
            err = pg_write(t,
                "WITH d AS (UPDATE queue_entries SET dropped = true WHERE concert_id = $1 "
                "AND seq = ANY ($2::bigint[]) AND active_until_ms = 0 AND NOT dropped "
                "AND NOT expired AND seen_at_ms < $3::bigint RETURNING 1), "
                "n AS (SELECT count(*) AS c FROM d) "
                "UPDATE queues q SET waiting = q.waiting - n.c, dropped_total = q.dropped_total + n.c, "
                "version = q.version + n.c FROM n WHERE q.concert_id = $1 RETURNING " PGQ_COLS,
                &p, &r);
    }
    free(buf);
    if (err == USHER_ERR_OK && r) {
        if (PQntuples(r) == 1)
            pgq_row(r, 0, 0, q);
        else
            err = USHER_ERR_INTERNAL;
        pg_done(t, r);
    }
    return err;
}

/* One concert's part of the tick: its idle entries idle[0..n), then admission. */
static usher_err tick_concert(store_txn *t, uint64_t concert_id, const idle_entry *idle, size_t n,
                              int64_t cut_wait, int64_t cut_active, int64_t now_ms,
                              bool throttled, uint32_t *count)
{
    pg_queue q;
    usher_err err = pgq_lock(t, concert_id, false, &q);
    if (err != USHER_ERR_OK)
        return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;   /* entries without a queue */
    uint64_t *seqs = malloc((n ? n : 1) * sizeof *seqs);
    if (!seqs)
        return USHER_ERR_INTERNAL;
    for (size_t i = 0; i < n && err == USHER_ERR_OK;) {
        bool active = idle[i].active;
        size_t k = 0;
        for (; i < n && idle[i].active == active; i++)
            seqs[k++] = idle[i].seq;
        err = act_on_idle(t, concert_id, active, seqs, k, active ? cut_active : cut_wait, &q);
    }
    free(seqs);
    if (err != USHER_ERR_OK)
        return err;
    uint32_t live;
    return pgq_admit_all(t, concert_id, now_ms, throttled, &q, &live, count);
}

usher_err pg_queue_tick(store_txn *txn, int64_t now_ms, const store_tick_opts *opts,
                        store_admitted *admitted)
{
    bool throttled = opts && opts->throttled;
    const store_policy *pol = &pg_txn_of(txn)->st->policy;
    if (admitted)
        memset(admitted, 0, sizeof *admitted);
    tick_work w = { 0 };
    int64_t cut_wait = now_ms - pol->wait_idle_ms, cut_active = now_ms - pol->active_idle_ms;
    usher_err err = USHER_ERR_OK;
    if (pol->wait_idle_ms > 0)
        err = walk_idle(txn, false, cut_wait, &w);
    if (err == USHER_ERR_OK && pol->active_idle_ms > 0)
        err = walk_idle(txn, true, cut_active, &w);
    if (err == USHER_ERR_OK)
        err = read_busy(txn, now_ms, &w);
    if (err == USHER_ERR_OK && w.n_idle > 1)
        qsort(w.idle, w.n_idle, sizeof *w.idle, idle_cmp);
    uint32_t count = 0;
    size_t i = 0, b = 0;   /* the two lists merged, in concert order */
    while (err == USHER_ERR_OK && (i < w.n_idle || b < w.n_busy)) {
        uint64_t c = i < w.n_idle ? w.idle[i].concert_id : UINT64_MAX;
        if (b < w.n_busy && w.busy[b] < c)
            c = w.busy[b];
        size_t from = i;
        while (i < w.n_idle && w.idle[i].concert_id == c)
            i++;
        while (b < w.n_busy && w.busy[b] == c)
            b++;
        uint32_t before = count;
        err = tick_concert(txn, c, w.idle ? w.idle + from : NULL, i - from, cut_wait, cut_active,
                           now_ms, throttled, &count);
        if (err == USHER_ERR_OK && admitted && count > before &&
            admitted->n < STORE_ADMITTED_CONCERTS_MAX) {
            admitted->concert[admitted->n].concert_id = c;
            admitted->concert[admitted->n++].admitted = count - before;
        }
    }
    free(w.idle);
    free(w.busy);
    if (err == USHER_ERR_OK && admitted)
        admitted->total = count;
    return err;
}
