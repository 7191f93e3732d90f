/* Private to the waiting room on PostgreSQL (server/store_pg_queue*.c):
 * the queues row as C, the queue's lock, admission and the draw, shared by
 * enter/get/touch/progress (store_pg_queue.c), the tick
 * (store_pg_queue_tick.c) and the operator controls
 * (store_pg_queue_control.c). The rules are LMDB's (store_queue*.c); the
 * tables are db/postgres/001_schema.sql's queues and queue_entries. */
#ifndef USHER_SERVER_STORE_PG_QUEUE_INTERNAL_H
#define USHER_SERVER_STORE_PG_QUEUE_INTERNAL_H

#include "store_pg_internal.h"

/* One queues row. */
typedef struct pg_queue {
    uint64_t next_seq, admit_next, waiting, admitted_total, dropped_total, version;
    int64_t opens_at_ms, next_admit_us;
    bool drawn, paused;
    uint64_t drawn_n;
    uint32_t max_active, admit_rate_per_min, max_active_peak;
    int64_t last_admit_ms;       /* the latest admission time: admissions never go back before it */
} pg_queue;

/* The columns pgq_row reads, in this order (a statement's first ones). */
#define PGQ_COLS "q.next_seq, q.admit_next, q.waiting, q.admitted_total, q.dropped_total, " \
                 "q.version, q.opens_at_ms, q.next_admit_us, q.drawn, q.paused, q.drawn_n, " \
                 "q.max_active, q.admit_rate_per_min, q.max_active_peak, q.last_admit_ms"
#define PGQ_NCOLS 14

/* Row r of res from column c (PGQ_COLS) into q. */
void pgq_row(const PGresult *res, int r, int c, pg_queue *q);

/* A pre-queue is open but its draw has not happened. */
static inline bool pgq_undrawn(const pg_queue *q) { return q->opens_at_ms != 0 && !q->drawn; }

/* Locks the concert's queues row (every queue write starts here, after the
 * user's advisory lock if any) and reads it. create: makes the row first
 * when the concert exists. NOT_FOUND: no such row (create: no such concert). */
usher_err pgq_lock(store_txn *t, uint64_t concert_id, bool create, pg_queue *q);

/* Ranks the early arrivals (seqs 1..next_seq-1) by a uniformly random
 * permutation and marks the queue drawn (queue locked). */
usher_err pgq_draw(store_txn *t, uint64_t concert_id, pg_queue *q);

/* Expires overdue ACTIVE entries, draws a due pre-queue, and admits WAITING
 * entries in order within the queue's controls, as LMDB's admit_all
 * (queue locked; q is kept equal to the row). *live: live ACTIVE
 * afterwards; *admitted (may be NULL) gets the count added. */
usher_err pgq_admit_all(store_txn *t, uint64_t concert_id, int64_t now_ms, bool throttled,
                        pg_queue *q, uint32_t *live, uint32_t *admitted);

#endif
