/* Operations the PostgreSQL store does not implement yet: each refuses with
 * INTERNAL and says so on stderr. Grouped by the file that will hold them;
 * an operation leaves this file when it is implemented. */
#include "store_pg_internal.h"

static usher_err not_yet(store_txn *t, const char *op)
{
    pg_say(pg_txn_of(t)->st, "postgres: %s is not implemented on PostgreSQL yet", op);
    return USHER_ERR_INTERNAL;
}

/* ---- accounts and wallet (store_pg_accounts.c, store_pg_wallet.c, store_pg_idem.c) ---- */

usher_err pg_user_create(store_txn *txn, const user_id *user, const uint8_t secret_hash[STORE_SECRET_HASH_BYTES], int64_t now_ms)
{
    (void)user; (void)secret_hash; (void)now_ms;
    return not_yet(txn, "user_create");
}

usher_err pg_user_secret_hash(store_txn *txn, const user_id *user, uint8_t out[STORE_SECRET_HASH_BYTES])
{
    (void)user; (void)out;
    return not_yet(txn, "user_secret_hash");
}

usher_err pg_user_revoke(store_txn *txn, const user_id *user, int64_t now_ms, int64_t *revoked_at_ms)
{
    (void)user; (void)now_ms; (void)revoked_at_ms;
    return not_yet(txn, "user_revoke");
}

usher_err pg_revocations_version(store_txn *txn, uint64_t *version)
{
    (void)version;
    return not_yet(txn, "revocations_version");
}

usher_err pg_revocation_get(store_txn *txn, const user_id *user, int64_t *revoked_at_ms)
{
    (void)user; (void)revoked_at_ms;
    return not_yet(txn, "revocation_get");
}

usher_err pg_revocations_each(store_txn *txn, int64_t since_ms, store_revocation_fn fn, void *ctx)
{
    (void)since_ms; (void)fn; (void)ctx;
    return not_yet(txn, "revocations_each");
}

usher_err pg_wallet_balance(store_txn *txn, const user_id *user, int64_t *balance_krw)
{
    (void)user; (void)balance_krw;
    return not_yet(txn, "wallet_balance");
}

usher_err pg_wallet_charge(store_txn *txn, const user_id *user, int64_t amount_krw, int64_t now_ms, int64_t *balance_after_krw)
{
    (void)user; (void)amount_krw; (void)now_ms; (void)balance_after_krw;
    return not_yet(txn, "wallet_charge");
}

usher_err pg_wallet_history(store_txn *txn, const user_id *user, uint64_t before, store_ledger_entry *out, size_t cap, size_t *n)
{
    (void)user; (void)before; (void)out; (void)cap; (void)n;
    return not_yet(txn, "wallet_history");
}

usher_err pg_idem_get(store_txn *txn, const user_id *user, const char *method, const char *request_id, size_t request_id_len, const uint8_t fingerprint[STORE_FINGERPRINT_BYTES], int64_t now_ms, const void **result, size_t *result_len)
{
    (void)user; (void)method; (void)request_id; (void)request_id_len; (void)fingerprint; (void)now_ms; (void)result; (void)result_len;
    return not_yet(txn, "idem_get");
}

usher_err pg_idem_put(store_txn *txn, const user_id *user, const char *method, const char *request_id, size_t request_id_len, const uint8_t fingerprint[STORE_FINGERPRINT_BYTES], int64_t now_ms, const void *result, size_t result_len)
{
    (void)user; (void)method; (void)request_id; (void)request_id_len; (void)fingerprint; (void)now_ms; (void)result; (void)result_len;
    return not_yet(txn, "idem_put");
}

usher_err pg_idem_tick(store_txn *txn, int64_t now_ms, size_t max, size_t *purged)
{
    (void)now_ms; (void)max; (void)purged;
    return not_yet(txn, "idem_tick");
}

usher_err pg_is_empty(store_txn *txn, bool *empty)
{
    (void)empty;
    return not_yet(txn, "is_empty");
}

/* ---- the waiting room (store_pg_queue*.c) ---- */

usher_err pg_queue_enter(store_txn *txn, const user_id *user, uint64_t concert_id, int64_t now_ms, store_queue_entry *out)
{
    (void)user; (void)concert_id; (void)now_ms; (void)out;
    return not_yet(txn, "queue_enter");
}

usher_err pg_queue_get(store_txn *txn, uint64_t concert_id, uint64_t seq, int64_t now_ms, store_queue_entry *out)
{
    (void)concert_id; (void)seq; (void)now_ms; (void)out;
    return not_yet(txn, "queue_get");
}

usher_err pg_queue_touch(store_txn *txn, uint64_t concert_id, uint64_t seq, int64_t now_ms)
{
    (void)concert_id; (void)seq; (void)now_ms;
    return not_yet(txn, "queue_touch");
}

usher_err pg_queue_control_get(store_txn *txn, uint64_t concert_id, int64_t now_ms, store_queue_report *out)
{
    (void)concert_id; (void)now_ms; (void)out;
    return not_yet(txn, "queue_control_get");
}

usher_err pg_queue_control_set(store_txn *txn, uint64_t concert_id, const store_queue_control_change *change, int64_t now_ms, store_queue_report *out, const char **bad_param)
{
    (void)concert_id; (void)change; (void)now_ms; (void)out; (void)bad_param;
    return not_yet(txn, "queue_control_set");
}

usher_err pg_queue_open(store_txn *txn, uint64_t concert_id, int64_t opens_at_ms, int64_t now_ms, store_queue_report *out, const char **bad_param)
{
    (void)concert_id; (void)opens_at_ms; (void)now_ms; (void)out; (void)bad_param;
    return not_yet(txn, "queue_open");
}

usher_err pg_queue_tick(store_txn *txn, int64_t now_ms, const store_tick_opts *opts, store_admitted *admitted)
{
    (void)now_ms; (void)opts; (void)admitted;
    return not_yet(txn, "queue_tick");
}

usher_err pg_queue_progress_get(store_txn *txn, uint64_t concert_id, store_queue_progress *out)
{
    (void)concert_id; (void)out;
    return not_yet(txn, "queue_progress_get");
}

/* ---- figures (store_pg_stats.c) ---- */

usher_err pg_stats_read(store_txn *txn, int64_t now_ms, store_stats *out)
{
    (void)now_ms; (void)out;
    return not_yet(txn, "stats_read");
}

/* ---- the queue's part of a payment (store_pg_queue*.c) ---- */
usher_err pg_queue_pay_expire(store_txn *txn, uint64_t concert_id, uint64_t seq, int64_t now_ms)
{
    (void)concert_id; (void)seq; (void)now_ms;
    return not_yet(txn, "queue_pay_expire");
}

/* ---- usher-check (store_pg_check.c) ---- */
usher_err pg_check_run(store *st, const store_check_limits *lim, int64_t now_ms,
                       store_check_report_fn report, void *ctx, store_check_summary *out)
{
    (void)lim; (void)now_ms; (void)report; (void)ctx; (void)out;
    pg_say(pg_store_of(st), "postgres: usher-check is not implemented on PostgreSQL yet");
    return USHER_ERR_INTERNAL;
}
