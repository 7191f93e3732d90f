/* Private to the PostgreSQL store (server/store_pg_*.c): the store and
 * transaction structs and the helpers every operation uses to talk SQL.
 *
 * An operation is C that runs parameterized statements on its transaction's
 * connection with pg_read / pg_write and reads the rows with pg_i64 and
 * friends. Statements are prepared once per connection (keyed by the SQL
 * string's address, so pass string literals), and the first statement of a
 * transaction travels with its BEGIN in one round trip (pipeline mode).
 *
 * Concurrency (several usherd hosts on one database, READ COMMITTED):
 * - a write that reads and then decides on one user's rows first calls
 *   pg_lock_user (a transaction-scoped advisory lock on the user);
 * - a write on a concert's queue first locks its queues row
 *   (pg_queue_lock in store_pg_queue*.c);
 * - a seat changes hands only through a conditional UPDATE of its row;
 * - locks are always taken in that order: user, then queue, then seats
 *   (in seat order), so two transactions never wait on each other in a
 *   circle.
 * docs/DESIGN.md §18 argues each operation. */
#ifndef USHER_SERVER_STORE_PG_INTERNAL_H
#define USHER_SERVER_STORE_PG_INTERNAL_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "store.h"
#include "store_backend.h"

#define PG_CONNS_MAX 64
#define PG_PREPARED_MAX 256      /* distinct statements one connection prepares */
#define PG_PARAMS_MAX 16
#define PG_LOCKS_QUEUED 4        /* pg_lock_user calls waiting for the next statement */

typedef struct pg_conn {
    PGconn *pg;                  /* NULL: not connected (connects at the next use) */
    bool busy;                   /* lent to an open top-level transaction */
    int pending;                 /* results of a deferred ROLLBACK/COMMIT still to read */
    int64_t retry_at_us;         /* after a failed connect: not before this (monotonic) */
    int64_t backoff_ms;          /* the next wait after a failure: 100 ms doubling to 2 s */
    const char *prepared[PG_PREPARED_MAX];  /* SQL strings prepared on pg, as "s<index>" */
    unsigned n_prepared;
} pg_conn;

typedef struct pg_store {
    const store_ops *ops;        /* first: store_backend.h */
    char *url;
    store_policy policy;
    bool read_only;
    int64_t connect_timeout_ms;
    bool log_json;
    char log_instance[96];       /* "" when none */
    pthread_mutex_t mu;          /* guards conns[].busy and the wait */
    pthread_cond_t freed;
    unsigned n_conns;
    pg_conn conns[PG_CONNS_MAX];
} pg_store;

typedef enum pg_txn_kind { PG_READ, PG_WRITE, PG_CHILD } pg_txn_kind;

typedef struct pg_result_list {
    struct pg_result_list *next;
    PGresult *res;
} pg_result_list;

typedef struct pg_txn {
    const store_ops *ops;        /* first: store_backend.h */
    pg_store *st;
    pg_conn *c;                  /* the top-level transaction's connection */
    pg_txn_kind kind;
    struct pg_txn *parent;       /* PG_CHILD */
    struct pg_txn *top;          /* the top-level transaction (itself when top) */
    bool has_child;              /* top: a child is open */
    bool began;                  /* top: BEGIN has been sent */
    bool wrote;                  /* top: a write statement succeeded */
    bool savepoint;              /* child: a SAVEPOINT guards its writes */
    unsigned depth;              /* child: savepoint name sp<depth> */
    unsigned children;           /* top: children made so far (savepoint names) */
    usher_err broken;            /* top: OK, or the error that ended the database transaction */
    pg_result_list *kept;        /* results kept alive until the transaction ends */
    char locks[PG_LOCKS_QUEUED][64]; /* top: pg_lock_user statements not sent yet */
    unsigned n_locks;
    bool holds_user;             /* top: pg_lock_user took (or queued) locked_user's lock */
    user_id locked_user;
} pg_txn;

static inline pg_txn *pg_txn_of(store_txn *t) { return (pg_txn *)(void *)t; }
static inline pg_store *pg_store_of(store *st) { return (pg_store *)(void *)st; }

/* Parameters of one statement, all sent as text except bytea (binary). */
typedef struct pg_params {
    int n;
    const char *value[PG_PARAMS_MAX];
    int length[PG_PARAMS_MAX];
    int format[PG_PARAMS_MAX];
    char text[PG_PARAMS_MAX][24];
} pg_params;

