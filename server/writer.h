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
