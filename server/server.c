#include "server.h"
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "conn.h"
#include "demo.h"
#include "dispatch.h"
#include "notify.h"
#include "queue_seen.h"
#include "queue_eta.h"
#include "http_metrics.h"
#include "metrics.h"
#include "metrics_prom.h"
#include "request.h"
#include "watch.h"
#include "writer.h"

#define USHERD_VERSION "1.0.0"
#define LISTEN_BACKLOG 1024
#define ACCEPTS_PER_EVENT 64
/* Dead readers are cleared before every group commit (writer.c); this timer
 * clears them for a process that does not write and judges frozen readers.
 * One check costs a few µs (measured: mdb_reader_check 2.4 µs and
 * mdb_reader_list 0.9 µs with three processes), so once a second is free. */
#define READER_CHECK_INTERVAL_S 1.0
#define READERS_LISTED_MAX 512
#define SHUTDOWN_DEADLINE_S 5.0
/* File descriptors kept free beyond those usherd holds when it starts
 * serving (counted then: stdio, the port lock, the listener, LMDB's two
 * files, libev's epoll and signal fds, the spare): the few it opens later
 * (a /proc read per lagging reader, a key file) and refused connections
 * lingering for their last reply. */
#define FD_HEADROOM 16
/* Accepting pauses this long when a descriptor shortage could not even be
 * answered (the spare was gone): a short pause, so no loop pass is spent
 * on an accept that must fail, and the backlog is served soon after. */
#define ACCEPT_BACKOFF_S 0.1
/* A remote store's stored figures for /metrics are read again after this. */
#define STATS_FRESH_US 1000000

/* The URL with any password left out (user:secret@ -> user@), for the log. */
static const char *store_url_redacted(const char *url, char *out, size_t cap)
{
    const char *scheme_end = strstr(url, "://");
    const char *at = scheme_end ? strchr(scheme_end + 3, '@') : NULL;
    const char *colon = scheme_end ? strchr(scheme_end + 3, ':') : NULL;
    if (!at || !colon || colon > at) {
        snprintf(out, cap, "%s", url);
        return out;
    }
    snprintf(out, cap, "%.*s%s", (int)(colon - url), url, at);
    return out;
}

/* Resolves --listen's host ("localhost" or an IPv4 literal). */
static bool listen_address(const usher_config *cfg, struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(cfg->listen_port);
    const char *host = strcmp(cfg->listen_host, "localhost") == 0 ? "127.0.0.1" : cfg->listen_host;
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1;
}

