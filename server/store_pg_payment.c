/* Payments on PostgreSQL, as LMDB's store_payment.c: one write that debits
 * the wallet, confirms the reservations, sells their seats, records the
 * payment and its PAYMENT ledger entry, and frees the payer's queue slot
 * for the next in line. Every check runs on one read before the write, in
 * LMDB's order.
 *
 * Race-free under READ COMMITTED: the user's advisory lock comes first, so
 * none of the user's own writes (holds, cancels, charges, other payments)
 * moves under the checks; what another host may still change, a tick
 * expiring a hold by its clock, is caught by the write's conditional
 * updates (the debit guarded by the balance, a reservation confirmed only
 * while HELD and live, a seat sold only while it names that hold): when
 * any of them falls short the payment fails and the caller rolls it back.
 * Reservations are locked before seats, as the tick and cancel do. */
#include "store_pg_internal.h"
#include "store_rules.h"
#include <string.h>

/* A bigint[] literal of STORE_HOLDS_MAX ids. */
#define IDS_LITERAL_MAX (STORE_HOLDS_MAX * 21 + 4)

/* Columns of the payment's read, one row per id in the given order. */
enum { C_FOUND, C_USER, C_CONCERT, C_STATUS, C_EXPIRES, C_PRICE, C_BALANCE };

/* The checks of store_payment_pay on the read, id by id in order; the sum
 * of the prices into *sum. */
static usher_err check_holds(const PGresult *res, const user_id *user, uint64_t concert_id,
                             size_t n, int64_t now_ms, int64_t *sum)
{
    *sum = 0;
    if ((size_t)PQntuples(res) != n)
        return USHER_ERR_INTERNAL;
    for (int r = 0; r < (int)n; r++) {
        if (!pg_bool(res, r, C_FOUND))
            return USHER_ERR_NOT_FOUND;
        user_id holder;
        if (!pg_bytes(res, r, C_USER, holder.bytes, sizeof holder.bytes))
            return USHER_ERR_INTERNAL;
        if (memcmp(holder.bytes, user->bytes, sizeof holder.bytes) != 0 ||
            (uint64_t)pg_i64(res, r, C_CONCERT) != concert_id)
            return USHER_ERR_FORBIDDEN;
        int64_t status = pg_i64(res, r, C_STATUS);
        if (status == STORE_RES_HELD && now_ms >= pg_i64(res, r, C_EXPIRES))
            status = STORE_RES_EXPIRED;
        usher_err verdict = store_rule_pay((store_reservation_status)status);
        if (verdict != USHER_ERR_OK)
            return verdict;
        int64_t price = pg_i64(res, r, C_PRICE);
        if (price > INT64_MAX - *sum)
            return USHER_ERR_INSUFFICIENT_BALANCE;   /* no wallet holds that much */
        *sum += price;
    }
    return USHER_ERR_OK;
}

