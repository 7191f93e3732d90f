/* Schema 2 -> 3 for the waiting queue, run once by the first writer that
 * opens an older dir (store_env.c, open_databases): queue records and
 * entries are rewritten in the longer layouts, and every live entry is
 * indexed in queue_idle as seen at the upgrade, so no one is dropped as
 * idle for time that passed before the server could see them. */
#include "store_internal.h"

typedef struct v2_queue {
    uint64_t next_seq, admit_next;
} v2_queue;

typedef struct v2_entry {
    user_id user;
    int64_t active_until_ms;
    uint32_t expired, pad;
} v2_entry;

static int put_idle(MDB_txn *txn, MDB_dbi idle, char kind, int64_t seen, const unsigned char *qkey)
{
    unsigned char key[QUEUE_IDLE_KEY_LEN];
    key[0] = (unsigned char)kind;
    key_put_time(key + 1, seen);
    memcpy(key + 9, qkey, 16);
    MDB_val k = { sizeof key, key }, v = { 0, "" };
    return mdb_put(txn, idle, &k, &v, 0);
}

static int upgrade_queues(MDB_txn *txn, const MDB_dbi *dbi)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi[DB_QUEUES], &cur);
    if (rc) return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        v2_queue old;
        if (v.mv_size != sizeof old) continue;   /* usher-check reports the shape */
        memcpy(&old, v.mv_data, sizeof old);
        rec_queue q = { .next_seq = old.next_seq, .admit_next = old.admit_next,
                        .waiting = old.next_seq - old.admit_next,
                        .admitted_total = old.admit_next - 1, .version = old.admit_next };
        MDB_val nv = { sizeof q, &q };
        if ((rc = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT)) != 0) break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int upgrade_entries(MDB_txn *txn, const MDB_dbi *dbi, int64_t now_ms)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi[DB_QUEUE_ENTRIES], &cur);
    if (rc) return rc;
    MDB_val k, v;
    uint64_t concert_id = 0, admit_next = 0;
    bool have = false;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        v2_entry old;
        if (v.mv_size != sizeof old || k.mv_size != 16) continue;
        memcpy(&old, v.mv_data, sizeof old);
        unsigned char key[16];
        memcpy(key, k.mv_data, sizeof key);
        uint64_t c = key_get_u64(key), seq = key_get_u64(key + 8);
        if (!have || c != concert_id) {
            MDB_val qk = { 8, key }, qv;
            rec_queue q;
            have = mdb_get(txn, dbi[DB_QUEUES], &qk, &qv) == 0 && qv.mv_size == sizeof q;
            if (have) memcpy(&q, qv.mv_data, sizeof q);
            concert_id = c;
            admit_next = have ? q.admit_next : UINT64_MAX;
        }
        rec_queue_entry e = { .user = old.user, .active_until_ms = old.active_until_ms,
                              .entered_at_ms = now_ms, .seen_at_ms = now_ms, .order = seq,
                              .expired = old.expired };
        MDB_val kk = { sizeof key, key }, nv = { sizeof e, &e };
        if ((rc = mdb_cursor_put(cur, &kk, &nv, MDB_CURRENT)) != 0) break;
        if (seq >= admit_next)
            rc = put_idle(txn, dbi[DB_QUEUE_IDLE], QUEUE_IDLE_WAITING, now_ms, key);
        else if (!e.expired && e.active_until_ms != 0)
            rc = put_idle(txn, dbi[DB_QUEUE_IDLE], QUEUE_IDLE_ACTIVE, now_ms, key);
        if (rc) break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_queue_upgrade_v2(MDB_txn *txn, const MDB_dbi *dbi, int64_t now_ms)
{
    int rc = upgrade_queues(txn, dbi);
    return rc ? rc : upgrade_entries(txn, dbi, now_ms);
}
