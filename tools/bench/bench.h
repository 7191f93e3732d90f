/* usher-bench internals: one libev loop drives a pool of libusher async connections.
 * Rules: every figure lives in a scenario_stats owned by main; the crowd (users made by setup) is owned by
 * main and read by the scenarios; nothing here is global. Calls go through pool_send, which times each one
 * from send to reply and files it under its method. */
#ifndef USHER_BENCH_H
#define USHER_BENCH_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../../client/usher.h"
#include "../../protocol/msg.h"   /* msg_map_get: the value of a key in a map */

#define BENCH_CALL_TIMEOUT_MS 30000 /* per call: a crowd's setup queues thousands of writes */
#define BENCH_SEATS_PER_PERF 1000u  /* seats of each performance of the status and reserve concerts */
#define BENCH_HOLD_PERFS 500u       /* performances of the reserve concert (the protocol's maximum) */
#define BENCH_MAX_ACTIVE 100u       /* the server's default --max-active: ACTIVE entries per concert */
#define BENCH_CHARGE_KRW 1000000    /* charged to every user during setup: enough to pay */
#define BENCH_PRICE_KRW 50000       /* price of every seat the bench creates */

/* ---- options ---- */
enum { SC_PING, SC_STATUS, SC_DATES, SC_CHARGE, SC_ENTER, SC_RESERVE, SC_SALE, SC_WATCH, SC_COUNT };
/* Scenarios run when none is named: all but watch (it needs a server started for it). */
#define SC_DEFAULT (((1u << SC_COUNT) - 1) & ~(1u << SC_WATCH))

#define BENCH_MAX_TARGETS 64 /* servers one usher-bench spreads its connections over */
#define BENCH_HOST_LIST_CAP 1024

/* One server: connection i goes to target i mod n_targets (setup's ordered calls go to target 0). */
typedef struct bench_target {
    const char *host;
    int port;
} bench_target;

typedef struct options {
    bench_target targets[BENCH_MAX_TARGETS];
    int n_targets;    /* >= 1 */
    char host_list[BENCH_HOST_LIST_CAP]; /* --host, split in place: targets[].host point into it */
    const char *admin;
    int connections, depth, seconds;
    int waiting;      /* size of the crowd */
    int hot;          /* reserve: 0 spreads, K targets seats 1..K of one performance */
    int users, perfs, seats, poll_ms; /* sale */
    unsigned scenarios; /* bit per SC_ */
    bool json;
    int idle;         /* plain connections opened first and kept silent for the whole run */
    bool idle_partial; /* ...each after sending the first 6 bytes of a frame */
    int server_pid;   /* > 0: the server's VmRSS is reported (same host only) */
    int watch_ttl_ms; /* watch: the server's --active-ttl, to time admissions from their commit */
    int watch_rounds; /* watch: admission rounds to time */
} options;

/* ---- latency histogram and per-method figures ---- */
#define HIST_SUB 64u
#define HIST_MAX_EXP 40u
#define HIST_BUCKETS (HIST_SUB + (HIST_MAX_EXP - 5u) * HIST_SUB)

typedef struct hist {
    uint64_t bucket[HIST_BUCKETS];
    uint64_t count;
    uint64_t max_ns;
} hist;

void hist_add(hist *h, uint64_t ns);
void hist_merge(hist *into, const hist *from);
/* The q-quantile (0 < q <= 1) in microseconds; 0 when empty. */
double hist_quantile_us(const hist *h, double q);

#define STATUS_SLOTS 128 /* every usher_status fits below this */

/* Figures of one method: latency of every reply the server sent (success or error code), successes, and
 * outcomes by status (server codes and transport failures such as ETIMEOUT, which have no latency). */
typedef struct method_stats {
    const char *method;
    hist lat;
    uint64_t ok;
    uint64_t by_status[STATUS_SLOTS];
} method_stats;

#define SCENARIO_METHODS 10

typedef struct sale_figures {
    double sold_out_s;      /* first call to the last seat paid; < 0 when it did not sell out */
    uint64_t seats, sold, oversold;
    uint64_t unsold_after;  /* seats concert.seats still shows available after the sale */
} sale_figures;

/* One scenario's figures. */
typedef struct scenario_stats {
    const char *name;
    const char *method;     /* the scenario's main method */
    method_stats methods[SCENARIO_METHODS];
    unsigned n_methods;
    double secs;
    bool ran, stopped_early;
    bool is_sale;
    sale_figures sale;
    long server_rss_kb;     /* after the scenario, with --server-pid; else -1 */
} scenario_stats;

/* The figures of method in ss, added on first use. */
method_stats *stats_method(scenario_stats *ss, const char *method);
uint64_t method_replies(const method_stats *m);
uint64_t method_errors(const method_stats *m);

/* ---- the connection pool ---- */
typedef struct pool {
    struct ev_loop *loop;
    const options *o;
    usher_async **conns;   /* NULL once disconnected */
    int n, live, connected, pending_connects;
    long inflight;
    bool closing;
    void *notify_ctx;      /* what the notification callback of a scenario works on (watch) */
    msgpack_sbuffer params; /* scratch for the params of the next call */
    msgpack_packer pk;
} pool;

