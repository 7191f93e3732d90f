/* usher-bench: closed-loop load generator for usherd, a thin front end over libusher.
 * Setup runs on the sync API (users, wallets, concerts, ACTIVE queue tokens); each scenario then runs
 * for --seconds on one libev loop with --connections async handles, each keeping --depth calls in flight.
 * Latency is taken per call with CLOCK_MONOTONIC from send to reply, into a fixed log-linear histogram. */
#include <ev.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../client/usher.h"

#define SEATS_PER_PERF 1000u       /* seats of every performance the bench creates */
#define READ_PERFS 10u             /* performances of the concert read by `dates` (a realistic run) */
#define HOLD_PERFS_MAX 500u        /* a concert has at most 500 performances */
#define SETUP_CHARGE_KRW 1000000   /* charged to each user during setup */
#define CALL_TIMEOUT_MS 10000      /* per call, setup and scenarios alike */
#define CONNECT_WAIT_MS 5000       /* how long setup waits for a server that is still starting */
#define ACTIVE_WAIT_MS 30000       /* how long setup waits for a queue entry to become ACTIVE */
#define HOUR_MS (3600 * 1000LL)

/* ---- latency histogram: exact below 64 ns, then 64 sub-buckets per power of two (< 1.6% error) ---- */
#define HIST_SUB 64u
#define HIST_MAX_EXP 40u /* values are clamped below 2^41 ns (about 36 min) */
#define HIST_BUCKETS (HIST_SUB + (HIST_MAX_EXP - 5u) * HIST_SUB)

typedef struct hist {
    uint64_t bucket[HIST_BUCKETS];
    uint64_t count;
} hist;

static unsigned hist_index(uint64_t ns)
{
    if (ns < HIST_SUB)
        return (unsigned)ns;
    if (ns >= (1ull << (HIST_MAX_EXP + 1)))
        ns = (1ull << (HIST_MAX_EXP + 1)) - 1;
    unsigned exp = 63u - (unsigned)__builtin_clzll(ns); /* 6 .. HIST_MAX_EXP */
    unsigned shift = exp - 6u;
    return HIST_SUB + (exp - 6u) * HIST_SUB + (unsigned)((ns >> shift) - HIST_SUB);
}

/* Middle of bucket i in ns. */
static double hist_value(unsigned i)
{
    if (i < HIST_SUB)
        return i;
    unsigned shift = (i - HIST_SUB) / HIST_SUB;
    uint64_t low = (uint64_t)((i - HIST_SUB) % HIST_SUB + HIST_SUB) << shift;
    return (double)low + (double)(1ull << shift) / 2.0;
}

static void hist_add(hist *h, uint64_t ns)
{
    h->bucket[hist_index(ns)]++;
    h->count++;
}

