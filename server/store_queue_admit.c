/* Admission: expiring lapsed slots, filling free ones in order within a
 * queue's controls, and the two ways an entry leaves early (expired while
 * ACTIVE, dropped while WAITING). The rate limit is a stored next-admission
 * time advanced by 60 s / rate per admission; it may lag now by at most
 * one admission interval or one tick (--admit-interval), whichever is
 * longer, so a quiet spell earns no burst and admissions are spread over
 * the ticks of the minute. */
#include "store_queue_internal.h"

usher_err entry_expire(store_txn *t, uint64_t concert_id, uint64_t seq)
{
    rec_queue_entry e;
    usher_err err = entry_load(t, concert_id, seq, &e);
    if (err != USHER_ERR_OK)
        return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
    if (!e.expired) {
        e.expired = 1;
        if ((err = entry_save(t, concert_id, seq, &e)) != USHER_ERR_OK ||
            (err = idle_del(t, QUEUE_IDLE_ACTIVE, e.seen_at_ms, concert_id, seq)) != USHER_ERR_OK)
            return err;
    }
    unsigned char key[QKEY_LEN];
    qkey(key, concert_id, seq);
    return store_del(t, DB_QUEUE_ACTIVE, key, sizeof key);
}

usher_err entry_drop(store_txn *t, uint64_t concert_id, uint64_t seq, rec_queue_entry *e,
                     rec_queue *q)
{
    e->dropped = 1;
    usher_err err = entry_save(t, concert_id, seq, e);
    if (err == USHER_ERR_OK)
        err = idle_del(t, QUEUE_IDLE_WAITING, e->seen_at_ms, concert_id, seq);
    if (err == USHER_ERR_OK && e->order != 0)
        err = queue_drop_mark(t, concert_id, e->order);
    if (err != USHER_ERR_OK)
        return err;
    q->waiting--;
    q->dropped_total++;
    q->version++;
    return USHER_ERR_OK;
}

usher_err queue_count_live(store_txn *t, uint64_t concert_id, int64_t now_ms, bool expire_overdue,
                           uint64_t *live)
{
    *live = 0;
    MDB_cursor *cur;
    usher_err err = store_cursor(t, DB_QUEUE_ACTIVE, &cur);
    if (err != USHER_ERR_OK)
        return err;
    unsigned char at[QKEY_LEN];
    qkey(at, concert_id, 0);
    MDB_val k = { sizeof at, at }, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        if (k.mv_size != QKEY_LEN || key_get_u64(k.mv_data) != concert_id)
            break;
        int64_t active_until;
        memcpy(&active_until, v.mv_data, sizeof active_until);
        if (active_until > now_ms || !expire_overdue) {
            *live += active_until > now_ms;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        uint64_t seq = key_get_u64((const unsigned char *)k.mv_data + 8);
        if ((err = entry_expire(t, concert_id, seq)) != USHER_ERR_OK)
            return err;
        qkey(at, concert_id, seq + 1);   /* the cursor moved under us: seek past it */
        k = (MDB_val){ sizeof at, at };
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(t->st, rc, "queue_active");
    return USHER_ERR_OK;
}

/* Admits the WAITING entry seq: the entry, both indexes, q's counters. */
static usher_err admit_one(store_txn *t, uint64_t concert_id, uint64_t seq, rec_queue_entry *e,
                           int64_t now_ms, rec_queue *q)
{
    const store_policy *p = &t->st->policy;
    usher_err err = idle_del(t, QUEUE_IDLE_WAITING, e->seen_at_ms, concert_id, seq);
    if (err != USHER_ERR_OK)
        return err;
    e->active_until_ms = add_sat(now_ms, p->active_ttl_ms);
    e->seen_at_ms = now_ms;   /* --active-idle counts from the admission */
    if ((err = entry_save(t, concert_id, seq, e)) != USHER_ERR_OK ||
        (err = idle_put(t, QUEUE_IDLE_ACTIVE, now_ms, concert_id, seq)) != USHER_ERR_OK)
        return err;
    unsigned char key[QKEY_LEN];
    qkey(key, concert_id, seq);
    err = store_put(t, DB_QUEUE_ACTIVE, key, sizeof key, &e->active_until_ms,
                    sizeof e->active_until_ms, 0);
    if (err != USHER_ERR_OK)
        return err;
    q->admit_next++;
    q->waiting--;
    q->admitted_total++;
    q->version++;
    return USHER_ERR_OK;
}

usher_err admit_all(store_txn *t, uint64_t concert_id, int64_t now_ms, bool throttled,
                    rec_queue *q, uint32_t *live, uint32_t *admitted)
{
    uint64_t counted;
    usher_err err = queue_count_live(t, concert_id, now_ms, true, &counted);
    if (err != USHER_ERR_OK)
        return err;
    *live = (uint32_t)counted;   /* at most the largest cap, 100000 */
    if (queue_undrawn(q)) {
        if (now_ms < q->opens_at_ms)
            return USHER_ERR_OK;   /* nobody before the opening */
        if ((err = queue_draw(t, concert_id, q)) != USHER_ERR_OK)
            return err;
    }
    const store_policy *p = &t->st->policy;
    uint32_t cap = q->max_active ? q->max_active : p->max_active;
    if ((q->flags & QUEUE_PAUSED) || *live >= cap || q->waiting == 0)
        return USHER_ERR_OK;
    uint32_t free = cap - *live;
    if (throttled)
        free = (free + 1) / 2;
    int64_t now_us = now_ms > INT64_MAX / 1000 ? INT64_MAX : now_ms * 1000;
    int64_t interval_us = 0;
    if (q->admit_rate_per_min) {
        interval_us = INT64_C(60000000) / q->admit_rate_per_min * (throttled ? 2 : 1);
        int64_t tick_us = (p->admit_interval_ms > 0 ? p->admit_interval_ms : 1000) * 1000;
        int64_t credit = interval_us > tick_us ? interval_us : tick_us;
        if (q->next_admit_us < now_us - credit)
            q->next_admit_us = now_us - credit;
    }
    uint64_t first_admitted = q->admitted_total, first_next = q->admit_next;
    while (free > 0 && q->admit_next < q->next_seq && q->waiting > 0) {
        if (interval_us && q->next_admit_us > now_us)
            break;
        uint64_t seq, kept;
        rec_queue_entry e;
        if (q->dropped_total > 0) {   /* pass a run of drops a block at a time */
            if ((err = queue_next_kept(t, concert_id, q->admit_next, q->next_seq, &kept)) != USHER_ERR_OK)
                return err;
            q->admit_next = kept;
            if (kept == q->next_seq)
                break;
        }
        if ((err = queue_seq_at(t, concert_id, q, q->admit_next, &seq)) != USHER_ERR_OK)
            return err;
        if ((err = entry_load(t, concert_id, seq, &e)) != USHER_ERR_OK)
            return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
        if (e.dropped) {
            q->admit_next++;   /* dropped earlier: counted out of waiting then */
            continue;
        }
        if (e.active_until_ms != 0)
            return USHER_ERR_INTERNAL;   /* admitted but at or past admit_next */
        if ((err = admit_one(t, concert_id, seq, &e, now_ms, q)) != USHER_ERR_OK)
            return err;
        free--;
        (*live)++;
        q->next_admit_us += interval_us;
    }
    if (q->admit_next == first_next)
        return USHER_ERR_OK;
    if (q->admitted_total > first_admitted && cap > q->max_active_peak)
        q->max_active_peak = cap;
    if (admitted)
        *admitted += (uint32_t)(q->admitted_total - first_admitted);
    return queue_save(t, concert_id, q);
}
