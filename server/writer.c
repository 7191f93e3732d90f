#include "writer.h"
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include "clock.h"
#include "metrics.h"

#define HOUSEKEEPING_MAX 1000   /* expired holds / old request ids tidied per tick */

struct writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    struct ev_loop *loop;
    ev_async done_watcher;
    store *st;
    size_t batch_max;
    writer_done_fn done;
    void *ctx;
    request *pending_head, *pending_tail;  /* loop thread only */
    request *todo_head, *todo_tail;        /* under mu: waiting for the thread */
    request *done_head, *done_tail;        /* under mu: waiting for the loop */
    bool stop;                             /* under mu */
    uint64_t batches, requests;            /* under mu: group commits and what they carried */
    request *held_head, *held_last;        /* writer thread: committed, waiting for a data sync (--sync meta) */
    uint64_t held_syncs;                   /* writer thread: store_data_syncs right after their commit */
    metrics_slot *metrics;                 /* set before the first batch; written by the thread only */
    /* Pool mode (a remote store): n_pool threads, one request each at a time. */
    unsigned n_pool;                       /* 0: the one group-commit thread above */
    struct pool_thread *pool;              /* n_pool of them */
    writer_job *jobs_head, *jobs_tail;     /* under mu: waiting for a thread */
    writer_job *jobs_done_head, *jobs_done_tail;   /* under mu: waiting for the loop */
    pthread_mutex_t metrics_mu;            /* pool threads share the metrics slot */
};

struct writer_job {
    writer_job *next;
    writer_job_run_fn run;
    writer_job_done_fn done;
    void *ctx;
};

typedef struct pool_thread {
    writer *w;
    pthread_t thread;
    const struct conn *busy;               /* under mu: the connection of the request it runs */
    bool started;
} pool_thread;

static void list_append(request **head, request **tail, request *first, request *last)
{
    if (*tail) (*tail)->next = first; else *head = first;
    *tail = last;
}

/* A queue_seen job: the entries its process saw, marked seen (an entry
 * gone or ended is skipped). */
static usher_err run_touches(store_txn *txn, const request *job)
{
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < job->touch_n; i++) {
        usher_err e = store_queue_touch(txn, job->touch[2 * i], job->touch[2 * i + 1], now);
        if (e != USHER_ERR_OK && e != USHER_ERR_NOT_FOUND) return e;
    }
    return USHER_ERR_OK;
}

/* The timer's job: tidying only; correctness never waits for it. */
static usher_err run_housekeeping(store_txn *txn, request *job)
{
    if (job->touch) return run_touches(txn, job);
    int64_t now = clock_now_ms(), began_us = clock_mono_us();
    store_tick_opts opts = { .throttled = job->throttled };
    usher_err e = store_queue_tick(txn, now, &opts, &job->admitted);
    job->tick_us = clock_mono_us() - began_us;
    if (e == USHER_ERR_OK) e = store_holds_tick(txn, now, HOUSEKEEPING_MAX, NULL);
    if (e == USHER_ERR_OK) e = store_idem_tick(txn, now, HOUSEKEEPING_MAX, NULL);
    return e;
}

/* Clears the reader slots of dead processes (a few µs); returns how many. A
 * dead reader's slot pins every page freed after its snapshot, so clearing
 * it before each group commit bounds what a killed process costs the file
 * to one batch. */
static int clear_dead_readers(writer *w)
{
    int cleared = 0;
    if (store_reader_check(w->st, &cleared) != USHER_ERR_OK) return 0;
    return cleared;
}

/* The request's answer becomes err, with no result. */
static void request_fail(request *req, usher_err err)
{
    req->err = err;
    req->call.token_pending = false;
    msgpack_sbuffer_clear(&req->result);
}

/* One request in its own child transaction (a savepoint: a refusal leaves
 * nothing behind, the batch goes on). */
static void run_one(store_txn *parent, request *req)
{
    store_txn *child;
    usher_err e = store_child_begin(parent, &child);
    if (e != USHER_ERR_OK) { req->err = e; return; }
    if (req->method) request_execute(req, child);
    else req->err = run_housekeeping(child, req);
    if (req->err == USHER_ERR_OK) {
        e = store_txn_commit(child);
        if (e != USHER_ERR_OK) request_fail(req, e);
        return;
    }
    store_txn_end(child);
}

/* Begin, every request not yet settled, commit; the begin or commit error.
 * When a request's LMDB failure breaks the shared transaction, the pass
 * stops there: *breaker is that request and nothing of the pass is kept. */