/* The q-quantile (0 < q <= 1) in microseconds; 0 for an empty histogram. */
static double hist_quantile_us(const hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t target = (uint64_t)ceil(q * (double)h->count), seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        if ((seen += h->bucket[i]) >= target)
            return hist_value(i) / 1000.0;
    return hist_value(HIST_BUCKETS - 1) / 1000.0;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- options ---- */
enum { SC_PING, SC_STATUS, SC_DATES, SC_CHARGE, SC_RESERVE, SC_COUNT };

typedef struct options {
    const char *host;
    int port;
    const char *admin;
    int connections;
    int seconds;
    int depth;
    int max_holds;
    unsigned scenarios; /* bit per SC_ */
    bool json;
} options;

/* ---- fixture made by setup: one user per connection ---- */
typedef struct bench_user {
    char *session;
    char *read_token;  /* ACTIVE queue token of the read concert */
    char *hold_token;  /* ACTIVE queue token of the reserve concert */
    uint64_t seats_used;
} bench_user;

typedef struct fixture {
    bench_user *users;
    int n_users;
    uint64_t read_concert;
    uint64_t hold_concert;
    uint64_t hold_perfs[HOLD_PERFS_MAX];
    unsigned n_hold_perfs;
    unsigned users_per_perf; /* SEATS_PER_PERF / max_holds */
    unsigned groups;         /* user groups sharing a performance */
    unsigned max_holds;
} fixture;

/* Next seat for user i that nobody else ever asks for, keeping at most max_holds per performance:
 * user i owns block (i % users_per_perf) of every performance of its group (i / users_per_perf).
 * False when the user has used all of them. */
static bool fixture_next_seat(fixture *fx, int i, uint64_t *schedule_id, uint32_t *seat_no)
{
    bench_user *u = &fx->users[i];
    uint64_t k = u->seats_used;
    uint64_t perf = (unsigned)i / fx->users_per_perf + (k / fx->max_holds) * fx->groups;
    if (perf >= fx->n_hold_perfs)
        return false;
    u->seats_used++;
    *schedule_id = fx->hold_perfs[perf];
    *seat_no = (uint32_t)(((unsigned)i % fx->users_per_perf) * fx->max_holds + k % fx->max_holds + 1);
    return true;
}

static void fixture_free(fixture *fx)
{
    for (int i = 0; fx->users && i < fx->n_users; i++) {
        free(fx->users[i].session);
        free(fx->users[i].read_token);
        free(fx->users[i].hold_token);
    }
    free(fx->users);
}

/* ---- setup over the sync API ---- */
static bool setup_failed(usher_client *c, const char *what)
{
    fprintf(stderr, "usher-bench: setup: %s: %s: %s\n", what, usher_status_name(usher_last_status(c)),
            usher_last_message(c));
    return false;
}

/* Connects, retrying while the server is still starting. */
static usher_client *setup_connect(const options *o)
{
    usher_client *c = usher_connect(o->host, o->port, CALL_TIMEOUT_MS);
    for (int waited = 0; c && usher_last_status(c) != USHER_OK && waited < CONNECT_WAIT_MS; waited += 100) {
        nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000000L }, NULL);
        usher_reconnect(c);
    }
    if (c && usher_last_status(c) != USHER_OK) {
        setup_failed(c, "connect");
        usher_close(c);
        return NULL;
    }
    return c;
}

/* Creates a concert with n performances of SEATS_PER_PERF seats, a day from now, an hour apart. */
static bool setup_concert(usher_client *c, const options *o, const char *title, unsigned n,
                          uint64_t *concert_id, uint64_t *perfs)
{
    if (usher_admin_concert_create(c, o->admin, title, "usher-bench", concert_id) != USHER_OK)
        return setup_failed(c, "admin.concert.create");
    int64_t first = wall_ms() + 24 * HOUR_MS;
    for (unsigned i = 0; i < n; i++) {
        uint64_t id;
        if (usher_admin_schedule_create(c, o->admin, *concert_id, first + i * HOUR_MS, 50000,
                                        SEATS_PER_PERF, NULL, 0, &id) != USHER_OK)
            return setup_failed(c, "admin.schedule.create");
        if (perfs)
            perfs[i] = id;
    }
    return true;
}

/* Enters the queue of a concert and waits until the entry is ACTIVE; the token goes to *token. */
static bool setup_enter(usher_client *c, const char *session, uint64_t concert_id, char **token)
{
    usher_queue q = { 0 };
    if (usher_queue_enter(c, session, concert_id, &q) != USHER_OK)
        return setup_failed(c, "queue.enter");
    for (int waited = 0; q.state == USHER_QUEUE_STATE_WAITING && waited < ACTIVE_WAIT_MS; waited += 100) {
        nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000000L }, NULL);
        usher_queue st = { 0 };
        if (usher_queue_status(c, q.token, &st) != USHER_OK) {
            usher_queue_free(&q);
            return setup_failed(c, "queue.status");
        }
        q.state = st.state;
        usher_queue_free(&st);
    }
    bool active = q.state == USHER_QUEUE_STATE_ACTIVE;
    if (!active)
        fprintf(stderr, "usher-bench: setup: queue entry is %s, not ACTIVE (is --max-active too small?)\n",
                usher_queue_state_name(q.state));
    *token = q.token; /* ownership moves to the fixture */
    q.token = NULL;
    usher_queue_free(&q);
    return active;
}

