/* Harness, history checker, the queue rule: no entry is seen admitted
 * before an earlier entry of its concert is still seen WAITING, and no entry
 * waits again once seen admitted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------- queue */

typedef struct queue_seen {
    uint64_t concert_id, seq;
    uint32_t user;
    int64_t admitted_by;        /* earliest reply showing it admitted (FOREVER: never) */
    int64_t waiting_at;         /* latest send of a request that found it WAITING (-1: never) */
    const harness_op *admitted_op, *waiting_op, *owner_op;
} queue_seen;

/* One thing an op tells about one queue entry. */
typedef enum queue_fact { FACT_OWNER, FACT_WAITING, FACT_ADMITTED } queue_fact;

typedef struct queue_obs {
    uint64_t concert_id, seq;
    queue_fact fact;
    const harness_op *op;
} queue_obs;

typedef struct queue_obs_list {
    queue_obs *items;
    size_t n, cap;
} queue_obs_list;

/* Adds a fact about the entry the token string in map o (key) names. */
static bool obs_add(queue_obs_list *l, const msgpack_object *o, const char *key, queue_fact fact,
                    const harness_op *op)
{
    const char *s;
    size_t len;
    uint64_t concert_id, seq;
    if (!harness_find_str(o, key, &s, &len) || !harness_queue_token_entry(s, len, &concert_id, &seq))
        return true;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        queue_obs *grown = realloc(l->items, l->cap * sizeof *grown);
        if (!grown)
            return false;
        l->items = grown;
    }
    l->items[l->n++] = (queue_obs){ concert_id, seq, fact, op };
    return true;
}

static bool status_is(const harness_op *op, const char *status)
{
    const char *s;
    size_t len;
    return harness_find_str(op->result, "status", &s, &len) && len == strlen(status) && memcmp(s, status, len) == 0;
}

/* What one op tells about a queue entry: queue.enter and queue.status
 * replies say WAITING or admitted (ACTIVE, or EXPIRED with active_until);
 * a reserve or seat listing that succeeded ran while ACTIVE; QUEUE_WAITING
 * from any protected method means WAITING. */
static bool queue_observe(queue_obs_list *l, const harness_op *op)
{
    bool enter = hcheck_is(op, "queue.enter"), status = hcheck_is(op, "queue.status");
    bool protected_read = hcheck_is(op, "seat.reserve") || hcheck_is(op, "concert.seats") ||
                          hcheck_is(op, "concert.dates");
    if (op->outcome == HARNESS_OP_FAILED)
        return op->err != USHER_ERR_QUEUE_WAITING || obs_add(l, op->params, "token", FACT_WAITING, op);
    if (op->outcome != HARNESS_OP_OK)
        return true;
    if (protected_read)
        return obs_add(l, op->params, "token", FACT_ADMITTED, op);
    if (!enter && !status)
        return true;
    const msgpack_object *where = enter ? op->result : op->params;
    if (enter && !obs_add(l, where, "token", FACT_OWNER, op))
        return false;
    if (status_is(op, "WAITING"))
        return obs_add(l, where, "token", FACT_WAITING, op);
    if (status_is(op, "ACTIVE") || msg_map_get(op->result, "active_until"))
        return obs_add(l, where, "token", FACT_ADMITTED, op);
    return true;
}

static int obs_by_entry(const void *a, const void *b)
{
    const queue_obs *x = a, *y = b;
    if (x->concert_id != y->concert_id)
        return x->concert_id < y->concert_id ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return x->op->index < y->op->index ? -1 : x->op->index > y->op->index;
}

/* Folds the facts, sorted by entry, into one queue_seen per entry. */
static queue_seen *queue_fold(checker *k, queue_obs_list *l, size_t *n)
{
    queue_seen *seen = malloc((l->n + 1) * sizeof *seen);
    *n = 0;
    if (!seen)
        return NULL;
    if (l->n)
        qsort(l->items, l->n, sizeof *l->items, obs_by_entry);
    for (size_t i = 0; i < l->n; i++) {
        const queue_obs *o = &l->items[i];
        if (*n == 0 || seen[*n - 1].concert_id != o->concert_id || seen[*n - 1].seq != o->seq)
            seen[(*n)++] = (queue_seen){ .concert_id = o->concert_id, .seq = o->seq, .user = HARNESS_NO_USER,
                                         .admitted_by = FOREVER, .waiting_at = -1 };
        queue_seen *e = &seen[*n - 1];
        if (o->fact == FACT_OWNER) {
            if (e->user != HARNESS_NO_USER && e->user != o->op->user)
                hcheck_violation(k, e->owner_op, o->op, "queue entry %llu of concert %llu was given to two users",
                          (unsigned long long)e->seq, (unsigned long long)e->concert_id);
            if (e->user == HARNESS_NO_USER) {
                e->user = o->op->user;
                e->owner_op = o->op;
            }
        } else if (o->fact == FACT_WAITING && o->op->sent_ms > e->waiting_at) {
            e->waiting_at = o->op->sent_ms;
            e->waiting_op = o->op;
        } else if (o->fact == FACT_ADMITTED && o->op->replied_ms < e->admitted_by) {
            e->admitted_by = o->op->replied_ms;
            e->admitted_op = o->op;
        }
    }
    return seen;
}

/* Admission is in sequence order: an entry seen admitted before an earlier
 * one (of the same concert) was still seen WAITING is a violation; so is an
 * entry seen WAITING after it was seen admitted. "Before" is strict: times
 * are whole milliseconds, so a request sent in the millisecond a reply came
 * may have left before that reply arrived. */
void hcheck_queue(checker *k)
{
    queue_obs_list l = { 0 };
    for (size_t i = 0; i < harness_history_count(k->h); i++)
        if (!queue_observe(&l, harness_history_op(k->h, i))) {
            hcheck_violation(k, NULL, NULL, "out of memory while checking the queue");
            free(l.items);
            return;
        }
    size_t n = 0;
    queue_seen *q = queue_fold(k, &l, &n);
    const queue_seen *later = NULL;  /* the earliest-admitted entry behind the current one */
    for (size_t i = n; q && i-- > 0;) {
        const queue_seen *e = &q[i];
        if (i + 1 < n && q[i + 1].concert_id != e->concert_id)
            later = NULL;
        if (e->waiting_at >= 0 && e->waiting_at > e->admitted_by)
            hcheck_violation(k, e->admitted_op, e->waiting_op,
                             "queue entry %llu of concert %llu waits again after it was admitted",
                      (unsigned long long)e->seq, (unsigned long long)e->concert_id);
        if (later && e->waiting_at >= 0 && e->waiting_at > later->admitted_by)
            hcheck_violation(k, later->admitted_op, e->waiting_op,
                      "concert %llu: entry %llu was admitted while the earlier entry %llu still waited",
                      (unsigned long long)e->concert_id, (unsigned long long)later->seq,
                      (unsigned long long)e->seq);
        if (!later || e->admitted_by < later->admitted_by)
            later = e;
    }
    free(q);
    free(l.items);
}

