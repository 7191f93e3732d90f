/* The checker's driver: takes the snapshot, reads every record of every
 * named database once (so damaged pages surface as storage.damaged before
 * any area trusts the data), then runs the areas. Also the helpers the
 * area files share (store_check_internal.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "clock.h"
#include "store_check_internal.h"
#include "store_pages.h"

#define SNAPSHOT_TRIES 20   /* a walk restarts when writers reused the snapshot's meta page */

static const store_check_info check_table[] = {
    { "storage.damaged", "every record of every named database reads back without an LMDB error" },
    { "record.format", "every key and value has its database's length and shape" },
    { "meta.schema", "meta holds the schema stamp (version 1) and 8-byte id counters" },
    { "seat.schedule", "a seat record names an existing performance and a seat within it" },
    { "seat.sold_owner", "a sold seat names a CONFIRMED reservation of that seat and user, and "
                         "every CONFIRMED reservation's seat is sold to it (never sold twice)" },
    { "seat.hold_reservation", "an unsold seat record names a stored-HELD reservation of that "
                               "seat, user and expiry" },
    { "seat.double_hold", "no seat has two live holds" },
    { "hold.seat_backref", "every live HELD reservation's seat record names it back" },
    { "hold.limit", "no user has more than max_holds live holds on one performance" },
    { "reservation.schedule", "a reservation's performance exists, belongs to its concert, holds "
                              "its seat, and its price is that seat's price" },
    { "reservation.payment", "a CONFIRMED reservation belongs to exactly one payment, of the same "
                             "user and concert, that lists it; no other status names a payment" },
    { "payment.amount", "a payment's amount is the sum of its reservations' prices" },
    { "payment.ledger", "every payment has exactly one PAYMENT ledger entry, of the payer, for "
                        "minus its amount" },
    { "ledger.entry", "CHARGE entries are positive and name no payment; PAYMENT entries are not "
                      "positive and name an existing payment of the same user" },
    { "ledger.running_balance", "each ledger entry's balance_after is the running sum of the "
                                "user's entries in id order" },
    { "wallet.balance_sum", "every balance equals the sum of the user's ledger entries" },
    { "wallet.balance_range", "every balance is >= 0 and <= the balance limit" },
    { "idem.result_ref", "every remembered request_id result names records that exist and match it" },
    { "idem.age_index", "idem and idem_age agree one to one, with the same stored_at" },
    { "queue.record", "a queue belongs to an existing concert with 1 <= admit_next <= next_seq, "
                      "and every entry belongs to a queue" },
    { "queue.seq_gapless", "a concert's queue entries are exactly seqs 1..next_seq-1" },
    { "queue.order", "entries below admit_next were admitted and entries at or above it never "
                     "were: every admitted seq is below every waiting seq" },
    { "queue.max_active", "no concert has more than max_active live ACTIVE entries" },
    { "queue.user_unique", "a user has at most one live (WAITING or ACTIVE) entry per concert" },
    { "concert.schedules", "a concert's schedule count equals its performances, and every "
                           "performance's concert exists" },
    { "index.res_by_user", "res_by_user and reservations agree one to one" },
    { "index.pay_by_user", "pay_by_user and payments agree one to one" },
    { "index.held", "held lists exactly the stored-HELD reservations, with their expiry" },
    { "index.hold_expiry", "hold_expiry lists exactly the stored-HELD reservations' expiries" },
    { "index.dates", "dates lists exactly the performances by (concert, starts_at)" },
    { "index.queue_users", "queue_users names each (concert, user)'s latest entry, and every "
                           "user with an entry has one" },
    { "index.queue_active", "queue_active lists exactly the admitted, unexpired entries, with "
                            "their active_until" },
    { "index.queue_busy", "every concert with waiting or unexpired admitted entries is in "
                          "queue_busy, and queue_busy names only queues" },
    { "ids.counter", "every id (concert, schedule, reservation, payment, ledger entry) is at "
                     "most the counter that issued it" },
    { "ids.unique", "no ledger entry_id appears under two users" },
};

#define CHECK_COUNT (sizeof check_table / sizeof check_table[0])

const store_check_info *store_check_names(size_t *n)
{
    *n = CHECK_COUNT;
    return check_table;
}

store_check_limits store_check_limits_default(void)
{
    store_options o = store_options_default();
    return (store_check_limits){ .max_holds = o.policy.max_holds,
                                 .max_active = o.policy.max_active,
                                 .balance_limit_krw = o.policy.balance_limit_krw };
}

/* ---- reporting ---- */

void check_report(check_run *r, const char *check, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    r->sum->violations++;
    if (r->report)
        r->report(r->ctx, check, detail);
}

void check_damaged(check_run *r, enum store_db db, int rc)
{
    if (r->stop)
        return;
    check_report(r, "storage.damaged", "reading %s: %s: the file is damaged; restore it from a backup",
                 store_db_name(db), mdb_strerror(rc));
    r->sum->damaged = true;
    r->stop = true;
}

