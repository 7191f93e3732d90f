/* The waiting queue: one FIFO per concert. A queue record holds next_seq and
 * admit_next (the lowest seq not yet admitted), so WAITING entries are
 * exactly the seqs in [admit_next, next_seq) and a position is one
 * subtraction. Admitted, not yet expired entries are indexed in
 * DB_QUEUE_ACTIVE to count live slots; DB_QUEUE_BUSY names the concerts the
 * tick must visit. */
#include "store_internal.h"

#define QKEY_LEN (8 + 8)        /* concert_id | seq */
#define QUSER_KEY_LEN (8 + 16)  /* concert_id | user */

static void qkey(unsigned char key[QKEY_LEN], uint64_t concert_id, uint64_t seq)
{
    key_put_u64(key, concert_id);
    key_put_u64(key + 8, seq);
}

static usher_err queue_load(store_txn *t, uint64_t concert_id, rec_queue *q)
{
    unsigned char key[8];
    key_put_u64(key, concert_id);
    return store_get_rec(t, DB_QUEUES, key, sizeof key, q, sizeof *q);
}

static usher_err queue_save(store_txn *t, uint64_t concert_id, const rec_queue *q)
{
    unsigned char key[8];
    key_put_u64(key, concert_id);
    return store_put(t, DB_QUEUES, key, sizeof key, q, sizeof *q, 0);
}

static usher_err entry_load(store_txn *t, uint64_t concert_id, uint64_t seq, rec_queue_entry *e)
{
    unsigned char key[QKEY_LEN];
    qkey(key, concert_id, seq);
    return store_get_rec(t, DB_QUEUE_ENTRIES, key, sizeof key, e, sizeof *e);
}

static usher_err entry_save(store_txn *t, uint64_t concert_id, uint64_t seq,
                            const rec_queue_entry *e)
{
    unsigned char key[QKEY_LEN];
    qkey(key, concert_id, seq);
    return store_put(t, DB_QUEUE_ENTRIES, key, sizeof key, e, sizeof *e, 0);
}

/* The entry as of now_ms: the queue record decides WAITING, the entry
 * decides ACTIVE or EXPIRED. */
static void entry_fill(uint64_t concert_id, uint64_t seq, const rec_queue_entry *e,
                       const rec_queue *q, int64_t now_ms, store_queue_entry *out)
{
    *out = (store_queue_entry){ .concert_id = concert_id, .seq = seq, .user = e->user };
    if (seq >= q->admit_next) {
        out->state = STORE_QUEUE_WAITING;
        out->position = seq - q->admit_next + 1;
        return;
    }
    out->active_until_ms = e->active_until_ms;
    out->state = e->expired || now_ms >= e->active_until_ms ? STORE_QUEUE_EXPIRED
                                                            : STORE_QUEUE_ACTIVE;
}

/* Marks an admitted entry EXPIRED and drops it from the live index. */
static usher_err entry_expire(store_txn *t, uint64_t concert_id, uint64_t seq)
{
    rec_queue_entry e;
    usher_err err = entry_load(t, concert_id, seq, &e);
    if (err != USHER_ERR_OK)
        return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
    if (!e.expired) {
        e.expired = 1;
        if ((err = entry_save(t, concert_id, seq, &e)) != USHER_ERR_OK)
            return err;
    }
    unsigned char key[QKEY_LEN];
    qkey(key, concert_id, seq);
    return store_del(t, DB_QUEUE_ACTIVE, key, sizeof key);
}