typedef void call_done_fn(void *ctx, usher_status status, const usher_reply *reply);

/* The target of connection conn: o->targets[conn mod o->n_targets]. */
const bench_target *bench_target_of(const options *o, int conn);

/* Opens o->connections connections on loop, spread round-robin over o->targets, and waits for them; false
 * when any failed. */
bool pool_open(pool *p, struct ev_loop *loop, const options *o);
/* Closes every connection and waits for their disconnect callbacks. */
void pool_close(pool *p);
/* Clears the params scratch and returns its packer: pack one map, then pool_send. */
msgpack_packer *pool_params(pool *p);
/* Sends method with the packed params on connection conn (mod n; the next live one when it is gone), filing
 * the call under ms; done runs exactly once when true is returned. False when no connection can take it. */
bool pool_send(pool *p, int conn, method_stats *ms, const char *method, call_done_fn *done, void *ctx);

/* Takes what it needs from a successful reply (which is freed after it returns). */
typedef void call_take_fn(void *ctx, const usher_reply *reply);
/* Sends one call (params packed as for pool_send) and runs the loop until its reply; take(ctx, reply) runs on
 * success. Returns the call's status (a server error's message is printed). Not for use inside a callback. */
usher_status pool_call_wait(pool *p, method_stats *ms, const char *method, call_take_fn *take, void *ctx);

/* ---- a batch: total items, at most width in flight, each a chain of calls ending in batch_item_done ---- */
typedef struct batch batch;
typedef void batch_start_fn(batch *b, size_t item);
struct batch {
    pool *p;
    size_t total, next, done;
    size_t width;
    bool failed;
    batch_start_fn *start;
    void *ctx;
};
/* Runs every item (stops starting new ones after a failure); true when all succeeded. */
bool batch_run(batch *b);
void batch_item_done(batch *b, bool ok);

/* ---- msgpack helpers ---- */
void pack_key_str(msgpack_packer *pk, const char *key, const char *value);
void pack_key_u64(msgpack_packer *pk, const char *key, uint64_t value);
void pack_key_i64(msgpack_packer *pk, const char *key, int64_t value);
/* A malloc'd copy of the string at key of the reply's result, or NULL. */
char *reply_strdup(const usher_reply *r, const char *key);
uint64_t obj_u64(const msgpack_object *o, const char *key);
/* True when key of map o is the string s. */
bool obj_str_is(const msgpack_object *o, const char *key, const char *s);
uint64_t bench_mono_ns(void);
int64_t bench_wall_ms(void);
/* xorshift64*: a per-client random stream (never 0 as state). */
uint64_t bench_rand(uint64_t *state);

/* ---- the crowd ---- */
typedef struct crowd {
    size_t n;
    char **session;           /* n sessions */
    char **token;             /* n queue tokens of the status concert */
    uint32_t *waiting, *active; /* crowd indices WAITING / ACTIVE in the status concert */
    size_t n_waiting, n_active;
    uint64_t status_concert;  /* also the concert `dates` reads */
    uint64_t hold_concert;
    uint64_t hold_perfs[BENCH_HOLD_PERFS];
    size_t n_hold_users;      /* crowd users 0.. that entered the reserve concert */
    char **hold_token;        /* n_hold_users tokens */
    uint32_t *hold_active;    /* of those, the ACTIVE ones */
    size_t n_hold_active;
    uint64_t *enter_concerts; /* fresh concerts for `enter` */
    size_t n_enter_concerts;
} crowd;

/* Builds what the chosen scenarios need (the crowd, its queue entries, the concerts); prints progress to
 * stderr. False on any failure (already reported). */
bool crowd_setup(pool *p, const options *o, crowd *cw);
void crowd_free(crowd *cw);

/* Runs closed-loop scenario sc (not the sale) for o->seconds; fills *ss. */
void scenario_run(pool *p, const options *o, const crowd *cw, unsigned sc, scenario_stats *ss);
/* Runs the sale; fills *ss (with ss->sale). False when setting it up failed. */
bool sale_run(pool *p, const options *o, scenario_stats *ss);
/* Runs watch (tools/bench/watch.c): every WAITING user of the crowd watched, 4 a connection; prints its
 * figures. False when it could not be set up or saw no admission. */
bool watch_run(pool *p, const options *o, const crowd *cw, scenario_stats *ss);

extern const char *const SCENARIO_NAMES[SC_COUNT];

/* ---- idle connections and server memory (tools/bench/idle.c) ---- */
/* Opens up to n TCP connections that send nothing, spread round-robin over the targets (raising the soft fd
 * limit first); *opened says how many connected. Free with idle_close. */
int *idle_open(const options *o, int n, int *opened);
void idle_close(int *fds, int n);
/* VmRSS of process pid in kB, or -1. */
long server_rss_kb(int pid);

/* ---- report ---- */
void report_header(FILE *out, const options *o);
void report_text(FILE *out, const scenario_stats *ss);
void report_json(FILE *out, const options *o, const scenario_stats *all, double setup_s);

#endif
