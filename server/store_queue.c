/* The waiting queue: one line per concert. A queue record holds next_seq,
 * admit_next (the lowest order neither admitted nor skipped as dropped) and
 * counters; an entry's order is its place in line (its seq, or the rank the
 * pre-queue draw gave it). WAITING entries are the orders in
 * [admit_next, next_seq) not dropped, so a position is a subtraction less
 * the drops ahead (store_queue_index.c). Admitted, not yet expired entries
 * are indexed in DB_QUEUE_ACTIVE to count live slots; DB_QUEUE_BUSY names
 * the concerts the tick must visit; DB_QUEUE_IDLE orders live entries by
 * when they were last seen. This file: records, enter, get, touch,
 * progress. Admission: store_queue_admit.c; the tick: store_queue_tick.c. */
#include "store_queue_internal.h"

usher_err queue_load(store_txn *t, uint64_t concert_id, rec_queue *q)
{
    unsigned char key[8];
    key_put_u64(key, concert_id);
    return store_get_rec(t, DB_QUEUES, key, sizeof key, q, sizeof *q);
}

usher_err queue_save(store_txn *t, uint64_t concert_id, const rec_queue *q)
{
    unsigned char key[8];
    key_put_u64(key, concert_id);
    return store_put(t, DB_QUEUES, key, sizeof key, q, sizeof *q, 0);
}

usher_err entry_load(store_txn *t, uint64_t concert_id, uint64_t seq, rec_queue_entry *e)
{
    unsigned char key[QKEY_LEN];
    qkey(key, concert_id, seq);
    return store_get_rec(t, DB_QUEUE_ENTRIES, key, sizeof key, e, sizeof *e);
}

usher_err entry_save(store_txn *t, uint64_t concert_id, uint64_t seq, const rec_queue_entry *e)
{
    unsigned char key[QKEY_LEN];
    qkey(key, concert_id, seq);
    return store_put(t, DB_QUEUE_ENTRIES, key, sizeof key, e, sizeof *e, 0);
}

static void idle_key(unsigned char key[QUEUE_IDLE_KEY_LEN], char kind, int64_t seen_at_ms,
                     uint64_t concert_id, uint64_t seq)
{
    key[0] = (unsigned char)kind;
    key_put_time(key + 1, seen_at_ms);
    qkey(key + 9, concert_id, seq);
}

usher_err idle_put(store_txn *t, char kind, int64_t seen_at_ms, uint64_t concert_id, uint64_t seq)
{
    unsigned char key[QUEUE_IDLE_KEY_LEN];
    idle_key(key, kind, seen_at_ms, concert_id, seq);
    return store_put(t, DB_QUEUE_IDLE, key, sizeof key, "", 0, 0);
}

usher_err idle_del(store_txn *t, char kind, int64_t seen_at_ms, uint64_t concert_id, uint64_t seq)
{
    unsigned char key[QUEUE_IDLE_KEY_LEN];
    idle_key(key, kind, seen_at_ms, concert_id, seq);
    return store_del(t, DB_QUEUE_IDLE, key, sizeof key);
}

usher_err queue_seq_at(store_txn *t, uint64_t concert_id, const rec_queue *q, uint64_t order,
                       uint64_t *seq)
{
    if (!(q->flags & QUEUE_DRAWN) || order > q->drawn_n) {
        *seq = order;
        return USHER_ERR_OK;
    }
    unsigned char key[QKEY_LEN];
    qkey(key, concert_id, order);
    usher_err err = store_get_rec(t, DB_QUEUE_ORDER, key, sizeof key, seq, sizeof *seq);
    return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
}

