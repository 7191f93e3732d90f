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

/* ---- catalogue, holds and payments (store_pg_catalog.c, store_pg_holds.c, store_pg_payment.c) ---- */

usher_err pg_concert_create(store_txn *txn, const char *title, size_t title_len, const char *venue, size_t venue_len, uint64_t *concert_id)
{
    (void)title; (void)title_len; (void)venue; (void)venue_len; (void)concert_id;
    return not_yet(txn, "concert_create");
}

usher_err pg_concert_get(store_txn *txn, uint64_t concert_id, store_concert *out)
{
    (void)concert_id; (void)out;
    return not_yet(txn, "concert_get");
}

usher_err pg_concert_list(store_txn *txn, uint64_t after, store_concert *out, size_t cap, size_t *n)
{
    (void)after; (void)out; (void)cap; (void)n;
    return not_yet(txn, "concert_list");
}

usher_err pg_schedule_create(store_txn *txn, uint64_t concert_id, int64_t starts_at_ms, uint32_t seats, const int64_t *prices_krw, uint64_t *schedule_id)
{
    (void)concert_id; (void)starts_at_ms; (void)seats; (void)prices_krw; (void)schedule_id;
    return not_yet(txn, "schedule_create");
}

usher_err pg_schedule_get(store_txn *txn, uint64_t schedule_id, store_schedule *out)
{
    (void)schedule_id; (void)out;
    return not_yet(txn, "schedule_get");
}

usher_err pg_concert_dates(store_txn *txn, uint64_t concert_id, int64_t now_ms, store_date *out, size_t cap, size_t *n)
{
    (void)concert_id; (void)now_ms; (void)out; (void)cap; (void)n;
    return not_yet(txn, "concert_dates");
}

usher_err pg_concert_schedules(store_txn *txn, uint64_t concert_id, int64_t now_ms, store_date *out, size_t cap, size_t *n)
{
    (void)concert_id; (void)now_ms; (void)out; (void)cap; (void)n;
    return not_yet(txn, "concert_schedules");
}

usher_err pg_schedule_seats(store_txn *txn, uint64_t schedule_id, int64_t now_ms, store_seat *out, size_t *n)
{
    (void)schedule_id; (void)now_ms; (void)out; (void)n;
    return not_yet(txn, "schedule_seats");
}

usher_err pg_seat_hold(store_txn *txn, const user_id *user, uint64_t concert_id, uint64_t schedule_id, uint32_t seat_no, int64_t now_ms, store_reservation *out, const char **bad_param)
{
    (void)user; (void)concert_id; (void)schedule_id; (void)seat_no; (void)now_ms; (void)out; (void)bad_param;
    return not_yet(txn, "seat_hold");
}

usher_err pg_reservation_get(store_txn *txn, uint64_t reservation_id, int64_t now_ms, store_reservation *out)
{
    (void)reservation_id; (void)now_ms; (void)out;
    return not_yet(txn, "reservation_get");
}

usher_err pg_reservation_cancel(store_txn *txn, const user_id *user, uint64_t reservation_id, int64_t now_ms, store_reservation *out)
{
    (void)user; (void)reservation_id; (void)now_ms; (void)out;
    return not_yet(txn, "reservation_cancel");
}

usher_err pg_reservation_list(store_txn *txn, const user_id *user, uint64_t before, int64_t now_ms, store_reservation *out, size_t cap, size_t *n)
{
    (void)user; (void)before; (void)now_ms; (void)out; (void)cap; (void)n;
    return not_yet(txn, "reservation_list");
}

usher_err pg_holds_tick(store_txn *txn, int64_t now_ms, size_t max, size_t *expired)
{
    (void)now_ms; (void)max; (void)expired;
    return not_yet(txn, "holds_tick");
}

usher_err pg_payment_pay(store_txn *txn, const user_id *user, uint64_t concert_id, uint64_t queue_seq, const uint64_t *reservation_ids, size_t n, int64_t now_ms, store_payment *out, int64_t *balance_after_krw)
{
    (void)user; (void)concert_id; (void)queue_seq; (void)reservation_ids; (void)n; (void)now_ms; (void)out; (void)balance_after_krw;
    return not_yet(txn, "payment_pay");
}

usher_err pg_payment_list(store_txn *txn, const user_id *user, uint64_t before, store_payment *out, size_t cap, size_t *n)
{
    (void)user; (void)before; (void)out; (void)cap; (void)n;
    return not_yet(txn, "payment_list");
}

/* ---- the waiting room (store_pg_queue*.c) ---- */

/* ---- figures (store_pg_stats.c) ---- */

usher_err pg_stats_read(store_txn *txn, int64_t now_ms, store_stats *out)
{
    (void)now_ms; (void)out;
    return not_yet(txn, "stats_read");
}

/* ---- the queue's part of a payment (store_pg_queue*.c) ---- */
/* ---- usher-check (store_pg_check.c) ---- */
usher_err pg_check_run(store *st, const store_check_limits *lim, int64_t now_ms,
                       store_check_report_fn report, void *ctx, store_check_summary *out)
{
    (void)lim; (void)now_ms; (void)report; (void)ctx; (void)out;
    pg_say(pg_store_of(st), "postgres: usher-check is not implemented on PostgreSQL yet");
    return USHER_ERR_INTERNAL;
}
