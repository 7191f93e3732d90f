/* Crash tests, the judge: what one user's stored state must look like given
 * the operations the clients saw, as of an instant (a power cut's, or "now"
 * after a kill -9 and restart).
 *
 * Each operation falls in one of three classes as of the cut:
 * - MUST: acknowledged as a success before the cut: it must be there, whole;
 * - MUST NOT: refused (a failed write changes nothing), or sent after the cut;
 * - MAY: no reply before the cut: absent, or there as a whole, never half.
 * The stored state is matched to operations by what made each record unique
 * (a charge's amount, a hold's seat, a payment's reservations), so a record
 * no operation explains is reported as well. */
#ifndef USHER_TESTS_CRASH_CHECK_H
#define USHER_TESTS_CRASH_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "crash_sale.h"

#define CRASH_VIEW_MAX 65536    /* records of one kind per user */

/* One user's stored state, read through the protocol or the store. */
typedef struct crash_view {
    bool exists;                /* the user record is there */
    int64_t balance_krw;
    size_t nledger;
    struct crash_view_entry {
        int kind;               /* STORE_LEDGER_CHARGE or STORE_LEDGER_PAYMENT */
        int64_t amount_krw, balance_after_krw;
        uint64_t payment_id;
    } ledger[CRASH_VIEW_MAX];
    size_t nres;
    struct crash_view_res {
        uint64_t reservation_id, schedule_id;
        uint64_t payment_id;    /* CONFIRMED: its payment; 0 when the view cannot tell */
        uint32_t seat_no;
        int64_t price_krw;
        char status;            /* 'H' held, 'C' confirmed, 'E' expired, 'X' cancelled */
    } res[CRASH_VIEW_MAX];
    size_t npay;
    struct crash_view_pay {
        uint64_t payment_id;
        int64_t amount_krw;
        size_t n;
        uint64_t reservation_ids[STORE_HOLDS_MAX];
    } pay[CRASH_VIEW_MAX];
} crash_view;

/* What a check found, summed over users and cuts. */
typedef struct crash_tally {
    size_t checked;             /* operations judged */
    size_t must_present;        /* of which acknowledged before the cut */
    size_t may_present, may_absent; /* unanswered ones found there / not there */
    size_t violations;
    size_t print_limit;         /* violations printed at most (0: 40) */
} crash_tally;

/* Judges user ui's view against every op of the sale (those of other users
 * are skipped) for a cut at cut_ns (INT64_MAX: no cut, after a kill):
 * successes acknowledged before must_before_ns are MUST (pass cut_ns for
 * the full promise; an earlier instant judges a weaker one). Prints each
 * violation with `where` (e.g. "kill 3" or "cut 812") and adds to *t.
 * Returns the violations found here. */
size_t crash_check_user(const crash_sale *s, size_t ui, const crash_view *v, int64_t must_before_ns,
                        int64_t cut_ns, const char *where, crash_tally *t);

#endif