static usher_err run_batch_once(writer *w, request *head, request **breaker, int64_t *commit_us)
{
    store_txn *txn;
    *breaker = NULL;
    usher_err e = store_write_begin(w->st, &txn);
    if (e != USHER_ERR_OK) return e;
    for (request *r = head; r; r = r->next) {
        if (r->settled) continue;
        run_one(txn, r);
        if (store_txn_broken(txn)) {
            store_txn_end(txn);
            *breaker = r;
            return r->err != USHER_ERR_OK ? r->err : USHER_ERR_INTERNAL;
        }
    }
    int64_t begun_us = clock_mono_us();
    e = store_txn_commit(txn);
    *commit_us = clock_mono_us() - begun_us;
    return e;
}

static void rewind_unsettled(request *head)
{
    for (request *r = head; r; r = r->next)
        if (!r->settled) request_rewind(r);
}

/* Group commit: every request of the batch shares one transaction and one
 * commit. A request whose LMDB failure breaks the transaction gets that
 * error and the others run again without it, so one request's full map or
 * I/O error is its own (each pass settles one request: at most one pass per
 * request). A full map may only be full of pages pinned by a reader that
 * died meanwhile: then dead readers are cleared and the same pass tried once
 * more (LMDB looks for the oldest reader again on the next allocation). */
static void run_batch(writer *w, request *head, size_t n)
{
    bool cleared_once = false;
    clear_dead_readers(w);
    for (;;) {
        request *breaker;
        int64_t commit_us = 0;
        usher_err e = run_batch_once(w, head, &breaker, &commit_us);
        if (e == USHER_ERR_OK) {
            metrics_note_commit(w->metrics, n, commit_us);
            head->batch_commit_us = commit_us;   /* for the loop's debug line */
            break;
        }
        if (e == USHER_ERR_STORAGE_FULL && !cleared_once && clear_dead_readers(w) > 0) {
            cleared_once = true;
            rewind_unsettled(head);
            continue;
        }
        if (breaker) {
            request_fail(breaker, e);
            breaker->settled = true;
            rewind_unsettled(head);
            continue;
        }
        /* Nothing of the batch was stored. Each request's own outcome, even a
         * refusal, was decided against neighbours' writes that are now gone as
         * well, so it is void: the batch's error is every request's answer. */
        for (request *r = head; r; r = r->next)
            if (!r->settled) request_fail(r, e);
        break;
    }
    for (request *r = head; r; r = r->next) r->settled = false;
}

/* Hands a finished list to the loop thread (under mu). */
static void release_locked(writer *w, request *head, request *last)
{
    list_append(&w->done_head, &w->done_tail, head, last);
    ev_async_send(w->loop, &w->done_watcher);
}

/* Syncs the data file so every commit so far is durable. If the sync
 * fails nobody may hear OK: the store is then broken and the process stops. */
static void sync_or_fail(writer *w, request *head)
{
    usher_err e = store_sync_now(w->st);
    if (e == USHER_ERR_OK) return;
    for (request *r = head; r; r = r->next)
        if (r->err == USHER_ERR_OK) request_fail(r, e);
}

/* --sync meta: a commit's meta page reaches the disk only with a later data
 * sync, so its replies wait for one. The next batch's commit is that sync
 * when it wrote anything (LMDB syncs the data before writing its own meta
 * page); otherwise, or when no batch is waiting, one explicit sync covers
 * everything held. At most one batch is held at a time. Writer thread. */