/* A non-blocking listener with SO_REUSEPORT, so --workers share the port. */
static int open_listener(server *srv)
{
    struct sockaddr_in sa;
    int one = 1;
    if (!listen_address(&srv->cfg, &sa)) {
        log_msg(&srv->log, LOG_ERROR, "bad listen address %s", srv->cfg.listen_host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        log_msg(&srv->log, LOG_ERROR, "cannot listen on %s:%u: %s", srv->cfg.listen_host,
                srv->cfg.listen_port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Adopts an accepted socket: a connection, or an OVERLOADED refusal when
 * --max-conns are open. */
static void format_peer(const struct sockaddr_in *sa, char *out, size_t cap)
{
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof ip);
    snprintf(out, cap, "%s:%u", ip, ntohs(sa->sin_port));
}

static void adopt(server *srv, int fd, const struct sockaddr_in *sa)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char peer[64];
    format_peer(sa, peer, sizeof peer);
    bool full = srv->n_conns >= srv->cfg.max_conns;
    conn *c = conn_open(srv, fd, peer);
    if (!c) { close(fd); return; }
    if (full) {   /* one OVERLOADED reply, then close */
        dispatch_send_refusal(srv, c);
        conn_drain(c);
    } else {
        metrics_note_conn_accepted(srv->metrics);
    }
}

static void on_accept_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    server *srv = w->data;
    if (srv->spare_fd < 0) srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (!srv->stopping) ev_io_start(loop, &srv->accept_watcher);
}

/* accept failed for want of a descriptor (EMFILE: ours; ENFILE: the
 * system's). Left alone, the pending connection keeps the listener readable
 * and the loop spins on a failing accept while the client hangs. So: give up
 * the spare, take the connection with it, refuse it with the OVERLOADED
 * frame the --max-conns refusal sends, close it at once (a lingering close
 * would keep the spare's slot), take the spare back. Returns false when
 * that was not possible: accepting then pauses for ACCEPT_BACKOFF_S. */
static bool refuse_without_fds(server *srv, int accept_errno)
{
    log_limited(&srv->log, accept_errno == EMFILE ? "accept:EMFILE" : "accept:ENFILE", LOG_WARN,
                "accept: %s: new connections are refused with OVERLOADED (open connections %zu, "
                "--max-conns %zu); raise the open-file limit (ulimit -n)", strerror(accept_errno),
                srv->n_conns, srv->cfg.max_conns);
    if (srv->spare_fd < 0) return false;
    close(srv->spare_fd);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int fd = accept4(srv->listen_fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
        char peer[64];
        format_peer(&sa, peer, sizeof peer);
        conn *c = conn_open(srv, fd, peer);
        if (c) {
            dispatch_send_refusal(srv, c);   /* a fresh socket takes it whole */
            conn_close(c);
        } else {
            close(fd);
        }
    }
    srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0 && srv->spare_fd >= 0;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    server *srv = w->data;
    for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
        struct sockaddr_in sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(srv->listen_fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            adopt(srv, fd, &sa);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if ((errno == EMFILE || errno == ENFILE) && refuse_without_fds(srv, errno)) continue;
        if (errno != EMFILE && errno != ENFILE) {
            char key[LOG_LIMIT_KEY_MAX];
            snprintf(key, sizeof key, "accept:%d", errno);
            log_limited(&srv->log, key, LOG_WARN, "accept: %s", strerror(errno));
        }
        /* Nothing gained by trying again at once: pause accepting. */
        ev_io_stop(loop, &srv->accept_watcher);
        ev_timer_start(loop, &srv->accept_backoff_timer);
        return;
    }
}

/* How many descriptors this process holds (the count of /proc/self/fd, the
 * directory's own excluded); 0 when it cannot tell. */
static unsigned fds_open(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 0;
    unsigned n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n > 0 ? n - 1 : 0;
}

/* Caps --max-conns to what the open-file limit leaves once usherd's own
 * descriptors (counted now, when everything is open) and FD_HEADROOM are
 * set aside, and says so once when it had to. main raised the soft limit
 * to the hard one already. */
static void cap_max_conns(server *srv)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return;
    unsigned own = fds_open();
    if (own == 0) own = 32;   /* no /proc: a generous guess */
    uint64_t limit = (uint64_t)rl.rlim_cur, kept = (uint64_t)own + FD_HEADROOM;
    uint64_t room = limit > kept ? limit - kept : 1;
    if (srv->cfg.max_conns <= room) return;
    log_msg(&srv->log, LOG_WARN,
            "--max-conns %zu does not fit the open-file limit of %llu: serving at most %llu "
            "connections (%u descriptors are usherd's own, %d kept spare); raise ulimit -n "
            "(hard limit %llu) to serve more", srv->cfg.max_conns, (unsigned long long)limit,
            (unsigned long long)room, own, FD_HEADROOM,
            rl.rlim_max == RLIM_INFINITY ? 0ULL : (unsigned long long)rl.rlim_max);
    srv->cfg.max_conns = (size_t)room;
}

static void begin_stop(server *srv);

/* The environment is unusable for good (store_broken): answer what is in
 * flight (with errors), then exit 1 so a supervisor starts a fresh process.
 * The housekeeping tick reaches the writer every --admit-interval, so this
 * is noticed even when no client writes. */
static void stop_if_store_broken(server *srv)
{
    if (srv->stopping || !store_broken(srv->st)) return;
    srv->store_broken = true;
    log_msg(&srv->log, LOG_ERROR, "storage unusable (LMDB panic): stopping; restart usherd");
    begin_stop(srv);
}

/* --log-level debug: what the writer thread did for req (a logger is the
 * loop's: the writer hands the figures over in the request). */
static void log_write_figures(server *srv, const request *req)
{
    if (!log_debug_on(&srv->log)) return;
    if (req->batch_writes)
        log_msg(&srv->log, LOG_DEBUG, "group commit: %u writes, commit %lld us",
                (unsigned)req->batch_writes, (long long)req->batch_commit_us);
    for (size_t i = 0; !req->method && i < req->admitted.n; i++)
        log_msg(&srv->log, LOG_DEBUG, "admission tick: concert %llu admitted %u (%u in all, tick %lld us%s)",
                (unsigned long long)req->admitted.concert[i].concert_id,
                (unsigned)req->admitted.concert[i].admitted, (unsigned)req->admitted.total,
                (long long)req->tick_us, req->throttled ? ", throttled: half rate" : "");
}

