/* Operator figures on PostgreSQL (store_stats_read in store.h), in one
 * statement on the read snapshot. Nothing here counts what grows with sales:
 * seats sold is the sum of the 16 shards of seats_sold_tally (kept by a
 * trigger on seats), live holds a range of the reservations_expiry index
 * (live holds only), each queue's waiting its counter and its active
 * entries a range of queue_entries_active (at most about max_active live
 * ones). No walk is capped, so scan_capped stays false; map_bytes is 0
 * (there is no map). */
#include "store_pg_internal.h"

/* Row 0: the store-wide figures; then one row per queue, by concert id,
 * one more than fits so the cut is known. */
static const char sql_stats[] =
    "SELECT 0 AS part, 0::bigint AS concert_id,"
    "       (SELECT count(*) FROM reservations WHERE status = 1 AND expires_at_ms > $1),"
    "       (SELECT coalesce(sum(sold), 0)::bigint FROM seats_sold_tally),"
    "       pg_database_size(current_database())"
    " UNION ALL "
    "(SELECT 1, q.concert_id, q.waiting,"
    "        (SELECT count(*) FROM queue_entries e WHERE e.concert_id = q.concert_id"
    "            AND e.active_until_ms > $1 AND NOT e.expired),"
    "        0"
    "   FROM queues q ORDER BY q.concert_id LIMIT 1025)"
    " ORDER BY part, concert_id";

_Static_assert(STORE_STATS_QUEUES_MAX == 1024, "sql_stats's LIMIT is STORE_STATS_QUEUES_MAX + 1");

static uint64_t non_negative(int64_t v) { return v > 0 ? (uint64_t)v : 0; }

usher_err pg_stats_read(store_txn *txn, int64_t now_ms, store_stats *out)
{
    out->holds_live = out->seats_sold = out->used_bytes = out->map_bytes = 0;
    out->scan_capped = out->queues_truncated = false;
    out->n_queues = 0;
    pg_params p = { 0 };
    pg_p_i64(&p, now_ms);
    PGresult *res;
    usher_err e = pg_read(txn, sql_stats, &p, &res);
    if (e != USHER_ERR_OK) return e;
    int rows = PQntuples(res);
    if (rows < 1 || pg_i64(res, 0, 0) != 0) {
        pg_done(txn, res);
        return USHER_ERR_INTERNAL;
    }
    out->holds_live = non_negative(pg_i64(res, 0, 2));
    out->seats_sold = non_negative(pg_i64(res, 0, 3));
    out->used_bytes = non_negative(pg_i64(res, 0, 4));
    for (int r = 1; r < rows; r++) {
        if (out->n_queues == STORE_STATS_QUEUES_MAX) {
            out->queues_truncated = true;
            break;
        }
        store_queue_stat *s = &out->queues[out->n_queues++];
        s->concert_id = non_negative(pg_i64(res, r, 1));
        s->waiting = non_negative(pg_i64(res, r, 2));
        s->active = non_negative(pg_i64(res, r, 3));
    }
    pg_done(txn, res);
    return USHER_ERR_OK;
}
