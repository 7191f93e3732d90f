/* PostgreSQL transactions and statements (store_pg_internal.h).
 *
 * A top-level transaction borrows one connection for its life. Nothing is
 * sent at begin: BEGIN (and a child's SAVEPOINT) waits for the first
 * statement and travels with it in one pipeline, so a request costs one
 * round trip per statement plus its COMMIT. A read transaction is
 * REPEATABLE READ READ ONLY (one snapshot, like LMDB's); a write one READ
 * COMMITTED, made safe by the locks store_pg_internal.h lists. Ending a
 * transaction without committing sends ROLLBACK without waiting for it: the
 * connection's next user reads that answer first.
 * A child is a savepoint, taken only when its parent already wrote
 * something: a child of a clean parent is undone by rolling back the whole
 * database transaction, which leaves the parent as fresh as it was. */
#include "store_pg_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_BEGIN_READ "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
#define SQL_BEGIN_WRITE "BEGIN ISOLATION LEVEL READ COMMITTED"

/* Where a failure lands: the innermost child guarded by a savepoint, else
 * the top-level transaction. */
static pg_txn *scope_of(pg_txn *t)
{
    for (pg_txn *s = t; s; s = s->parent)
        if (s->kind != PG_CHILD || s->savepoint) return s;
    return t->top;
}

static usher_err code_of(PGconn *pg, const PGresult *res)
{
    if (PQstatus(pg) != CONNECTION_OK) return USHER_ERR_UNAVAILABLE;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!state) return USHER_ERR_UNAVAILABLE;   /* no answer: the connection went */
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
        strcmp(state, "57014") == 0)            /* connection, shutdown, timeout */
        return USHER_ERR_UNAVAILABLE;
    if (strcmp(state, "53100") == 0) return USHER_ERR_STORAGE_FULL;   /* disk full */
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)  /* retry */
        return USHER_ERR_OVERLOADED;
    return USHER_ERR_INTERNAL;
}

static void fail(pg_txn *t, usher_err e, const char *what, const PGresult *res)
{
    pg_txn *s = scope_of(t);
    if (s->broken == USHER_ERR_OK) {
        const char *m = res ? PQresultErrorMessage(res) : PQerrorMessage(t->top->c->pg);
        char line[300];
        snprintf(line, sizeof line, "%s", m && *m ? m : "connection lost");
        line[strcspn(line, "\n")] = '\0';
        pg_say(t->st, "postgres: %.80s: %s", what, line);
    }
    s->broken = e;
    if (e == USHER_ERR_UNAVAILABLE) t->top->broken = e;   /* the connection is gone */
}

static void keep(pg_txn *t, PGresult *res)
{
    pg_result_list *k = malloc(sizeof *k);
    if (!k) { PQclear(res); return; }   /* OOM: the caller's pointer dangles: see pg_run */
    k->res = res;
    k->next = t->top->kept;
    t->top->kept = k;
}

/* The prepared name of sql on c, preparing it first when new. */
static usher_err prepared(pg_txn *t, const char *sql, const pg_params *p, char name[16])
{
    pg_conn *c = t->top->c;
    unsigned i = 0;
    while (i < c->n_prepared && c->prepared[i] != sql) i++;
    snprintf(name, 16, "s%u", i);
    if (i < c->n_prepared) return USHER_ERR_OK;
    if (i >= PG_PREPARED_MAX) {
        pg_say(t->st, "postgres: more than %d distinct statements", PG_PREPARED_MAX);
        return USHER_ERR_INTERNAL;
    }
    PGresult *r = PQprepare(c->pg, name, sql, p ? p->n : 0, NULL);
    usher_err e = PQresultStatus(r) == PGRES_COMMAND_OK ? USHER_ERR_OK : code_of(c->pg, r);
    if (e != USHER_ERR_OK) fail(t, e, sql, r);
    else c->prepared[c->n_prepared++] = sql;
    PQclear(r);
    return e;
}