void pg_p_i64(pg_params *p, int64_t v);
void pg_p_u64(pg_params *p, uint64_t v);    /* stored as bigint: v <= INT64_MAX */
void pg_p_bool(pg_params *p, bool v);
void pg_p_bytes(pg_params *p, const void *bytes, size_t len);   /* bytea; not copied */
void pg_p_user(pg_params *p, const user_id *user);              /* bytea of 16 */
void pg_p_text(pg_params *p, const char *s, size_t len);        /* copied when it fits */
void pg_p_null(pg_params *p);
/* A bigint[] literal "{1,2,3}" into buf (cap bytes); false when it does not fit. */
bool pg_p_i64_array(pg_params *p, const uint64_t *v, size_t n, char *buf, size_t cap);

/* Runs sql on t's connection. *res (may be NULL) gets the result, which the
 * transaction frees when it ends (or free it sooner with pg_done). A failed
 * statement returns INTERNAL (a constraint, a bug), STORAGE_FULL (disk
 * full), OVERLOADED (deadlock or serialization failure), or UNAVAILABLE (the
 * connection is lost or the statement passed the timeout), logs the
 * database's message once, and leaves the transaction broken: every later
 * statement and the commit fail with the same code (a child: until it ends;
 * its parent goes on). pg_write on a read transaction is INTERNAL. */
usher_err pg_read(store_txn *t, const char *sql, const pg_params *p, PGresult **res);
usher_err pg_write(store_txn *t, const char *sql, const pg_params *p, PGresult **res);

/* Frees a result now instead of at the end of the transaction. */
void pg_done(store_txn *t, PGresult *res);

/* True when t may write (a write transaction or a child of one). */
bool pg_is_write(const store_txn *t);

/* Takes user's transaction-scoped advisory lock (released at commit or
 * rollback): every read-then-write on one user's rows starts with it. The
 * lock travels in the pipeline of the transaction's next statement (costing
 * no round trip of its own): under READ COMMITTED that statement's snapshot
 * is taken after the lock is held, so whatever it reads stays true until
 * the commit. Its failure (a timeout) is that statement's. */
usher_err pg_lock_user(store_txn *t, const user_id *user);

/* Values of row r, column c of a result in text format. */
int64_t pg_i64(const PGresult *res, int r, int c);          /* 0 for NULL */
bool pg_bool(const PGresult *res, int r, int c);             /* false for NULL */
bool pg_null(const PGresult *res, int r, int c);
/* A bytea column into out (exactly len bytes); false when NULL or another size. */
bool pg_bytes(const PGresult *res, int r, int c, void *out, size_t len);
/* A bytea column as bytes kept alive until t ends (decoded in place in the
 * result: once per cell); false when NULL. res must be one of t's results. */
bool pg_bytes_kept(store_txn *t, const PGresult *res, int r, int c, const void **out,
                   size_t *len);
/* A text column into out (cap bytes incl. NUL, cut to fit). */
void pg_text(const PGresult *res, int r, int c, char *out, size_t cap);
/* A bigint[] column into out (at most cap); the count. */
size_t pg_i64_array(const PGresult *res, int r, int c, uint64_t *out, size_t cap);

/* One error line of the store on stderr, in usherd's log format when the
 * store was opened with a log_instance (as store_say on LMDB). */
void pg_say(const pg_store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The pool (store_pg_conn.c): a free connection, connected (waits while all
 * are lent; UNAVAILABLE when it cannot connect, or before its backoff after
 * a failed connect has passed), and back. */
usher_err pg_conn_acquire(pg_store *st, pg_conn **out);
void pg_conn_release(pg_store *st, pg_conn *c);
void pg_conn_close_all(pg_store *st);
/* Forgets a connection that failed (the next acquire connects again). */
void pg_conn_lost(pg_conn *c);

/* Applies db/postgres/'s migrations in one transaction under an advisory
 * lock (store_pg_migrate.c). read_only: only checks the version. */
usher_err pg_migrate(pg_store *st, PGconn *pg, bool read_only);

/* Transactions (store_pg_txn.c), as store.h's. */
usher_err pg_read_begin(store *st, store_txn **out);
usher_err pg_write_begin(store *st, store_txn **out);
usher_err pg_child_begin(store_txn *parent, store_txn **out);
bool pg_txn_broken(const store_txn *txn);
usher_err pg_txn_commit(store_txn *txn);
void pg_txn_end(store_txn *txn);

/* The operations, named as in store.h with pg_ for store_ (store_pg_*.c). */
#define STORE_TXN_OP(name, params, args) usher_err pg_##name params;
#include "store_ops.def"
#undef STORE_TXN_OP

/* The queue's part of store_payment_pay (store_pg_queue*.c): expires the
 * entry (concert_id, seq) that paid and admits the next in line, as
 * store_payment_pay's contract says; takes the queue's lock. */
usher_err pg_queue_pay_expire(store_txn *txn, uint64_t concert_id, uint64_t seq, int64_t now_ms);

usher_err pg_check_run(store *st, const store_check_limits *lim, int64_t now_ms,
                       store_check_report_fn report, void *ctx, store_check_summary *out);

#endif
