/* The LMDB backend's table (store_backend.h): the embedded default, one
 * data directory shared by every usherd process of one host. */
#include "store_backend.h"

/* LMDB keeps the signing key in the data dir's keys file (token.h), not in
 * the store. */
static usher_err lmdb_shared_key(store *st, const uint8_t *fresh, size_t len, uint8_t *out,
                                 bool *created)
{
    (void)st; (void)fresh; (void)len; (void)out; (void)created;
    return USHER_ERR_NOT_FOUND;
}

const store_ops store_lmdb_ops = {
    .name = "lmdb",
    .remote = false,
    .damage = lmdb_damage,
    .close = lmdb_close,
    .reader_check = lmdb_reader_check,
    .readers_cleared_take = lmdb_readers_cleared_take,
    .reader_list = lmdb_reader_list,
    .read_begin = lmdb_read_begin,
    .write_begin = lmdb_write_begin,
    .child_begin = lmdb_child_begin,
    .txn_broken = lmdb_txn_broken,
    .txn_commit = lmdb_txn_commit,
    .txn_end = lmdb_txn_end,
    .data_syncs = lmdb_data_syncs,
    .sync_now = lmdb_sync_now,
    .syncs_meta_later = lmdb_syncs_meta_later,
    .broken = lmdb_broken,
    .shared_key = lmdb_shared_key,
    .check_run = lmdb_check_run,
#define STORE_TXN_OP(name, params, args) .name = lmdb_##name,
#include "store_ops.def"
#undef STORE_TXN_OP
};