/* The revocation cache from the store (a failure keeps the old one: the
 * next refresh tries again). */
static void refresh_revocations(server *srv)
{
    usher_err e = revocation_cache_refresh(&srv->revoked, srv->st, &srv->cfg, clock_now_ms());
    if (e != USHER_ERR_OK)
        log_msg(&srv->log, LOG_WARN, "revocations: cannot refresh: %s", usher_err_name(e));
}

static void finish_write(server *srv, request *req);

/* A remote store's revocation refresh: read on the writer's pool, installed
 * on the loop. reply, when set, is an admin.session.revoke whose reply waits
 * for it (this process refuses the revoked tokens before anyone hears OK). */
typedef struct revocation_job {
    server *srv;
    request *reply;
    int64_t now_ms;
    bool loaded;
    uint64_t version;
    revocation_load ld;
} revocation_job;

static void revocation_job_run(void *ctx, store *st)
{
    revocation_job *j = ctx;
    revocation_cache_read(st, &j->srv->cfg, j->now_ms, j->loaded, j->version, &j->ld);
}

static void revocation_job_done(void *ctx)
{
    revocation_job *j = ctx;
    server *srv = j->srv;
    /* Two refreshes may cross (the timer's and a revoke's): the version only
     * grows, so an older read never replaces a newer one. */
    if (j->ld.err == USHER_ERR_OK && j->ld.changed && srv->revoked.loaded &&
        j->ld.version < srv->revoked.version)
        j->ld.changed = false;
    usher_err e = revocation_cache_install(&srv->revoked, &j->ld);
    if (e != USHER_ERR_OK)
        log_limited(&srv->log, "revocations:refresh", LOG_WARN, "revocations: cannot refresh: %s",
                    usher_err_name(e));
    if (j->reply) finish_write(srv, j->reply);
    else srv->revocation_in_flight = false;
    free(j);
}

/* Starts a refresh on the pool; false when it could not (out of memory). */
static bool submit_revocation_job(server *srv, request *reply)
{
    revocation_job *j = calloc(1, sizeof *j);
    if (!j) return false;
    *j = (revocation_job){ .srv = srv, .reply = reply, .now_ms = clock_now_ms(),
                           .loaded = srv->revoked.loaded, .version = srv->revoked.version };
    if (!reply) srv->revocation_in_flight = true;
    if (writer_job_submit(srv->writer, revocation_job_run, revocation_job_done, j)) return true;
    if (!reply) srv->revocation_in_flight = false;
    free(j);
    return false;
}

static void on_revocation_refresh(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop; (void)revents;
    server *srv = w->data;
    if (!srv->remote) {
        refresh_revocations(srv);
        return;
    }
    if (!srv->revocation_in_flight) submit_revocation_job(srv, NULL);
}

/* Once a second: this process's commit p99 over the window, and whether
 * admission is throttled because of it (said in the log when it changes). */
static void refresh_stats(server *srv);

static void on_health_sample(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop; (void)revents;
    server *srv = w->data;
    if (srv->remote && srv->http) refresh_stats(srv);   /* /metrics' stored figures, <= ~1 s old */
    if (!health_sample(&srv->health)) return;
    uint64_t commits, p99_us;
    health_window_p99(&srv->health.window, &commits, &p99_us);
    bool throttled = health_admission_throttled(srv);
    metrics_note_admission_throttled(srv->metrics, throttled);
    if (throttled)
        log_msg(&srv->log, LOG_WARN, "admission throttled: commit p99 %.1f ms over the last %d s "
                "(%llu commits) is above --admit-slow-ms %lld; admitting at half rate",
                (double)p99_us / 1000.0, HEALTH_WINDOW_S, (unsigned long long)commits,
                (long long)srv->cfg.admit_slow_ms);
    else
        log_msg(&srv->log, LOG_INFO, "admission at full rate again: commit p99 %.1f ms over the "
                "last %d s", (double)p99_us / 1000.0, HEALTH_WINDOW_S);
}

