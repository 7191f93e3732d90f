/* Private to the waiting queue's store files (server/store_queue*.c): the
 * record access, the entry's state as of now, admission, drops and the
 * draw, shared by enter/get (store_queue.c), admission
 * (store_queue_admit.c), the tick (store_queue_tick.c) and the operator
 * controls (store_queue_control.c). Layouts: store_internal.h. */
#ifndef USHER_SERVER_STORE_QUEUE_INTERNAL_H
#define USHER_SERVER_STORE_QUEUE_INTERNAL_H

#include "store_internal.h"

#define QKEY_LEN (8 + 8)        /* concert_id | seq */
#define QUSER_KEY_LEN (8 + 16)  /* concert_id | user */

static inline void qkey(unsigned char key[QKEY_LEN], uint64_t concert_id, uint64_t seq)
{
    key_put_u64(key, concert_id);
    key_put_u64(key + 8, seq);
}

/* A pre-queue is open but its draw has not happened: positions unknown,
 * nobody admitted. */
static inline bool queue_undrawn(const rec_queue *q)
{
    return q->opens_at_ms != 0 && !(q->flags & QUEUE_DRAWN);
}

/* A fresh queue record: nobody entered yet. */
static inline rec_queue queue_fresh(void)
{
    return (rec_queue){ .next_seq = 1, .admit_next = 1 };
}

/* Which idle walk a live entry is in. */
static inline char entry_idle_kind(const rec_queue_entry *e)
{
    return e->active_until_ms ? QUEUE_IDLE_ACTIVE : QUEUE_IDLE_WAITING;
}

usher_err queue_load(store_txn *t, uint64_t concert_id, rec_queue *q);
usher_err queue_save(store_txn *t, uint64_t concert_id, const rec_queue *q);
usher_err entry_load(store_txn *t, uint64_t concert_id, uint64_t seq, rec_queue_entry *e);
usher_err entry_save(store_txn *t, uint64_t concert_id, uint64_t seq, const rec_queue_entry *e);

/* The idle index key of (kind, seen_at, concert, seq): add or remove. */
usher_err idle_put(store_txn *t, char kind, int64_t seen_at_ms, uint64_t concert_id, uint64_t seq);
usher_err idle_del(store_txn *t, char kind, int64_t seen_at_ms, uint64_t concert_id, uint64_t seq);

/* The entry as of now_ms (its position from the dropped-order index). */
usher_err entry_fill(store_txn *t, uint64_t concert_id, uint64_t seq, const rec_queue_entry *e,
                     const rec_queue *q, int64_t now_ms, store_queue_entry *out);

/* The seq at order (the draw's rank mapping, else the same number). */
usher_err queue_seq_at(store_txn *t, uint64_t concert_id, const rec_queue *q, uint64_t order,
                       uint64_t *seq);

/* Marks an admitted entry EXPIRED and drops it from the live and idle
 * indexes. */
usher_err entry_expire(store_txn *t, uint64_t concert_id, uint64_t seq);

/* Counts the concert's live ACTIVE entries at now_ms. With expire_overdue
 * (a write transaction) the overdue ones are also marked EXPIRED on the
 * way; without it nothing is written (reads may call it). */
usher_err queue_count_live(store_txn *t, uint64_t concert_id, int64_t now_ms, bool expire_overdue,
                           uint64_t *live);

/* Drops a WAITING entry (ABANDONED): the entry, the dropped-order index,
 * the idle index and q's counters (the caller saves q). */
usher_err entry_drop(store_txn *t, uint64_t concert_id, uint64_t seq, rec_queue_entry *e,
                     rec_queue *q);

/* Expires overdue ACTIVE entries, draws a due pre-queue, and admits
 * WAITING entries in order within the queue's controls. Saves q when it
 * changed. *live gets the live ACTIVE count afterwards; *admitted (may be
 * NULL) the count added. */
usher_err admit_all(store_txn *t, uint64_t concert_id, int64_t now_ms, bool throttled,
                    rec_queue *q, uint32_t *live, uint32_t *admitted);

/* Ranks the early arrivals (seqs 1..next_seq-1) by a uniformly random
 * permutation (store_queue_control.c); saves q. */
usher_err queue_draw(store_txn *t, uint64_t concert_id, rec_queue *q);

#endif
