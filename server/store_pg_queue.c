/* The waiting queue on PostgreSQL: one queues row per concert (next_seq,
 * admit_next, counters, controls) and one queue_entries row per entry. An
 * entry's ord is its place in admission order (its seq, or the rank the
 * pre-queue draw gave it); WAITING entries are the ords in
 * [admit_next, next_seq) not dropped, so a position is a subtraction less
 * the drops ahead, counted on the index of dropped ords (drops are few), as
 * LMDB's formula (store_queue.c). Every queue write locks the concert's
 * queues row first (pgq_lock), after the user's advisory lock when it holds
 * one, so seqs are gapless, commit order is queue order and two hosts never
 * admit into the same slot. This file: the lock, admission, enter, get,
 * touch, progress and the queue's part of a payment. The draw and the
 * controls: store_pg_queue_control.c; the tick: store_pg_queue_tick.c. */
#include <string.h>
#include "store_pg_queue_internal.h"

void pgq_row(const PGresult *res, int r, int c, pg_queue *q)
{
    *q = (pg_queue){
        .next_seq = (uint64_t)pg_i64(res, r, c + 0), .admit_next = (uint64_t)pg_i64(res, r, c + 1),
        .waiting = (uint64_t)pg_i64(res, r, c + 2), .admitted_total = (uint64_t)pg_i64(res, r, c + 3),
        .dropped_total = (uint64_t)pg_i64(res, r, c + 4), .version = (uint64_t)pg_i64(res, r, c + 5),
        .opens_at_ms = pg_i64(res, r, c + 6), .next_admit_us = pg_i64(res, r, c + 7),
        .drawn = pg_bool(res, r, c + 8), .paused = pg_bool(res, r, c + 9),
        .drawn_n = (uint64_t)pg_i64(res, r, c + 10), .max_active = (uint32_t)pg_i64(res, r, c + 11),
        .admit_rate_per_min = (uint32_t)pg_i64(res, r, c + 12),
        .max_active_peak = (uint32_t)pg_i64(res, r, c + 13),
        .last_admit_ms = pg_i64(res, r, c + 14),
    };
}

static usher_err lock_existing(store_txn *t, uint64_t concert_id, pg_queue *q)
{
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    PGresult *r;
    usher_err err = pg_write(t, "SELECT " PGQ_COLS " FROM queues q WHERE q.concert_id = $1 FOR UPDATE",
                             &p, &r);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(r) == 0)
        err = USHER_ERR_NOT_FOUND;
    else
        pgq_row(r, 0, 0, q);
    pg_done(t, r);
    return err;
}

usher_err pgq_lock(store_txn *t, uint64_t concert_id, bool create, pg_queue *q)
{
    usher_err err = lock_existing(t, concert_id, q);
    if (err != USHER_ERR_NOT_FOUND || !create)
        return err;
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    err = pg_write(t, "INSERT INTO queues (concert_id) SELECT concert_id FROM concerts "
                      "WHERE concert_id = $1 ON CONFLICT (concert_id) DO NOTHING", &p, NULL);
    return err != USHER_ERR_OK ? err : lock_existing(t, concert_id, q);
}

static int64_t add_sat64(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
    return a + b;
}