/* Loop thread: a write request (or the housekeeping job) came back. */
static void on_write_done(void *ctx, request *req)
{
    server *srv = ctx;
    log_write_figures(srv, req);
    /* This process refuses the revoked tokens before anyone hears OK. */
    if (req->method && req->method->id == USHER_METHOD_ADMIN_SESSION_REVOKE &&
        req->err == USHER_ERR_OK) {
        if (!srv->remote) refresh_revocations(srv);
        else if (submit_revocation_job(srv, req)) return;   /* the reply waits for it */
        else refresh_revocations(srv);   /* out of memory: read here rather than not at all */
    }
    finish_write(srv, req);
}

/* Loop thread: a request back from the writer is answered (or, for a job
 * of the server's own, settled). */
static void finish_write(server *srv, request *req)
{
    conn *cn = req->conn;
    srv->writes_in_flight--;
    if (!req->method && queue_seen_job_done(srv, req)) {
        /* seen times stored (or not: the next notes retry) */
    } else if (!req->method) {
        srv->tick_in_flight = false;
        if (req->err != USHER_ERR_OK && srv->remote)   /* a database away: once, not every tick */
            log_limited(&srv->log, "housekeeping", LOG_WARN, "housekeeping failed: %s",
                        usher_err_name(req->err));
        else if (req->err != USHER_ERR_OK)
            log_msg(&srv->log, LOG_WARN, "housekeeping failed: %s", usher_err_name(req->err));
        request_free(req);
    } else {
        dispatch_finish(srv, req);
        conn_release(cn);
    }
    stop_if_store_broken(srv);
    server_maybe_finish(srv);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop; (void)revents;
    server *srv = w->data;
    if (srv->tick_in_flight || srv->stopping) return;
    request *job = request_new(&srv->env, NULL);
    if (!job) return;
    job->throttled = health_admission_throttled(srv);
    srv->tick_in_flight = true;
    srv->writes_in_flight++;
    writer_submit(srv->writer, job);
}

static int64_t mono_ms(void) { return clock_mono_us() / 1000; }

/* A reader slot that held one snapshot too long: say so (once per
 * --reader-timeout), and kill it when it is overdue and a stopped usherd: it
 * serves nobody, and its slot is cleared once it is gone (with --workers its
 * parent replaces it). Any other process is only warned about. */
static void act_on_lagging_reader(server *srv, const reader_lag *lag)
{
    char comm[16] = "?", state = '?';
    if (!reader_proc_inspect(lag->pid, comm, &state)) return;   /* dead: the next check clears it */
    double held_s = (double)lag->held_ms / 1000.0;
    bool ours = strcmp(comm, srv->own_comm) == 0;
    if (lag->log_due) {
        const char *what = state == 'T' ? "stopped" : state == 't' ? "stopped by a debugger" : "running";
        log_msg(&srv->log, lag->verdict == READER_OVERDUE ? LOG_ERROR : LOG_WARN,
                "lagging reader pid %d (%s, %s) has held snapshot %llu for %.1f s, %llu commits "
                "behind: the data file grows until it lets go%s", lag->pid, comm, what,
                (unsigned long long)lag->txnid, held_s, (unsigned long long)lag->behind,
                ours ? (state == 'T' ? "; it is killed once it held it for --reader-timeout" : "")
                     : "; resume it (kill -CONT) or end it: it is not usherd and is never killed");
    }
    if (lag->verdict == READER_OVERDUE && ours && state == 'T' && kill(lag->pid, SIGKILL) == 0)
        log_msg(&srv->log, LOG_WARN,
                "killed frozen reader pid %d (%s, stopped): it held snapshot %llu for %.1f s, "
                "%llu commits behind, past --reader-timeout; its slot is cleared next",
                lag->pid, comm, (unsigned long long)lag->txnid, held_s,
                (unsigned long long)lag->behind);
}

static void on_reader_check(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop; (void)revents;
    server *srv = w->data;
    store_reader_check(srv->st, NULL);
    uint64_t total = store_readers_cleared_take(srv->st);
    if (total > 0)
        log_msg(&srv->log, LOG_WARN, "cleared stale reader slots: %llu left by dead processes",
                (unsigned long long)total);

    store_reader slots[READERS_LISTED_MAX];
    reader_lag lags[READERS_LISTED_MAX];
    size_t n = 0;
    uint64_t last = 0;
    if (store_reader_list(srv->st, slots, READERS_LISTED_MAX, &n, &last) != USHER_ERR_OK) return;
    size_t nl = reader_watch_scan(&srv->readers, slots, n, last, mono_ms(), lags, READERS_LISTED_MAX);
    for (size_t i = 0; i < nl; i++) act_on_lagging_reader(srv, &lags[i]);
}