static bool setup(const options *o, fixture *fx)
{
    bool need_read = o->scenarios & (1u << SC_STATUS | 1u << SC_DATES);
    bool need_hold = o->scenarios & (1u << SC_RESERVE);
    if ((need_read || need_hold) && !o->admin) {
        fprintf(stderr, "usher-bench: status, dates and reserve need --admin TOKEN\n");
        return false;
    }
    fx->max_holds = (unsigned)o->max_holds;
    fx->users_per_perf = SEATS_PER_PERF / fx->max_holds;
    fx->groups = ((unsigned)o->connections + fx->users_per_perf - 1) / fx->users_per_perf;
    if (need_hold && fx->groups > HOLD_PERFS_MAX) {
        fprintf(stderr, "usher-bench: reserve supports at most %u connections\n",
                fx->users_per_perf * HOLD_PERFS_MAX);
        return false;
    }
    fx->n_users = o->connections;
    fx->users = calloc((size_t)o->connections, sizeof *fx->users);
    usher_client *c = setup_connect(o);
    if (!fx->users || !c)
        goto fail;
    if (need_read && !setup_concert(c, o, "usher-bench read", READ_PERFS, &fx->read_concert, NULL))
        goto fail;
    if (need_hold) {
        fx->n_hold_perfs = HOLD_PERFS_MAX;
        if (!setup_concert(c, o, "usher-bench reserve", fx->n_hold_perfs, &fx->hold_concert, fx->hold_perfs))
            goto fail;
    }
    for (int i = 0; i < o->connections; i++) {
        bench_user *u = &fx->users[i];
        usher_registration reg = { 0 };
        if (usher_user_register(c, &reg) != USHER_OK) {
            setup_failed(c, "user.register");
            goto fail;
        }
        u->session = reg.session;
        reg.session = NULL;
        usher_registration_free(&reg);
        usher_charge ch;
        if (usher_wallet_charge(c, u->session, SETUP_CHARGE_KRW, NULL, &ch) != USHER_OK) {
            setup_failed(c, "wallet.charge");
            goto fail;
        }
        if (need_read && !setup_enter(c, u->session, fx->read_concert, &u->read_token))
            goto fail;
        if (need_hold && !setup_enter(c, u->session, fx->hold_concert, &u->hold_token))
            goto fail;
    }
    usher_close(c);
    return true;
fail:
    usher_close(c);
    return false;
}

/* ---- scenarios over the async API ---- */
typedef struct bench bench;
typedef struct bench_conn bench_conn;

/* One call in flight: a closed-loop virtual client that sends its next call when the reply arrives. */
typedef struct call_slot {
    bench_conn *conn;
    uint64_t sent_ns;
} call_slot;

struct bench_conn {
    bench *b;
    usher_async *ac;   /* NULL once disconnected */
    int index;         /* also the index of its user */
    call_slot *slots;  /* depth of them */
    msgpack_sbuffer params;
    uint64_t calls;
};

/* Packs the params of the next call into c->params; false when the scenario has nothing left to ask. */
typedef bool pack_params_fn(bench_conn *c, msgpack_packer *pk);

typedef struct scenario {
    const char *name;
    const char *method;
    pack_params_fn *pack;
} scenario;

typedef struct scenario_result {
    double ops_per_s, p50_us, p99_us;
    uint64_t ok, errors;
    bool out_of_seats;
    bool ran;
} scenario_result;

struct bench {
    struct ev_loop *loop;
    const options *opts;
    fixture *fx;
    bench_conn *conns;
    int connected, live;   /* connect callbacks with OK; handles not yet disconnected */
    int pending_connects;
    const scenario *sc;    /* the running scenario */
    hist lat;
    uint64_t ok, errors;
    long inflight;
    bool stopping, out_of_seats;
    ev_timer deadline;
};

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static bool pack_ping(bench_conn *c, msgpack_packer *pk)
{
    (void)c;
    msgpack_pack_map(pk, 0);
    return true;
}

/* Opens a map of n entries whose first is the key name with a string value. */
static void pack_first(msgpack_packer *pk, size_t n, const char *name, const char *value)
{
    msgpack_pack_map(pk, n);
    pack_str(pk, name);
    pack_str(pk, value);
}

static bool pack_status(bench_conn *c, msgpack_packer *pk)
{
    pack_first(pk, 1, "token", c->b->fx->users[c->index].read_token);
    return true;
}

static bool pack_dates(bench_conn *c, msgpack_packer *pk)
{
    pack_first(pk, 2, "token", c->b->fx->users[c->index].read_token);
    pack_str(pk, "concert_id");
    msgpack_pack_uint64(pk, c->b->fx->read_concert);
    return true;
}

