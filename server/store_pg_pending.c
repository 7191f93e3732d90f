/* Operations the PostgreSQL store does not implement yet: each refuses with
 * INTERNAL and says so on stderr. Grouped by the file that will hold them;
 * an operation leaves this file when it is implemented. */
#include "store_pg_internal.h"

static usher_err not_yet(store_txn *t, const char *op)
{
    pg_say(pg_txn_of(t)->st, "postgres: %s is not implemented on PostgreSQL yet", op);
    return USHER_ERR_INTERNAL;
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

/* ---- the queue's part of a payment (store_pg_queue*.c) ---- */
usher_err pg_queue_pay_expire(store_txn *txn, uint64_t concert_id, uint64_t seq, int64_t now_ms)
{
    (void)concert_id; (void)seq; (void)now_ms;
    return not_yet(txn, "queue_pay_expire");
}
