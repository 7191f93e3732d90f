/* The housekeeping tick of the queues: first the idle walks (WAITING
 * entries unseen for --wait-idle are dropped, ACTIVE ones unseen for
 * --active-idle expire), each a prefix of the idle index ordered by seen
 * time, so a tick visits only the idle entries, never the whole line; then
 * every busy queue's admission (store_queue_admit.c), which fills the
 * slots just freed. */
#include "store_queue_internal.h"

#define IDLE_PER_TICK 10000   /* idle entries one tick acts on, per walk; the rest wait a tick */

/* Acts on the first idle entry of the walk (its key is k) and removes the
 * key: drop or expire when the entry is still what the key says, else just
 * the stale key. */
static usher_err act_on_idle(store_txn *t, const unsigned char *k)
{
    char kind = (char)k[0];
    int64_t seen = key_get_time(k + 1);
    uint64_t concert_id = key_get_u64(k + 9), seq = key_get_u64(k + 17);
    rec_queue_entry e;
    usher_err err = entry_load(t, concert_id, seq, &e);
    if (err == USHER_ERR_NOT_FOUND)
        return idle_del(t, kind, seen, concert_id, seq);
    if (err != USHER_ERR_OK)
        return err;
    bool current = e.seen_at_ms == seen && !e.dropped && !e.expired && entry_idle_kind(&e) == kind;
    if (!current)
        return idle_del(t, kind, seen, concert_id, seq);
    if (kind == QUEUE_IDLE_ACTIVE)
        return entry_expire(t, concert_id, seq);   /* its slot goes to the next in line */
    rec_queue q;
    if ((err = queue_load(t, concert_id, &q)) != USHER_ERR_OK)
        return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
    if ((err = entry_drop(t, concert_id, seq, &e, &q)) != USHER_ERR_OK)
        return err;
    return queue_save(t, concert_id, &q);
}

/* Acts on the entries of one walk last seen before now - idle_ms. */
static usher_err walk_idle(store_txn *t, char kind, int64_t idle_ms, int64_t now_ms)
{
    if (idle_ms <= 0)
        return USHER_ERR_OK;
    int64_t before = now_ms - idle_ms;
    MDB_cursor *cur;
    usher_err err = store_cursor(t, DB_QUEUE_IDLE, &cur);
    if (err != USHER_ERR_OK)
        return err;
    unsigned char at[9];
    at[0] = (unsigned char)kind;
    key_put_time(at + 1, INT64_MIN);
    for (int n = 0; n < IDLE_PER_TICK; n++) {
        MDB_val k = { sizeof at, at }, v;
        int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND)
            return USHER_ERR_OK;
        if (rc != 0)
            return store_mdb_err(t->st, rc, "queue_idle");
        if (k.mv_size != QUEUE_IDLE_KEY_LEN || ((const unsigned char *)k.mv_data)[0] != (unsigned char)kind)
            return USHER_ERR_OK;
        unsigned char key[QUEUE_IDLE_KEY_LEN];
        memcpy(key, k.mv_data, sizeof key);
        if (key_get_time(key + 1) >= before)
            return USHER_ERR_OK;
        if ((err = act_on_idle(t, key)) != USHER_ERR_OK)
            return err;
    }
    return USHER_ERR_OK;
}

usher_err lmdb_queue_tick(store_txn *txn, int64_t now_ms, const store_tick_opts *opts,
                           store_admitted *admitted)
{
    bool throttled = opts && opts->throttled;
    const store_policy *p = &txn->st->policy;
    uint32_t count = 0;
    if (admitted)
        memset(admitted, 0, sizeof *admitted);
    usher_err err = walk_idle(txn, QUEUE_IDLE_WAITING, p->wait_idle_ms, now_ms);
    if (err == USHER_ERR_OK)
        err = walk_idle(txn, QUEUE_IDLE_ACTIVE, p->active_idle_ms, now_ms);
    if (err != USHER_ERR_OK)
        return err;
    MDB_cursor *cur;
    if ((err = store_cursor(txn, DB_QUEUE_BUSY, &cur)) != USHER_ERR_OK)
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
            (err = admit_all(txn, concert_id, now_ms, throttled, &q, &live, &count)) != USHER_ERR_OK)
            return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
        if (admitted && count > before && admitted->n < STORE_ADMITTED_CONCERTS_MAX) {
            admitted->concert[admitted->n].concert_id = concert_id;
            admitted->concert[admitted->n++].admitted = count - before;
        }
        if (live == 0 && q.waiting == 0) {
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