static void finish_meta_batch(writer *w, request *head, request *last)
{
    if (w->held_head && store_data_syncs(w->st) == w->held_syncs) {
        /* This batch's commit did not sync (it wrote nothing or failed). */
        w->held_last->next = head;
        head = w->held_head;
        w->held_head = w->held_last = NULL;
        sync_or_fail(w, head);
        pthread_mutex_lock(&w->mu);
        release_locked(w, head, last);
        pthread_mutex_unlock(&w->mu);
        return;
    }
    pthread_mutex_lock(&w->mu);
    if (w->held_head) release_locked(w, w->held_head, w->held_last);  /* carried by this commit */
    bool more_waiting = w->todo_head != NULL;
    pthread_mutex_unlock(&w->mu);
    w->held_head = head;
    w->held_last = last;
    w->held_syncs = store_data_syncs(w->st);
    if (more_waiting) return;   /* the next batch's commit will sync for it */
    sync_or_fail(w, head);
    w->held_head = w->held_last = NULL;
    pthread_mutex_lock(&w->mu);
    release_locked(w, head, last);
    pthread_mutex_unlock(&w->mu);
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    bool meta_later = store_syncs_meta_later(w->st);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->todo_head && !w->stop) pthread_cond_wait(&w->wake, &w->mu);
        if (!w->todo_head && w->stop) break;
        request *head = w->todo_head, *last = head;
        size_t n = 1;
        for (; n < w->batch_max && last->next; n++) last = last->next;
        w->todo_head = last->next;
        if (!w->todo_head) w->todo_tail = NULL;
        last->next = NULL;
        w->batches++;
        w->requests += n;
        pthread_mutex_unlock(&w->mu);
        uint32_t writes = 0;   /* client writes, the housekeeping job not counted */
        for (request *r = head; r; r = r->next) writes += r->method != NULL;
        head->batch_writes = writes;

        run_batch(w, head, n);

        if (meta_later) {
            finish_meta_batch(w, head, last);
            pthread_mutex_lock(&w->mu);
        } else {
            pthread_mutex_lock(&w->mu);
            release_locked(w, head, last);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- pool mode ---- */

/* One request in its own top-level transaction: a read transaction for a
 * method that does not write, a write transaction otherwise (housekeeping
 * included). Nothing is shared with another request, so a request's row
 * locks last only until its own commit. */
static void run_pooled(writer *w, request *req)
{
    bool write = !req->method || (req->method->flags & METHOD_WRITE);
    store_txn *txn;
    usher_err e = write ? store_write_begin(w->st, &txn) : store_read_begin(w->st, &txn);
    if (e != USHER_ERR_OK) {
        if (req->method) request_fail(req, e);
        else req->err = e;
        return;
    }
    if (req->method) request_execute(req, txn);
    else req->err = run_housekeeping(txn, req);
    if (!write) {
        store_txn_end(txn);
        return;
    }
    if (req->err != USHER_ERR_OK) {
        store_txn_end(txn);
        return;
    }
    int64_t begun_us = clock_mono_us();
    e = store_txn_commit(txn);
    int64_t commit_us = clock_mono_us() - begun_us;
    if (e != USHER_ERR_OK) {
        request_fail(req, e);
        return;
    }
    req->batch_writes = req->method != NULL;
    req->batch_commit_us = commit_us;
    pthread_mutex_lock(&w->metrics_mu);
    metrics_note_commit(w->metrics, 1, commit_us);
    pthread_mutex_unlock(&w->metrics_mu);
}

/* Under mu: true when another pool thread runs a request of cn. */
static bool conn_busy_locked(const writer *w, const struct conn *cn)
{
    if (!cn) return false;
    for (unsigned i = 0; i < w->n_pool; i++)
        if (w->pool[i].busy == cn) return true;
    return false;
}

/* Under mu: takes the first waiting request whose connection has none
 * running, so the requests of one connection run one after another, in the
 * order they came (an earlier one of the same connection is either running
 * or earlier in the list); NULL when none may run now. */
static request *take_runnable_locked(writer *w)
{
    request *prev = NULL;
    for (request *r = w->todo_head; r; prev = r, r = r->next) {
        if (conn_busy_locked(w, r->conn)) continue;
        if (prev) prev->next = r->next; else w->todo_head = r->next;
        if (w->todo_tail == r) w->todo_tail = prev;
        r->next = NULL;
        return r;
    }
    return NULL;
}

static void *pool_main(void *arg)
{
    pool_thread *self = arg;
    writer *w = self->w;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        writer_job *job = w->jobs_head;
        if (job) {
            w->jobs_head = job->next;
            if (!w->jobs_head) w->jobs_tail = NULL;
            job->next = NULL;
            pthread_mutex_unlock(&w->mu);
            job->run(job->ctx, w->st);
            pthread_mutex_lock(&w->mu);
            if (w->jobs_done_tail) w->jobs_done_tail->next = job; else w->jobs_done_head = job;
            w->jobs_done_tail = job;
            ev_async_send(w->loop, &w->done_watcher);
            continue;
        }
        request *req = take_runnable_locked(w);
        if (!req) {
            if (w->stop && !w->todo_head) break;
            pthread_cond_wait(&w->wake, &w->mu);
            continue;
        }
        self->busy = req->conn;
        w->batches++;
        w->requests++;
        pthread_mutex_unlock(&w->mu);
        req->batch_writes = 0;
        run_pooled(w, req);
        pthread_mutex_lock(&w->mu);
        self->busy = NULL;
        release_locked(w, req, req);
        if (w->todo_head) pthread_cond_signal(&w->wake);   /* its connection's next may run */
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Loop thread: deliver finished requests and jobs. */
static void deliver_done(writer *w)
{
    pthread_mutex_lock(&w->mu);
    request *r = w->done_head;
    w->done_head = w->done_tail = NULL;
    writer_job *j = w->jobs_done_head;
    w->jobs_done_head = w->jobs_done_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (r) {
        request *next = r->next;
        r->next = NULL;
        w->done(w->ctx, r);
        r = next;
    }
    while (j) {
        writer_job *next = j->next;
        j->done(j->ctx);
        free(j);
        j = next;
    }
}

bool writer_job_submit(writer *w, writer_job_run_fn run, writer_job_done_fn done, void *ctx)
{
    if (w->n_pool == 0) {   /* a local store: read right here, as before */
        run(ctx, w->st);
        done(ctx);
        return true;
    }
    writer_job *job = calloc(1, sizeof *job);
    if (!job) return false;
    job->run = run;
    job->done = done;
    job->ctx = ctx;
    pthread_mutex_lock(&w->mu);
    if (w->jobs_tail) w->jobs_tail->next = job; else w->jobs_head = job;
    w->jobs_tail = job;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    return true;
}

bool writer_is_pool(const writer *w) { return w->n_pool > 0; }

static void on_done(struct ev_loop *loop, ev_async *watcher, int revents)
{
    (void)loop; (void)revents;
    deliver_done(watcher->data);
}

writer *writer_start(struct ev_loop *loop, store *st, size_t batch_max,
                     writer_done_fn done, void *ctx)
{
    return writer_start_pool(loop, st, batch_max, 0, done, ctx);
}

/* Stops and joins the n pool threads started so far (mu not held). */
static void pool_join(writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < w->n_pool; i++)
        if (w->pool[i].started) pthread_join(w->pool[i].thread, NULL);
}

writer *writer_start_pool(struct ev_loop *loop, store *st, size_t batch_max, unsigned threads,
                          writer_done_fn done, void *ctx)
{
    writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    if (threads > 0 && !(w->pool = calloc(threads, sizeof *w->pool))) {
        free(w);
        return NULL;
    }
    w->n_pool = threads;
    pthread_mutex_init(&w->metrics_mu, NULL);
    w->loop = loop;
    w->st = st;
    w->batch_max = batch_max ? batch_max : 1;
    w->done = done;
    w->ctx = ctx;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake, NULL);
    ev_async_init(&w->done_watcher, on_done);
    w->done_watcher.data = w;
    ev_async_start(loop, &w->done_watcher);
    if (w->n_pool > 0) {
        for (unsigned i = 0; i < w->n_pool; i++) {
            w->pool[i].w = w;
            if (pthread_create(&w->pool[i].thread, NULL, pool_main, &w->pool[i]) != 0) {
                pool_join(w);
                ev_async_stop(loop, &w->done_watcher);
                free(w->pool);
                free(w);
                return NULL;
            }
            w->pool[i].started = true;
        }
        return w;
    }
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        ev_async_stop(loop, &w->done_watcher);
        free(w);
        return NULL;
    }
    return w;
}