usher_err pgq_admit_all(store_txn *t, uint64_t concert_id, int64_t now_ms, bool throttled,
                        pg_queue *q, uint32_t *live, uint32_t *admitted)
{
    *live = 0;
    if (pgq_undrawn(q)) {
        if (now_ms < q->opens_at_ms)
            return USHER_ERR_OK;   /* nobody before the opening (nor ever admitted) */
        usher_err err = pgq_draw(t, concert_id, q);
        if (err != USHER_ERR_OK)
            return err;
    }
    const store_policy *pol = &pg_txn_of(t)->st->policy;
    /* Hosts (and a host's database threads) read the clock before they wait
     * for the queue's lock, so a later admission may carry an earlier now:
     * it admits at the latest admission's time instead, so admission times
     * follow queue order as they do on one LMDB writer. */
    if (now_ms < q->last_admit_ms)
        now_ms = q->last_admit_ms;
    uint32_t cap = q->max_active ? q->max_active : pol->max_active;
    /* The most this pass may admit besides the free slots: the waiting,
     * and the rate limit's due admissions (0: only expire). */
    int64_t most = q->paused ? 0 : (int64_t)(q->waiting > INT32_MAX ? INT32_MAX : q->waiting);
    int64_t now_us = now_ms > INT64_MAX / 1000 ? INT64_MAX : now_ms * 1000;
    int64_t interval_us = 0, next_us = q->next_admit_us;
    if (q->admit_rate_per_min && most > 0) {
        interval_us = INT64_C(60000000) / q->admit_rate_per_min * (throttled ? 2 : 1);
        int64_t tick_us = (pol->admit_interval_ms > 0 ? pol->admit_interval_ms : 1000) * 1000;
        int64_t credit = interval_us > tick_us ? interval_us : tick_us;
        if (next_us < now_us - credit)
            next_us = now_us - credit;
        int64_t k = next_us > now_us ? 0 : (now_us - next_us) / interval_us + 1;
        if (k < most)
            most = k;
    }
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    pg_p_i64(&p, most);
    pg_p_i64(&p, add_sat64(now_ms, pol->active_ttl_ms));
    pg_p_i64(&p, now_ms);
    pg_p_i64(&p, next_us);
    pg_p_i64(&p, interval_us);
    pg_p_i64(&p, cap);
    pg_p_bool(&p, throttled);
    PGresult *r;
    /* One statement: expire the overdue, count the live, admit the first
     * WAITING ones into the free slots (half when throttled), advance the
     * queues row. Under the queue's lock, so the snapshot is current. */
    usher_err err = pg_write(t,
        "WITH x AS (UPDATE queue_entries SET expired = true WHERE concert_id = $1 "
        "AND active_until_ms > 0 AND NOT expired AND active_until_ms <= $4::bigint RETURNING 1), "
        "l AS (SELECT count(*) AS live FROM queue_entries WHERE concert_id = $1 "
        "AND active_until_ms > 0 AND NOT expired AND active_until_ms > $4::bigint), "
        "k AS (SELECT live, GREATEST(0, LEAST($2::bigint, CASE WHEN $8::boolean "
        "THEN ($7::bigint - live + 1) / 2 ELSE $7::bigint - live END)) AS n FROM l), "
        "a AS (SELECT seq, ord FROM queue_entries WHERE concert_id = $1 AND active_until_ms = 0 "
        "AND NOT dropped AND NOT expired ORDER BY ord LIMIT (SELECT n FROM k)), "
        "u AS (UPDATE queue_entries e SET active_until_ms = $3::bigint, seen_at_ms = $4::bigint "
        "FROM a WHERE e.concert_id = $1 AND e.seq = a.seq RETURNING a.ord), "
        "n AS (SELECT count(*) AS c, max(ord) AS m FROM u), "
        "w AS (UPDATE queues q SET admit_next = n.m + 1, "
        "waiting = q.waiting - n.c, admitted_total = q.admitted_total + n.c, "
        "version = q.version + n.c, next_admit_us = $5::bigint + n.c * $6::bigint, "
        "max_active_peak = GREATEST(q.max_active_peak, $7::integer), last_admit_ms = $4::bigint "
        "FROM n WHERE (SELECT c FROM n) > 0 AND q.concert_id = $1 RETURNING " PGQ_COLS ") "
        "SELECT k.live, n.c, w.* FROM k CROSS JOIN n LEFT JOIN w ON true", &p, &r);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(r) != 1) {
        pg_done(t, r);
        return USHER_ERR_INTERNAL;
    }
    uint32_t got = (uint32_t)pg_i64(r, 0, 1);
    *live = (uint32_t)pg_i64(r, 0, 0) + got;
    if (got > 0)
        pgq_row(r, 0, 2, q);
    pg_done(t, r);
    if (admitted)
        *admitted += got;
    return USHER_ERR_OK;
}

usher_err pg_queue_pay_expire(store_txn *txn, uint64_t concert_id, uint64_t seq, int64_t now_ms)
{
    pg_queue q;
    usher_err err = pgq_lock(txn, concert_id, false, &q);
    if (err == USHER_ERR_NOT_FOUND)
        return USHER_ERR_OK;   /* no queue: no entry to expire, nobody to admit */
    if (err != USHER_ERR_OK)
        return err;
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    pg_p_u64(&p, seq);
    err = pg_write(txn, "UPDATE queue_entries SET expired = true WHERE concert_id = $1 AND seq = $2 "
                        "AND active_until_ms > 0 AND NOT expired", &p, NULL);
    if (err != USHER_ERR_OK || q.waiting == 0)
        return err;   /* nobody waits: the tick tidies expired entries */
    uint32_t live;
    return pgq_admit_all(txn, concert_id, now_ms, false, &q, &live, NULL);
}