void check_oom(check_run *r)
{
    if (!r->stop)
        fprintf(stderr, "store check: out of memory\n");
    r->stop = true;
    r->err = USHER_ERR_INTERNAL;
}

const char *check_user_str(const user_id *user, char buf[CHECK_USER_STR])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buf[o++] = '-';
        buf[o++] = hex[user->bytes[i] >> 4];
        buf[o++] = hex[user->bytes[i] & 15];
    }
    buf[o] = 0;
    return buf;
}

const char *check_db_name(enum store_db db)
{
    return store_db_name(db);
}

/* ---- reading ---- */

int check_get(check_run *r, enum store_db db, const void *key, size_t key_len, MDB_val *val)
{
    if (r->stop)
        return MDB_NOTFOUND;
    int rc = store_get(r->t, db, key, key_len, val);
    if (rc != 0 && rc != MDB_NOTFOUND)
        check_damaged(r, db, rc);
    return rc;
}

uint64_t check_counter(check_run *r, enum store_counter counter)
{
    const char *name = store_counter_key(counter);
    MDB_val v;
    uint64_t last = 0;
    if (check_get(r, DB_META, name, strlen(name), &v) == 0 && v.mv_size == sizeof last)
        memcpy(&last, v.mv_data, sizeof last);
    return last;
}

void check_iter_init(check_iter *it, enum store_db db, const void *prefix, size_t prefix_len)
{
    memset(it, 0, sizeof *it);
    it->db = db;
    if (prefix_len > sizeof it->prefix)
        prefix_len = sizeof it->prefix;
    if (prefix_len)
        memcpy(it->prefix, prefix, prefix_len);
    it->prefix_len = prefix_len;
}

bool check_iter_next(check_run *r, check_iter *it)
{
    if (r->stop)
        return false;
    int rc;
    if (!it->started) {
        it->started = true;
        rc = mdb_cursor_open(r->t->txn, r->t->st->dbi[it->db], &it->cur);
        if (rc) {
            it->cur = NULL;
            check_damaged(r, it->db, rc);
            return false;
        }
        if (it->prefix_len) {
            it->k = (MDB_val){ it->prefix_len, it->prefix };
            rc = mdb_cursor_get(it->cur, &it->k, &it->v, MDB_SET_RANGE);
        } else {
            rc = mdb_cursor_get(it->cur, &it->k, &it->v, MDB_FIRST);
        }
    } else if (!it->cur) {
        return false;
    } else {
        rc = mdb_cursor_get(it->cur, &it->k, &it->v, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND)
        return false;
    if (rc) {
        check_damaged(r, it->db, rc);
        return false;
    }
    if (it->prefix_len && (it->k.mv_size < it->prefix_len ||
                           memcmp(it->k.mv_data, it->prefix, it->prefix_len) != 0))
        return false;
    return true;
}

bool check_shape(check_run *r, const check_iter *it, size_t key_len, size_t val_len)
{
    if ((key_len == CHECK_ANY_LEN || it->k.mv_size == key_len) &&
        (val_len == CHECK_ANY_LEN || it->v.mv_size == val_len))
        return true;
    check_report(r, "record.format", "%s: a record of %zu/%zu bytes (key/value)",
                 store_db_name(it->db), it->k.mv_size, it->v.mv_size);
    return false;
}

void check_iter_end(check_iter *it)
{
    if (it->cur)
        mdb_cursor_close(it->cur);
    it->cur = NULL;
}

/* ---- record loaders ---- */

bool check_load_reservation(check_run *r, uint64_t id, rec_reservation *out)
{
    unsigned char key[8];
    key_put_u64(key, id);
    MDB_val v;
    if (check_get(r, DB_RESERVATIONS, key, sizeof key, &v) != 0)
        return false;
    if (v.mv_size != sizeof *out)
        return false;   /* the reservations walk reports the shape */
    memcpy(out, v.mv_data, sizeof *out);
    return true;
}

bool check_load_schedule(check_run *r, uint64_t id, schedule_view *out)
{
    unsigned char key[8];
    key_put_u64(key, id);
    MDB_val v;
    if (check_get(r, DB_SCHEDULES, key, sizeof key, &v) != 0 || v.mv_size < sizeof out->rec)
        return false;
    memcpy(&out->rec, v.mv_data, sizeof out->rec);
    if (out->rec.seats < 1 || out->rec.seats > STORE_SEATS_MAX ||
        v.mv_size != sizeof out->rec + (size_t)out->rec.seats * sizeof(int64_t))
        return false;
    out->prices = (const unsigned char *)v.mv_data + sizeof out->rec;
    return true;
}

bool check_load_seat(check_run *r, uint64_t schedule_id, uint32_t seat_no, rec_seat *out)
{
    unsigned char key[SEAT_KEY_LEN];
    seat_key(key, schedule_id, seat_no);
    MDB_val v;
    if (check_get(r, DB_SEATS, key, sizeof key, &v) != 0 || v.mv_size != sizeof *out)
        return false;
    memcpy(out, v.mv_data, sizeof *out);
    return true;
}

bool check_parse_payment(check_run *r, uint64_t id, const MDB_val *v, check_payment *out)
{
    (void)r;
    (void)id;
    if (v->mv_size < sizeof out->rec)
        return false;
    memcpy(&out->rec, v->mv_data, sizeof out->rec);
    uint32_t n = out->rec.n_reservations;
    if (n < 1 || n > STORE_HOLDS_MAX || v->mv_size != sizeof out->rec + (size_t)n * sizeof(uint64_t))
        return false;
    memcpy(out->ids, (const unsigned char *)v->mv_data + sizeof out->rec, (size_t)n * sizeof(uint64_t));
    return true;
}

bool check_load_payment(check_run *r, uint64_t id, check_payment *out)
{
    unsigned char key[8];
    key_put_u64(key, id);
    MDB_val v;
    if (check_get(r, DB_PAYMENTS, key, sizeof key, &v) != 0)
        return false;
    return check_parse_payment(r, id, &v, out);
}

/* ---- vectors ---- */

void check_vec_init(check_vec *v, size_t item_size)
{
    *v = (check_vec){ .size = item_size };
}

bool check_vec_push(check_run *r, check_vec *v, const void *item)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        unsigned char *items = realloc(v->items, cap * v->size);
        if (!items) {
            check_oom(r);
            return false;
        }
        v->items = items;
        v->cap = cap;
    }
    memcpy(v->items + v->n * v->size, item, v->size);
    v->n++;
    return true;
}