/* A charge of 1 KRW with a fresh request_id, as libusher's typed call sends it. */
static bool pack_charge(bench_conn *c, msgpack_packer *pk)
{
    char request_id[USHER_REQUEST_ID_MAX + 1];
    snprintf(request_id, sizeof request_id, "bench-%d-%llu", c->index, (unsigned long long)c->calls);
    pack_first(pk, 3, "session", c->b->fx->users[c->index].session);
    pack_str(pk, "amount");
    msgpack_pack_int64(pk, 1);
    pack_str(pk, "request_id");
    pack_str(pk, request_id);
    return true;
}

static bool pack_reserve(bench_conn *c, msgpack_packer *pk)
{
    uint64_t schedule_id;
    uint32_t seat_no;
    if (!fixture_next_seat(c->b->fx, c->index, &schedule_id, &seat_no))
        return false;
    pack_first(pk, 3, "token", c->b->fx->users[c->index].hold_token);
    pack_str(pk, "schedule_id");
    msgpack_pack_uint64(pk, schedule_id);
    pack_str(pk, "seat_no");
    msgpack_pack_uint32(pk, seat_no);
    return true;
}

static const scenario SCENARIOS[SC_COUNT] = {
    [SC_PING] = { "ping", "sys.ping", pack_ping },
    [SC_STATUS] = { "status", "queue.status", pack_status },
    [SC_DATES] = { "dates", "concert.dates", pack_dates },
    [SC_CHARGE] = { "charge", "wallet.charge", pack_charge },
    [SC_RESERVE] = { "reserve", "seat.reserve", pack_reserve },
};

static void count_error(bench *b, usher_status status, const usher_reply *reply)
{
    if (b->errors++ == 0) {
        fprintf(stderr, "usher-bench: %s: first error: %s: %s\n", b->sc->name, usher_status_name(status),
                reply && reply->message ? reply->message : usher_errstr(status));
    }
}

static void slot_send(call_slot *s);

static void on_reply(usher_async *ac, usher_status status, const usher_reply *reply, void *privdata)
{
    (void)ac;
    call_slot *s = privdata;
    bench *b = s->conn->b;
    b->inflight--;
    if (status == USHER_OK) {
        b->ok++;
        hist_add(&b->lat, mono_ns() - s->sent_ns);
    } else {
        count_error(b, status, reply);
    }
    bool conn_gone = !reply && (status == USHER_ECLOSED || status == USHER_EIO);
    if (!b->stopping && s->conn->ac && !conn_gone)
        slot_send(s);
    if (b->inflight == 0)
        ev_break(b->loop, EVBREAK_ONE);
}

/* Sends the slot's next call of the running scenario, or stops the run when there is none left. */
static void slot_send(call_slot *s)
{
    bench_conn *c = s->conn;
    bench *b = c->b;
    msgpack_sbuffer_clear(&c->params);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->params, msgpack_sbuffer_write);
    if (!b->sc->pack(c, &pk)) {
        b->out_of_seats = b->stopping = true;
        return;
    }
    c->calls++;
    s->sent_ns = mono_ns();
    usher_status st = usher_async_call_packed(c->ac, b->sc->method, c->params.data, c->params.size, on_reply, s);
    if (st != USHER_OK) {
        count_error(b, st, NULL);
        return;
    }
    b->inflight++;
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    bench *b = w->data;
    b->stopping = true;
}

/* Runs one scenario for the configured time on every connection; fills *res. */
static void bench_run(bench *b, const scenario *sc, scenario_result *res)
{
    b->sc = sc;
    memset(&b->lat, 0, sizeof b->lat);
    b->ok = b->errors = 0;
    b->inflight = 0;
    b->stopping = b->out_of_seats = false;
    ev_now_update(b->loop);
    ev_timer_init(&b->deadline, on_deadline, b->opts->seconds, 0.);
    b->deadline.data = b;
    ev_timer_start(b->loop, &b->deadline);
    uint64_t start = mono_ns();
    for (int i = 0; i < b->opts->connections && !b->stopping; i++)
        for (int d = 0; d < b->opts->depth && b->conns[i].ac && !b->stopping; d++)
            slot_send(&b->conns[i].slots[d]);
    if (b->inflight > 0)
        ev_run(b->loop, 0);
    double secs = (double)(mono_ns() - start) / 1e9;
    ev_timer_stop(b->loop, &b->deadline);
    *res = (scenario_result){ .ops_per_s = secs > 0 ? (double)b->ok / secs : 0,
                              .p50_us = hist_quantile_us(&b->lat, 0.50),
                              .p99_us = hist_quantile_us(&b->lat, 0.99),
                              .ok = b->ok, .errors = b->errors, .out_of_seats = b->out_of_seats, .ran = true };
    if (b->out_of_seats)
        fprintf(stderr, "usher-bench: %s: ran out of free seats after %.1f s; stopped early\n", sc->name, secs);
}

