/* The checker's driver: the table of checks, reporting, the snapshot (its
 * page walk first), one read of every record of every named database, then
 * the areas. The shared reading helpers are in store_check_read.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "clock.h"
#include "store_check_internal.h"
#include "store_pages.h"
#include "token.h"


static const store_check_info check_table[] = {
    { "storage.damaged", "every page the snapshot reaches lies within data.mdb and is well "
                         "formed, and every record reads back without an LMDB error" },
    { "record.format", "every key and value has its database's length and shape" },
    { "meta.schema", "meta holds the schema stamp (version 3) and 8-byte id counters" },
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
    { "wallet.balance_range", "every balance a user has had (each ledger entry's balance_after) "
                              "is >= 0 and <= the balance limit" },
    { "idem.result_ref", "every remembered request_id result names records that exist and match it" },
    { "idem.age_index", "idem and idem_age agree one to one, with the same stored_at" },
    { "queue.record", "a queue belongs to an existing concert with 1 <= admit_next <= next_seq, "
                      "and every entry belongs to a queue" },
    { "queue.seq_gapless", "a concert's queue entries are exactly seqs 1..next_seq-1" },
    { "queue.order", "entries ordered below admit_next were admitted or dropped and entries at "
                     "or above it never were admitted: admission follows the order" },
    { "queue.counters", "a queue's waiting, admitted_total and dropped_total equal its entries' "
                        "states" },
    { "queue.draw", "after a pre-queue draw the early arrivals' ranks are a permutation named in "
                    "queue_order; every other entry's order is its seq (0 before the draw)" },
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
    { "index.queue_idle", "queue_idle lists exactly the live entries, each under its kind and "
                          "seen_at" },
    { "index.queue_drops", "queue_drops marks exactly the dropped entries' orders with true "
                           "counts, and every Fenwick sum equals the blocks it covers" },
    { "index.queue_busy", "every concert with waiting or unexpired admitted entries is in "
                          "queue_busy, and queue_busy names only queues" },
    { "ids.counter", "every id (concert, schedule, reservation, payment, ledger entry) is at "
                     "most the counter that issued it" },
    { "ids.unique", "no ledger entry_id appears under two users" },
    { "revocation.user", "every revocation names an existing user, and the revocations' version "
                         "counts at least every revoked user" },
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
    if (r->stop)
        return;   /* after damage or lack of memory, "absent" may only mean unread */
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
    user_id_format(user, buf);
    return buf;
}

/* ---- the driver ---- */

/* Reads every record of every named database once: damaged pages surface
 * here, as one storage.damaged report, before any area reads them. */
static void walk_everything(check_run *r)
{
    for (int db = 0; db < DB_COUNT && !r->stop; db++) {
        if (db == DB_REVOCATIONS && r->t->st->revocations_absent) continue;
        check_iter it;
        check_iter_init(&it, (enum store_db)db, NULL, 0);
        while (check_iter_next(r, &it))
            r->sum->records++;
        check_iter_end(&it);
    }
}

/* The snapshot to check, its pages walked first (store_read_begin_verified).
 * *t is NULL when the pages are damaged (reported as storage.damaged). */
static usher_err snapshot_begin(store *st, check_run *r, store_txn **t)
{
    *t = NULL;
    store_pages_report pages;
    store_pages_outcome o = store_read_begin_verified(st, t, &pages);
    r->sum->snapshot_txnid = pages.txnid;
    if (o == STORE_PAGES_SOUND)
        return USHER_ERR_OK;
    if (o == STORE_PAGES_DAMAGED) {
        check_report(r, "storage.damaged", "data.mdb is damaged: %s; restore it from a backup",
                     pages.why);
        r->sum->damaged = true;
        return USHER_ERR_OK;
    }
    fprintf(stderr, "store check: %s\n", pages.why);
    return USHER_ERR_INTERNAL;
}

usher_err lmdb_check_run(store *st, const store_check_limits *lim, int64_t now_ms,
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
        store_check_revoke(&r);
        if (!r.stop)
            out->checks = (unsigned)CHECK_COUNT;
    }
    store_txn_end(r.t);
    return r.err;
}
