#include "workers.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "log.h"
#include "server.h"

/* The lock is a listening socket in Linux's abstract namespace, named for
 * the address: the kernel releases it when the last process holding it
 * exits, so no file is left behind and a crash never leaves a stale lock.
 * Workers inherit it across fork. */
int workers_lock_port(const usher_config *cfg)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int len = snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "usherd-lock:%s:%u",
                       cfg->listen_host, cfg->listen_port);
    socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "usherd: lock socket: %s\n", strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sa, sl) == 0 && listen(fd, 1) == 0) return fd;
    int bind_errno = errno;
    close(fd);
    if (bind_errno != EADDRINUSE) {
        fprintf(stderr, "usherd: lock %s:%u: %s\n", cfg->listen_host, cfg->listen_port,
                strerror(bind_errno));
        return -1;
    }
    /* Held: ask the kernel who holds it, to name them. */
    long owner = -1;
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sl) == 0 &&
        getsockopt(probe, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
        owner = (long)cred.pid;
    if (probe >= 0) close(probe);
    fprintf(stderr, "usherd: %s:%u is already served by another usherd (pid %ld)\n",
            cfg->listen_host, cfg->listen_port, owner);
    return -1;
}

/* ---- policy: backoff and giving up ---- */

int64_t worker_restart_delay_ms(unsigned fast_in_a_row)
{
    if (fast_in_a_row == 0) return 0;
    int64_t delay = WORKER_RESTART_FIRST_MS;
    for (unsigned i = 1; i < fast_in_a_row && delay < WORKER_RESTART_MAX_MS; i++) delay *= 2;
    return delay < WORKER_RESTART_MAX_MS ? delay : WORKER_RESTART_MAX_MS;
}

bool worker_deaths_note(worker_deaths *d, int64_t lived_ms, int64_t now_ms)
{
    if (lived_ms >= WORKER_FAST_DEATH_MS) return false;
    d->at_ms[d->next] = now_ms;
    d->next = (d->next + 1) % WORKER_GIVE_UP_DEATHS;
    if (d->count < WORKER_GIVE_UP_DEATHS) d->count++;
    /* The ring is full: d->next is now the oldest of the last N fast deaths. */
    return d->count == WORKER_GIVE_UP_DEATHS &&
           now_ms - d->at_ms[d->next] < WORKER_GIVE_UP_WINDOW_MS;
}

/* ---- the parent ---- */

/* One worker slot: running (pid > 0), or waiting for its replacement
 * (restart_pending, until restart_at_ms), or empty (exited cleanly). */
typedef struct worker_slot {
    pid_t pid;
    int64_t started_ms;       /* monotonic */
    bool restart_pending;
    int64_t restart_at_ms;    /* monotonic */
    unsigned fast_in_a_row;   /* fast deaths of this slot in a row */
} worker_slot;

typedef struct pool {
    const usher_config *cfg;
    logger log;
    char instance[96];
    sigset_t saved_mask;      /* restored in each worker */
    server_shared shared;     /* figures and --metrics listener, inherited by each worker */
    worker_slot slot[WORKER_SLOTS_MAX];
    unsigned n;
    worker_deaths deaths;
    bool stopping;            /* SIGINT/SIGTERM or giving up: replace nothing */
    int status;               /* exit status of the parent */
} pool;

static int64_t mono_ms(void) { return clock_mono_us() / 1000; }

static void on_sigchld(int sig) { (void)sig; }   /* only so SIGCHLD is delivered to sigtimedwait */

/* Forks the worker of slot i. The child restores the signal mask, dies with
 * the parent (a worker without its supervisor would hold the port lock and
 * serve unsupervised), and opens its own store inside server_run. */
static bool start_worker(pool *p, unsigned i)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        log_msg(&p->log, LOG_ERROR, "fork of worker %u: %s", i, strerror(errno));
        return false;
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        sigprocmask(SIG_SETMASK, &p->saved_mask, NULL);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(1);
        server_shared mine = p->shared;
        mine.slot = i;        /* a replacement takes over the figures of its slot */
        _exit(server_run(p->cfg, &mine));
    }
    worker_slot *s = &p->slot[i];
    s->pid = pid;
    s->started_ms = mono_ms();
    s->restart_pending = false;
    return true;
}

static void signal_workers(pool *p, int sig)
{
    for (unsigned i = 0; i < p->n; i++)
        if (p->slot[i].pid > 0) kill(p->slot[i].pid, sig);
}

static void stop_pool(pool *p, const char *why)
{
    if (p->stopping) return;
    p->stopping = true;
    log_msg(&p->log, LOG_INFO, "%s: stopping the workers", why);
    for (unsigned i = 0; i < p->n; i++) p->slot[i].restart_pending = false;
    signal_workers(p, SIGTERM);
}

static void describe_exit(int status, char *out, size_t cap)
{
    if (WIFSIGNALED(status)) snprintf(out, cap, "signal %d", WTERMSIG(status));
    else snprintf(out, cap, "status %d", WEXITSTATUS(status));
}