static void on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop; (void)revents;
    server *srv = w->data;
    writer_flush(srv->writer);
    log_flush(&srv->log);
}

void server_maybe_finish(server *srv)
{
    if (srv->stopping && srv->writes_in_flight == 0 && srv->conns == NULL)
        ev_break(srv->loop, EVBREAK_ALL);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    server *srv = w->data;
    log_msg(&srv->log, LOG_WARN, "shutdown deadline reached with %zu connections open", srv->n_conns);
    ev_break(loop, EVBREAK_ALL);
}

/* SIGINT/SIGTERM: stop accepting, let in-flight writes finish and replies go out. */
static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop; (void)revents;
    server *srv = w->data;
    if (srv->stopping) return;
    log_msg(&srv->log, LOG_INFO, "signal %d: stopping", w->signum);
    begin_stop(srv);
}

/* Stop accepting, let in-flight writes finish and replies go out. */
static void begin_stop(server *srv)
{
    struct ev_loop *loop = srv->loop;
    srv->stopping = true;
    notify_send("STOPPING=1");
    ev_io_stop(loop, &srv->accept_watcher);
    ev_timer_stop(loop, &srv->accept_backoff_timer);
    close(srv->listen_fd);
    srv->listen_fd = -1;
    ev_timer_stop(loop, &srv->tick_timer);
    watch_stop(srv->watch);
    http_metrics_stop(srv->http);
    srv->http = NULL;
    for (conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        conn_drain(c);
    }
    ev_timer_start(loop, &srv->shutdown_timer);
    server_maybe_finish(srv);
}

static void start_watchers(server *srv)
{
    struct ev_loop *loop = srv->loop;
    ev_io_init(&srv->accept_watcher, on_accept, srv->listen_fd, EV_READ);
    ev_timer_init(&srv->accept_backoff_timer, on_accept_backoff, ACCEPT_BACKOFF_S, 0.0);
    srv->accept_backoff_timer.data = srv;
    double tick_s = (double)srv->cfg.admit_interval_ms / 1000.0;
    ev_timer_init(&srv->tick_timer, on_tick, tick_s, tick_s);
    ev_timer_init(&srv->reader_check_timer, on_reader_check, READER_CHECK_INTERVAL_S,
                  READER_CHECK_INTERVAL_S);
    ev_timer_init(&srv->shutdown_timer, on_deadline, SHUTDOWN_DEADLINE_S, 0.0);
    ev_timer_init(&srv->revocation_timer, on_revocation_refresh, REVOCATION_REFRESH_MS / 1000.0,
                  REVOCATION_REFRESH_MS / 1000.0);
    srv->revocation_timer.data = srv;
    ev_timer_init(&srv->health_timer, on_health_sample, 1.0, 1.0);
    srv->health_timer.data = srv;
    ev_signal_init(&srv->sigint_watcher, on_signal, SIGINT);
    ev_signal_init(&srv->sigterm_watcher, on_signal, SIGTERM);
    ev_prepare_init(&srv->flush_watcher, on_flush);
    srv->accept_watcher.data = srv->tick_timer.data = srv->reader_check_timer.data = srv;
    srv->shutdown_timer.data = srv->sigint_watcher.data = srv->sigterm_watcher.data = srv;
    srv->flush_watcher.data = srv;
    ev_io_start(loop, &srv->accept_watcher);
    ev_timer_start(loop, &srv->tick_timer);
    watch_start(srv->watch);
    ev_timer_start(loop, &srv->reader_check_timer);
    ev_timer_start(loop, &srv->revocation_timer);
    ev_timer_start(loop, &srv->health_timer);
    ev_signal_start(loop, &srv->sigint_watcher);
    ev_signal_start(loop, &srv->sigterm_watcher);
    ev_prepare_start(loop, &srv->flush_watcher);
    ev_unref(loop);   /* the prepare watcher alone must not keep the loop alive */
}

