/* Session revocation: user -> the instant (ms) at or before which every
 * session and queue token of that user was issued in vain, plus one
 * "version" key that changes on every revocation, so each process can poll
 * a single u64 to learn whether its cache (server/revocation_cache.c) is
 * stale. A revocation is never moved back in time: revoking again keeps the
 * later instant. */
#include "store_internal.h"

#define USER_KEY_LEN sizeof(((user_id *)0)->bytes)
static const char version_key[] = "version";
#define VERSION_KEY_LEN (sizeof version_key - 1)

_Static_assert(VERSION_KEY_LEN != USER_KEY_LEN, "the version key cannot be taken for a user");

static bool revocations_absent(const store_txn *txn)
{
    return txn->st->revocations_absent;
}

usher_err lmdb_revocation_get(store_txn *txn, const user_id *user, int64_t *revoked_at_ms)
{
    if (revocations_absent(txn)) return USHER_ERR_NOT_FOUND;
    return store_get_rec(txn, DB_REVOCATIONS, user->bytes, USER_KEY_LEN, revoked_at_ms,
                         sizeof *revoked_at_ms);
}

usher_err lmdb_revocations_version(store_txn *txn, uint64_t *version)
{
    *version = 0;
    if (revocations_absent(txn)) return USHER_ERR_OK;
    usher_err e = store_get_rec(txn, DB_REVOCATIONS, version_key, VERSION_KEY_LEN, version,
                                sizeof *version);
    return e == USHER_ERR_NOT_FOUND ? USHER_ERR_OK : e;
}

usher_err lmdb_user_revoke(store_txn *txn, const user_id *user, int64_t now_ms,
                            int64_t *revoked_at_ms)
{
    MDB_val v;
    usher_err e = store_get_val(txn, DB_USERS, user->bytes, USER_KEY_LEN, &v);
    if (e != USHER_ERR_OK) return e;
    int64_t at = now_ms, before;
    e = store_revocation_get(txn, user, &before);
    if (e == USHER_ERR_OK && before > at) at = before;
    else if (e != USHER_ERR_OK && e != USHER_ERR_NOT_FOUND) return e;
    uint64_t version;
    e = store_revocations_version(txn, &version);
    if (e == USHER_ERR_OK) e = store_put(txn, DB_REVOCATIONS, user->bytes, USER_KEY_LEN, &at, sizeof at, 0);
    version++;
    if (e == USHER_ERR_OK)
        e = store_put(txn, DB_REVOCATIONS, version_key, VERSION_KEY_LEN, &version, sizeof version, 0);
    if (e == USHER_ERR_OK && revoked_at_ms) *revoked_at_ms = at;
    return e;
}

usher_err lmdb_revocations_each(store_txn *txn, int64_t since_ms, store_revocation_fn fn,
                                 void *ctx)
{
    if (revocations_absent(txn)) return USHER_ERR_OK;
    MDB_cursor *cur;
    usher_err e = store_cursor(txn, DB_REVOCATIONS, &cur);
    if (e != USHER_ERR_OK) return e;
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        int64_t at;
        if (k.mv_size != USER_KEY_LEN || v.mv_size != sizeof at) continue;  /* the version key */
        memcpy(&at, v.mv_data, sizeof at);
        if (at < since_ms) continue;
        user_id user;
        memcpy(user.bytes, k.mv_data, USER_KEY_LEN);
        if (!fn(ctx, &user, at)) return USHER_ERR_OK;
    }
    return rc == MDB_NOTFOUND ? USHER_ERR_OK : store_mdb_err(txn->st, rc, "revocations");
}
