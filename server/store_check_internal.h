/* Private to the checker (server/store_check*.c): the state of one run and
 * the small helpers every area uses. Each area file walks its primary
 * records in the run's one read txn and looks the others up by key, so
 * memory stays proportional to what must be grouped (live holds, queue
 * users, ledger ids), never to the whole store. */
#ifndef USHER_SERVER_STORE_CHECK_INTERNAL_H
#define USHER_SERVER_STORE_CHECK_INTERNAL_H

#include "store_check.h"
#include <stdint.h>
#include "store_internal.h"

#define CHECK_USER_STR 37        /* 8-4-4-4-12 hex and NUL */

typedef struct check_run {
    store_txn *t;
    store_check_limits lim;
    int64_t now_ms;
    store_check_report_fn report;
    void *ctx;
    store_check_summary *sum;
    bool stop;                   /* storage failed or memory ran out: no more checks */
    usher_err err;               /* INTERNAL when memory ran out */
} check_run;

/* Reports one violation of check (a name from store_check_names). */
void check_report(check_run *r, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports an LMDB failure met in db as storage.damaged and stops the run. */
void check_damaged(check_run *r, enum store_db db, int rc);

/* Stops the run for lack of memory (INTERNAL). */
void check_oom(check_run *r);

/* The user's id as a UUID string in buf (user_id_format), returned for use
 * as a printf argument. */
const char *check_user_str(const user_id *user, char buf[CHECK_USER_STR]);

/* Last id a counter issued (0 when it never did). */
uint64_t check_counter(check_run *r, enum store_counter counter);

/* Point lookup: 0 found, MDB_NOTFOUND absent; any other code was reported
 * as damage (the run stops). */
int check_get(check_run *r, enum store_db db, const void *key, size_t key_len, MDB_val *val);

/* Whether key is present in db (false when absent or the run stopped);
 * *v (may be NULL) gets its value. */
bool check_has_key(check_run *r, enum store_db db, const void *key, size_t len, MDB_val *v);

/* A walk over db in key order, optionally only keys starting with prefix.
 * Use: check_iter it; check_iter_init(&it, db, prefix, len);
 *      while (check_iter_next(r, &it)) { it.k, it.v ... } check_iter_end(&it); */
typedef struct check_iter {
    enum store_db db;
    unsigned char prefix[64];
    size_t prefix_len;
    MDB_cursor *cur;
    MDB_val k, v;
    bool started;
} check_iter;

void check_iter_init(check_iter *it, enum store_db db, const void *prefix, size_t prefix_len);
bool check_iter_next(check_run *r, check_iter *it);
void check_iter_end(check_iter *it);

#define CHECK_ANY_LEN SIZE_MAX

/* True when the walk's current key and value have these lengths
 * (CHECK_ANY_LEN: any); else reports record.format naming the database. */
bool check_shape(check_run *r, const check_iter *it, size_t key_len, size_t val_len);

/* Loads and validates a record's shape; false when absent or malformed
 * (malformed ones are reported under "record.format"). */
bool check_load_reservation(check_run *r, uint64_t id, rec_reservation *out);
bool check_load_schedule(check_run *r, uint64_t id, schedule_view *out);
bool check_load_seat(check_run *r, uint64_t schedule_id, uint32_t seat_no, rec_seat *out);

typedef struct check_payment {
    rec_payment rec;
    uint64_t ids[STORE_HOLDS_MAX];
} check_payment;

bool check_parse_payment(check_run *r, uint64_t id, const MDB_val *v, check_payment *out);
bool check_load_payment(check_run *r, uint64_t id, check_payment *out);

/* A growable array of fixed-size items (grouping and duplicate checks). */
typedef struct check_vec {
    unsigned char *items;
    size_t n, cap, size;
} check_vec;

void check_vec_init(check_vec *v, size_t item_size);
/* Appends a copy of item; false (and the run stops) when memory ran out. */
bool check_vec_push(check_run *r, check_vec *v, const void *item);
void *check_vec_at(const check_vec *v, size_t i);
void check_vec_sort(check_vec *v, int (*cmp)(const void *, const void *));
void check_vec_free(check_vec *v);

/* ---- the areas, in the order the driver runs them ---- */

void store_check_sales(check_run *r);     /* seats, reservations, holds, payments */
void store_check_wallet(check_run *r);    /* balances, ledger, payments' ledger entries */
void store_check_idem(check_run *r);      /* remembered request_id results */
void store_check_queue(check_run *r);     /* per-concert FIFO queues */
void store_check_index(check_run *r);     /* secondary indexes agree with primaries */
void store_check_index_queue(check_run *r); /* the queue's indexes (run by store_check_index) */
void store_check_queue_idle(check_run *r);  /* queue_idle (run by store_check_index_queue) */
void store_check_queue_drops(check_run *r); /* queue_drops and its sums (likewise) */
void store_check_ids(check_run *r);       /* counters, id reuse, meta */
void store_check_revoke(check_run *r);    /* revocations name users */

#endif
