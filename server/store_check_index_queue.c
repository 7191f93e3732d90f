/* Checks that the queue's indexes agree with the queue entries, both ways:
 * queue_users names each (concert, user)'s latest entry, queue_active lists
 * exactly the admitted entries not marked expired, and queue_busy covers
 * every concert the tick must visit. */
#include <stdlib.h>
#include "store_check_internal.h"

#define QKEY_LEN (8 + 8)                /* concert_id | seq */
#define QUSER_KEY_LEN (8 + 16)          /* concert_id | user */

typedef struct user_seq {
    uint64_t concert_id;
    user_id user;
    uint64_t seq;
} user_seq;

static int by_concert_user_seq(const void *a, const void *b)
{
    const user_seq *x = a, *y = b;
    if (x->concert_id != y->concert_id)
        return x->concert_id < y->concert_id ? -1 : 1;
    int c = memcmp(x->user.bytes, y->user.bytes, sizeof x->user.bytes);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Per entry: queue_active agrees with its admitted, unexpired state. Per
 * (concert, user): queue_users names the latest entry. */
static void check_entries_to_indexes(check_run *r)
{
    char u[CHECK_USER_STR];
    check_vec latest;
    check_vec_init(&latest, sizeof(user_seq));
    uint64_t concert_id = 0;
    rec_queue q = { 0 };
    bool have_queue = false;
    check_iter it;
    check_iter_init(&it, DB_QUEUE_ENTRIES, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (it.k.mv_size != QKEY_LEN || it.v.mv_size != sizeof(rec_queue_entry))
            continue;   /* the queue walk reports the shape */
        uint64_t c = key_get_u64(it.k.mv_data), seq = key_get_u64((const unsigned char *)it.k.mv_data + 8);
        if (c != concert_id || !have_queue) {
            concert_id = c;
            MDB_val v;
            have_queue = check_get(r, DB_QUEUES, it.k.mv_data, 8, &v) == 0 && v.mv_size == sizeof q;
            if (have_queue)
                memcpy(&q, v.mv_data, sizeof q);
        }
        rec_queue_entry e;
        memcpy(&e, it.v.mv_data, sizeof e);
        user_seq us = { .concert_id = c, .user = e.user, .seq = seq };
        check_vec_push(r, &latest, &us);
        if (!have_queue)
            continue;   /* reported as queue.record */
        bool should = e.active_until_ms != 0 && !e.expired;
        MDB_val v;
        int64_t until = 0;
        bool listed = check_has_key(r, DB_QUEUE_ACTIVE, it.k.mv_data, QKEY_LEN, &v);
        if (listed && v.mv_size == sizeof until)
            memcpy(&until, v.mv_data, sizeof until);
        if (!r->stop && (listed != should || (listed && until != e.active_until_ms)))
            check_report(r, "index.queue_active",
                         "concert %llu: entry %llu (user %s, %s, active until %lld) is %s in "
                         "queue_active",
                         (unsigned long long)c, (unsigned long long)seq, check_user_str(&e.user, u),
                         e.active_until_ms == 0 ? "waiting" : e.expired ? "expired" : "admitted",
                         (long long)e.active_until_ms,
                         !listed ? "not listed" : should ? "listed with another time" : "listed");
    }
    check_iter_end(&it);
    check_vec_sort(&latest, by_concert_user_seq);
    for (size_t i = 0; i < latest.n && !r->stop; i++) {
        const user_seq *us = check_vec_at(&latest, i);
        const user_seq *next = i + 1 < latest.n ? check_vec_at(&latest, i + 1) : NULL;
        if (next && next->concert_id == us->concert_id && user_eq(&next->user, &us->user))
            continue;   /* not this user's latest */
        unsigned char key[QUSER_KEY_LEN];
        key_put_u64(key, us->concert_id);
        memcpy(key + 8, us->user.bytes, 16);
        MDB_val v;
        uint64_t seq = 0;
        bool listed = check_has_key(r, DB_QUEUE_USERS, key, sizeof key, &v);
        if (listed && v.mv_size == sizeof seq)
            memcpy(&seq, v.mv_data, sizeof seq);
        if (!r->stop && seq != us->seq)
            check_report(r, "index.queue_users",
                         "concert %llu: user %s's latest entry is %llu but queue_users %s",
                         (unsigned long long)us->concert_id, check_user_str(&us->user, u),
                         (unsigned long long)us->seq, listed ? "names another" : "has none");
    }
    check_vec_free(&latest);
}

/* Each queue_users key names an entry of that user. */
static void check_queue_users(check_run *r)
{
    char u[CHECK_USER_STR];
    check_iter it;
    check_iter_init(&it, DB_QUEUE_USERS, NULL, 0);
    while (check_iter_next(r, &it)) {
        uint64_t seq;
        if (!check_shape(r, &it, QUSER_KEY_LEN, sizeof seq))
            continue;
        memcpy(&seq, it.v.mv_data, sizeof seq);
        user_id user;
        memcpy(user.bytes, (const unsigned char *)it.k.mv_data + 8, 16);
        uint64_t concert_id = key_get_u64(it.k.mv_data);
        unsigned char key[QKEY_LEN];
        key_put_u64(key, concert_id);
        key_put_u64(key + 8, seq);
        MDB_val v;
        rec_queue_entry e;
        bool found = check_has_key(r, DB_QUEUE_ENTRIES, key, sizeof key, &v) && v.mv_size == sizeof e;
        if (found)
            memcpy(&e, v.mv_data, sizeof e);
        if (!r->stop && (!found || !user_eq(&e.user, &user)))
            check_report(r, "index.queue_users",
                         "concert %llu: queue_users names entry %llu for user %s, but it %s",
                         (unsigned long long)concert_id, (unsigned long long)seq,
                         check_user_str(&user, u), found ? "is another user's" : "does not exist");
    }
    check_iter_end(&it);
}

/* queue_active keys name entries (the entry side checked the rest); a
 * concert with waiting or listed active entries is busy; busy names queues. */
static void check_queue_busy(check_run *r)
{
    check_iter it;
    check_iter_init(&it, DB_QUEUE_ACTIVE, NULL, 0);
    uint64_t last = 0;
    bool any = false;
    while (check_iter_next(r, &it)) {
        if (!check_shape(r, &it, QKEY_LEN, sizeof(int64_t)))
            continue;
        uint64_t c = key_get_u64(it.k.mv_data), seq = key_get_u64((const unsigned char *)it.k.mv_data + 8);
        if (!check_has_key(r, DB_QUEUE_ENTRIES, it.k.mv_data, QKEY_LEN, NULL) && !r->stop)
            check_report(r, "index.queue_active",
                         "queue_active lists entry %llu of concert %llu, which does not exist",
                         (unsigned long long)seq, (unsigned long long)c);
        if (any && c == last)
            continue;
        any = true;
        last = c;
        if (!check_has_key(r, DB_QUEUE_BUSY, it.k.mv_data, 8, NULL) && !r->stop)
            check_report(r, "index.queue_busy",
                         "concert %llu has admitted entries in queue_active but is not in queue_busy",
                         (unsigned long long)c);
    }
    check_iter_end(&it);
    check_iter_init(&it, DB_QUEUES, NULL, 0);
    while (check_iter_next(r, &it)) {
        rec_queue q;
        if (it.k.mv_size != 8 || it.v.mv_size != sizeof q)
            continue;
        memcpy(&q, it.v.mv_data, sizeof q);
        if (q.waiting > 0 && !check_has_key(r, DB_QUEUE_BUSY, it.k.mv_data, 8, NULL) && !r->stop)
            check_report(r, "index.queue_busy",
                         "concert %llu has %llu waiting entries but is not in queue_busy",
                         (unsigned long long)key_get_u64(it.k.mv_data),
                         (unsigned long long)q.waiting);
    }
    check_iter_end(&it);
    check_iter_init(&it, DB_QUEUE_BUSY, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (!check_shape(r, &it, 8, CHECK_ANY_LEN))
            continue;
        if (!check_has_key(r, DB_QUEUES, it.k.mv_data, 8, NULL) && !r->stop)
            check_report(r, "index.queue_busy", "queue_busy names concert %llu, which has no queue",
                         (unsigned long long)key_get_u64(it.k.mv_data));
    }
    check_iter_end(&it);
}

void store_check_index_queue(check_run *r)
{
    check_entries_to_indexes(r);
    check_queue_users(r);
    check_queue_busy(r);
    store_check_queue_idle(r);
    store_check_queue_drops(r);
}