/* What must go before t's next statement: BEGIN, the savepoints of
 * children not taken yet (outermost first), then queued locks; n of them
 * into pre. */
static size_t pending_prefix(pg_txn *t, char pre[][64], size_t cap)
{
    pg_txn *chain[8];
    size_t n = 0, depth = 0;
    if (!t->top->began) snprintf(pre[n++], 64, "%s", t->top->kind == PG_READ ? "R" : "W");
    for (pg_txn *s = t; s && s->kind == PG_CHILD && depth < 8; s = s->parent) chain[depth++] = s;
    while (depth-- > 0 && n < cap)
        if (chain[depth]->savepoint && !chain[depth]->began)
            snprintf(pre[n++], 64, "SAVEPOINT sp%u", chain[depth]->depth);
    for (unsigned i = 0; i < t->top->n_locks && n < cap; i++)
        snprintf(pre[n++], 64, "%s", t->top->locks[i]);
    return n;
}

static void mark_prefix_sent(pg_txn *t)
{
    t->top->began = true;
    t->top->n_locks = 0;
    for (pg_txn *s = t; s && s->kind == PG_CHILD; s = s->parent) s->began = true;
}

/* Sends the prefix and the statement in one pipeline. The result: the first
 * prefix statement's that failed, else the statement's; NULL when the
 * pipeline could not be sent (*sent false) or no answer came. */
static PGresult *pipelined(PGconn *pg, char pre[][64], size_t n_pre, const char *name,
                           const pg_params *p, bool *sent)
{
    *sent = false;
    if (!PQenterPipelineMode(pg)) return NULL;
    for (size_t i = 0; i < n_pre; i++) {
        const char *q = strcmp(pre[i], "R") == 0 ? SQL_BEGIN_READ
                      : strcmp(pre[i], "W") == 0 ? SQL_BEGIN_WRITE : pre[i];
        if (!PQsendQueryParams(pg, q, 0, NULL, NULL, NULL, NULL, 0)) return NULL;
    }
    if (!PQsendQueryPrepared(pg, name, p ? p->n : 0, p ? p->value : NULL, p ? p->length : NULL,
                             p ? p->format : NULL, 0) ||
        !PQpipelineSync(pg) || PQflush(pg) != 0)
        return NULL;
    *sent = true;
    PGresult *res = NULL, *r;
    for (size_t i = 0; i <= n_pre; i++) {
        while ((r = PQgetResult(pg))) {
            ExecStatusType s = PQresultStatus(r);
            bool failed = s == PGRES_FATAL_ERROR;
            if (!res && (failed || i == n_pre)) res = r;   /* the first failure, else the statement's */
            else PQclear(r);
        }
    }
    while ((r = PQgetResult(pg))) {   /* the sync */
        ExecStatusType s = PQresultStatus(r);
        PQclear(r);
        if (s == PGRES_PIPELINE_SYNC) break;
    }
    PQexitPipelineMode(pg);
    return res;
}

static usher_err run(store_txn *txn, const char *sql, const pg_params *p, PGresult **out,
                     bool write)
{
    pg_txn *t = pg_txn_of(txn);
    if (out) *out = NULL;
    pg_txn *s = scope_of(t);
    if (t->top->broken != USHER_ERR_OK) return t->top->broken;
    if (s->broken != USHER_ERR_OK) return s->broken;
    if (t->has_child) return USHER_ERR_INTERNAL;   /* a bug: the child must be used */
    if (write && t->top->kind == PG_READ) {
        pg_say(t->st, "postgres: a write on a read transaction: %.60s", sql);
        return USHER_ERR_INTERNAL;
    }
    char name[16];
    usher_err e = prepared(t, sql, p, name);
    if (e != USHER_ERR_OK) return e;
    PGconn *pg = t->top->c->pg;
    char pre[12][64];
    size_t n_pre = pending_prefix(t, pre, 12);
    PGresult *res;
    if (n_pre) {
        bool sent;
        res = pipelined(pg, pre, n_pre, name, p, &sent);
        /* Sent is begun: on a failure the transaction is broken and its end
         * rolls back whatever of it the server did. */
        if (sent) mark_prefix_sent(t);
    } else {
        res = PQexecPrepared(pg, name, p ? p->n : 0, p ? p->value : NULL, p ? p->length : NULL,
                             p ? p->format : NULL, 0);
    }
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        e = code_of(pg, res);
        fail(t, e, sql, res);
        PQclear(res);
        return e;
    }
    if (write) t->top->wrote = true;
    if (out) {
        keep(t, res);
        *out = res;
    } else {
        PQclear(res);
    }
    return USHER_ERR_OK;
}

