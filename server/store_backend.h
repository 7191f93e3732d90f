/* The seam between store.h and its backends. A backend is one table of
 * functions, chosen at store_open from the store's address: a directory is
 * the LMDB backend (server/store_*.c), a postgres:// or postgresql:// URL the
 * PostgreSQL one (server/store_pg_*.c). Every store and every transaction a
 * backend hands out begins with a pointer to its table (struct store_head,
 * struct store_txn_head), so server/store_dispatch.c finds the backend of any
 * store.h call without knowing its structs. Each entry keeps the contract of
 * the store.h function of the same name; the rows of store_ops.def are the
 * operations on a transaction. Only store_dispatch.c and the backends include
 * this header. */
#ifndef USHER_SERVER_STORE_BACKEND_H
#define USHER_SERVER_STORE_BACKEND_H

#include "store.h"
#include "store_check.h"

typedef struct store_ops {
    const char *name;                       /* "lmdb", "postgres" */
    bool remote;                            /* see store_is_remote */
    const char *(*damage)(const store *st);
    void (*close)(store *st);
    usher_err (*reader_check)(store *st, int *cleared);
    uint64_t (*readers_cleared_take)(store *st);
    usher_err (*reader_list)(store *st, store_reader *out, size_t cap, size_t *n,
                             uint64_t *last_txnid);
    usher_err (*read_begin)(store *st, store_txn **out);
    usher_err (*write_begin)(store *st, store_txn **out);
    usher_err (*child_begin)(store_txn *parent, store_txn **out);
    bool (*txn_broken)(const store_txn *txn);
    usher_err (*txn_commit)(store_txn *txn);
    void (*txn_end)(store_txn *txn);
    uint64_t (*data_syncs)(const store *st);
    usher_err (*sync_now)(store *st);
    bool (*syncs_meta_later)(const store *st);
    bool (*broken)(store *st);
    usher_err (*shared_key)(store *st, const uint8_t *fresh, size_t len, uint8_t *out,
                            bool *created);
    usher_err (*check_run)(store *st, const store_check_limits *lim, int64_t now_ms,
                           store_check_report_fn report, void *ctx, store_check_summary *out);
#define STORE_TXN_OP(name, params, args) usher_err (*name) params;
#include "store_ops.def"
#undef STORE_TXN_OP
} store_ops;

/* The first member of every backend's store and transaction. */
struct store_head { const store_ops *ops; };
struct store_txn_head { const store_ops *ops; };

/* The backends' tables and openers (spec: the directory or the URL). */
extern const store_ops store_lmdb_ops;
extern const store_ops store_pg_ops;
usher_err lmdb_open(store **out, const char *dir, const store_options *opt);
usher_err pg_open(store **out, const char *url, const store_options *opt);

/* The LMDB backend's functions, named as in store.h with lmdb_ for store_. */
const char *lmdb_damage(const store *st);
void lmdb_close(store *st);
usher_err lmdb_reader_check(store *st, int *cleared);
uint64_t lmdb_readers_cleared_take(store *st);
usher_err lmdb_reader_list(store *st, store_reader *out, size_t cap, size_t *n,
                           uint64_t *last_txnid);
usher_err lmdb_read_begin(store *st, store_txn **out);
usher_err lmdb_write_begin(store *st, store_txn **out);
usher_err lmdb_child_begin(store_txn *parent, store_txn **out);
bool lmdb_txn_broken(const store_txn *txn);
usher_err lmdb_txn_commit(store_txn *txn);
void lmdb_txn_end(store_txn *txn);
uint64_t lmdb_data_syncs(const store *st);
usher_err lmdb_sync_now(store *st);
bool lmdb_syncs_meta_later(const store *st);
bool lmdb_broken(store *st);
usher_err lmdb_check_run(store *st, const store_check_limits *lim, int64_t now_ms,
                         store_check_report_fn report, void *ctx, store_check_summary *out);
#define STORE_TXN_OP(name, params, args) usher_err lmdb_##name params;
#include "store_ops.def"
#undef STORE_TXN_OP

#endif
