/* Queue watchers of one usherd process: which connection watches which queue
 * entry (queue.watch), and the one timer that tells them what changed.
 * Every WATCH_TICK_MS the timer reads store_queue_progress_get of every
 * queue it follows (watched, or asked about lately: the wait estimate's
 * samples) in one read snapshot; only a queue whose version moved has its
 * watched entries read again (store_queue_get each), so admissions and drops
 * committed by any process on the data dir reach every process's watchers.
 * Once a second a sweep sends keep-alives, eta changes and ACTIVE entries
 * whose time ran out. What is owed to a watcher is only its entry's latest
 * state: a connection whose unsent output is above its cap (out_buf_cap) is skipped
 * and told the newest state once it has read (coalescing), so a slow reader
 * costs one entry's worth of memory. Loop thread only. */
#ifndef USHER_SERVER_WATCH_H
#define USHER_SERVER_WATCH_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server.h"

#define WATCH_TICK_MS 100            /* how often storage is asked what moved */
#define WATCH_UPDATE_MIN_MS 1000     /* queue.update: at most one a second per entry */
#define WATCH_KEEPALIVE_MS 15000     /* ...and at least one every 15 s */

typedef struct watch_registry watch_registry;
struct conn;

/* A registry for srv (its loop, store, estimator, config); NULL on OOM. */
watch_registry *watch_new(server *srv);

/* Ends every subscription and frees the registry. */
void watch_free(watch_registry *w);

/* Starts / stops the timer. */
void watch_start(watch_registry *w);
void watch_stop(watch_registry *w);

/* True when cn already watches CONN_WATCH_MAX entries, none of them
 * (concert_id, seq): a queue.watch of it is refused. */
bool watch_conn_full(const struct conn *cn, uint64_t concert_id, uint64_t seq);

/* Applies a finished queue.watch/unwatch call of cn (c->watch_op) whose
 * reply is result. Subscribes only an entry the reply shows WAITING or
 * ACTIVE; that reply counts as the first state the watcher was told. */
void watch_apply(watch_registry *w, struct conn *cn, const call *c, const msgpack_sbuffer *result);

/* cn closes: its subscriptions end. */
void watch_conn_closed(watch_registry *w, struct conn *cn);

/* Subscriptions held now. */
size_t watch_count(const watch_registry *w);

#endif
