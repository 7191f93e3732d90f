/* Operator figures from one read snapshot, without walking what grows with
 * a sale (queue entries, seats ever sold): see store_stats_read in store.h. */
#include "store_internal.h"

/* Entries of a database in this snapshot (O(1): LMDB keeps the count). */
static usher_err db_entries(store_txn *t, enum store_db db, uint64_t *n)
{
    MDB_stat ms;
    int rc = mdb_stat(t->txn, t->st->dbi[db], &ms);
    if (rc != 0) return store_mdb_err(t->st, rc, "stats");
    *n = ms.ms_entries;
    return USHER_ERR_OK;
}

/* True when the unsold seat record of a reservation's seat names it. */
static usher_err owns_seat(store_txn *t, uint64_t reservation_id, bool *owns)
{
    rec_reservation rec;
    *owns = false;
    usher_err e = store_reservation_load(t, reservation_id, &rec);
    if (e != USHER_ERR_OK) return e == USHER_ERR_NOT_FOUND ? USHER_ERR_OK : e;
    unsigned char key[SEAT_KEY_LEN];
    seat_key(key, rec.schedule_id, rec.seat_no);
    rec_seat seat;
    e = store_get_rec(t, DB_SEATS, key, sizeof key, &seat, sizeof seat);
    if (e != USHER_ERR_OK) return e == USHER_ERR_NOT_FOUND ? USHER_ERR_OK : e;
    *owns = !seat.sold && seat.reservation_id == reservation_id;
    return USHER_ERR_OK;
}

/* hold_expiry lists every HELD reservation by expiry, so the lapsed ones are
 * a prefix (expires_at <= now) and the rest are the live holds, each owning
 * its unsold seat record. Every unsold seat record belongs to a HELD
 * reservation, so: sold = seat records - live holds - lapsed holds that
 * still own their seat (the tick has not freed it yet). */
static usher_err read_sales(store_txn *t, int64_t now_ms, size_t *budget, store_stats *out)
{
    uint64_t held = 0, seat_records = 0, lapsed = 0, lapsed_owning = 0;
    usher_err e = db_entries(t, DB_HOLD_EXPIRY, &held);
    if (e == USHER_ERR_OK) e = db_entries(t, DB_SEATS, &seat_records);
    if (e != USHER_ERR_OK) return e;
    MDB_cursor *cur;
    if ((e = store_cursor(t, DB_HOLD_EXPIRY, &cur)) != USHER_ERR_OK) return e;
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 || key_get_time(k.mv_data) > now_ms) break;
        if (*budget == 0) { out->scan_capped = true; break; }
        (*budget)--;
        bool owns;
        if ((e = owns_seat(t, key_get_u64((const unsigned char *)k.mv_data + 8), &owns)) != USHER_ERR_OK)
            return e;
        lapsed++;
        lapsed_owning += owns;
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return store_mdb_err(t->st, rc, "stats hold_expiry");
    out->holds_live = held - lapsed;
    uint64_t unsold = out->holds_live + lapsed_owning;
    out->seats_sold = seat_records > unsold ? seat_records - unsold : 0;
    return USHER_ERR_OK;
}

/* Admitted entries of one concert still live at now_ms. */
static usher_err count_active(store_txn *t, uint64_t concert_id, int64_t now_ms, size_t *budget,
                              store_stats *out, uint64_t *active)
{
    MDB_cursor *cur;
    usher_err e = store_cursor(t, DB_QUEUE_ACTIVE, &cur);
    if (e != USHER_ERR_OK) return e;
    unsigned char key[16];
    key_put_u64(key, concert_id);
    key_put_u64(key + 8, 0);
    MDB_val k = { sizeof key, key }, v;
    *active = 0;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 || key_get_u64(k.mv_data) != concert_id) break;
        if (*budget == 0) { out->scan_capped = true; break; }
        (*budget)--;
        int64_t until = 0;
        if (v.mv_size == sizeof until) memcpy(&until, v.mv_data, sizeof until);
        *active += until > now_ms;
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return store_mdb_err(t->st, rc, "stats queue_active");
    return USHER_ERR_OK;
}

static usher_err read_queues(store_txn *t, int64_t now_ms, size_t *budget, store_stats *out)
{
    MDB_cursor *cur;
    usher_err e = store_cursor(t, DB_QUEUES, &cur);
    if (e != USHER_ERR_OK) return e;
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (out->n_queues == STORE_STATS_QUEUES_MAX) { out->queues_truncated = true; break; }
        rec_queue q;
        if (k.mv_size != 8 || v.mv_size != sizeof q) continue;
        memcpy(&q, v.mv_data, sizeof q);
        store_queue_stat *s = &out->queues[out->n_queues];
        s->concert_id = key_get_u64(k.mv_data);
        s->waiting = q.waiting;
        /* The cursor of DB_QUEUE_ACTIVE is another one: this walk goes on. */
        if ((e = count_active(t, s->concert_id, now_ms, budget, out, &s->active)) != USHER_ERR_OK)
            return e;
        out->n_queues++;
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return store_mdb_err(t->st, rc, "stats queues");
    return USHER_ERR_OK;
}

usher_err lmdb_stats_read(store_txn *txn, int64_t now_ms, store_stats *out)
{
    out->holds_live = out->seats_sold = 0;
    out->scan_capped = out->queues_truncated = false;
    out->n_queues = 0;
    MDB_envinfo info;
    MDB_stat env_stat;
    if (mdb_env_info(txn->st->env, &info) != 0 || mdb_env_stat(txn->st->env, &env_stat) != 0)
        return USHER_ERR_INTERNAL;
    out->map_bytes = info.me_mapsize;
    out->used_bytes = ((uint64_t)info.me_last_pgno + 1) * env_stat.ms_psize;
    size_t budget = STORE_STATS_SCAN_MAX;
    usher_err e = read_sales(txn, now_ms, &budget, out);
    return e == USHER_ERR_OK ? read_queues(txn, now_ms, &budget, out) : e;
}
