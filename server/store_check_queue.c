/* Checks of the waiting queues. A queue is two counters plus entries:
 * WAITING entries are exactly seqs in [admit_next, next_seq), so the FIFO
 * promise becomes "every entry below admit_next was admitted and none at or
 * above it was", and gapless numbering "entries are exactly 1..next_seq-1".
 * Admission stops at max_active live entries and live entries only age out,
 * so judged at a time no earlier than any write, live ACTIVE <= max_active. */
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

/* Walks one concert's entries against its queue record. */
static void check_entries(check_run *r, uint64_t concert_id, const rec_queue *q, check_vec *live)
{
    unsigned char prefix[8];
    key_put_u64(prefix, concert_id);
    uint64_t expect = 1, active = 0;
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
        bool admitted = seq < q->admit_next;
        if (admitted != (e.active_until_ms != 0) || (!admitted && e.expired))
            check_report(r, "queue.order",
                         "concert %llu: entry %llu (user %s) is %s admit_next %llu but %s",
                         (unsigned long long)concert_id, (unsigned long long)seq,
                         check_user_str(&e.user, u), admitted ? "below" : "at or above",
                         (unsigned long long)q->admit_next,
                         admitted ? "was never admitted" : "carries an admission");
        bool is_live = !admitted || (!e.expired && e.active_until_ms > r->now_ms);
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
    if (active > r->lim.max_active)
        check_report(r, "queue.max_active",
                     "concert %llu has %llu live ACTIVE entries, more than max_active %u",
                     (unsigned long long)concert_id, (unsigned long long)active,
                     r->lim.max_active);
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

void store_check_queue(check_run *r)
{
    check_queues(r);
    check_orphans(r);
}
