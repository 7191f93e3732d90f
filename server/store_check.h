/* The stored-state checker behind usher-check: walks one consistent
 * snapshot of the whole store and tests every invariant the write path
 * promises (docs/store-schema.md, "Invariants"), reporting each violation by
 * a stable check name and the ids involved.
 *
 * Rules:
 * - Read only: it runs in one read transaction, so it is safe while usherd
 *   processes write to the same data dir, and it never waits for them.
 * - It never reports a state the server legally produces (lazy expiry, a
 *   seat re-held after an expired hold, entries not yet tidied by a tick).
 * - Damaged pages (LMDB MDB_CORRUPTED, MDB_PAGE_NOTFOUND, ...) met while
 *   walking are reported as "storage.damaged", not returned as errors. */
#ifndef USHER_SERVER_STORE_CHECK_H
#define USHER_SERVER_STORE_CHECK_H

#include <stdint.h>
#include "store.h"

/* The server's limits the state is judged against (pass usherd's flags). */
typedef struct store_check_limits {
    uint32_t max_holds;         /* --max-holds: live holds per user per performance */
    uint32_t max_active;        /* --max-active: live ACTIVE entries per concert */
    int64_t balance_limit_krw;  /* no wallet holds more */
} store_check_limits;

/* Limits matching usherd's defaults. */
store_check_limits store_check_limits_default(void);

/* Called once per violation: check is a stable name ("seat.sold_owner"),
 * detail a sentence naming the ids involved. Both valid during the call. */
typedef void (*store_check_report_fn)(void *ctx, const char *check, const char *detail);

typedef struct store_check_summary {
    uint64_t records;           /* records read, over every named database */
    unsigned checks;            /* named checks run (store_check_names) */
    uint64_t violations;        /* reports made */
    uint64_t snapshot_txnid;    /* LMDB transaction the snapshot shows */
    int64_t snapshot_ms;        /* the time expiry was judged by */
    bool damaged;               /* storage.damaged was reported: later checks skipped */
} store_check_summary;

/* Pass as now_ms to judge expiry by the wall clock read just after the
 * snapshot is taken, so no write in the snapshot is later than it. */
#define STORE_CHECK_NOW INT64_MIN

/* Runs every check on one snapshot of st, calling report for each violation
 * (report may be NULL to count only). *out gets the summary.
 * OK when the checks ran (whatever they found); INTERNAL when the snapshot
 * could not be taken or memory ran out (stderr says which). */
usher_err store_check_run(store *st, const store_check_limits *lim, int64_t now_ms,
                          store_check_report_fn report, void *ctx, store_check_summary *out);

/* One named check and what it asserts. */
typedef struct store_check_info {
    const char *name;
    const char *asserts;
} store_check_info;

/* Every check store_check_run runs, *n of them. */
const store_check_info *store_check_names(size_t *n);

#endif