static void seed_demo(server *srv)
{
    demo_outcome d;
    usher_err e = demo_seed(srv->st, clock_now_ms(), &d);
    if (e != USHER_ERR_OK) {
        log_msg(&srv->log, LOG_ERROR, "demo: %s", usher_err_name(e));
        return;
    }
    char first[32] = "";
    if (d.what != DEMO_UNCHANGED) {
        time_t secs = (time_t)(d.first_starts_at_ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(first, sizeof first, "%Y-%m-%d %H:%M UTC", &tm);
    }
    if (d.what == DEMO_CREATED)
        log_msg(&srv->log, LOG_INFO, "demo concert created (concert %llu, %d dates from %s, %d seats)",
                (unsigned long long)d.concert_id, DEMO_DATES, first, DEMO_SEATS);
    else if (d.what == DEMO_RENEWED)
        log_msg(&srv->log, LOG_INFO, "demo: every performance of concert %llu had passed; added %d "
                "dates from %s (schedules %llu..%llu, %d seats)", (unsigned long long)d.concert_id,
                DEMO_DATES, first, (unsigned long long)d.schedule_ids[0],
                (unsigned long long)d.schedule_ids[DEMO_DATES - 1], DEMO_SEATS);
}

bool server_shared_open(const usher_config *cfg, unsigned n, server_shared *out)
{
    out->slot = 0;
    out->metrics_fd = -1;
    out->metrics = metrics_block_new(n);
    if (!out->metrics) {
        fprintf(stderr, "usherd: cannot map the figures of %u processes\n", n);
        return false;
    }
    if (cfg->metrics_port == 0) return true;
    char err[256];
    out->metrics_fd = http_metrics_listen(cfg->metrics_host, cfg->metrics_port, err, sizeof err);
    if (out->metrics_fd >= 0) return true;
    fprintf(stderr, "usherd: %s\n", err);
    metrics_block_free(out->metrics);
    out->metrics = NULL;
    return false;
}

void server_shared_close(server_shared *sh)
{
    if (sh->metrics_fd >= 0) close(sh->metrics_fd);
    sh->metrics_fd = -1;
    metrics_block_free(sh->metrics);
    sh->metrics = NULL;
}

/* A remote store's stored figures for /metrics, read on the writer's pool. */
typedef struct stats_job {
    server *srv;
    store_stats stats;
    usher_err err;
} stats_job;

static void stats_job_run(void *ctx, store *st)
{
    stats_job *j = ctx;
    store_txn *txn;
    j->err = store_read_begin(st, &txn);
    if (j->err != USHER_ERR_OK) return;
    j->err = store_stats_read(txn, clock_now_ms(), &j->stats);
    store_txn_end(txn);
}

static void stats_job_done(void *ctx)
{
    stats_job *j = ctx;
    server *srv = j->srv;
    srv->stats_in_flight = false;
    if (j->err == USHER_ERR_OK) {
        if (!srv->stats_cache) srv->stats_cache = malloc(sizeof *srv->stats_cache);
        if (srv->stats_cache) {
            *srv->stats_cache = j->stats;
            srv->stats_cached_us = clock_mono_us();
        }
    } else {
        log_limited(&srv->log, "metrics:stats", LOG_WARN, "metrics: cannot read the stored figures: %s",
                    usher_err_name(j->err));
    }
    free(j);
}

/* Starts a read of the stored figures unless one is under way or the copy
 * is fresh (younger than STATS_FRESH_US). */
static void refresh_stats(server *srv)
{
    if (srv->stats_in_flight || srv->stopping ||
        (srv->stats_cache && clock_mono_us() - srv->stats_cached_us < STATS_FRESH_US)) return;
    stats_job *j = calloc(1, sizeof *j);
    if (!j) return;
    j->srv = srv;
    srv->stats_in_flight = true;
    if (!writer_job_submit(srv->writer, stats_job_run, stats_job_done, j)) {
        srv->stats_in_flight = false;
        free(j);
    }
}

/* GET /metrics: every worker's figures and one snapshot's stored ones. A
 * remote store's are the copy read last on the pool, refreshed every second
 * (the health timer) while --metrics is on, so at most about a second old;
 * 500 until the first read. */
static bool scrape(void *ctx, char **body, size_t *len)
{
    server *srv = ctx;
    metrics_totals *t = malloc(sizeof *t);
    store_stats *s = malloc(sizeof *s);
    store_txn *txn = NULL;
    bool ok;
    if (srv->remote) {
        ok = t && s && srv->stats_cache;
        if (ok) *s = *srv->stats_cache;
        refresh_stats(srv);
    } else {
        ok = t && s && store_read_begin(srv->st, &txn) == USHER_ERR_OK;
        if (ok) {
            ok = store_stats_read(txn, clock_now_ms(), s) == USHER_ERR_OK;
            store_txn_end(txn);
        }
    }
    if (ok) {
        metrics_sum(srv->metrics_all, clock_mono_us(), t);
        ok = metrics_prom_format(t, s, body, len);
    }
    free(t);
    free(s);
    return ok;
}

int server_run(const usher_config *cfg, const server_shared *sh)
{
    server *srv = calloc(1, sizeof *srv);
    int status = 1;
    char err[256] = "";
    char host[64] = "localhost";
    if (!srv) return 1;
    srv->cfg = *cfg;
    srv->listen_fd = -1;
    srv->spare_fd = -1;
    gethostname(host, sizeof host - 1);
    snprintf(srv->instance, sizeof srv->instance, "%s:%d", host, (int)getpid());
    srv->log = (logger){ .level = cfg->log_level, .json = cfg->log_json, .instance = srv->instance };
    srv->metrics_all = sh->metrics;
    srv->metrics = metrics_slot_claim(sh->metrics, sh->slot);
    srv->env = (call_env){ .cfg = &srv->cfg, .keys = &srv->keys, .instance = srv->instance,
                           .version = USHERD_VERSION, .metrics = sh->metrics,
                           .admission_throttled = &srv->health.throttled };
    health_init(&srv->health, srv->metrics, cfg->admit_slow_ms);
    msgpack_sbuffer_init(&srv->scratch);

    bool key_created = false;
    bool remote = cfg->store_url[0] != '\0';
    const char *spec = config_store_spec(cfg);
    if (!remote) {
        if (token_keys_open_as(cfg->data_dir, TOKEN_KEYS_LOAD_OR_CREATE, &srv->keys, &key_created,
                               err, sizeof err) != USHER_ERR_OK) {
            log_msg(&srv->log, LOG_ERROR, "keys: %s", err);
            goto out;
        }
        log_msg(&srv->log, LOG_INFO, "signing key %s: %s/keys (key id %08x)",
                key_created ? "created" : "loaded", cfg->data_dir, (unsigned)srv->keys.key_id);
    }
    store_options opt = config_store_options(cfg);
    opt.log_instance = srv->instance;   /* the store's lines in the log's format */
    opt.log_json = cfg->log_json;
    usher_err open_err = store_open(&srv->st, spec, &opt);
    if (open_err != USHER_ERR_OK) {
        log_msg(&srv->log, LOG_ERROR, "cannot open the store %s%s%s", remote ? "" : "in ",
                remote ? "(PostgreSQL): " : "", remote ? store_url_redacted(cfg->store_url, err, sizeof err) : cfg->data_dir);
        goto out;
    }
    if (remote) {
        /* Every host signs with the one key the database holds. */
        if (token_keys_from_store(srv->st, &srv->keys, &key_created, err, sizeof err) != USHER_ERR_OK) {
            log_msg(&srv->log, LOG_ERROR, "keys: %s", err);
            goto out;
        }
        log_msg(&srv->log, LOG_INFO, "signing key %s in the database (key id %08x)",
                key_created ? "created" : "loaded", (unsigned)srv->keys.key_id);
    }
    srv->remote = store_is_remote(srv->st);
    if (cfg->demo) seed_demo(srv);
    reader_watch_init(&srv->readers, (int)getpid(), cfg->reader_timeout_ms);
    char own_state;
    if (!reader_proc_inspect((int)getpid(), srv->own_comm, &own_state))
        srv->own_comm[0] = '\0';   /* no /proc: no reader is taken for a usherd, none is killed */
    srv->tokens = token_cache_new(cfg->token_cache_tokens);
    revocation_cache_init(&srv->revoked);
    usher_err rev_err = revocation_cache_refresh(&srv->revoked, srv->st, &srv->cfg, clock_now_ms());
    if (rev_err != USHER_ERR_OK && !srv->remote) {
        log_msg(&srv->log, LOG_ERROR, "cannot read the revocations in %s", cfg->data_dir);
        goto out;
    }
    /* A database may be out of reach a moment: the refresh timer tries
     * again, and meanwhile session and queue tokens are answered
     * UNAVAILABLE (dispatch.c), never let through unchecked. */
    if (rev_err != USHER_ERR_OK)
        log_msg(&srv->log, LOG_WARN, "cannot read the revocations yet (%s): session and queue "
                "tokens are answered UNAVAILABLE until they are read", usher_err_name(rev_err));
    srv->loop = ev_default_loop(EVFLAG_AUTO);
    srv->listen_fd = open_listener(srv);
    if ((cfg->token_cache_tokens && !srv->tokens) || !srv->loop || srv->listen_fd < 0) goto out;
    srv->eta = queue_eta_new();
    srv->watch = srv->eta ? watch_new(srv) : NULL;
    if (!srv->watch) goto out;
    srv->writer = writer_start_pool(srv->loop, srv->st, cfg->batch_max,
                                    srv->remote ? cfg->db_connections : 0, on_write_done, srv);
    if (!srv->writer) goto out;
    writer_count_into(srv->writer, srv->metrics);
    if (sh->metrics_fd >= 0 &&
        !(srv->http = http_metrics_start(srv->loop, sh->metrics_fd, scrape, srv))) goto out;
    srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    start_watchers(srv);
    srv->seen = queue_seen_start(srv);   /* none on OOM: entries then only age */
    if (srv->remote && srv->http) refresh_stats(srv);   /* the first scrape's stored figures */
    cap_max_conns(srv);
    if (remote)
        log_msg(&srv->log, LOG_INFO, "usherd %s listening on %s:%u, store %s (%u connections)",
                USHERD_VERSION, cfg->listen_host, cfg->listen_port,
                store_url_redacted(cfg->store_url, err, sizeof err), cfg->db_connections);
    else
        log_msg(&srv->log, LOG_INFO, "usherd %s listening on %s:%u, data %s", USHERD_VERSION,
                cfg->listen_host, cfg->listen_port, cfg->data_dir);
    if (notify_send("READY=1") < 0)   /* a service manager waits for it (Type=notify) */
        log_msg(&srv->log, LOG_WARN, "NOTIFY_SOCKET: cannot send READY=1: %s", strerror(errno));
    if (srv->http)
        log_msg(&srv->log, LOG_INFO, "metrics on http://%s:%u/metrics", cfg->metrics_host,
                cfg->metrics_port);

    ev_run(srv->loop, 0);

    ev_ref(srv->loop);
    ev_prepare_stop(srv->loop, &srv->flush_watcher);
    uint64_t batches, requests;
    writer_counts(srv->writer, &batches, &requests);
    log_msg(&srv->log, LOG_INFO, "group commits: %llu carrying %llu writes (housekeeping included)",
            (unsigned long long)batches, (unsigned long long)requests);
    token_cache_stats tc = token_cache_stats_get(srv->tokens);
    log_msg(&srv->log, LOG_INFO, "token cache: %llu hits, %llu misses, %llu evicted, room for %zu",
            (unsigned long long)tc.hits, (unsigned long long)tc.misses,
            (unsigned long long)tc.evictions, tc.capacity);
    writer_stop(srv->writer);   /* finishes queued writes and delivers their replies */
    srv->writer = NULL;
    for (conn *c = srv->conns, *next; c; c = next) {   /* past the deadline */
        next = c->next;
        conn_close(c);
    }
    log_msg(&srv->log, LOG_INFO, "stopped");
    status = srv->store_broken ? 1 : 0;
out:
    queue_seen_free(srv->seen);
    http_metrics_stop(srv->http);
    if (srv->writer) writer_stop(srv->writer);
    if (srv->listen_fd >= 0) close(srv->listen_fd);
    if (srv->spare_fd >= 0) close(srv->spare_fd);
    if (srv->st) store_close(srv->st);
    token_cache_free(srv->tokens);
    revocation_cache_free(&srv->revoked);
    watch_free(srv->watch);
    queue_eta_free(srv->eta);
    msgpack_sbuffer_destroy(&srv->scratch);
    free(srv->stats_cache);
    sodium_memzero(&srv->keys, sizeof srv->keys);
    free(srv);
    return status;
}
