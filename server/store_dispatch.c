/* store.h's functions: each finds its backend through the table pointer
 * every store and transaction begins with (store_backend.h). */
#include <string.h>
#include "store_backend.h"

static const store_ops *ops_of(const store *st)
{
    return ((const struct store_head *)(const void *)st)->ops;
}

static const store_ops *txn_ops(const store_txn *txn)
{
    return ((const struct store_txn_head *)(const void *)txn)->ops;
}

bool store_spec_is_url(const char *spec)
{
    return strncmp(spec, "postgres://", 11) == 0 || strncmp(spec, "postgresql://", 13) == 0;
}

usher_err store_open(store **out, const char *spec, const store_options *opt)
{
    return store_spec_is_url(spec) ? pg_open(out, spec, opt) : lmdb_open(out, spec, opt);
}

const char *store_backend_name(const store *st) { return ops_of(st)->name; }
bool store_is_remote(const store *st) { return ops_of(st)->remote; }
const char *store_damage(const store *st) { return ops_of(st)->damage(st); }
void store_close(store *st) { if (st) ops_of(st)->close(st); }
usher_err store_reader_check(store *st, int *cleared) { return ops_of(st)->reader_check(st, cleared); }
uint64_t store_readers_cleared_take(store *st) { return ops_of(st)->readers_cleared_take(st); }
usher_err store_reader_list(store *st, store_reader *out, size_t cap, size_t *n,
                            uint64_t *last_txnid)
{
    return ops_of(st)->reader_list(st, out, cap, n, last_txnid);
}
usher_err store_read_begin(store *st, store_txn **out) { return ops_of(st)->read_begin(st, out); }
usher_err store_write_begin(store *st, store_txn **out) { return ops_of(st)->write_begin(st, out); }
usher_err store_child_begin(store_txn *parent, store_txn **out)
{
    return txn_ops(parent)->child_begin(parent, out);
}
bool store_txn_broken(const store_txn *txn) { return txn_ops(txn)->txn_broken(txn); }
usher_err store_txn_commit(store_txn *txn) { return txn_ops(txn)->txn_commit(txn); }
void store_txn_end(store_txn *txn) { if (txn) txn_ops(txn)->txn_end(txn); }
uint64_t store_data_syncs(const store *st) { return ops_of(st)->data_syncs(st); }
usher_err store_sync_now(store *st) { return ops_of(st)->sync_now(st); }
bool store_syncs_meta_later(const store *st) { return ops_of(st)->syncs_meta_later(st); }
bool store_broken(store *st) { return ops_of(st)->broken(st); }
usher_err store_shared_key(store *st, const uint8_t *fresh, size_t len, uint8_t *out, bool *created)
{
    return ops_of(st)->shared_key(st, fresh, len, out, created);
}
usher_err store_check_run(store *st, const store_check_limits *lim, int64_t now_ms,
                          store_check_report_fn report, void *ctx, store_check_summary *out)
{
    return ops_of(st)->check_run(st, lim, now_ms, report, ctx, out);
}

#define STORE_TXN_OP(name, params, args) \
    usher_err store_##name params { return txn_ops(txn)->name args; }
#include "store_ops.def"
#undef STORE_TXN_OP