usher_err entry_fill(store_txn *t, uint64_t concert_id, uint64_t seq, const rec_queue_entry *e,
                     const rec_queue *q, int64_t now_ms, store_queue_entry *out)
{
    *out = (store_queue_entry){ .concert_id = concert_id, .seq = seq, .user = e->user,
                                .position_known = true };
    if (e->dropped) {
        out->state = STORE_QUEUE_ABANDONED;
        return USHER_ERR_OK;
    }
    if (e->active_until_ms == 0) {
        out->state = STORE_QUEUE_WAITING;
        if (queue_undrawn(q)) {
            out->position_known = false;
            return USHER_ERR_OK;
        }
        if (e->order < q->admit_next)
            return USHER_ERR_INTERNAL;   /* a waiting entry behind the admission point */
        uint64_t ahead = e->order - q->admit_next, dropped_to = 0, dropped_from = 0;
        if (q->dropped_total > 0) {
            usher_err err = queue_drops_below(t, concert_id, e->order, &dropped_to);
            if (err == USHER_ERR_OK)
                err = queue_drops_below(t, concert_id, q->admit_next, &dropped_from);
            if (err != USHER_ERR_OK)
                return err;
        }
        out->position = ahead - (dropped_to - dropped_from) + 1;
        return USHER_ERR_OK;
    }
    out->active_until_ms = e->active_until_ms;
    out->state = e->expired || now_ms >= e->active_until_ms ? STORE_QUEUE_EXPIRED
                                                            : STORE_QUEUE_ACTIVE;
    return USHER_ERR_OK;
}

usher_err store_queue_admit(store_txn *t, uint64_t concert_id, int64_t now_ms, uint32_t *admitted)
{
    rec_queue q;
    usher_err err = queue_load(t, concert_id, &q);
    if (err == USHER_ERR_NOT_FOUND || (err == USHER_ERR_OK && q.waiting == 0))
        return USHER_ERR_OK;   /* nobody waits: the tick tidies expired entries */
    if (err != USHER_ERR_OK)
        return err;
    uint32_t live;
    return admit_all(t, concert_id, now_ms, false, &q, &live, admitted);
}

usher_err store_queue_expire_entry(store_txn *t, const user_id *user, uint64_t concert_id,
                                   uint64_t seq)
{
    rec_queue_entry e;
    usher_err err = entry_load(t, concert_id, seq, &e);
    if (err == USHER_ERR_NOT_FOUND || (err == USHER_ERR_OK && !user_eq(&e.user, user)))
        return USHER_ERR_OK;
    if (err != USHER_ERR_OK)
        return err;
    if (e.active_until_ms == 0)
        return USHER_ERR_OK;   /* still waiting (or dropped): not an admission to end */
    return entry_expire(t, concert_id, seq);
}

/* The user's latest entry if it is WAITING or ACTIVE now. */
static usher_err live_entry_of(store_txn *t, const user_id *user, uint64_t concert_id,
                               const rec_queue *q, int64_t now_ms, uint64_t *seq)
{
    unsigned char key[QUSER_KEY_LEN];
    key_put_u64(key, concert_id);
    memcpy(key + 8, user->bytes, 16);
    usher_err err = store_get_rec(t, DB_QUEUE_USERS, key, sizeof key, seq, sizeof *seq);
    if (err != USHER_ERR_OK)
        return err;
    rec_queue_entry e;
    if ((err = entry_load(t, concert_id, *seq, &e)) != USHER_ERR_OK)
        return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
    store_queue_entry now;
    if ((err = entry_fill(t, concert_id, *seq, &e, q, now_ms, &now)) != USHER_ERR_OK)
        return err;
    return now.state == STORE_QUEUE_EXPIRED || now.state == STORE_QUEUE_ABANDONED
               ? USHER_ERR_NOT_FOUND : USHER_ERR_OK;
}

/* Appends a new WAITING entry of user at the back. */
static usher_err append_entry(store_txn *t, const user_id *user, uint64_t concert_id,
                              int64_t now_ms, rec_queue *q, uint64_t *seq)
{
    *seq = q->next_seq++;
    rec_queue_entry e = { .user = *user, .entered_at_ms = now_ms, .seen_at_ms = now_ms,
                          .order = queue_undrawn(q) ? 0 : *seq };
    q->waiting++;
    usher_err err = entry_save(t, concert_id, *seq, &e);
    if (err == USHER_ERR_OK)
        err = idle_put(t, QUEUE_IDLE_WAITING, now_ms, concert_id, *seq);
    if (err != USHER_ERR_OK)
        return err;
    unsigned char key[QUSER_KEY_LEN];
    key_put_u64(key, concert_id);
    memcpy(key + 8, user->bytes, 16);
    if ((err = store_put(t, DB_QUEUE_USERS, key, sizeof key, seq, sizeof *seq, 0)) != USHER_ERR_OK)
        return err;
    if ((err = queue_save(t, concert_id, q)) != USHER_ERR_OK)
        return err;
    return store_put(t, DB_QUEUE_BUSY, key, 8, "", 0, 0);
}