void *check_vec_at(const check_vec *v, size_t i)
{
    return v->items + i * v->size;
}

void check_vec_sort(check_vec *v, int (*cmp)(const void *, const void *))
{
    if (v->n > 1)
        qsort(v->items, v->n, v->size, cmp);
}

void check_vec_free(check_vec *v)
{
    free(v->items);
    *v = (check_vec){ .size = v->size };
}

/* ---- the driver ---- */

/* Reads every record of every named database once: damaged pages surface
 * here, as one storage.damaged report, before any area reads them. */
static void walk_everything(check_run *r)
{
    for (int db = 0; db < DB_COUNT && !r->stop; db++) {
        check_iter it;
        check_iter_init(&it, (enum store_db)db, NULL, 0);
        while (check_iter_next(r, &it))
            r->sum->records++;
        check_iter_end(&it);
    }
}

/* Takes the snapshot and walks its pages (store_pages.h) before LMDB may
 * read any of them: LMDB aborts on some damaged pages rather than failing.
 * *t is the snapshot to check, or NULL when the pages are damaged. */
static usher_err snapshot_begin(store *st, check_run *r, store_txn **t)
{
    for (int attempt = 0; attempt < SNAPSHOT_TRIES; attempt++) {
        usher_err err = store_read_begin(st, t);
        if (err != USHER_ERR_OK)
            return err;
        store_pages_report pages;
        store_pages_outcome o = store_pages_verify(st->env, (*t)->txn, &pages);
        r->sum->snapshot_txnid = (uint64_t)mdb_txn_id((*t)->txn);
        if (o == STORE_PAGES_SOUND)
            return USHER_ERR_OK;
        store_txn_end(*t);
        *t = NULL;
        if (o == STORE_PAGES_DAMAGED) {
            check_report(r, "storage.damaged", "data.mdb is damaged: %s; restore it from a backup",
                         pages.why);
            r->sum->damaged = true;
            return USHER_ERR_OK;
        }
        if (o == STORE_PAGES_FAILED) {
            fprintf(stderr, "store check: %s\n", pages.why);
            return USHER_ERR_INTERNAL;
        }
    }
    fprintf(stderr, "store check: writers kept replacing the snapshot; try again\n");
    return USHER_ERR_INTERNAL;
}

usher_err store_check_run(store *st, const store_check_limits *lim, int64_t now_ms,
                          store_check_report_fn report, void *ctx, store_check_summary *out)
{
    memset(out, 0, sizeof *out);
    check_run r = { .lim = *lim, .report = report, .ctx = ctx, .sum = out, .err = USHER_ERR_OK };
    usher_err err = USHER_ERR_OK;
    if (store_damage(st)) {   /* found at open: not one page may be read */
        check_report(&r, "storage.damaged", "%s; restore it from a backup", store_damage(st));
        out->damaged = true;
    } else {
        err = snapshot_begin(st, &r, &r.t);
    }
    /* Read after the snapshot began: every write it shows was made at or
     * before this instant, so "live" means the same as it did to them. */
    r.now_ms = now_ms == STORE_CHECK_NOW ? clock_now_ms() : now_ms;
    out->snapshot_ms = r.now_ms;
    out->checks = 1;
    if (err != USHER_ERR_OK || !r.t)
        return err;

    walk_everything(&r);
    if (!r.stop) {
        store_check_ids(&r);
        store_check_sales(&r);
        store_check_wallet(&r);
        store_check_idem(&r);
        store_check_queue(&r);
        store_check_index(&r);
        if (!r.stop)
            out->checks = (unsigned)CHECK_COUNT;
    }
    store_txn_end(r.t);
    return r.err;
}
