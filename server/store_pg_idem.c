/* Idempotent retries on PostgreSQL (store.h's contract, as store_idem.c on
 * LMDB): one idem row per (user, method, request_id) holding the first
 * success and its parameters' fingerprint; the idem_age index orders the
 * tick's purge oldest first. request_id is raw bytes (bytea): it may hold
 * any byte. */
#include <string.h>
#include "store_pg_internal.h"

#define IDEM_METHOD_MAX 64       /* bytes of a method name, as STORE_METHOD_MAX on LMDB */

static bool idem_key_ok(const char *method, size_t request_id_len)
{
    size_t method_len = strlen(method);
    return method_len > 0 && method_len <= IDEM_METHOD_MAX && request_id_len > 0 &&
           request_id_len <= STORE_REQUEST_ID_MAX;
}

static void idem_key_params(pg_params *p, const user_id *user, const char *method,
                            const char *request_id, size_t request_id_len)
{
    pg_p_user(p, user);
    pg_p_text(p, method, strlen(method));   /* NUL-terminated: passed as is when long */
    pg_p_bytes(p, request_id, request_id_len);
}

usher_err pg_idem_get(store_txn *txn, const user_id *user, const char *method,
                      const char *request_id, size_t request_id_len,
                      const uint8_t fingerprint[STORE_FINGERPRINT_BYTES], int64_t now_ms,
                      const void **result, size_t *result_len)
{
    if (!idem_key_ok(method, request_id_len)) return USHER_ERR_INVALID_ARGUMENT;
    pg_params p = { 0 };
    idem_key_params(&p, user, method, request_id, request_id_len);
    /* Older than the ttl: forgotten, even if the tick has not purged it. */
    pg_p_i64(&p, now_ms - pg_txn_of(txn)->st->policy.request_id_ttl_ms);
    PGresult *res;
    usher_err e = pg_read(txn, "SELECT fingerprint, result FROM idem "
                               "WHERE user_id = $1 AND method = $2 AND request_id = $3 "
                               "AND stored_at_ms >= $4",
                          &p, &res);
    if (e != USHER_ERR_OK) return e;
    if (PQntuples(res) == 0) {
        pg_done(txn, res);
        return USHER_ERR_NOT_FOUND;
    }
    uint8_t stored[STORE_FINGERPRINT_BYTES];
    if (!pg_bytes(res, 0, 0, stored, sizeof stored)) {
        pg_say(pg_txn_of(txn)->st, "postgres: idem: a fingerprint of the wrong size");
        return USHER_ERR_INTERNAL;
    }
    if (memcmp(stored, fingerprint, sizeof stored) != 0) {
        pg_done(txn, res);
        return USHER_ERR_INVALID_ARGUMENT;
    }
    /* The result stays with the transaction (pg_bytes_kept): valid until it ends. */
    if (!pg_bytes_kept(txn, res, 0, 1, result, result_len)) {
        pg_say(pg_txn_of(txn)->st, "postgres: idem: an unreadable result");
        return USHER_ERR_INTERNAL;
    }
    return USHER_ERR_OK;
}

usher_err pg_idem_put(store_txn *txn, const user_id *user, const char *method,
                      const char *request_id, size_t request_id_len,
                      const uint8_t fingerprint[STORE_FINGERPRINT_BYTES], int64_t now_ms,
                      const void *result, size_t result_len)
{
    if (!idem_key_ok(method, request_id_len)) return USHER_ERR_INVALID_ARGUMENT;
    pg_params p = { 0 };
    idem_key_params(&p, user, method, request_id, request_id_len);
    pg_p_bytes(&p, fingerprint, STORE_FINGERPRINT_BYTES);
    pg_p_i64(&p, now_ms);
    pg_p_bytes(&p, result, result_len);
    /* Replaces a record of the same key (its age goes with it), as on LMDB. */
    return pg_write(txn, "INSERT INTO idem (user_id, method, request_id, fingerprint, "
                         "stored_at_ms, result) VALUES ($1, $2, $3, $4, $5, $6) "
                         "ON CONFLICT (user_id, method, request_id) DO UPDATE "
                         "SET fingerprint = EXCLUDED.fingerprint, "
                         "stored_at_ms = EXCLUDED.stored_at_ms, result = EXCLUDED.result",
                    &p, NULL);
}

usher_err pg_idem_tick(store_txn *txn, int64_t now_ms, size_t max, size_t *purged)
{
    if (purged) *purged = 0;
    if (max == 0) return USHER_ERR_OK;
    pg_params p = { 0 };
    pg_p_i64(&p, now_ms - pg_txn_of(txn)->st->policy.request_id_ttl_ms);
    pg_p_u64(&p, max);
    PGresult *res;
    /* SKIP LOCKED: two hosts ticking at once purge different records
     * instead of waiting on each other; the outer age test re-checks a row
     * a concurrent idem_put has just refreshed. */
    usher_err e = pg_write(txn,
        "WITH old AS (SELECT user_id, method, request_id FROM idem WHERE stored_at_ms < $1 "
        "             ORDER BY stored_at_ms LIMIT $2 FOR UPDATE SKIP LOCKED), "
        "gone AS (DELETE FROM idem i USING old "
        "         WHERE i.user_id = old.user_id AND i.method = old.method "
        "           AND i.request_id = old.request_id AND i.stored_at_ms < $1 RETURNING 1) "
        "SELECT count(*) FROM gone",
        &p, &res);
    if (e != USHER_ERR_OK) return e;
    if (purged) *purged = (size_t)pg_i64(res, 0, 0);
    pg_done(txn, res);
    return USHER_ERR_OK;
}