/* The entry (concert_id, seq) as of now_ms, its position from the dropped
 * ords between the admission point and its own. */
static usher_err entry_read(store_txn *t, uint64_t concert_id, uint64_t seq, int64_t now_ms,
                            store_queue_entry *out)
{
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    pg_p_u64(&p, seq);
    PGresult *r;
    usher_err err = pg_read(t,
        "SELECT e.user_id, e.ord, e.ord IS NULL, e.active_until_ms, e.expired, e.dropped, "
        "q.concert_id IS NOT NULL, q.admit_next, q.opens_at_ms <> 0 AND NOT q.drawn, "
        "CASE WHEN e.active_until_ms = 0 AND NOT e.dropped AND e.ord IS NOT NULL "
        "AND q.dropped_total > 0 AND e.ord > q.admit_next "
        "THEN (SELECT count(*) FROM queue_entries d WHERE d.concert_id = $1 AND d.dropped "
        "AND d.ord >= q.admit_next AND d.ord < e.ord) ELSE 0 END "
        "FROM queue_entries e LEFT JOIN queues q ON q.concert_id = e.concert_id "
        "WHERE e.concert_id = $1 AND e.seq = $2", &p, &r);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(r) == 0) {
        pg_done(t, r);
        return USHER_ERR_NOT_FOUND;
    }
    *out = (store_queue_entry){ .concert_id = concert_id, .seq = seq, .position_known = true };
    if (!pg_bytes(r, 0, 0, out->user.bytes, sizeof out->user.bytes) || !pg_bool(r, 0, 6))
        err = USHER_ERR_INTERNAL;   /* a bad user id, or an entry without its queue */
    else if (pg_bool(r, 0, 5))
        out->state = STORE_QUEUE_ABANDONED;
    else if (pg_i64(r, 0, 3) == 0) {
        out->state = STORE_QUEUE_WAITING;
        uint64_t ord = (uint64_t)pg_i64(r, 0, 1), admit_next = (uint64_t)pg_i64(r, 0, 7);
        if (pg_bool(r, 0, 8))
            out->position_known = false;
        else if (pg_bool(r, 0, 2) || ord < admit_next)
            err = USHER_ERR_INTERNAL;   /* a waiting entry without a place, or behind the admission point */
        else
            out->position = ord - admit_next - (uint64_t)pg_i64(r, 0, 9) + 1;
    } else {
        out->active_until_ms = pg_i64(r, 0, 3);
        out->state = pg_bool(r, 0, 4) || now_ms >= out->active_until_ms ? STORE_QUEUE_EXPIRED
                                                                         : STORE_QUEUE_ACTIVE;
    }
    pg_done(t, r);
    return err;
}

/* The user's latest entry if it is WAITING or ACTIVE now, else a new
 * WAITING entry at the back (queue locked: the user's entries change only
 * under it, so this statement's snapshot is current). */
static usher_err find_or_append(store_txn *t, const user_id *user, uint64_t concert_id,
                                int64_t now_ms, pg_queue *q, uint64_t *seq)
{
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    pg_p_u64(&p, q->next_seq);
    pg_p_user(&p, user);
    if (pgq_undrawn(q))
        pg_p_null(&p);
    else
        pg_p_u64(&p, q->next_seq);
    pg_p_i64(&p, now_ms);
    PGresult *r;
    usher_err err = pg_write(t,
        "WITH cur AS (SELECT seq FROM (SELECT seq, dropped, active_until_ms, expired FROM queue_entries "
        "WHERE concert_id = $1 AND user_id = $3 ORDER BY seq DESC LIMIT 1) l WHERE NOT dropped "
        "AND (active_until_ms = 0 OR (NOT expired AND $5::bigint < active_until_ms))), "
        "i AS (INSERT INTO queue_entries (concert_id, seq, user_id, ord, entered_at_ms, seen_at_ms) "
        "SELECT $1::bigint, $2::bigint, $3::bytea, $4::bigint, $5::bigint, $5::bigint "
        "WHERE NOT EXISTS (SELECT 1 FROM cur) RETURNING seq), "
        "u AS (UPDATE queues SET next_seq = next_seq + 1, waiting = waiting + 1 "
        "WHERE concert_id = $1 AND EXISTS (SELECT 1 FROM i) RETURNING 1) "
        "SELECT COALESCE((SELECT seq FROM cur), (SELECT seq FROM i)), EXISTS (SELECT 1 FROM i)",
        &p, &r);
    if (err != USHER_ERR_OK)
        return err;
    *seq = (uint64_t)pg_i64(r, 0, 0);
    if (pg_bool(r, 0, 1)) {
        q->next_seq++;
        q->waiting++;
    }
    pg_done(t, r);
    return *seq ? USHER_ERR_OK : USHER_ERR_INTERNAL;
}

