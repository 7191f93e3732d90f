/* Checks of meta: the schema stamp, the counters' shape, and that no
 * primary record carries an id its counter has not issued yet (a counter
 * behind its ids would hand one out twice). Ledger entry ids are checked
 * with the ledger (store_check_wallet.c). */
#include "store_check_internal.h"

static const struct {
    enum store_counter counter;
    enum store_db db;
    const char *what;
} counted[] = {
    { COUNTER_CONCERT, DB_CONCERTS, "concert" },
    { COUNTER_SCHEDULE, DB_SCHEDULES, "schedule" },
    { COUNTER_RESERVATION, DB_RESERVATIONS, "reservation" },
    { COUNTER_PAYMENT, DB_PAYMENTS, "payment" },
};

static void check_meta(check_run *r)
{
    MDB_val v;
    int rc = check_get(r, DB_META, "schema", 6, &v);
    uint32_t version = 0;
    if (rc == 0 && v.mv_size == sizeof version)
        memcpy(&version, v.mv_data, sizeof version);
    if (rc != MDB_NOTFOUND && r->stop)
        return;
    if (version != 3)   /* older dirs are refused by the read-only open before this */
        check_report(r, "meta.schema", "meta: the schema stamp is %s",
                     rc == MDB_NOTFOUND ? "missing" : "not version 3");
    for (int c = COUNTER_CONCERT; c <= COUNTER_LEDGER; c++) {
        const char *name = store_counter_key((enum store_counter)c);
        rc = check_get(r, DB_META, name, strlen(name), &v);
        if (rc == 0 && v.mv_size != sizeof(uint64_t))
            check_report(r, "meta.schema", "meta: counter %s is %zu bytes, not 8", name, v.mv_size);
    }
}

/* The highest id of a database keyed by a big-endian u64 id: its last key. */
static bool last_id(check_run *r, enum store_db db, uint64_t *id)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(r->t->txn, r->t->st->dbi[db], &cur);
    if (rc) {
        check_damaged(r, db, rc);
        return false;
    }
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    bool found = rc == 0 && k.mv_size == 8;
    if (found)
        *id = key_get_u64(k.mv_data);
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        check_damaged(r, db, rc);
    return found;
}

static void check_counters(check_run *r)
{
    for (size_t i = 0; i < sizeof counted / sizeof counted[0] && !r->stop; i++) {
        uint64_t last, counter = check_counter(r, counted[i].counter);
        if (last_id(r, counted[i].db, &last) && last > counter)
            check_report(r, "ids.counter", "%s %llu is above the %s counter %llu", counted[i].what,
                         (unsigned long long)last, store_counter_key(counted[i].counter),
                         (unsigned long long)counter);
    }
}

void store_check_ids(check_run *r)
{
    check_meta(r);
    check_counters(r);
}