usher_err lmdb_queue_enter(store_txn *txn, const user_id *user, uint64_t concert_id,
                            int64_t now_ms, store_queue_entry *out)
{
    usher_err err = store_concert_exists(txn, concert_id);
    if (err != USHER_ERR_OK)
        return err;
    rec_queue q = queue_fresh();
    err = queue_load(txn, concert_id, &q);
    if (err != USHER_ERR_OK && err != USHER_ERR_NOT_FOUND)
        return err;
    if (queue_undrawn(&q) && now_ms >= q.opens_at_ms &&
        (err = queue_draw(txn, concert_id, &q)) != USHER_ERR_OK)
        return err;   /* drawn before this arrival: it is not an early one */
    uint64_t seq;
    err = live_entry_of(txn, user, concert_id, &q, now_ms, &seq);
    if (err == USHER_ERR_NOT_FOUND)
        err = append_entry(txn, user, concert_id, now_ms, &q, &seq);
    if (err != USHER_ERR_OK)
        return err;
    if (q.waiting > 0) {
        uint32_t live;
        if ((err = admit_all(txn, concert_id, now_ms, false, &q, &live, NULL)) != USHER_ERR_OK)
            return err;
    }
    rec_queue_entry e;
    if ((err = entry_load(txn, concert_id, seq, &e)) != USHER_ERR_OK)
        return err;
    return entry_fill(txn, concert_id, seq, &e, &q, now_ms, out);
}

usher_err lmdb_queue_get(store_txn *txn, uint64_t concert_id, uint64_t seq,
                          int64_t now_ms, store_queue_entry *out)
{
    rec_queue_entry e;
    rec_queue q;
    usher_err err = entry_load(txn, concert_id, seq, &e);
    if (err != USHER_ERR_OK)
        return err;
    if ((err = queue_load(txn, concert_id, &q)) != USHER_ERR_OK)
        return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
    return entry_fill(txn, concert_id, seq, &e, &q, now_ms, out);
}

usher_err lmdb_queue_touch(store_txn *txn, uint64_t concert_id, uint64_t seq, int64_t now_ms)
{
    rec_queue_entry e;
    usher_err err = entry_load(txn, concert_id, seq, &e);
    if (err != USHER_ERR_OK)
        return err;
    bool live = !e.dropped && !e.expired && (e.active_until_ms == 0 || now_ms < e.active_until_ms);
    if (!live || now_ms <= e.seen_at_ms)
        return USHER_ERR_OK;
    char kind = entry_idle_kind(&e);
    if ((err = idle_del(txn, kind, e.seen_at_ms, concert_id, seq)) != USHER_ERR_OK)
        return err;
    e.seen_at_ms = now_ms;
    if ((err = idle_put(txn, kind, now_ms, concert_id, seq)) != USHER_ERR_OK)
        return err;
    return entry_save(txn, concert_id, seq, &e);
}

usher_err lmdb_queue_progress_get(store_txn *txn, uint64_t concert_id, store_queue_progress *out)
{
    *out = (store_queue_progress){ .concert_id = concert_id };
    usher_err err = store_concert_exists(txn, concert_id);
    if (err != USHER_ERR_OK)
        return err;
    rec_queue q;
    err = queue_load(txn, concert_id, &q);
    if (err == USHER_ERR_NOT_FOUND)
        return USHER_ERR_OK;
    if (err != USHER_ERR_OK)
        return err;
    out->entered_total = q.next_seq - 1;
    out->admitted_total = q.admitted_total;
    out->waiting = q.waiting;
    out->version = q.version;
    return USHER_ERR_OK;
}
