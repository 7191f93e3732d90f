/* Checks that queue_idle lists exactly the live queue entries (not dropped,
 * not marked expired), each once, under its kind (WAITING or admitted) and
 * its seen_at: the tick's idle walks trust that the index's prefix is the
 * idle entries. Enter, admission, touch, drop and expiry move the key in the
 * txn that changes the entry. */
#include "store_check_internal.h"

#define QKEY_LEN (8 + 8)

static void idle_key(unsigned char key[QUEUE_IDLE_KEY_LEN], const rec_queue_entry *e,
                     const unsigned char *qkey)
{
    key[0] = e->active_until_ms ? QUEUE_IDLE_ACTIVE : QUEUE_IDLE_WAITING;
    key_put_time(key + 1, e->seen_at_ms);
    memcpy(key + 9, qkey, QKEY_LEN);
}

static void entries_to_keys(check_run *r)
{
    check_iter it;
    check_iter_init(&it, DB_QUEUE_ENTRIES, NULL, 0);
    while (check_iter_next(r, &it)) {
        rec_queue_entry e;
        if (it.k.mv_size != QKEY_LEN || it.v.mv_size != sizeof e)
            continue;   /* the queue walk reports the shape */
        memcpy(&e, it.v.mv_data, sizeof e);
        if (e.dropped || e.expired)
            continue;
        unsigned char key[QUEUE_IDLE_KEY_LEN];
        idle_key(key, &e, it.k.mv_data);
        if (!check_has_key(r, DB_QUEUE_IDLE, key, sizeof key, NULL) && !r->stop)
            check_report(r, "index.queue_idle",
                         "concert %llu: live entry %llu (%s, seen at %lld) is not in queue_idle",
                         (unsigned long long)key_get_u64(it.k.mv_data),
                         (unsigned long long)key_get_u64((const unsigned char *)it.k.mv_data + 8),
                         e.active_until_ms ? "admitted" : "waiting", (long long)e.seen_at_ms);
    }
    check_iter_end(&it);
}

static void keys_to_entries(check_run *r)
{
    check_iter it;
    check_iter_init(&it, DB_QUEUE_IDLE, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (!check_shape(r, &it, QUEUE_IDLE_KEY_LEN, 0))
            continue;
        const unsigned char *k = it.k.mv_data;
        MDB_val v;
        rec_queue_entry e;
        bool found = check_has_key(r, DB_QUEUE_ENTRIES, k + 9, QKEY_LEN, &v) && v.mv_size == sizeof e;
        if (found)
            memcpy(&e, v.mv_data, sizeof e);
        unsigned char want[QUEUE_IDLE_KEY_LEN];
        if (found)
            idle_key(want, &e, k + 9);
        bool ok = found && !e.dropped && !e.expired && memcmp(want, k, sizeof want) == 0;
        if (!ok && !r->stop)
            check_report(r, "index.queue_idle",
                         "queue_idle lists entry %llu of concert %llu as %s seen at %lld, but it %s",
                         (unsigned long long)key_get_u64(k + 17), (unsigned long long)key_get_u64(k + 9),
                         k[0] == QUEUE_IDLE_ACTIVE ? "admitted" : "waiting", (long long)key_get_time(k + 1),
                         !found ? "does not exist"
                                : e.dropped || e.expired ? "has ended" : "says otherwise");
    }
    check_iter_end(&it);
}

void store_check_queue_idle(check_run *r)
{
    entries_to_keys(r);
    keys_to_entries(r);
}