static void on_connect(usher_async *ac, usher_status status)
{
    bench_conn *c = usher_async_data(ac);
    if (status == USHER_OK)
        c->b->connected++;
    else
        fprintf(stderr, "usher-bench: connection %d: %s\n", c->index, usher_errstr(status));
    if (--c->b->pending_connects == 0)
        ev_break(c->b->loop, EVBREAK_ONE);
}

static void on_disconnect(usher_async *ac, usher_status status)
{
    bench_conn *c = usher_async_data(ac);
    if (status != USHER_OK && status != USHER_ECLOSED && c->b->sc)
        fprintf(stderr, "usher-bench: connection %d lost: %s\n", c->index, usher_errstr(status));
    c->ac = NULL;
    if (--c->b->live == 0)
        ev_break(c->b->loop, EVBREAK_ONE);
}

/* Opens every connection and waits for them; false when any failed. */
static bool bench_connect(bench *b)
{
    int n = b->opts->connections;
    b->conns = calloc((size_t)n, sizeof *b->conns);
    if (!b->conns)
        return false;
    for (int i = 0; i < n; i++) {
        bench_conn *c = &b->conns[i];
        *c = (bench_conn){ .b = b, .index = i, .slots = calloc((size_t)b->opts->depth, sizeof *c->slots) };
        msgpack_sbuffer_init(&c->params);
        if (!c->slots)
            return false;
        for (int d = 0; d < b->opts->depth; d++)
            c->slots[d].conn = c;
        c->ac = usher_async_connect(b->loop, b->opts->host, b->opts->port, CALL_TIMEOUT_MS);
        if (!c->ac)
            return false;
        usher_async_set_data(c->ac, c);
        usher_async_set_connect_cb(c->ac, on_connect);
        usher_async_set_disconnect_cb(c->ac, on_disconnect);
        usher_async_set_timeout(c->ac, CALL_TIMEOUT_MS);
        b->live++;
        b->pending_connects++;
    }
    ev_run(b->loop, 0);
    return b->connected == n;
}

/* Closes every connection, waits for the disconnect callbacks and frees them. */
static void bench_close(bench *b)
{
    b->sc = NULL;
    for (int i = 0; b->conns && i < b->opts->connections; i++)
        if (b->conns[i].ac)
            usher_async_free(b->conns[i].ac);
    if (b->live > 0)
        ev_run(b->loop, 0);
    for (int i = 0; b->conns && i < b->opts->connections; i++) {
        free(b->conns[i].slots);
        msgpack_sbuffer_destroy(&b->conns[i].params);
    }
    free(b->conns);
}