usher_err pg_read(store_txn *t, const char *sql, const pg_params *p, PGresult **res)
{
    return run(t, sql, p, res, false);
}

usher_err pg_write(store_txn *t, const char *sql, const pg_params *p, PGresult **res)
{
    return run(t, sql, p, res, true);
}

void pg_done(store_txn *txn, PGresult *res)
{
    pg_txn *t = pg_txn_of(txn)->top;
    for (pg_result_list **k = &t->kept; *k; k = &(*k)->next)
        if ((*k)->res == res) {
            pg_result_list *gone = *k;
            *k = gone->next;
            PQclear(gone->res);
            free(gone);
            return;
        }
}

bool pg_is_write(const store_txn *txn)
{
    return ((const pg_txn *)(const void *)txn)->top->kind == PG_WRITE;
}

usher_err pg_lock_user(store_txn *txn, const user_id *user)
{
    pg_txn *top = pg_txn_of(txn)->top;
    if (top->kind == PG_READ) return USHER_ERR_OK;   /* a precheck decides; nothing to keep */
    /* The pipeline's lock (request.c) and the operation's are one lock:
     * taken once per transaction. */
    if (top->holds_user && memcmp(top->locked_user.bytes, user->bytes, sizeof user->bytes) == 0)
        return USHER_ERR_OK;
    /* The key: the first 8 bytes of the id (two users that share them only
     * wait for each other). */
    uint64_t key = 0;
    for (int i = 0; i < 8; i++) key = key << 8 | user->bytes[i];
    if (top->n_locks == PG_LOCKS_QUEUED) return USHER_ERR_INTERNAL;   /* a bug: too many */
    snprintf(top->locks[top->n_locks++], sizeof top->locks[0],
             "SELECT pg_advisory_xact_lock(%lld)", (long long)(int64_t)key);
    top->holds_user = true;
    top->locked_user = *user;
    return USHER_ERR_OK;
}

/* ---- begin, commit, end ---- */

static usher_err top_begin(store *sto, store_txn **out, pg_txn_kind kind)
{
    pg_store *st = pg_store_of(sto);
    pg_txn *t = calloc(1, sizeof *t);
    if (!t) return USHER_ERR_INTERNAL;
    usher_err e = pg_conn_acquire(st, &t->c);
    if (e != USHER_ERR_OK) { free(t); return e; }
    t->ops = st->ops;
    t->st = st;
    t->kind = kind;
    t->top = t;
    *out = (store_txn *)(void *)t;
    return USHER_ERR_OK;
}

usher_err pg_read_begin(store *st, store_txn **out) { return top_begin(st, out, PG_READ); }

usher_err pg_write_begin(store *st, store_txn **out)
{
    if (pg_store_of(st)->read_only) return USHER_ERR_INTERNAL;
    return top_begin(st, out, PG_WRITE);
}

usher_err pg_child_begin(store_txn *parent_txn, store_txn **out)
{
    pg_txn *parent = pg_txn_of(parent_txn);
    if (parent->top->kind == PG_READ || parent->has_child) return USHER_ERR_INTERNAL;
    pg_txn *t = calloc(1, sizeof *t);
    if (!t) return USHER_ERR_INTERNAL;
    t->ops = parent->ops;
    t->st = parent->st;
    t->kind = PG_CHILD;
    t->parent = parent;
    t->top = parent->top;
    /* Undone by a savepoint only when there is something before it to keep. */
    t->savepoint = parent->top->wrote || parent->kind == PG_CHILD;
    t->depth = ++t->top->children;
    parent->has_child = true;
    *out = (store_txn *)(void *)t;
    return USHER_ERR_OK;
}

