/* The server's own health as admission sees it: this process's store
 * commit latency (incl. fsync) p99 over the last HEALTH_WINDOW_S seconds,
 * from the writer's commit histogram in its metrics slot. Once a second the
 * loop thread takes a snapshot of that cumulative histogram into a ring;
 * the window is the newest snapshot minus the one HEALTH_WINDOW_S seconds
 * older, so nothing is locked and the writer thread is not involved.
 * Above --admit-slow-ms (0: never) admission is throttled: the housekeeping
 * tick admits at half rate (store_tick_opts.throttled) and admin.queue.get
 * says so. Loop thread only, but for reading the throttled flag. */
#ifndef USHER_SERVER_HEALTH_H
#define USHER_SERVER_HEALTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "metrics.h"

#define HEALTH_WINDOW_S 10
#define HEALTH_BUCKETS (METRICS_COMMIT_BOUNDS + 1)

/* Snapshots of a cumulative commit histogram, one a second. */
typedef struct health_window {
    uint64_t snap[HEALTH_WINDOW_S + 1][HEALTH_BUCKETS];
    unsigned n;          /* snapshots held, up to HEALTH_WINDOW_S + 1 */
    unsigned newest;     /* index of the newest */
} health_window;

/* An empty window (p99 0, nothing slow). */
void health_window_init(health_window *w);

/* Adds the cumulative bucket counts as of now (call once a second); the
 * snapshot HEALTH_WINDOW_S + 1 pushes ago drops out. */
void health_window_push(health_window *w, const uint64_t cumulative[HEALTH_BUCKETS]);

/* Commits within the window and their p99 in µs as the histogram knows it:
 * the upper bound of the bucket holding rank ceil(0.99 n) (100 µs .. 10 s;
 * above the last bound it reports that bound). 0 and 0 when none. */
void health_window_p99(const health_window *w, uint64_t *commits, uint64_t *p99_us);

/* True when slow_ms > 0 and the window's p99 is above slow_ms. */
bool health_window_slow(const health_window *w, int64_t slow_ms);

/* One process's health state: the window, the flag it drives, and the
 * metrics slot it reads (may be NULL: never slow). */
typedef struct health {
    health_window window;
    const struct metrics_slot *commits_of;
    int64_t slow_ms;                 /* --admit-slow-ms */
    atomic_bool throttled;           /* admission halved now: written by the loop thread
                                        only, read by any (admin.queue.set/open run on
                                        the writer thread and report it too) */
} health;

/* A health reading slot's commits, with --admit-slow-ms slow_ms. */
void health_init(health *h, const struct metrics_slot *slot, int64_t slow_ms);

/* The once-a-second step: snapshot the slot, judge the window. Returns
 * true when throttled changed (the caller logs it). */
bool health_sample(health *h);

struct server;

/* Whether this process's admission is throttled now (slow commits). */
bool health_admission_throttled(const struct server *srv);

#endif
