/* Users and session revocations on PostgreSQL (store.h's contract, as
 * store_users.c and store_revoke.c on LMDB), and store_is_empty.
 *
 * A revocation is users.revoked_at_ms (NULL: never revoked), moved only
 * forward by GREATEST in the same UPDATE that bumps meta's
 * 'revocations_version', so two hosts revoking at once both count and
 * neither moves the instant back. */
#include <string.h>
#include "store_pg_internal.h"

#define REVOCATIONS_PAGE 512     /* rows one store_revocations_each statement reads */

usher_err pg_user_lock(store_txn *txn, const user_id *user)
{
    return pg_lock_user(txn, user);
}

usher_err pg_user_create(store_txn *txn, const user_id *user,
                         const uint8_t secret_hash[STORE_SECRET_HASH_BYTES], int64_t now_ms)
{
    pg_params p = { 0 };
    pg_p_user(&p, user);
    pg_p_bytes(&p, secret_hash, STORE_SECRET_HASH_BYTES);
    pg_p_i64(&p, now_ms);
    PGresult *res;
    /* DO NOTHING rather than a unique violation: a refused create leaves the
     * transaction usable, as on LMDB. */
    usher_err e = pg_write(txn, "INSERT INTO users (user_id, secret_hash, created_at_ms) "
                                "VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING RETURNING 1",
                           &p, &res);
    if (e != USHER_ERR_OK) return e;
    int created = PQntuples(res);
    pg_done(txn, res);
    return created == 1 ? USHER_ERR_OK : USHER_ERR_INTERNAL;   /* a 128-bit id collided */
}

usher_err pg_user_secret_hash(store_txn *txn, const user_id *user,
                              uint8_t out[STORE_SECRET_HASH_BYTES])
{
    pg_params p = { 0 };
    pg_p_user(&p, user);
    PGresult *res;
    usher_err e = pg_read(txn, "SELECT secret_hash FROM users WHERE user_id = $1", &p, &res);
    if (e != USHER_ERR_OK) return e;
    if (PQntuples(res) == 0) e = USHER_ERR_NOT_FOUND;
    else if (!pg_bytes(res, 0, 0, out, STORE_SECRET_HASH_BYTES)) {
        pg_say(pg_txn_of(txn)->st, "postgres: users: a secret hash of the wrong size");
        e = USHER_ERR_INTERNAL;
    }
    pg_done(txn, res);
    return e;
}

usher_err pg_user_revoke(store_txn *txn, const user_id *user, int64_t now_ms,
                         int64_t *revoked_at_ms)
{
    pg_params p = { 0 };
    pg_p_user(&p, user);
    pg_p_i64(&p, now_ms);
    PGresult *res;
    /* One statement: the user's row (none: NOT_FOUND, and the version stays)
     * and the version, each a conditional UPDATE re-read on the newest row
     * version under READ COMMITTED. */
    usher_err e = pg_write(txn,
        "WITH u AS (UPDATE users SET revoked_at_ms = GREATEST(revoked_at_ms, $2::bigint) "
        "           WHERE user_id = $1 RETURNING revoked_at_ms), "
        "v AS (UPDATE meta SET value = value + 1 "
        "      WHERE name = 'revocations_version' AND EXISTS (SELECT 1 FROM u) RETURNING value) "
        "SELECT u.revoked_at_ms, (SELECT count(*) FROM v) FROM u",
        &p, &res);
    if (e != USHER_ERR_OK) return e;
    if (PQntuples(res) == 0) {
        e = USHER_ERR_NOT_FOUND;
    } else if (pg_i64(res, 0, 1) != 1) {
        pg_say(pg_txn_of(txn)->st, "postgres: meta: no revocations_version row");
        e = USHER_ERR_INTERNAL;
    } else if (revoked_at_ms) {
        *revoked_at_ms = pg_i64(res, 0, 0);
    }
    pg_done(txn, res);
    return e;
}

usher_err pg_revocations_version(store_txn *txn, uint64_t *version)
{
    *version = 0;
    PGresult *res;
    usher_err e = pg_read(txn, "SELECT value FROM meta WHERE name = 'revocations_version'",
                          NULL, &res);
    if (e != USHER_ERR_OK) return e;
    if (PQntuples(res) == 1) *version = (uint64_t)pg_i64(res, 0, 0);
    pg_done(txn, res);
    return USHER_ERR_OK;
}

usher_err pg_revocation_get(store_txn *txn, const user_id *user, int64_t *revoked_at_ms)
{
    pg_params p = { 0 };
    pg_p_user(&p, user);
    PGresult *res;
    usher_err e = pg_read(txn, "SELECT revoked_at_ms FROM users "
                               "WHERE user_id = $1 AND revoked_at_ms IS NOT NULL",
                          &p, &res);
    if (e != USHER_ERR_OK) return e;
    if (PQntuples(res) == 0) e = USHER_ERR_NOT_FOUND;
    else *revoked_at_ms = pg_i64(res, 0, 0);
    pg_done(txn, res);
    return e;
}

/* Pages of REVOCATIONS_PAGE in user order (bytea compares as memcmp, LMDB's
 * key order), each after the last user of the one before, so memory stays
 * bounded however many users were revoked. */
usher_err pg_revocations_each(store_txn *txn, int64_t since_ms, store_revocation_fn fn,
                              void *ctx)
{
    user_id after;
    size_t after_len = 0;   /* the first page: after the empty bytea, before every id */
    for (;;) {
        pg_params p = { 0 };
        pg_p_i64(&p, since_ms);
        pg_p_bytes(&p, after.bytes, after_len);
        pg_p_i64(&p, REVOCATIONS_PAGE);
        PGresult *res;
        usher_err e = pg_read(txn, "SELECT user_id, revoked_at_ms FROM users "
                                   "WHERE revoked_at_ms >= $1 AND user_id > $2 "
                                   "ORDER BY user_id LIMIT $3",
                              &p, &res);
        if (e != USHER_ERR_OK) return e;
        int rows = PQntuples(res);
        for (int r = 0; r < rows; r++) {
            user_id user;
            bool go_on = false;
            if (!pg_bytes(res, r, 0, user.bytes, sizeof user.bytes)) {
                pg_say(pg_txn_of(txn)->st, "postgres: users: a user id of the wrong size");
                e = USHER_ERR_INTERNAL;
            } else {
                go_on = fn(ctx, &user, pg_i64(res, r, 1));
            }
            if (!go_on) {
                pg_done(txn, res);
                return e;
            }
            after = user;
            after_len = sizeof after.bytes;
        }
        pg_done(txn, res);
        if (rows < REVOCATIONS_PAGE) return USHER_ERR_OK;
    }
}

usher_err pg_is_empty(store_txn *txn, bool *empty)
{
    PGresult *res;
    usher_err e = pg_read(txn, "SELECT NOT EXISTS (SELECT 1 FROM concerts)", NULL, &res);
    if (e != USHER_ERR_OK) return e;
    *empty = pg_bool(res, 0, 0);
    pg_done(txn, res);
    return USHER_ERR_OK;
}