bool pg_txn_broken(const store_txn *txn)
{
    return ((const pg_txn *)(const void *)txn)->top->broken != USHER_ERR_OK;
}

static void free_kept(pg_txn *t)
{
    while (t->kept) {
        pg_result_list *k = t->kept;
        t->kept = k->next;
        PQclear(k->res);
        free(k);
    }
}

/* Sends sql and does not wait: the connection's next user reads the answer. */
static void send_deferred(pg_txn *top, const char *sql)
{
    pg_conn *c = top->c;
    if (c->pg && PQsendQuery(c->pg, sql)) c->pending++;
    else pg_conn_lost(c);
}

static void top_finish(pg_txn *t)
{
    free_kept(t);
    pg_conn_release(t->st, t->c);
    free(t);
}

static usher_err simple(pg_txn *t, const char *sql, const char *want_tag)
{
    PGconn *pg = t->top->c->pg;
    PGresult *r = PQexec(pg, sql);
    usher_err e = USHER_ERR_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) e = code_of(pg, r);
    else if (want_tag && strcmp(PQcmdStatus(r), want_tag) != 0) e = USHER_ERR_INTERNAL;
    if (e != USHER_ERR_OK) fail(t, e, sql, r);
    PQclear(r);
    return e;
}

/* Undoes a child: back to its savepoint, or the whole (clean) transaction. */
static void child_undo(pg_txn *t)
{
    pg_txn *top = t->top;
    if (top->broken == USHER_ERR_UNAVAILABLE || !top->c->pg) return;
    top->holds_user = false;   /* a rollback may drop it: the next pg_lock_user takes it again */
    if (t->savepoint) {
        top->n_locks = 0;   /* queued by the child, never sent */
        if (t->began) {
            char sql[48];
            snprintf(sql, sizeof sql, "ROLLBACK TO SAVEPOINT sp%u", t->depth);
            if (simple(t->parent, sql, NULL) != USHER_ERR_OK) top->broken = USHER_ERR_INTERNAL;
        }
        return;
    }
    top->n_locks = 0;
    if (top->began && simple(top, "ROLLBACK", NULL) != USHER_ERR_OK) return;
    top->began = false;
    top->wrote = false;
    top->broken = USHER_ERR_OK;
    top->children = 0;
}

usher_err pg_txn_commit(store_txn *txn)
{
    pg_txn *t = pg_txn_of(txn);
    if (t->kind == PG_CHILD) {
        pg_txn *s = t->savepoint ? t : scope_of(t);
        usher_err e = s->broken != USHER_ERR_OK ? s->broken : t->top->broken;
        if (e != USHER_ERR_OK) child_undo(t);
        t->parent->has_child = false;
        free(t);
        return e;
    }
    usher_err e = t->broken;
    if (e == USHER_ERR_OK && t->began)
        e = simple(t, "COMMIT", "COMMIT");
    else if (e != USHER_ERR_OK && t->began && e != USHER_ERR_UNAVAILABLE)
        send_deferred(t, "ROLLBACK");
    if (e == USHER_ERR_UNAVAILABLE) pg_conn_lost(t->c);
    top_finish(t);
    return e;
}

void pg_txn_end(store_txn *txn)
{
    pg_txn *t = pg_txn_of(txn);
    if (t->kind == PG_CHILD) {
        child_undo(t);
        t->parent->has_child = false;
        free(t);
        return;
    }
    if (t->broken == USHER_ERR_UNAVAILABLE) pg_conn_lost(t->c);
    else if (t->began) send_deferred(t, "ROLLBACK");
    top_finish(t);
}
