/* Users: user_id -> the hash of their secret (never the secret) and when
 * they registered. */
#include "store_internal.h"

usher_err lmdb_user_lock(store_txn *txn, const user_id *user)
{
    (void)txn; (void)user;   /* LMDB's single writer serializes every write */
    return USHER_ERR_OK;
}

usher_err lmdb_user_create(store_txn *txn, const user_id *user,
                            const uint8_t secret_hash[STORE_SECRET_HASH_BYTES], int64_t now_ms)
{
    rec_user rec;
    memset(&rec, 0, sizeof rec);
    memcpy(rec.secret_hash, secret_hash, sizeof rec.secret_hash);
    rec.created_at_ms = now_ms;
    MDB_val k = { sizeof user->bytes, (void *)user->bytes }, v = { sizeof rec, &rec };
    int rc = store_mdb_put(txn, DB_USERS, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return USHER_ERR_INTERNAL;   /* a 128-bit random id collided: never in practice */
    return store_mdb_err(txn->st, rc, "users");
}

usher_err lmdb_user_secret_hash(store_txn *txn, const user_id *user,
                                 uint8_t out[STORE_SECRET_HASH_BYTES])
{
    rec_user rec;
    usher_err err = store_get_rec(txn, DB_USERS, user->bytes, sizeof user->bytes, &rec, sizeof rec);
    if (err == USHER_ERR_OK)
        memcpy(out, rec.secret_hash, sizeof rec.secret_hash);
    return err;
}
