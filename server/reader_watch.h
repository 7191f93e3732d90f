/* Frozen-reader watch: remembers, across the reader checks of one process,
 * how long each reader slot has held the same snapshot while newer commits
 * went on (a process stopped, or stuck, inside a read transaction pins every
 * page freed after its snapshot, so the data file grows at the write rate
 * until the map is full). It only judges; server.c logs and acts.
 * Loop thread only; no I/O except reader_proc_inspect. */
#ifndef USHER_SERVER_READER_WATCH_H
#define USHER_SERVER_READER_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "store.h"

#define READER_WATCH_SLOTS 512          /* slots remembered (LMDB's table is smaller) */

typedef struct reader_watch_entry {
    int pid;
    uint64_t txnid;
    int64_t since_ms;                   /* first seen on this snapshot (monotonic) */
    int64_t logged_ms;                  /* last time it was reported, 0: never */
} reader_watch_entry;

typedef struct reader_watch {
    int64_t timeout_ms;                 /* --reader-timeout: overdue past this */
    int self_pid;                       /* this process: never judged */
    reader_watch_entry entry[READER_WATCH_SLOTS];
    size_t n;
} reader_watch;

typedef enum reader_verdict {
    READER_LAGGING = 1,                 /* held one old snapshot past timeout/2 */
    READER_OVERDUE = 2,                 /* ... past the whole timeout */
} reader_verdict;

/* A slot worth acting on. */
typedef struct reader_lag {
    int pid;
    uint64_t txnid;
    uint64_t behind;                    /* commits made since its snapshot */
    int64_t held_ms;                    /* how long it has held it, as far as we saw */
    reader_verdict verdict;
    bool log_due;                       /* first report, or the last one is a timeout old */
} reader_lag;

/* An empty watch for this process with --reader-timeout timeout_ms. */
void reader_watch_init(reader_watch *rw, int self_pid, int64_t timeout_ms);

/* Feeds one reader listing taken at now_ms (monotonic): slots[0..n) and the
 * newest txnid. Forgets slots that moved on or went away. Fills out[] (up to
 * cap) with every lagging or overdue slot (a slot at the newest txnid pins
 * nothing and is never reported) and returns how many; marks those with
 * log_due as reported now. */
size_t reader_watch_scan(reader_watch *rw, const store_reader *slots, size_t n,
                         uint64_t last_txnid, int64_t now_ms, reader_lag *out, size_t cap);

/* What the kernel says of pid: its command name (/proc/PID/comm, at most 15
 * characters) and state letter ('T' = stopped by a signal, 't' = stopped by
 * a debugger). False when the process is gone. */
bool reader_proc_inspect(int pid, char comm[16], char *state);

#endif
