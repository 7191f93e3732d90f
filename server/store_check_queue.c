/* Checks of the waiting queues. A queue is counters plus entries, each with
 * an order (its seq, or its drawn rank): admission takes orders
 * admit_next, admit_next+1, ... skipping dropped ones, so the FIFO promise
 * becomes "every entry below admit_next was admitted or dropped and none at
 * or above it was admitted", and gapless numbering "entries are exactly
 * 1..next_seq-1". Admission stops at the cap in force (max_active_peak
 * records the largest) and live entries only age out, so judged at a time
 * no earlier than any write, live ACTIVE <= that cap. */
#include <stdlib.h>
#include "store_check_internal.h"

#define QKEY_LEN (8 + 8)

typedef struct live_entry {
    user_id user;
    uint64_t seq;
} live_entry;

static int by_user_seq(const void *a, const void *b)
{
    const live_entry *x = a, *y = b;
    int c = memcmp(x->user.bytes, y->user.bytes, sizeof x->user.bytes);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The entry's order against the draw: ranked early arrivals name their
 * seq in queue_order, everyone else has order = seq (0 before the draw). */
static void check_order(check_run *r, uint64_t concert_id, const rec_queue *q, uint64_t seq,
                        const rec_queue_entry *e)
{
    bool drawn = (q->flags & QUEUE_DRAWN) != 0;
    if (drawn && seq <= q->drawn_n) {
        unsigned char key[QKEY_LEN];
        key_put_u64(key, concert_id);
        key_put_u64(key + 8, e->order);
        MDB_val v;
        uint64_t named = 0;
        if (e->order >= 1 && e->order <= q->drawn_n &&
            check_has_key(r, DB_QUEUE_ORDER, key, sizeof key, &v) && v.mv_size == sizeof named)
            memcpy(&named, v.mv_data, sizeof named);
        if (!r->stop && named != seq)
            check_report(r, "queue.draw",
                         "concert %llu: early arrival %llu has rank %llu, which queue_order "
                         "gives to %llu (drawn %llu)",
                         (unsigned long long)concert_id, (unsigned long long)seq,
                         (unsigned long long)e->order, (unsigned long long)named,
                         (unsigned long long)q->drawn_n);
        return;
    }
    bool ok = e->order == seq || (!drawn && q->opens_at_ms != 0 && e->order == 0);
    if (!ok)
        check_report(r, "queue.draw", "concert %llu: entry %llu has order %llu, not its seq",
                     (unsigned long long)concert_id, (unsigned long long)seq,
                     (unsigned long long)e->order);
}

/* Walks one concert's entries against its queue record. */
static void check_entries(check_run *r, uint64_t concert_id, const rec_queue *q, check_vec *live)
{
    unsigned char prefix[8];
    key_put_u64(prefix, concert_id);
    uint64_t expect = 1, active = 0, waiting = 0, admitted_n = 0, dropped_n = 0;
    bool undrawn = q->opens_at_ms != 0 && !(q->flags & QUEUE_DRAWN);
    char u[CHECK_USER_STR];
    check_iter it;
    check_iter_init(&it, DB_QUEUE_ENTRIES, prefix, sizeof prefix);
    while (check_iter_next(r, &it)) {
        if (it.k.mv_size != QKEY_LEN || it.v.mv_size != sizeof(rec_queue_entry))
            continue;   /* reported by the orphan walk */
        uint64_t seq = key_get_u64((const unsigned char *)it.k.mv_data + 8);
        rec_queue_entry e;
        memcpy(&e, it.v.mv_data, sizeof e);
        if (seq != expect || seq >= q->next_seq)
            check_report(r, "queue.seq_gapless",
                         "concert %llu: queue entry %llu where %llu was due (next_seq %llu)",
                         (unsigned long long)concert_id, (unsigned long long)seq,
                         (unsigned long long)expect, (unsigned long long)q->next_seq);
        expect = seq + 1;
        check_order(r, concert_id, q, seq, &e);
        bool admitted = e.active_until_ms != 0;
        bool behind = !undrawn && e.order != 0 && e.order < q->admit_next;
        bool bad = admitted ? (undrawn || !behind || e.dropped)
                            : (e.expired || (behind && !e.dropped));
        if (bad)
            check_report(r, "queue.order",
                         "concert %llu: entry %llu (user %s, order %llu) is %s admit_next %llu "
                         "but %s",
                         (unsigned long long)concert_id, (unsigned long long)seq,
                         check_user_str(&e.user, u), (unsigned long long)e.order,
                         behind ? "below" : "at or above", (unsigned long long)q->admit_next,
                         admitted ? "carries an admission" : e.expired ? "is marked expired"
                                                                      : "was never admitted");
        admitted_n += admitted;
        dropped_n += e.dropped != 0;
        waiting += !admitted && !e.dropped;
        bool is_live = !e.dropped && (!admitted || (!e.expired && e.active_until_ms > r->now_ms));
        if (admitted && is_live)
            active++;
        if (is_live) {
            live_entry le = { .user = e.user, .seq = seq };
            check_vec_push(r, live, &le);
        }
    }
    check_iter_end(&it);
    if (!r->stop && expect < q->next_seq)
        check_report(r, "queue.seq_gapless",
                     "concert %llu: queue entries end at %llu but next_seq is %llu",
                     (unsigned long long)concert_id, (unsigned long long)(expect - 1),
                     (unsigned long long)q->next_seq);
    if (!r->stop && (waiting != q->waiting || admitted_n != q->admitted_total ||
                     dropped_n != q->dropped_total))
        check_report(r, "queue.counters",
                     "concert %llu: entries say %llu waiting, %llu admitted, %llu dropped; the "
                     "queue record %llu, %llu, %llu",
                     (unsigned long long)concert_id, (unsigned long long)waiting,
                     (unsigned long long)admitted_n, (unsigned long long)dropped_n,
                     (unsigned long long)q->waiting, (unsigned long long)q->admitted_total,
                     (unsigned long long)q->dropped_total);
    uint32_t cap = r->lim.max_active > q->max_active_peak ? r->lim.max_active : q->max_active_peak;
    if (active > cap)
        check_report(r, "queue.max_active",
                     "concert %llu has %llu live ACTIVE entries, more than max_active %u",
                     (unsigned long long)concert_id, (unsigned long long)active, cap);
}

static void check_live_users(check_run *r, uint64_t concert_id, check_vec *live)
{
    check_vec_sort(live, by_user_seq);
    char u[CHECK_USER_STR];
    for (size_t i = 1; i < live->n; i++) {
        const live_entry *a = check_vec_at(live, i - 1), *b = check_vec_at(live, i);
        if (user_eq(&a->user, &b->user))
            check_report(r, "queue.user_unique",
                         "concert %llu: user %s has two live entries, %llu and %llu",
                         (unsigned long long)concert_id, check_user_str(&a->user, u),
                         (unsigned long long)a->seq, (unsigned long long)b->seq);
    }
}

static void check_queues(check_run *r)
{
    check_iter it;
    check_iter_init(&it, DB_QUEUES, NULL, 0);
    check_vec live;
    check_vec_init(&live, sizeof(live_entry));
    while (check_iter_next(r, &it)) {
        if (!check_shape(r, &it, 8, sizeof(rec_queue)))
            continue;
        uint64_t concert_id = key_get_u64(it.k.mv_data);
        rec_queue q;
        memcpy(&q, it.v.mv_data, sizeof q);
        MDB_val cv;
        if (check_get(r, DB_CONCERTS, it.k.mv_data, 8, &cv) == MDB_NOTFOUND && !r->stop)
            check_report(r, "queue.record", "queue of concert %llu: no such concert",
                         (unsigned long long)concert_id);
        if (q.next_seq < 1 || q.admit_next < 1 || q.admit_next > q.next_seq) {
            check_report(r, "queue.record",
                         "queue of concert %llu: admit_next %llu, next_seq %llu",
                         (unsigned long long)concert_id, (unsigned long long)q.admit_next,
                         (unsigned long long)q.next_seq);
            continue;
        }
        live.n = 0;
        check_entries(r, concert_id, &q, &live);
        check_live_users(r, concert_id, &live);
    }
    check_iter_end(&it);
    check_vec_free(&live);
}

/* Entries of concerts without a queue record, and malformed ones. */
static void check_orphans(check_run *r)
{
    uint64_t last = 0;
    bool any = false;   /* entries of one concert are adjacent: look its queue up once */
    check_iter it;
    check_iter_init(&it, DB_QUEUE_ENTRIES, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (!check_shape(r, &it, QKEY_LEN, sizeof(rec_queue_entry)))
            continue;
        uint64_t concert_id = key_get_u64(it.k.mv_data);
        if (any && concert_id == last)
            continue;
        any = true;
        last = concert_id;
        MDB_val v;
        if (check_get(r, DB_QUEUES, it.k.mv_data, 8, &v) == MDB_NOTFOUND && !r->stop)
            check_report(r, "queue.record", "concert %llu has queue entries but no queue record",
                         (unsigned long long)concert_id);
    }
    check_iter_end(&it);
}

/* Every queue_order key is a rank of its queue's draw (the entry side
 * checked that the rank names an entry that has it). */
static void check_order_keys(check_run *r)
{
    check_iter it;
    check_iter_init(&it, DB_QUEUE_ORDER, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (!check_shape(r, &it, QKEY_LEN, sizeof(uint64_t)))
            continue;
        uint64_t concert_id = key_get_u64(it.k.mv_data);
        uint64_t rank = key_get_u64((const unsigned char *)it.k.mv_data + 8);
        MDB_val v;
        rec_queue q;
        bool found = check_get(r, DB_QUEUES, it.k.mv_data, 8, &v) == 0 && v.mv_size == sizeof q;
        if (found)
            memcpy(&q, v.mv_data, sizeof q);
        if (!r->stop && (!found || !(q.flags & QUEUE_DRAWN) || rank < 1 || rank > q.drawn_n))
            check_report(r, "queue.draw", "concert %llu: queue_order has rank %llu outside its draw",
                         (unsigned long long)concert_id, (unsigned long long)rank);
    }
    check_iter_end(&it);
}

void store_check_queue(check_run *r)
{
    check_queues(r);
    check_orphans(r);
    check_order_keys(r);
}
