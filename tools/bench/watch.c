/* The watch scenario: every WAITING user of the crowd is watched (queue.watch), four entries a connection, and
 * the pushes are timed. First the server's CPU while nothing changes (keep-alives only) over --seconds, then
 * --watch-rounds admission rounds: the server must run with --active-ttl = --watch-ttl, so the --max-active
 * entries admitted in one tick expire together and the next ones are admitted in one commit. An admitted
 * entry's active_until - --watch-ttl is the commit's clock, from which the last queue.admitted and the last
 * queue.update of the round are timed. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define WATCH_PER_CONN 4
#define WATCH_ROUND_GRACE_MS 3000   /* a round's updates are those within this of its commit */
#define WATCH_MAX_WAIT_MS 300000
#define WATCH_ROUNDS_MAX 64

typedef struct watch_round {
    int64_t commit_ms;               /* active_until - ttl */
    uint32_t admitted;
    int64_t first_ms, last_ms;       /* wall clock of the first and last queue.admitted */
} watch_round;

typedef struct watch_ctx {
    pool *p;
    size_t replies, failed;
    uint64_t updates, keepalive_window_updates;
    int64_t *update_at;              /* wall ms of every queue.update after the idle phase */
    size_t n_updates, cap_updates;
    bool timing;                     /* past the idle phase */
    watch_round rounds[WATCH_ROUNDS_MAX];
    size_t n_rounds;
    int ttl_ms;
} watch_ctx;

static watch_round *round_of(watch_ctx *w, int64_t commit_ms)
{
    for (size_t i = 0; i < w->n_rounds; i++)
        if (w->rounds[i].commit_ms == commit_ms)
            return &w->rounds[i];
    if (w->n_rounds == WATCH_ROUNDS_MAX)
        return NULL;
    watch_round *r = &w->rounds[w->n_rounds++];
    *r = (watch_round){ .commit_ms = commit_ms };
    return r;
}

