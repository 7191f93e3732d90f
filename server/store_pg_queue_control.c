/* A queue's operator controls on PostgreSQL (admin.queue.get/set/open) and
 * the pre-queue draw, as LMDB's store_queue_control.c. The controls live
 * in the queues row, so every host's tick reads the same ones. */
#include "store_rules.h"
#include <stdlib.h>
#include "store_pg_queue_internal.h"

usher_err pgq_draw(store_txn *t, uint64_t concert_id, pg_queue *q)
{
    uint64_t n = q->next_seq - 1;
    if (n > UINT32_MAX || n > SIZE_MAX / 24 - 1)
        return USHER_ERR_INTERNAL;
    uint64_t *rank_seq = malloc((size_t)(n ? n : 1) * sizeof *rank_seq);
    size_t cap = (size_t)n * 21 + 3;
    char *buf = malloc(cap);
    if (!rank_seq || !buf) {
        free(rank_seq);
        free(buf);
        return USHER_ERR_INTERNAL;
    }
    store_rule_draw(rank_seq, n);
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    usher_err err = USHER_ERR_INTERNAL;
    PGresult *r = NULL;
    if (pg_p_i64_array(&p, rank_seq, (size_t)n, buf, cap)) {
        pg_p_u64(&p, n);
        /* rank i (1-based) goes to the seq at index i of the array */
        err = pg_write(t,
            "WITH u AS (UPDATE queue_entries e SET ord = r.rank FROM unnest($2::bigint[]) "
            "WITH ORDINALITY AS r(seq, rank) WHERE e.concert_id = $1 AND e.seq = r.seq RETURNING 1) "
            "UPDATE queues q SET drawn = true, drawn_n = $3::bigint, admit_next = 1, "
            "version = q.version + 1 WHERE q.concert_id = $1 RETURNING " PGQ_COLS, &p, &r);
    }
    free(rank_seq);
    free(buf);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(r) == 1)
        pgq_row(r, 0, 0, q);
    else
        err = USHER_ERR_INTERNAL;
    pg_done(t, r);
    return err;
}

/* The report of the concert's queue as this transaction sees it (a concert
 * without a queues row: zeros and the defaults). NOT_FOUND: no concert. */
static usher_err report(store_txn *t, uint64_t concert_id, int64_t now_ms, store_queue_report *out)
{
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    pg_p_i64(&p, now_ms);
    PGresult *r;
    usher_err err = pg_read(t,
        "SELECT q.concert_id IS NOT NULL, q.waiting, q.admitted_total, q.max_active, "
        "q.admit_rate_per_min, q.paused, q.opens_at_ms, "
        "(SELECT count(*) FROM queue_entries a WHERE a.concert_id = $1 AND a.active_until_ms > 0 "
        "AND NOT a.expired AND a.active_until_ms > $2::bigint), "
        "CASE WHEN q.waiting > 0 AND q.opens_at_ms <> 0 AND NOT q.drawn THEN "
        "(SELECT w.entered_at_ms FROM queue_entries w WHERE w.concert_id = $1 "
        "AND w.active_until_ms = 0 AND NOT w.dropped AND NOT w.expired ORDER BY w.seq LIMIT 1) "
        "WHEN q.waiting > 0 THEN "
        "(SELECT w.entered_at_ms FROM queue_entries w WHERE w.concert_id = $1 "
        "AND w.active_until_ms = 0 AND NOT w.dropped AND NOT w.expired ORDER BY w.ord LIMIT 1) END "
        "FROM concerts c LEFT JOIN queues q ON q.concert_id = c.concert_id WHERE c.concert_id = $1",
        &p, &r);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(r) == 0) {
        pg_done(t, r);
        return USHER_ERR_NOT_FOUND;
    }
    uint32_t override = (uint32_t)pg_i64(r, 0, 3);
    *out = (store_queue_report){
        .concert_id = concert_id, .waiting = (uint64_t)pg_i64(r, 0, 1),
        .admitted_total = (uint64_t)pg_i64(r, 0, 2),
        .max_active = override ? override : pg_txn_of(t)->st->policy.max_active,
        .controls = { .max_active = override, .admit_rate_per_min = (uint32_t)pg_i64(r, 0, 4),
                      .paused = pg_bool(r, 0, 5), .opens_at_ms = pg_i64(r, 0, 6) },
        .active = (uint64_t)pg_i64(r, 0, 7),
    };
    if (!pg_null(r, 0, 8)) {
        int64_t entered = pg_i64(r, 0, 8);
        out->oldest_wait_ms = now_ms > entered ? now_ms - entered : 0;
    }
    pg_done(t, r);
    return USHER_ERR_OK;
}

usher_err pg_queue_control_get(store_txn *txn, uint64_t concert_id, int64_t now_ms,
                               store_queue_report *out)
{
    return report(txn, concert_id, now_ms, out);
}

usher_err pg_queue_control_set(store_txn *txn, uint64_t concert_id,
                               const store_queue_control_change *change, int64_t now_ms,
                               store_queue_report *out, const char **bad_param)
{
    usher_err rule = store_rule_queue_controls(change, bad_param);
    if (rule != USHER_ERR_OK)
        return rule;
    pg_queue q;
    usher_err err = pgq_lock(txn, concert_id, true, &q);
    if (err != USHER_ERR_OK)
        return err;
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    pg_p_bool(&p, change->set_max_active);
    pg_p_i64(&p, change->max_active);
    pg_p_bool(&p, change->set_rate);
    pg_p_i64(&p, change->admit_rate_per_min);
    pg_p_bool(&p, change->set_paused);
    pg_p_bool(&p, change->paused);
    err = pg_write(txn,
        "UPDATE queues SET "
        "max_active = CASE WHEN $2::boolean THEN $3::integer ELSE max_active END, "
        "admit_rate_per_min = CASE WHEN $4::boolean THEN $5::integer ELSE admit_rate_per_min END, "
        "paused = CASE WHEN $6::boolean THEN $7::boolean ELSE paused END, "
        "version = version + 1 WHERE concert_id = $1", &p, NULL);
    return err != USHER_ERR_OK ? err : report(txn, concert_id, now_ms, out);
}

usher_err pg_queue_open(store_txn *txn, uint64_t concert_id, int64_t opens_at_ms,
                        int64_t now_ms, store_queue_report *out, const char **bad_param)
{
    pg_queue q;
    usher_err err = pgq_lock(txn, concert_id, true, &q);
    if (err != USHER_ERR_OK)
        return err;
    if (opens_at_ms <= now_ms || q.admitted_total > 0 || q.opens_at_ms != 0 || q.drawn)
        return store_rule_refuse(bad_param, "opens_at");
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    pg_p_i64(&p, opens_at_ms);
    err = pg_write(txn, "UPDATE queues SET opens_at_ms = $2::bigint, version = version + 1 "
                        "WHERE concert_id = $1", &p, NULL);
    return err != USHER_ERR_OK ? err : report(txn, concert_id, now_ms, out);
}
