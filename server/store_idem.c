/* Idempotent retries: the first successful result of (user, method,
 * request_id) with a fingerprint of its parameters, kept for at least
 * request_id_ttl. A second index by age lets the tick purge oldest first. */
#include "store_internal.h"

#define IDEM_KEY_MAX (16 + STORE_METHOD_MAX + 1 + STORE_REQUEST_ID_MAX)

/* user | method | NUL | request_id: the method holds no NUL, so the key
 * cannot be read two ways whatever bytes the request_id holds. */
static usher_err idem_key(unsigned char key[IDEM_KEY_MAX], size_t *key_len, const user_id *user,
                          const char *method, const char *request_id, size_t request_id_len)
{
    size_t method_len = strlen(method);
    if (method_len == 0 || method_len > STORE_METHOD_MAX || request_id_len == 0 ||
        request_id_len > STORE_REQUEST_ID_MAX)
        return USHER_ERR_INVALID_ARGUMENT;
    memcpy(key, user->bytes, 16);
    memcpy(key + 16, method, method_len);
    key[16 + method_len] = 0;
    memcpy(key + 16 + method_len + 1, request_id, request_id_len);
    *key_len = 16 + method_len + 1 + request_id_len;
    return USHER_ERR_OK;
}

static usher_err age_del(store_txn *t, int64_t stored_at_ms, const unsigned char *key, size_t key_len)
{
    unsigned char age_key[8 + IDEM_KEY_MAX];
    key_put_time(age_key, stored_at_ms);
    memcpy(age_key + 8, key, key_len);
    return store_del(t, DB_IDEM_AGE, age_key, 8 + key_len);
}

usher_err lmdb_idem_get(store_txn *txn, const user_id *user, const char *method,
                         const char *request_id, size_t request_id_len,
                         const uint8_t fingerprint[STORE_FINGERPRINT_BYTES], int64_t now_ms,
                         const void **result, size_t *result_len)
{
    unsigned char key[IDEM_KEY_MAX];
    size_t key_len;
    usher_err err = idem_key(key, &key_len, user, method, request_id, request_id_len);
    if (err != USHER_ERR_OK)
        return err;
    MDB_val v;
    int rc = store_get(txn, DB_IDEM, key, key_len, &v);
    if (rc == MDB_NOTFOUND)
        return USHER_ERR_NOT_FOUND;
    if (rc)
        return store_mdb_err(txn->st, rc, "idem");
    rec_idem rec;
    if (v.mv_size < sizeof rec)
        return USHER_ERR_INTERNAL;
    memcpy(&rec, v.mv_data, sizeof rec);
    if (rec.stored_at_ms < now_ms - txn->st->policy.request_id_ttl_ms)
        return USHER_ERR_NOT_FOUND;   /* forgotten, even if the tick has not purged it */
    if (memcmp(rec.fingerprint, fingerprint, STORE_FINGERPRINT_BYTES) != 0)
        return USHER_ERR_INVALID_ARGUMENT;
    const unsigned char *bytes = (const unsigned char *)v.mv_data + sizeof rec;
    size_t len = v.mv_size - sizeof rec;
    *result_len = len;
    if (txn->kind == TXN_READ) {   /* the snapshot stays put until the txn ends */
        *result = bytes;
        return USHER_ERR_OK;
    }
    /* A later write in this txn may move dirty pages: hand out a copy. */
    return store_keep_copy(txn, bytes, len, result);
}

usher_err lmdb_idem_put(store_txn *txn, const user_id *user, const char *method,
                         const char *request_id, size_t request_id_len,
                         const uint8_t fingerprint[STORE_FINGERPRINT_BYTES], int64_t now_ms,
                         const void *result, size_t result_len)
{
    unsigned char key[IDEM_KEY_MAX];
    size_t key_len;
    usher_err err = idem_key(key, &key_len, user, method, request_id, request_id_len);
    if (err != USHER_ERR_OK)
        return err;
    rec_idem old;
    err = store_get_rec(txn, DB_IDEM, key, key_len, &old, sizeof old);
    if (err == USHER_ERR_OK)
        err = age_del(txn, old.stored_at_ms, key, key_len);   /* replaced: drop its age entry */
    if (err != USHER_ERR_OK && err != USHER_ERR_NOT_FOUND)
        return err;

    MDB_val k = { key_len, key }, v = { sizeof(rec_idem) + result_len, NULL };
    int rc = store_mdb_put(txn, DB_IDEM, &k, &v, MDB_RESERVE);
    if (rc)
        return store_mdb_err(txn->st, rc, "idem");
    rec_idem rec;
    memcpy(rec.fingerprint, fingerprint, STORE_FINGERPRINT_BYTES);
    rec.stored_at_ms = now_ms;
    memcpy(v.mv_data, &rec, sizeof rec);
    if (result_len)
        memcpy((unsigned char *)v.mv_data + sizeof rec, result, result_len);

    unsigned char age_key[8 + IDEM_KEY_MAX];
    key_put_time(age_key, now_ms);
    memcpy(age_key + 8, key, key_len);
    return store_put(txn, DB_IDEM_AGE, age_key, 8 + key_len, "", 0, 0);
}

usher_err lmdb_idem_tick(store_txn *txn, int64_t now_ms, size_t max, size_t *purged)
{
    size_t count = 0;
    MDB_cursor *cur;
    usher_err err = store_cursor(txn, DB_IDEM_AGE, &cur);
    if (err != USHER_ERR_OK)
        return err;
    int64_t cutoff = now_ms - txn->st->policy.request_id_ttl_ms;
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0 && count < max) {
        const unsigned char *age_key = k.mv_data;
        if (k.mv_size <= 8 || key_get_time(age_key) >= cutoff)
            break;
        if ((err = store_del(txn, DB_IDEM, age_key + 8, k.mv_size - 8)) != USHER_ERR_OK)
            return err;
        if ((rc = store_mdb_cursor_del(txn, DB_IDEM_AGE, cur)) != 0)
            break;
        count++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);   /* we only ever delete the first */
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(txn->st, rc, "idem_age");
    if (purged)
        *purged = count;
    return USHER_ERR_OK;
}
