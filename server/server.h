/* The server's context: everything one usherd process owns (loop, store,
 * keys, token cache, listener, connections, writer thread, timers). There is
 * no other mutable state: every server function takes this struct. */
#ifndef USHER_SERVER_SERVER_H
#define USHER_SERVER_SERVER_H

#include <ev.h>
#include <msgpack.h>
#include <stdbool.h>
#include "config.h"
#include "health.h"
#include "log.h"
#include "method.h"
#include "reader_watch.h"
#include "revocation_cache.h"
#include "store.h"
#include "token.h"

struct conn;
struct writer;
struct metrics_block;
struct metrics_slot;
struct http_metrics;
struct watch_registry;
struct queue_eta;

/* What one usherd shares across its processes, made before --workers fork
 * (server_shared_open) and inherited by every worker. */
typedef struct server_shared {
    struct metrics_block *metrics;   /* one slot of figures per worker */
    unsigned slot;                   /* the slot of the process given it to server_run */
    int metrics_fd;                  /* the --metrics listener, or -1 */
} server_shared;

typedef struct server {
    usher_config cfg;
    struct ev_loop *loop;
    store *st;
    token_keys keys;
    token_cache *tokens;          /* loop thread only */
    revocation_cache revoked;     /* loop thread only: what the token filter refuses */
    ev_timer revocation_timer;    /* refreshes it every REVOCATION_REFRESH_MS */
    health health;                /* loop thread: commit p99 and the admission throttle */
    ev_timer health_timer;        /* samples it once a second */
    struct watch_registry *watch; /* queue.watch subscriptions and their timer; loop thread only */
    struct queue_eta *eta;        /* the wait estimate's samples; loop thread only */
    call_env env;
    logger log;
    char instance[96];            /* "host:pid" */
    int listen_fd;
    ev_io accept_watcher;
    int spare_fd;                 /* /dev/null held open, given up to refuse a connection at EMFILE */
    ev_timer accept_backoff_timer;/* accepting paused after an fd shortage it could not answer */
    ev_timer tick_timer;          /* queue admission + expiry tidying */
    ev_timer reader_check_timer;  /* LMDB reader slots: dead ones cleared, frozen ones judged */
    reader_watch readers;         /* loop thread: how long each slot held its snapshot */
    char own_comm[16];            /* this program's name in /proc: a lagging reader with it is a usherd */
    ev_timer shutdown_timer;      /* deadline for a graceful stop */
    ev_signal sigint_watcher, sigterm_watcher;
    ev_prepare flush_watcher;     /* hands the loop turn's writes to the writer */
    struct writer *writer;
    struct metrics_slot *metrics; /* this process's figures (metrics.h) */
    struct http_metrics *http;    /* the --metrics responder, or NULL */
    const struct metrics_block *metrics_all;
    struct conn *conns;           /* open connections (doubly linked) */
    size_t n_conns;
    uint64_t next_conn_id;
    size_t writes_in_flight;      /* submitted to the writer, not yet answered (remote: reads too) */
    bool tick_in_flight;          /* a housekeeping job is at the writer */
    struct queue_seen *seen;      /* queue entries seen here, for the idle limits (queue_seen.h) */
    msgpack_sbuffer scratch;      /* reply frames are built here */
    bool remote;                  /* store_is_remote: every store call runs on the writer's pool */
    bool revocation_in_flight;    /* remote: the timer's revocation refresh is at the pool */
    bool stats_in_flight;         /* remote: a read of the stored figures is at the pool */
    struct store_stats *stats_cache; /* remote: the stored figures /metrics serves, or NULL */
    int64_t stats_cached_us;      /* ...read then (monotonic) */
    bool stopping;
    bool store_broken;            /* stopping because the store is unusable: exit 1 */
} server;

/* Makes what the processes of one usherd of n processes share: the
 * figures' mapping and, with --metrics, its listener. False with a message
 * on stderr. */
bool server_shared_open(const usher_config *cfg, unsigned n, server_shared *out);

/* Releases it (in the process that opened it). */
void server_shared_close(server_shared *sh);

/* Runs one usherd process until SIGINT/SIGTERM: opens the store and keys,
 * seeds the demo when asked, listens (SO_REUSEPORT), serves, counting its
 * figures into slot sh->slot of sh->metrics and answering scrapes on
 * sh->metrics_fd. Returns the process exit status. */
int server_run(const usher_config *cfg, const server_shared *sh);

/* Checks whether a graceful stop may finish (no writes in flight, output
 * flushed) and ends the loop if so. */
void server_maybe_finish(server *srv);

#endif