/* Counts the concert's live ACTIVE entries, expiring the overdue ones. */
static usher_err count_live(store_txn *t, uint64_t concert_id, int64_t now_ms, uint32_t *live)
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
        if (active_until > now_ms) {
            (*live)++;
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

/* Expires overdue entries and admits waiting ones in seq order while slots
 * are free. *live gets the ACTIVE count afterwards; *q the queue record. */
static usher_err admit_all(store_txn *t, uint64_t concert_id, int64_t now_ms, rec_queue *q,
                           uint32_t *live, uint32_t *admitted)
{
    usher_err err = count_live(t, concert_id, now_ms, live);
    if (err != USHER_ERR_OK)
        return err;
    const store_policy *p = &t->st->policy;
    uint64_t first = q->admit_next;
    while (*live < p->max_active && q->admit_next < q->next_seq) {
        uint64_t seq = q->admit_next;
        rec_queue_entry e;
        if ((err = entry_load(t, concert_id, seq, &e)) != USHER_ERR_OK)
            return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
        e.active_until_ms = add_sat(now_ms, p->active_ttl_ms);
        if ((err = entry_save(t, concert_id, seq, &e)) != USHER_ERR_OK)
            return err;
        unsigned char key[QKEY_LEN];
        qkey(key, concert_id, seq);
        err = store_put(t, DB_QUEUE_ACTIVE, key, sizeof key, &e.active_until_ms,
                        sizeof e.active_until_ms, 0);
        if (err != USHER_ERR_OK)
            return err;
        q->admit_next++;
        (*live)++;
    }
    if (q->admit_next == first)
        return USHER_ERR_OK;
    if (admitted)
        *admitted += (uint32_t)(q->admit_next - first);
    return queue_save(t, concert_id, q);
}

usher_err store_queue_admit(store_txn *t, uint64_t concert_id, int64_t now_ms, uint32_t *admitted)
{
    rec_queue q;
    usher_err err = queue_load(t, concert_id, &q);
    if (err == USHER_ERR_NOT_FOUND || (err == USHER_ERR_OK && q.admit_next == q.next_seq))
        return USHER_ERR_OK;   /* nobody waits: the tick tidies expired entries */
    if (err != USHER_ERR_OK)
        return err;
    uint32_t live;
    return admit_all(t, concert_id, now_ms, &q, &live, admitted);
}

usher_err store_queue_expire_entry(store_txn *t, const user_id *user, uint64_t concert_id,
                                   uint64_t seq)
{
    rec_queue_entry e;
    rec_queue q;
    usher_err err = entry_load(t, concert_id, seq, &e);
    if (err == USHER_ERR_NOT_FOUND || (err == USHER_ERR_OK && !user_eq(&e.user, user)))
        return USHER_ERR_OK;
    if (err != USHER_ERR_OK || (err = queue_load(t, concert_id, &q)) != USHER_ERR_OK)
        return err;
    if (seq >= q.admit_next)
        return USHER_ERR_OK;   /* still waiting: expiring it would break the FIFO window */
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
    entry_fill(concert_id, *seq, &e, q, now_ms, &now);
    return now.state == STORE_QUEUE_EXPIRED ? USHER_ERR_NOT_FOUND : USHER_ERR_OK;
}

/* Appends a new WAITING entry of user at the back. */
static usher_err append_entry(store_txn *t, const user_id *user, uint64_t concert_id,
                              rec_queue *q, uint64_t *seq)
{
    *seq = q->next_seq++;
    rec_queue_entry e = { .user = *user };
    usher_err err = entry_save(t, concert_id, *seq, &e);
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

usher_err store_queue_enter(store_txn *txn, const user_id *user, uint64_t concert_id,
                            int64_t now_ms, store_queue_entry *out)
{
    usher_err err = store_concert_exists(txn, concert_id);
    if (err != USHER_ERR_OK)
        return err;
    rec_queue q = { .next_seq = 1, .admit_next = 1 };
    err = queue_load(txn, concert_id, &q);
    if (err != USHER_ERR_OK && err != USHER_ERR_NOT_FOUND)
        return err;
    uint64_t seq;
    err = live_entry_of(txn, user, concert_id, &q, now_ms, &seq);
    if (err == USHER_ERR_NOT_FOUND)
        err = append_entry(txn, user, concert_id, &q, &seq);
    if (err != USHER_ERR_OK)
        return err;
    if (q.admit_next < q.next_seq) {
        uint32_t live;
        if ((err = admit_all(txn, concert_id, now_ms, &q, &live, NULL)) != USHER_ERR_OK)
            return err;
    }
    rec_queue_entry e;
    if ((err = entry_load(txn, concert_id, seq, &e)) != USHER_ERR_OK)
        return err;
    entry_fill(concert_id, seq, &e, &q, now_ms, out);
    return USHER_ERR_OK;
}

usher_err store_queue_get(store_txn *txn, uint64_t concert_id, uint64_t seq,
                          int64_t now_ms, store_queue_entry *out)
{
    rec_queue_entry e;
    rec_queue q;
    usher_err err = entry_load(txn, concert_id, seq, &e);
    if (err != USHER_ERR_OK)
        return err;
    if ((err = queue_load(txn, concert_id, &q)) != USHER_ERR_OK)
        return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
    entry_fill(concert_id, seq, &e, &q, now_ms, out);
    return USHER_ERR_OK;
}

usher_err store_queue_tick(store_txn *txn, int64_t now_ms, const store_tick_opts *opts,
                           store_admitted *admitted)
{
    (void)opts;   /* throttled admission: not yet */
    uint32_t count = 0;
    if (admitted)
        memset(admitted, 0, sizeof *admitted);
    MDB_cursor *cur;
    usher_err err = store_cursor(txn, DB_QUEUE_BUSY, &cur);
    if (err != USHER_ERR_OK)
        return err;
    unsigned char at[8];
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        if (k.mv_size != 8)
            return USHER_ERR_INTERNAL;
        uint64_t concert_id = key_get_u64(k.mv_data);
        rec_queue q;
        uint32_t live, before = count;
        if ((err = queue_load(txn, concert_id, &q)) != USHER_ERR_OK ||
            (err = admit_all(txn, concert_id, now_ms, &q, &live, &count)) != USHER_ERR_OK)
            return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
        if (admitted && count > before && admitted->n < STORE_ADMITTED_CONCERTS_MAX) {
            admitted->concert[admitted->n].concert_id = concert_id;
            admitted->concert[admitted->n++].admitted = count - before;
        }
        if (live == 0 && q.admit_next == q.next_seq) {
            key_put_u64(at, concert_id);
            if ((err = store_del(txn, DB_QUEUE_BUSY, at, sizeof at)) != USHER_ERR_OK)
                return err;
        }
        if (concert_id == UINT64_MAX)
            break;
        key_put_u64(at, concert_id + 1);   /* seek: the cursor may have moved under a delete */
        k = (MDB_val){ sizeof at, at };
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(txn->st, rc, "queue_busy");
    if (admitted)
        admitted->total = count;
    return USHER_ERR_OK;
}

usher_err store_queue_progress_get(store_txn *txn, uint64_t concert_id, store_queue_progress *out)
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
    out->admitted_total = q.admit_next - 1;
    out->waiting = q.next_seq - q.admit_next;
    out->version = q.admit_next;
    return USHER_ERR_OK;
}
