/* The writer thread and group commit. Write requests submitted during one
 * loop turn are handed over together (writer_flush, from an ev_prepare
 * watcher); the thread runs every request it has in one LMDB write
 * transaction, each in its own child transaction so a failure rolls back
 * only that request, commits once, and hands the batch back to the loop
 * (ev_async), which sends the replies: nobody hears OK before the commit
 * is durable. Under --sync meta (STORE_SYNC_META) a commit's meta page is
 * durable only after the next data sync, so a batch's replies wait for the
 * next batch's commit, or for an explicit sync when no batch is waiting.
 * A batch whose transaction cannot begin or whose commit fails stores
 * nothing, and every request of it is answered with that error.
 * While the thread waits for the write lock or for fsync, the loop thread
 * keeps serving reads from MVCC snapshots. Before each group commit the
 * thread clears the reader slots of dead processes, and a request or commit
 * that finds the map full is tried once more when that cleared any. */
#ifndef USHER_SERVER_WRITER_H
#define USHER_SERVER_WRITER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "request.h"
#include "store.h"

typedef struct writer writer;

/* Called on the loop thread for each finished request. */
typedef void (*writer_done_fn)(void *ctx, request *req);

/* Starts the thread. NULL on failure. */
writer *writer_start(struct ev_loop *loop, store *st, size_t batch_max,
                     writer_done_fn done, void *ctx);

/* Pool mode, for a remote store (store_is_remote: every call waits on the
 * network): `threads` database threads instead of the one group-commit
 * thread. Each takes ONE request at a time and runs it in its own
 * top-level transaction: a read transaction for a method without
 * METHOD_WRITE, a write transaction otherwise (housekeeping and queue_seen
 * jobs too), committed alone. There is no shared batch: the database
 * groups concurrent commits' log flushes itself, and a shared transaction
 * would hold every request's row locks until its one commit. Requests of
 * one connection run one after another in the order they came; those of
 * different connections run at once. A begin or commit error (UNAVAILABLE
 * when the database cannot be reached) is that request's answer.
 * threads 0 is writer_start. */
writer *writer_start_pool(struct ev_loop *loop, store *st, size_t batch_max, unsigned threads,
                          writer_done_fn done, void *ctx);

/* True when w runs a pool (writer_start_pool with threads > 0). */
bool writer_is_pool(const writer *w);

/* A job with a callback: run(ctx, st) on a database thread, then done(ctx)
 * on the loop thread. This is how the loop's own store reads (the queue
 * watchers' poll, the revocation refresh, the metrics figures) leave the
 * loop for a remote store. Without a pool (LMDB: reads never wait) both
 * are called right here, before this returns, as the loop always read.
 * False when out of memory: neither is called. Loop thread. */
typedef struct writer_job writer_job;
typedef void (*writer_job_run_fn)(void *ctx, store *st);
typedef void (*writer_job_done_fn)(void *ctx);
bool writer_job_submit(writer *w, writer_job_run_fn run, writer_job_done_fn done, void *ctx);

/* Queues a request (loop thread); it reaches the thread at writer_flush. */
void writer_submit(writer *w, request *req);

/* Hands every queued request to the thread (loop thread, once per turn). */
void writer_flush(writer *w);

/* Group commits made so far and the requests they carried (any thread). */
void writer_counts(writer *w, uint64_t *batches, uint64_t *requests);

/* Counts every group commit into slot (its commit count, writes carried and
 * time in store_txn_commit incl. fsync), from the writer thread. Call it
 * before the first writer_submit. */
struct metrics_slot;
void writer_count_into(writer *w, struct metrics_slot *slot);

/* Runs the queued work, then stops and joins the thread; replies of work
 * finished meanwhile are delivered through done before it returns. */
void writer_stop(writer *w);

#endif
