/* Process figures of one usherd (requests, latency, commits, connections),
 * kept in one shared anonymous mapping made before --workers forks: one
 * slot per worker, each slot written only by the process serving it (and,
 * within it, each field by one thread: requests and connections by the loop
 * thread, commits by the writer thread), so a hook is a relaxed atomic load
 * and store, no lock and no read-modify-write bus lock. Any process reads
 * every slot to sum them (metrics_sum), so whichever worker answers a scrape
 * or sys.stats reports the whole usherd. A replacement worker takes over its
 * slot: counters go on from where the dead one left them, gauges restart. */
#ifndef USHER_SERVER_METRICS_H
#define USHER_SERVER_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../protocol/errors.h"
#include "../protocol/methods.h"

/* Request rows: one per method, and the last for a request whose method is
 * unknown or could not be read (reported as method "-"). */
#define METRICS_METHOD_ROWS (USHER_METHOD__COUNT + 1)
#define METRICS_METHOD_UNKNOWN USHER_METHOD__COUNT

/* Histogram bounds (upper, inclusive); each histogram has one more bucket
 * for what is above its last bound (+Inf). */
#define METRICS_LATENCY_BOUNDS 17   /* request duration, µs: 50 µs .. 10 s */
#define METRICS_WRITES_BOUNDS 11    /* writes per group commit: 1 .. 1024 */
#define METRICS_COMMIT_BOUNDS 14    /* store commit incl. fsync, µs: 100 µs .. 10 s */
extern const uint64_t metrics_latency_bounds_us[METRICS_LATENCY_BOUNDS];
extern const uint64_t metrics_writes_bounds[METRICS_WRITES_BOUNDS];
extern const uint64_t metrics_commit_bounds_us[METRICS_COMMIT_BOUNDS];

typedef _Atomic uint64_t metrics_counter;

/* One process's figures. */
typedef struct metrics_slot {
    metrics_counter requests[METRICS_METHOD_ROWS][USHER_ERR__COUNT];
    metrics_counter latency_buckets[METRICS_METHOD_ROWS][METRICS_LATENCY_BOUNDS + 1];
    metrics_counter latency_sum_us[METRICS_METHOD_ROWS];
    metrics_counter commits;
    metrics_counter commit_writes;
    metrics_counter writes_buckets[METRICS_WRITES_BOUNDS + 1];
    metrics_counter commit_us;
    metrics_counter commit_buckets[METRICS_COMMIT_BOUNDS + 1];
    metrics_counter conns_open;        /* a gauge */
    metrics_counter conns_accepted;
    metrics_counter conns_refused;     /* answered OVERLOADED: --max-conns or no descriptor */
    metrics_counter admission_throttled; /* a gauge: 1 while this process admits at half rate */
} metrics_slot;

/* The mapping: a header and n_slots slots. */
typedef struct metrics_block {
    unsigned n_slots;
    int64_t started_mono_us;           /* when usherd started (CLOCK_MONOTONIC, host-wide) */
    metrics_slot slot[];
} metrics_block;

/* Every slot summed, plain numbers (what a report is made from). */
typedef struct metrics_totals {
    uint64_t requests[METRICS_METHOD_ROWS][USHER_ERR__COUNT];
    uint64_t latency_buckets[METRICS_METHOD_ROWS][METRICS_LATENCY_BOUNDS + 1];
    uint64_t latency_sum_us[METRICS_METHOD_ROWS];
    uint64_t commits, commit_writes, commit_us;
    uint64_t writes_buckets[METRICS_WRITES_BOUNDS + 1];
    uint64_t commit_buckets[METRICS_COMMIT_BOUNDS + 1];
    uint64_t conns_open, conns_accepted, conns_refused;
    uint64_t admission_throttled;      /* processes admitting at half rate (health.h) */
    unsigned processes;
    uint64_t uptime_s;
} metrics_totals;

/* A shared anonymous mapping of n_slots zeroed slots (made before fork:
 * every child sees the same pages). NULL when mmap fails. */
metrics_block *metrics_block_new(unsigned n_slots);

/* Unmaps it (each process drops its own view). NULL is a no-op. */
void metrics_block_free(metrics_block *b);

/* Slot i, for the process that serves it: its gauges restart at 0. */
metrics_slot *metrics_slot_claim(metrics_block *b, unsigned i);

/* Hooks: the owner thread of the field only. slot may be NULL (no-op). */
void metrics_note_request(metrics_slot *s, unsigned method_row, usher_err code, int64_t us);
void metrics_note_reply_only(metrics_slot *s, usher_err code);  /* "-" row, no duration */
void metrics_note_commit(metrics_slot *s, uint64_t writes, int64_t us);
void metrics_note_conn_open(metrics_slot *s, size_t open);      /* sets the gauge */
void metrics_note_conn_accepted(metrics_slot *s);
void metrics_note_conn_refused(metrics_slot *s);
void metrics_note_admission_throttled(metrics_slot *s, bool throttled); /* sets the gauge */

/* Sums every slot into *out, with processes = n_slots and the uptime as of
 * now_mono_us. b may be NULL: all zeros. */
void metrics_sum(const metrics_block *b, int64_t now_mono_us, metrics_totals *out);

/* Wire name of a request row: the method's, or "-". */
const char *metrics_method_row_name(unsigned row);

/* Requests of a row (all codes) and the upper bound of the latency bucket
 * that holds rank ceil(q * count) (q in 0..1); a rank above the last bound
 * reports the last bound. */
uint64_t metrics_row_count(const metrics_totals *t, unsigned row);
uint64_t metrics_row_quantile_us(const metrics_totals *t, unsigned row, double q);

/* Request rows in report order: by method name, then by code name, rows
 * with count 0 left out. Fills rows[] (cap entries) and returns how many. */
typedef struct metrics_request_row {
    unsigned method_row;
    usher_err code;
    uint64_t count;
} metrics_request_row;
#define METRICS_REQUEST_ROWS_MAX (METRICS_METHOD_ROWS * USHER_ERR__COUNT)
size_t metrics_request_rows(const metrics_totals *t, metrics_request_row *rows, size_t cap);

/* Method rows in name order (every row, counts not checked). */
void metrics_method_rows_sorted(unsigned rows[METRICS_METHOD_ROWS]);

#endif