static void on_note(usher_async *ac, const usher_reply *note)
{
    pool *p = usher_async_data(ac);
    watch_ctx *w = p->notify_ctx;
    if (!w || !note->method)
        return;
    int64_t now = bench_wall_ms();
    if (strcmp(note->method, "queue.update") == 0) {
        w->updates++;
        if (!w->timing)
            return;
        if (w->n_updates == w->cap_updates) {
            size_t cap = w->cap_updates ? w->cap_updates * 2 : 4096;
            int64_t *grown = realloc(w->update_at, cap * sizeof *grown);
            if (!grown)
                return;
            w->update_at = grown;
            w->cap_updates = cap;
        }
        w->update_at[w->n_updates++] = now;
    } else if (strcmp(note->method, "queue.admitted") == 0 && w->timing) {
        const msgpack_object *until = msg_map_get(&note->result, "active_until");
        if (!until || until->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return;
        watch_round *r = round_of(w, (int64_t)until->via.u64 - w->ttl_ms);
        if (!r)
            return;
        if (r->admitted++ == 0)
            r->first_ms = now;
        r->last_ms = now;
    }
}

static void on_watched(void *ctx, usher_status status, const usher_reply *reply)
{
    (void)reply;
    watch_ctx *w = ctx;
    w->replies++;
    if (status != USHER_OK)
        w->failed++;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* utime + stime of pid in clock ticks, or -1. */
static long long cpu_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *s = strrchr(buf, ')');   /* the name may hold spaces */
    unsigned long long utime = 0, stime = 0;
    if (!s || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    return (long long)(utime + stime);
}

static void on_wake(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop; (void)t; (void)revents;
}

/* Runs the loop for ms milliseconds (the wake timer keeps it turning). */
static void run_for(struct ev_loop *loop, int64_t ms)
{
    int64_t end = bench_wall_ms() + ms;
    while (bench_wall_ms() < end)
        ev_run(loop, EVRUN_ONCE);
}

bool watch_run(pool *p, const options *o, const crowd *cw, scenario_stats *ss)
{
    ss->name = SCENARIO_NAMES[SC_WATCH];
    ss->method = "queue.watch";
    ss->ran = true;
    size_t n = cw->n_waiting;
    if ((size_t)p->n * WATCH_PER_CONN < n)
        n = (size_t)p->n * WATCH_PER_CONN;
    if (n == 0 || o->watch_ttl_ms <= 0) {
        fprintf(stderr, "usher-bench: watch needs WAITING users and --watch-ttl (the server's --active-ttl)\n");
        return false;
    }
    watch_ctx *w = calloc(1, sizeof *w);
    if (!w)
        return false;
    w->p = p;
    w->ttl_ms = o->watch_ttl_ms;
    p->notify_ctx = w;
    for (int i = 0; i < p->n; i++)
        if (p->conns[i])
            usher_async_set_notify_cb(p->conns[i], on_note);
    /* a timer keeps the loop turning while nothing arrives */
    ev_timer wake;
    ev_timer_init(&wake, on_wake, 0.05, 0.05);
    ev_timer_start(p->loop, &wake);

    method_stats *ms = stats_method(ss, "queue.watch");
    uint64_t t0 = bench_mono_ns();
    for (size_t i = 0; i < n; i++) {
        msgpack_packer *pk = pool_params(p);
        msgpack_pack_map(pk, 1);
        pack_key_str(pk, "token", cw->token[cw->waiting[i]]);
        if (!pool_send(p, (int)(i / WATCH_PER_CONN), ms, "queue.watch", on_watched, w))
            w->failed++, w->replies++;
    }
    while (w->replies < n)
        ev_run(p->loop, EVRUN_ONCE);
    ss->secs = (double)(bench_mono_ns() - t0) / 1e9;
    printf("# watch: %zu entries watched on %d connections in %.2f s (%zu refused)\n", n - w->failed,
           (int)((n + WATCH_PER_CONN - 1) / WATCH_PER_CONN), ss->secs, w->failed);

    /* nothing changes: keep-alives only */
    uint64_t updates_before = w->updates;
    long long cpu0 = o->server_pid ? cpu_ticks(o->server_pid) : -1;
    int64_t idle_from = bench_wall_ms();
    run_for(p->loop, (int64_t)o->seconds * 1000);
    double idle_s = (double)(bench_wall_ms() - idle_from) / 1000.0;
    long long cpu1 = o->server_pid ? cpu_ticks(o->server_pid) : -1;
    if (cpu0 >= 0 && cpu1 >= 0)
        printf("# watch idle: server CPU %.2f%% of one core over %.1f s, %llu updates (keep-alives) received\n",
               100.0 * (double)(cpu1 - cpu0) / (double)sysconf(_SC_CLK_TCK) / idle_s, idle_s,
               (unsigned long long)(w->updates - updates_before));
    else
        printf("# watch idle: %.1f s, %llu updates (keep-alives) received (--server-pid for the CPU)\n", idle_s,
               (unsigned long long)(w->updates - updates_before));

    /* admission rounds */
    w->timing = true;
    int64_t give_up = bench_wall_ms() + WATCH_MAX_WAIT_MS;
    size_t rounds = (size_t)(o->watch_rounds > 0 ? o->watch_rounds : 3);
    while (bench_wall_ms() < give_up) {
        ev_run(p->loop, EVRUN_ONCE);
        /* a round is over once WATCH_ROUND_GRACE_MS passed since its commit */
        size_t over = 0;
        for (size_t i = 0; i < w->n_rounds; i++)
            over += bench_wall_ms() > w->rounds[i].commit_ms + WATCH_ROUND_GRACE_MS;
        if (over >= rounds)
            break;
    }
    ev_timer_stop(p->loop, &wake);
    bool ok = w->n_rounds > 0;
    qsort(w->update_at, w->n_updates, sizeof *w->update_at, cmp_i64);
    size_t still_waiting = n - w->failed;
    for (size_t i = 0; i < w->n_rounds && i < rounds; i++) {
        const watch_round *r = &w->rounds[i];
        still_waiting = still_waiting > r->admitted ? still_waiting - r->admitted : 0;
        /* the round's updates, in arrival order */
        size_t from = 0, to;
        while (from < w->n_updates && w->update_at[from] < r->commit_ms)
            from++;
        for (to = from; to < w->n_updates && w->update_at[to] < r->commit_ms + WATCH_ROUND_GRACE_MS; to++)
            continue;
        size_t updates = to - from;
        /* every watcher still waiting has been told its new position once: the still_waiting-th update */
        long long all_told = updates >= still_waiting && still_waiting > 0
                           ? (long long)(w->update_at[from + still_waiting - 1] - r->commit_ms) : -1LL;
        printf("# watch round %zu: %u admitted in one commit; commit -> first queue.admitted %lld ms, -> last "
               "%lld ms; %zu still waiting, %zu queue.update within %d ms: commit -> the %zu-th %lld ms, "
               "-> last %lld ms\n",
               i + 1, r->admitted, (long long)(r->first_ms - r->commit_ms), (long long)(r->last_ms - r->commit_ms),
               still_waiting, updates, WATCH_ROUND_GRACE_MS, still_waiting, all_told,
               updates ? (long long)(w->update_at[to - 1] - r->commit_ms) : -1LL);
    }
    if (!ok)
        printf("# watch: no admission seen (is the server's --active-ttl %d ms?)\n", o->watch_ttl_ms);
    for (int i = 0; i < p->n; i++)
        if (p->conns[i])
            usher_async_set_notify_cb(p->conns[i], NULL);
    p->notify_ctx = NULL;
    free(w->update_at);
    free(w);
    return ok;
}