void writer_submit(writer *w, request *req)
{
    req->next = NULL;
    list_append(&w->pending_head, &w->pending_tail, req, req);
}

void writer_flush(writer *w)
{
    if (!w->pending_head) return;
    pthread_mutex_lock(&w->mu);
    list_append(&w->todo_head, &w->todo_tail, w->pending_head, w->pending_tail);
    /* One wake-up per request handed over, at most one per pool thread:
     * waking them all for one request costs 2-core machines more than the
     * request (they all contend for mu and sleep again). */
    size_t wake = 0;
    for (request *r = w->pending_head; r && wake < (w->n_pool ? w->n_pool : 1); r = r->next) wake++;
    for (size_t i = 0; i < wake; i++) pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    w->pending_head = w->pending_tail = NULL;
}

void writer_counts(writer *w, uint64_t *batches, uint64_t *requests)
{
    pthread_mutex_lock(&w->mu);
    *batches = w->batches;
    *requests = w->requests;
    pthread_mutex_unlock(&w->mu);
}

void writer_count_into(writer *w, metrics_slot *slot)
{
    w->metrics = slot;
}

void writer_stop(writer *w)
{
    if (!w) return;
    writer_flush(w);
    if (w->n_pool > 0) {
        /* A job's done may submit another (a revocation refresh ahead of a
         * reply): deliver until nothing is left, then stop the threads. */
        for (;;) {
            pthread_mutex_lock(&w->mu);
            bool idle = !w->todo_head && !w->jobs_head;
            for (unsigned i = 0; idle && i < w->n_pool; i++) idle = !w->pool[i].busy;
            bool delivered = !w->done_head && !w->jobs_done_head;
            pthread_mutex_unlock(&w->mu);
            if (idle && delivered) break;
            deliver_done(w);
            writer_flush(w);
            if (!delivered) continue;
            struct timespec pause = { 0, 1000000 };   /* 1 ms: the threads are finishing */
            nanosleep(&pause, NULL);
        }
        pool_join(w);
    } else {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
    }
    deliver_done(w);
    ev_async_stop(w->loop, &w->done_watcher);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->metrics_mu);
    free(w->pool);
    free(w);
}
