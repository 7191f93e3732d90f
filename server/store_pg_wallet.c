/* Wallets on PostgreSQL (store.h's contract, as store_wallet.c on LMDB): the
 * balance is the user's wallets row (none: 0, so a user may charge before
 * any users row exists), kept equal to the balance_after of their newest
 * ledger entry by the one statement that writes both. */
#include <stdint.h>
#include "store_rules.h"
#include "store_pg_internal.h"

usher_err pg_wallet_balance(store_txn *txn, const user_id *user, int64_t *balance_krw)
{
    pg_params p = { 0 };
    pg_p_user(&p, user);
    PGresult *res;
    usher_err e = pg_read(txn, "SELECT balance_krw FROM wallets WHERE user_id = $1", &p, &res);
    if (e != USHER_ERR_OK) return e;
    *balance_krw = PQntuples(res) == 1 ? pg_i64(res, 0, 0) : 0;
    pg_done(txn, res);
    return USHER_ERR_OK;
}

usher_err pg_wallet_charge(store_txn *txn, const user_id *user, int64_t amount_krw,
                           int64_t now_ms, int64_t *balance_after_krw)
{
    const store_policy *pol = &pg_txn_of(txn)->st->policy;
    usher_err e = store_rule_charge(pol, amount_krw);   /* the checks that need no row */
    if (e != USHER_ERR_OK)
        return e;
    e = pg_lock_user(txn, user);
    if (e != USHER_ERR_OK) return e;
    pg_params p = { 0 };
    pg_p_user(&p, user);
    pg_p_i64(&p, amount_krw);
    /* The balance may reach the limit, never pass it: balance <= limit -
     * amount (no overflow: both are positive), so balance + amount cannot
     * overflow either. */
    pg_p_i64(&p, pol->balance_limit_krw - amount_krw);
    pg_p_i64(&p, now_ms);
    PGresult *res;
    /* One statement: the wallet grows only when the limit allows (no row
     * back: AMOUNT_LIMIT, nothing written), and the ledger entry takes the
     * balance it returned. */
    e = pg_write(txn,
        "WITH w AS (INSERT INTO wallets (user_id, balance_krw) "
        "           SELECT $1, $2::bigint WHERE 0 <= $3::bigint "
        "           ON CONFLICT (user_id) DO UPDATE "
        "             SET balance_krw = wallets.balance_krw + EXCLUDED.balance_krw "
        "             WHERE wallets.balance_krw <= $3::bigint "
        "           RETURNING balance_krw), "
        "l AS (INSERT INTO ledger (entry_id, user_id, kind, amount_krw, balance_after_krw, at_ms) "
        "      SELECT nextval('ledger_ids'), $1, 1, $2::bigint, w.balance_krw, $4::bigint FROM w "
        "      RETURNING balance_after_krw) "
        "SELECT balance_after_krw FROM l",
        &p, &res);
    if (e != USHER_ERR_OK) return e;
    if (PQntuples(res) == 0) e = USHER_ERR_AMOUNT_LIMIT;
    else if (balance_after_krw) *balance_after_krw = pg_i64(res, 0, 0);
    pg_done(txn, res);
    return e;
}

usher_err pg_wallet_history(store_txn *txn, const user_id *user, uint64_t before,
                            store_ledger_entry *out, size_t cap, size_t *n)
{
    *n = 0;
    if (cap == 0) return USHER_ERR_OK;
    pg_params p = { 0 };
    pg_p_user(&p, user);
    /* entry_id <= before - 1: one range on (user_id, entry_id) for every
     * page, the first (before 0) included. */
    pg_p_u64(&p, before == 0 ? UINT64_MAX : before - 1);
    pg_p_u64(&p, cap);
    PGresult *res;
    usher_err e = pg_read(txn, "SELECT entry_id, kind, amount_krw, balance_after_krw, at_ms, "
                               "payment_id FROM ledger WHERE user_id = $1 AND entry_id <= $2 "
                               "ORDER BY entry_id DESC LIMIT $3",
                          &p, &res);
    if (e != USHER_ERR_OK) return e;
    int rows = PQntuples(res);
    for (int r = 0; r < rows && *n < cap; r++) {
        out[*n] = (store_ledger_entry){
            .entry_id = (uint64_t)pg_i64(res, r, 0),
            .kind = (store_ledger_kind)pg_i64(res, r, 1),
            .amount_krw = pg_i64(res, r, 2),
            .balance_after_krw = pg_i64(res, r, 3),
            .at_ms = pg_i64(res, r, 4),
            .payment_id = (uint64_t)pg_i64(res, r, 5),
        };
        (*n)++;
    }
    pg_done(txn, res);
    return USHER_ERR_OK;
}