usher_err pg_payment_pay(store_txn *txn, const user_id *user, uint64_t concert_id,
                         uint64_t queue_seq, const uint64_t *reservation_ids, size_t n,
                         int64_t now_ms, store_payment *out, int64_t *balance_after_krw)
{
    usher_err rule = store_rule_payment(&pg_txn_of(txn)->st->policy, reservation_ids, n);
    if (rule != USHER_ERR_OK)
        return rule;
    usher_err err = pg_lock_user(txn, user);
    if (err != USHER_ERR_OK)
        return err;
    char ids[IDS_LITERAL_MAX];
    pg_params p = { 0 };
    if (!pg_p_i64_array(&p, reservation_ids, n, ids, sizeof ids))
        return USHER_ERR_INTERNAL;
    pg_p_user(&p, user);
    PGresult *res;
    err = pg_read(txn,
        "SELECT r.reservation_id IS NOT NULL, r.user_id, r.concert_id, r.status, "
        "       r.expires_at_ms, r.price_krw, "
        "       coalesce((SELECT balance_krw FROM wallets WHERE user_id = $2), 0) "
        "FROM unnest($1::bigint[]) WITH ORDINALITY AS i(id, ord) "
        "LEFT JOIN reservations r ON r.reservation_id = i.id ORDER BY i.ord",
        &p, &res);
    if (err != USHER_ERR_OK)
        return err;
    int64_t sum;
    if ((err = check_holds(res, user, concert_id, n, now_ms, &sum)) != USHER_ERR_OK)
        return err;
    if (pg_i64(res, 0, C_BALANCE) < sum)
        return USHER_ERR_INSUFFICIENT_BALANCE;

    /* The write, one statement. bal: the balance after the debit (a user
     * with no wallet row pays a sum of 0 from a balance of 0). */
    pg_params q = { 0 };
    pg_p_user(&q, user);
    pg_p_u64(&q, concert_id);
    pg_p_i64(&q, sum);
    pg_p_i64(&q, now_ms);
    if (!pg_p_i64_array(&q, reservation_ids, n, ids, sizeof ids))
        return USHER_ERR_INTERNAL;
    err = pg_write(txn,
        "WITH w AS (UPDATE wallets SET balance_krw = balance_krw - $3 "
        "           WHERE user_id = $1 AND balance_krw >= $3 RETURNING balance_krw), "
        "bal AS (SELECT balance_krw FROM w UNION ALL "
        "        SELECT 0 WHERE $3::bigint = 0 AND NOT EXISTS (SELECT 1 FROM wallets WHERE user_id = $1)), "
        "pay AS (INSERT INTO payments (payment_id, user_id, concert_id, amount_krw, paid_at_ms, "
        "                              reservation_ids) "
        "        SELECT nextval('payment_ids'), $1, $2, $3, $4, $5::bigint[] FROM bal "
        "        RETURNING payment_id), "
        "conf AS (UPDATE reservations r SET status = 2, payment_id = pay.payment_id FROM pay "
        "         WHERE r.reservation_id = ANY ($5::bigint[]) AND r.user_id = $1 "
        "           AND r.concert_id = $2 AND r.status = 1 AND r.expires_at_ms > $4 "
        "         RETURNING r.reservation_id, r.schedule_id, r.seat_no), "
        "sold AS (UPDATE seats s SET sold = true FROM conf "
        "         WHERE s.schedule_id = conf.schedule_id AND s.seat_no = conf.seat_no "
        "           AND s.reservation_id = conf.reservation_id AND s.user_id = $1 AND NOT s.sold "
        "         RETURNING 1), "
        "led AS (INSERT INTO ledger (entry_id, user_id, kind, amount_krw, balance_after_krw, "
        "                            at_ms, payment_id) "
        "        SELECT nextval('ledger_ids'), $1, 2, -$3::bigint, bal.balance_krw, $4, "
        "               pay.payment_id FROM bal, pay) "
        "SELECT (SELECT payment_id FROM pay), (SELECT balance_krw FROM bal), "
        "       (SELECT count(*) FROM conf), (SELECT count(*) FROM sold)",
        &q, &res);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(res) != 1)
        return USHER_ERR_INTERNAL;
    if (pg_null(res, 0, 0))
        return USHER_ERR_INSUFFICIENT_BALANCE;   /* cannot happen under the user's lock */
    if ((size_t)pg_i64(res, 0, 2) != n || (size_t)pg_i64(res, 0, 3) != n)
        return USHER_ERR_HOLD_EXPIRED;           /* a tick expired one since the read */
    uint64_t payment_id = (uint64_t)pg_i64(res, 0, 0);
    int64_t balance_after = pg_i64(res, 0, 1);

    /* The payer's slot goes to the next in line in this same transaction. */
    if ((err = pg_queue_pay_expire(txn, concert_id, queue_seq, now_ms)) != USHER_ERR_OK)
        return err;
    *out = (store_payment){
        .payment_id = payment_id,
        .user = *user,
        .concert_id = concert_id,
        .amount_krw = sum,
        .paid_at_ms = now_ms,
        .n_reservations = (uint32_t)n,
    };
    memcpy(out->reservation_ids, reservation_ids, n * sizeof *reservation_ids);
    *balance_after_krw = balance_after;
    return USHER_ERR_OK;
}

usher_err pg_payment_list(store_txn *txn, const user_id *user, uint64_t before,
                          store_payment *out, size_t cap, size_t *n)
{
    *n = 0;
    if (cap == 0)
        return USHER_ERR_OK;
    pg_params p = { 0 };
    pg_p_user(&p, user);
    pg_p_u64(&p, before == 0 ? UINT64_MAX : before);
    pg_p_u64(&p, cap);
    PGresult *res;
    usher_err err = pg_read(txn, "SELECT payment_id, concert_id, amount_krw, paid_at_ms, "
                                 "       reservation_ids, cardinality(reservation_ids) "
                                 "FROM payments WHERE user_id = $1 AND payment_id < $2 "
                                 "ORDER BY payment_id DESC LIMIT $3",
                            &p, &res);
    if (err != USHER_ERR_OK)
        return err;
    int rows = PQntuples(res);
    for (int r = 0; r < rows && *n < cap; r++) {
        store_payment *pm = &out[*n];
        int64_t count = pg_i64(res, r, 5);
        if (count < 1 || count > STORE_HOLDS_MAX)
            return USHER_ERR_INTERNAL;
        *pm = (store_payment){
            .payment_id = (uint64_t)pg_i64(res, r, 0),
            .user = *user,
            .concert_id = (uint64_t)pg_i64(res, r, 1),
            .amount_krw = pg_i64(res, r, 2),
            .paid_at_ms = pg_i64(res, r, 3),
        };
        pm->n_reservations = (uint32_t)pg_i64_array(res, r, 4, pm->reservation_ids, STORE_HOLDS_MAX);
        if (pm->n_reservations != (uint32_t)count)
            return USHER_ERR_INTERNAL;
        (*n)++;
    }
    return USHER_ERR_OK;
}
