/* Harness, history checker internals: the checker's state and the pieces
 * its rule files share (harness_history_check.c drives them; the holds,
 * money and queue rules each live in their own harness_history_*.c). Only
 * those files include this header. */
#ifndef USHER_TESTS_HARNESS_HISTORY_RULES_H
#define USHER_TESTS_HARNESS_HISTORY_RULES_H

#include "harness_history.h"

#define FOREVER INT64_MAX

typedef struct checker {
    const harness_history *h;
    const char *label;
    size_t violations;
    harness_check_counts counts;
    size_t *rule;               /* the count of the rule being checked */
} checker;

/* Counts one violation under k->rule and prints it with up to two ops (NULL
 * for none). */
void hcheck_violation(checker *k, const harness_op *a, const harness_op *b, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* True when op is a request of method. */
bool hcheck_is(const harness_op *op, const char *method);

/* Deep equality of two msgpack objects; maps compare regardless of order. */
bool hcheck_obj_equal(const msgpack_object *a, const msgpack_object *b);

/* Reservation ids of a payment op, from its params, into ids[cap]; the count. */
size_t hcheck_pay_ids(const harness_op *op, uint64_t *ids, size_t cap);

/* One acknowledged hold, by reservation_id. */
typedef struct hold {
    uint64_t rid, schedule_id;
    uint32_t seat_no, user;
    int64_t expires_at, price;
    int64_t certain_from;       /* earliest reply that showed it: live from here */
    int64_t ends_by;            /* earliest sent of a cancel that may have ended it */
    const harness_op *first, *cancel, *paid;
    bool cancelled;             /* a cancel was acknowledged */
} hold;

typedef struct hold_index {
    hold *items;
    size_t n, cap;
} hold_index;

/* The hold with reservation rid, or NULL. */
hold *hcheck_hold_find(const hold_index *ix, uint64_t rid);

/* The hold rules: gathers every acknowledged hold into *ix (sorted by id;
 * the caller frees ix->items) and reports provable overlaps and holds the
 * final state contradicts. False on OOM. */
bool hcheck_holds(checker *k, hold_index *ix);

/* The money rules, per wallet with a final state, using the holds' prices
 * for unanswered payments; retries under k->counts.retries. False on OOM. */
bool hcheck_money(checker *k, const hold_index *ix);

/* The queue rule: admissions in sequence order. */
void hcheck_queue(checker *k);

#endif