usher_err pg_queue_enter(store_txn *txn, const user_id *user, uint64_t concert_id,
                         int64_t now_ms, store_queue_entry *out)
{
    pg_queue q;
    usher_err err = pgq_lock(txn, concert_id, true, &q);
    if (err != USHER_ERR_OK)
        return err;
    if (pgq_undrawn(&q) && now_ms >= q.opens_at_ms &&
        (err = pgq_draw(txn, concert_id, &q)) != USHER_ERR_OK)
        return err;   /* drawn before this arrival: it is not an early one */
    uint64_t seq;
    if ((err = find_or_append(txn, user, concert_id, now_ms, &q, &seq)) != USHER_ERR_OK)
        return err;
    if (q.waiting > 0) {
        uint32_t live;
        if ((err = pgq_admit_all(txn, concert_id, now_ms, false, &q, &live, NULL)) != USHER_ERR_OK)
            return err;
    }
    return entry_read(txn, concert_id, seq, now_ms, out);
}

usher_err pg_queue_get(store_txn *txn, uint64_t concert_id, uint64_t seq, int64_t now_ms,
                       store_queue_entry *out)
{
    return entry_read(txn, concert_id, seq, now_ms, out);
}

usher_err pg_queue_touch(store_txn *txn, uint64_t concert_id, uint64_t seq, int64_t now_ms)
{
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    pg_p_u64(&p, seq);
    pg_p_i64(&p, now_ms);
    PGresult *r;
    /* Seen times are tidying (--wait-idle, --active-idle), and a touch
     * takes no queue lock: an entry row another transaction has locked (an
     * admission, a payment) is skipped rather than waited for, so a batch
     * of touches never waits in a circle with them; its next touch, a
     * second or ten later, records the time. */
    usher_err err = pg_write(txn,
        "WITH t AS (SELECT seq FROM queue_entries WHERE concert_id = $1 AND seq = $2 "
        "FOR UPDATE SKIP LOCKED), "
        "u AS (UPDATE queue_entries e SET seen_at_ms = $3::bigint FROM t "
        "WHERE e.concert_id = $1 AND e.seq = t.seq "
        "AND NOT e.dropped AND NOT e.expired AND (e.active_until_ms = 0 OR $3::bigint < e.active_until_ms) "
        "AND e.seen_at_ms < $3::bigint RETURNING 1) "
        "SELECT EXISTS (SELECT 1 FROM queue_entries WHERE concert_id = $1 AND seq = $2)", &p, &r);
    if (err != USHER_ERR_OK)
        return err;
    bool found = pg_bool(r, 0, 0);
    pg_done(txn, r);
    return found ? USHER_ERR_OK : USHER_ERR_NOT_FOUND;
}

usher_err pg_queue_progress_get(store_txn *txn, uint64_t concert_id, store_queue_progress *out)
{
    *out = (store_queue_progress){ .concert_id = concert_id };
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    PGresult *r;
    usher_err err = pg_read(txn,
        "SELECT q.concert_id IS NOT NULL, q.next_seq, q.admitted_total, q.waiting, q.version "
        "FROM concerts c LEFT JOIN queues q ON q.concert_id = c.concert_id WHERE c.concert_id = $1",
        &p, &r);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(r) == 0)
        err = USHER_ERR_NOT_FOUND;
    else if (pg_bool(r, 0, 0)) {
        out->entered_total = (uint64_t)pg_i64(r, 0, 1) - 1;
        out->admitted_total = (uint64_t)pg_i64(r, 0, 2);
        out->waiting = (uint64_t)pg_i64(r, 0, 3);
        out->version = (uint64_t)pg_i64(r, 0, 4);
    }
    pg_done(txn, r);
    return err;
}