/* A worker exited: replace it, or give up on a crash loop. */
static void on_worker_exit(pool *p, pid_t pid, int status)
{
    unsigned i = 0;
    while (i < p->n && p->slot[i].pid != pid) i++;
    if (i == p->n) return;   /* not ours */
    worker_slot *s = &p->slot[i];
    int64_t now = mono_ms(), lived = now - s->started_ms;
    s->pid = 0;
    char how[32];
    describe_exit(status, how, sizeof how);
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (p->stopping || clean) {
        if (!clean) log_msg(&p->log, LOG_WARN, "worker %d exited (%s) while stopping", (int)pid, how);
        return;   /* a clean exit means someone stopped it on purpose: not replaced */
    }
    if (worker_deaths_note(&p->deaths, lived, now)) {
        log_msg(&p->log, LOG_ERROR,
                "worker %d died (%s) after %.1f s: giving up, %d workers died within %d s of "
                "starting in the last %d s", (int)pid, how, (double)lived / 1000.0,
                WORKER_GIVE_UP_DEATHS, WORKER_FAST_DEATH_MS / 1000, WORKER_GIVE_UP_WINDOW_MS / 1000);
        p->status = 1;
        stop_pool(p, "gave up");
        return;
    }
    s->fast_in_a_row = lived < WORKER_FAST_DEATH_MS ? s->fast_in_a_row + 1 : 0;
    int64_t delay = worker_restart_delay_ms(s->fast_in_a_row);
    s->restart_pending = true;
    s->restart_at_ms = now + delay;
    log_msg(&p->log, LOG_WARN, "worker %d died (%s) after %.1f s; replacing it in %lld ms",
            (int)pid, how, (double)lived / 1000.0, (long long)delay);
}

/* Starts the replacements that are due; returns ms until the next one (-1: none). */
static int64_t start_due(pool *p)
{
    int64_t now = mono_ms(), next = -1;
    for (unsigned i = 0; i < p->n && !p->stopping; i++) {
        worker_slot *s = &p->slot[i];
        if (!s->restart_pending) continue;
        if (s->restart_at_ms <= now) {
            if (start_worker(p, i)) {
                log_msg(&p->log, LOG_INFO, "worker %d started in slot %u (replacement)", (int)s->pid, i);
                continue;
            }
            /* A failed fork counts as a fast death of the slot. */
            if (worker_deaths_note(&p->deaths, 0, now)) {
                log_msg(&p->log, LOG_ERROR, "giving up: cannot fork workers");
                p->status = 1;
                stop_pool(p, "gave up");
                return -1;
            }
            s->fast_in_a_row++;
            s->restart_at_ms = now + worker_restart_delay_ms(s->fast_in_a_row);
        }
        int64_t wait = s->restart_at_ms - now;
        if (next < 0 || wait < next) next = wait;
    }
    return next;
}

static bool any_worker(const pool *p)
{
    for (unsigned i = 0; i < p->n; i++)
        if (p->slot[i].pid > 0 || p->slot[i].restart_pending) return true;
    return false;
}

static void reap(pool *p)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) on_worker_exit(p, pid, status);
}

static void supervise(pool *p, const sigset_t *waited)
{
    for (;;) {
        reap(p);
        int64_t next = start_due(p);
        if (!any_worker(p)) return;
        int64_t wait = next >= 0 && next < 1000 ? next : 1000;   /* also a safety net for lost SIGCHLDs */
        struct timespec ts = { .tv_sec = wait / 1000, .tv_nsec = (long)(wait % 1000) * 1000000L };
        int sig = sigtimedwait(waited, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            char why[32];
            snprintf(why, sizeof why, "signal %d", sig);
            stop_pool(p, why);
        }
    }
}

int workers_run(const usher_config *cfg)
{
    if (cfg->workers <= 1) {
        server_shared sh;
        if (!server_shared_open(cfg, 1, &sh)) return 1;
        int status = server_run(cfg, &sh);
        server_shared_close(&sh);
        return status;
    }

    pool *p = calloc(1, sizeof *p);
    if (!p) return 1;
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(p->instance, sizeof p->instance, "%s:%d", host, (int)getpid());
    p->cfg = cfg;
    p->log = (logger){ .level = cfg->log_level, .json = cfg->log_json, .instance = p->instance };
    p->n = cfg->workers < WORKER_SLOTS_MAX ? cfg->workers : WORKER_SLOTS_MAX;
    if (!server_shared_open(cfg, p->n, &p->shared)) {
        free(p);
        return 1;
    }

    struct sigaction sa = { .sa_handler = on_sigchld };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t waited;
    sigemptyset(&waited);
    sigaddset(&waited, SIGCHLD);
    sigaddset(&waited, SIGINT);
    sigaddset(&waited, SIGTERM);
    sigprocmask(SIG_BLOCK, &waited, &p->saved_mask);

    for (unsigned i = 0; i < p->n; i++) {
        if (!start_worker(p, i)) {
            p->status = 1;
            stop_pool(p, "cannot start the workers");
            break;
        }
    }
    supervise(p, &waited);
    log_msg(&p->log, p->status ? LOG_ERROR : LOG_INFO, "all workers stopped; exiting with status %d",
            p->status);
    int status = p->status;
    server_shared_close(&p->shared);
    free(p);
    return status;
}