/* ---- command line and report ---- */
static void usage(FILE *out)
{
    fprintf(out,
            "usage: usher-bench [OPTIONS]\n"
            "Closed-loop benchmark of a running usherd over libusher's async API.\n\n"
            "  --host HOST         server address (default 127.0.0.1)\n"
            "  --port PORT         server port (default 7700)\n"
            "  --admin TOKEN       admin token (usher-admin --data DIR token); needed by status, dates, reserve\n"
            "  --connections N     connections, one user each (default 50)\n"
            "  --depth D           calls in flight per connection (default 1)\n"
            "  --seconds S         duration of each scenario (default 5)\n"
            "  --scenario NAME     ping, status, dates, charge or reserve; repeatable (default all)\n"
            "  --max-holds H       the server's --max-holds, 1..16 (default 16)\n"
            "  --json              print one JSON object with every figure last\n"
            "  --help              print this help and exit\n\n"
            "Prints one line per scenario: name ops_per_s p50_us p99_us ok errors.\n"
            "The server needs --max-active >= N (every user must be ACTIVE) and a long --hold-ttl.\n"
            "Exit status: 0 when every scenario had a successful call, 1 otherwise, 2 for bad usage.\n");
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

/* Fills *o from argv; returns -1 to go on, else the exit status. */
static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longs[] = {
        { "host", required_argument, 0, 'H' },        { "port", required_argument, 0, 'p' },
        { "admin", required_argument, 0, 'a' },       { "connections", required_argument, 0, 'c' },
        { "depth", required_argument, 0, 'd' },       { "seconds", required_argument, 0, 's' },
        { "scenario", required_argument, 0, 'S' },    { "max-holds", required_argument, 0, 'm' },
        { "json", no_argument, 0, 'j' },              { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    *o = (options){ .host = "127.0.0.1", .port = 7700, .connections = 50, .seconds = 5, .depth = 1,
                    .max_holds = 16 };
    int opt = 0, li = 0;
    bool ok = true;
    while (ok && (opt = getopt_long(argc, argv, "", longs, &li)) != -1) {
        switch (opt) {
        case 'H': o->host = optarg; break;
        case 'a': o->admin = optarg; break;
        case 'p': ok = parse_int(optarg, 1, 65535, &o->port); break;
        case 'c': ok = parse_int(optarg, 1, 100000, &o->connections); break;
        case 'd': ok = parse_int(optarg, 1, 10000, &o->depth); break;
        case 's': ok = parse_int(optarg, 1, 3600, &o->seconds); break;
        case 'm': ok = parse_int(optarg, 1, 16, &o->max_holds); break;
        case 'j': o->json = true; break;
        case 'h': usage(stdout); return 0;
        case 'S':
            ok = false;
            for (unsigned i = 0; i < SC_COUNT; i++)
                if (strcmp(optarg, SCENARIOS[i].name) == 0) {
                    o->scenarios |= 1u << i;
                    ok = true;
                }
            break;
        default: ok = false;
        }
    }
    if (ok && optind < argc)
        fprintf(stderr, "usher-bench: unexpected argument '%s'\n", argv[optind]);
    else if (!ok && opt != '?') /* getopt has already named an unknown option */
        fprintf(stderr, "usher-bench: bad value '%s' for --%s\n", optarg, longs[li].name);
    if (!ok || optind < argc) {
        fprintf(stderr, "usher-bench: try --help\n");
        return 2;
    }
    if (o->scenarios == 0)
        o->scenarios = (1u << SC_COUNT) - 1;
    return -1;
}

static void print_json(const options *o, const scenario_result *res)
{
    const char *sep = "";
    printf("{");
    for (unsigned i = 0; i < SC_COUNT; i++) {
        if (!(o->scenarios & (1u << i)) || !res[i].ran)
            continue;
        printf("%s\"%s\":{\"ops_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"ok\":%llu,\"errors\":%llu%s}", sep,
               SCENARIOS[i].name, res[i].ops_per_s, res[i].p50_us, res[i].p99_us,
               (unsigned long long)res[i].ok, (unsigned long long)res[i].errors,
               res[i].out_of_seats ? ",\"out_of_seats\":true" : "");
        sep = ",";
    }
    printf("}\n");
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    rc = 1;
    fixture fx = { 0 };
    bench b = { .opts = &o, .fx = &fx };
    scenario_result res[SC_COUNT] = { 0 };
    if (!setup(&o, &fx))
        goto done;
    b.loop = ev_loop_new(EVFLAG_AUTO);
    if (!b.loop || !bench_connect(&b)) {
        fprintf(stderr, "usher-bench: could not open %d connections to %s:%d\n", o.connections, o.host, o.port);
        goto done;
    }
    printf("# %d connections, depth %d, %d s per scenario\n# scenario ops_per_s p50_us p99_us ok errors\n",
           o.connections, o.depth, o.seconds);
    fflush(stdout);
    rc = 0;
    for (unsigned i = 0; i < SC_COUNT; i++) {
        if (!(o.scenarios & (1u << i)))
            continue;
        bench_run(&b, &SCENARIOS[i], &res[i]);
        printf("%s %.0f %.1f %.1f %llu %llu\n", SCENARIOS[i].name, res[i].ops_per_s, res[i].p50_us,
               res[i].p99_us, (unsigned long long)res[i].ok, (unsigned long long)res[i].errors);
        fflush(stdout);
        if (res[i].ok == 0)
            rc = 1;
    }
    if (o.json)
        print_json(&o, res);
done:
    if (b.loop) {
        bench_close(&b);
        ev_loop_destroy(b.loop);
    }
    fixture_free(&fx);
    return rc;
}
