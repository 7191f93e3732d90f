/* A queue's operator controls (admin.queue.get/set/open) and the pre-queue
 * draw. The controls live in the queue record, so every process's tick
 * reads the same ones within one admission tick of a change. */
#include "store_rules.h"
#include <stdlib.h>
#include "store_queue_internal.h"

#define OLDEST_SCAN_MAX 65536   /* orders one report walks past dropped ones */

usher_err queue_draw(store_txn *t, uint64_t concert_id, rec_queue *q)
{
    uint64_t n = q->next_seq - 1;
    if (n > UINT32_MAX)
        return USHER_ERR_INTERNAL;
    uint64_t *rank_seq = n ? malloc((size_t)n * sizeof *rank_seq) : NULL;
    if (n && !rank_seq)
        return USHER_ERR_INTERNAL;
    store_rule_draw(rank_seq, n);
    usher_err err = queue_drops_clear(t, concert_id);
    for (uint64_t r = 1; r <= n && err == USHER_ERR_OK; r++) {
        uint64_t seq = rank_seq[r - 1];
        unsigned char key[QKEY_LEN];
        qkey(key, concert_id, r);
        rec_queue_entry e;
        err = store_put(t, DB_QUEUE_ORDER, key, sizeof key, &seq, sizeof seq, 0);
        if (err == USHER_ERR_OK && (err = entry_load(t, concert_id, seq, &e)) == USHER_ERR_OK) {
            e.order = r;
            err = entry_save(t, concert_id, seq, &e);
            if (err == USHER_ERR_OK && e.dropped)
                err = queue_drop_mark(t, concert_id, r);
        }
    }
    free(rank_seq);
    if (err != USHER_ERR_OK)
        return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
    q->drawn_n = n;
    q->flags |= QUEUE_DRAWN;
    q->admit_next = 1;   /* nobody was admitted (open refuses otherwise) */
    q->version++;
    return queue_save(t, concert_id, q);
}

/* How long the first WAITING entry has waited (0 when none is found). */
static usher_err oldest_wait(store_txn *t, uint64_t concert_id, const rec_queue *q,
                             int64_t now_ms, int64_t *wait_ms)
{
    *wait_ms = 0;
    if (q->waiting == 0)
        return USHER_ERR_OK;
    bool by_seq = queue_undrawn(q);   /* before the draw: earliest arrival */
    uint64_t from = by_seq ? 1 : q->admit_next;
    if (!by_seq && q->dropped_total > 0) {   /* the first order not dropped */
        usher_err err = queue_next_kept(t, concert_id, from, q->next_seq, &from);
        if (err != USHER_ERR_OK)
            return err;
    }
    for (uint64_t o = from; o < q->next_seq && o < from + OLDEST_SCAN_MAX; o++) {
        uint64_t seq = o;
        rec_queue_entry e;
        usher_err err = by_seq ? USHER_ERR_OK : queue_seq_at(t, concert_id, q, o, &seq);
        if (err == USHER_ERR_OK)
            err = entry_load(t, concert_id, seq, &e);
        if (err != USHER_ERR_OK)
            return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
        if (!e.dropped && e.active_until_ms == 0) {
            *wait_ms = now_ms > e.entered_at_ms ? now_ms - e.entered_at_ms : 0;
            return USHER_ERR_OK;
        }
    }
    return USHER_ERR_OK;
}

static usher_err report(store_txn *t, uint64_t concert_id, const rec_queue *q, int64_t now_ms,
                        store_queue_report *out)
{
    *out = (store_queue_report){
        .concert_id = concert_id, .waiting = q->waiting, .admitted_total = q->admitted_total,
        .max_active = q->max_active ? q->max_active : t->st->policy.max_active,
        .controls = { .max_active = q->max_active, .admit_rate_per_min = q->admit_rate_per_min,
                      .paused = (q->flags & QUEUE_PAUSED) != 0, .opens_at_ms = q->opens_at_ms },
    };
    usher_err err = queue_count_live(t, concert_id, now_ms, false, &out->active);
    return err != USHER_ERR_OK ? err : oldest_wait(t, concert_id, q, now_ms, &out->oldest_wait_ms);
}

/* The concert's queue record, or a fresh one (not stored). */
static usher_err load_or_fresh(store_txn *t, uint64_t concert_id, rec_queue *q)
{
    usher_err err = store_concert_exists(t, concert_id);
    if (err != USHER_ERR_OK)
        return err;
    *q = queue_fresh();
    err = queue_load(t, concert_id, q);
    return err == USHER_ERR_NOT_FOUND ? USHER_ERR_OK : err;
}

usher_err lmdb_queue_control_get(store_txn *txn, uint64_t concert_id, int64_t now_ms,
                                  store_queue_report *out)
{
    rec_queue q;
    usher_err err = load_or_fresh(txn, concert_id, &q);
    return err != USHER_ERR_OK ? err : report(txn, concert_id, &q, now_ms, out);
}

usher_err lmdb_queue_control_set(store_txn *txn, uint64_t concert_id,
                                  const store_queue_control_change *change, int64_t now_ms,
                                  store_queue_report *out, const char **bad_param)
{
    usher_err rule = store_rule_queue_controls(change, bad_param);
    if (rule != USHER_ERR_OK)
        return rule;
    rec_queue q;
    usher_err err = load_or_fresh(txn, concert_id, &q);
    if (err != USHER_ERR_OK)
        return err;
    if (change->set_max_active)
        q.max_active = change->max_active;
    if (change->set_rate)
        q.admit_rate_per_min = change->admit_rate_per_min;
    if (change->set_paused)
        q.flags = change->paused ? q.flags | QUEUE_PAUSED : q.flags & ~(uint32_t)QUEUE_PAUSED;
    q.version++;
    if ((err = queue_save(txn, concert_id, &q)) != USHER_ERR_OK)
        return err;
    return report(txn, concert_id, &q, now_ms, out);
}

usher_err lmdb_queue_open(store_txn *txn, uint64_t concert_id, int64_t opens_at_ms,
                           int64_t now_ms, store_queue_report *out, const char **bad_param)
{
    rec_queue q;
    usher_err err = load_or_fresh(txn, concert_id, &q);
    if (err != USHER_ERR_OK)
        return err;
    if (opens_at_ms <= now_ms || q.admitted_total > 0 || q.opens_at_ms != 0 ||
        (q.flags & QUEUE_DRAWN))
        return store_rule_refuse(bad_param, "opens_at");
    q.opens_at_ms = opens_at_ms;
    q.version++;
    if ((err = queue_save(txn, concert_id, &q)) != USHER_ERR_OK)
        return err;
    return report(txn, concert_id, &q, now_ms, out);
}
