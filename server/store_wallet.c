/* Wallets as ledgers: each user's entries (user | entry_id), each carrying
 * the balance after it. Entry ids only grow, so the balance is the
 * balance_after of the user's newest entry (0 with none), and a write
 * touches the one leaf where that entry and the new one sit side by side:
 * no separate balance record to keep in step. */
#include <stdio.h>
#include "store_rules.h"
#include "store_internal.h"

#define LEDGER_KEY_LEN (16 + 8)

static void ledger_key(unsigned char key[LEDGER_KEY_LEN], const user_id *user, uint64_t entry_id)
{
    memcpy(key, user->bytes, 16);
    key_put_u64(key + 16, entry_id);
}

usher_err lmdb_wallet_balance(store_txn *txn, const user_id *user, int64_t *balance_krw)
{
    MDB_cursor *cur;
    usher_err err = store_cursor(txn, DB_LEDGER, &cur);
    if (err != USHER_ERR_OK)
        return err;
    MDB_val k, v;
    int rc = store_seek_user_before(cur, user, 0, &k, &v);
    if (rc == MDB_NOTFOUND) {
        *balance_krw = 0;
        return USHER_ERR_OK;
    }
    if (rc != 0)
        return store_mdb_err(txn->st, rc, "ledger");
    rec_ledger newest;
    if (v.mv_size != sizeof newest) {
        store_say(txn->st, "store: ledger: short record");
        return USHER_ERR_INTERNAL;
    }
    memcpy(&newest, v.mv_data, sizeof newest);
    *balance_krw = newest.balance_after_krw;
    return USHER_ERR_OK;
}

usher_err store_wallet_append(store_txn *t, const user_id *user, store_ledger_kind kind,
                              int64_t amount_krw, int64_t now_ms, uint64_t payment_id,
                              int64_t *balance_after_krw)
{
    int64_t balance;
    uint64_t entry_id;
    usher_err err = store_wallet_balance(t, user, &balance);
    if (err != USHER_ERR_OK)
        return err;
    if ((err = store_next_id(t, COUNTER_LEDGER, &entry_id)) != USHER_ERR_OK)
        return err;
    rec_ledger rec = {
        .amount_krw = amount_krw,
        .balance_after_krw = balance + amount_krw,
        .at_ms = now_ms,
        .payment_id = payment_id,
        .kind = (uint32_t)kind,
    };
    unsigned char key[LEDGER_KEY_LEN];
    ledger_key(key, user, entry_id);
    err = store_put(t, DB_LEDGER, key, sizeof key, &rec, sizeof rec, MDB_NOOVERWRITE);
    if (err == USHER_ERR_OK && balance_after_krw)
        *balance_after_krw = rec.balance_after_krw;
    return err;
}

usher_err lmdb_wallet_charge(store_txn *txn, const user_id *user, int64_t amount_krw,
                              int64_t now_ms, int64_t *balance_after_krw)
{
    const store_policy *p = &txn->st->policy;
    usher_err rule = store_rule_charge(p, amount_krw);
    if (rule != USHER_ERR_OK)
        return rule;
    int64_t balance;
    usher_err err = store_wallet_balance(txn, user, &balance);
    if (err != USHER_ERR_OK)
        return err;
    if (balance > p->balance_limit_krw - amount_krw)   /* no overflow: both positive */
        return USHER_ERR_AMOUNT_LIMIT;
    return store_wallet_append(txn, user, STORE_LEDGER_CHARGE, amount_krw, now_ms, 0,
                               balance_after_krw);
}

usher_err lmdb_wallet_history(store_txn *txn, const user_id *user, uint64_t before,
                               store_ledger_entry *out, size_t cap, size_t *n)
{
    *n = 0;
    MDB_cursor *cur;
    usher_err err = store_cursor(txn, DB_LEDGER, &cur);
    if (err != USHER_ERR_OK)
        return err;
    MDB_val k, v;
    int rc = store_seek_user_before(cur, user, before, &k, &v);
    while (rc == 0 && *n < cap) {
        rec_ledger rec;
        memcpy(&rec, v.mv_data, sizeof rec);
        out[*n] = (store_ledger_entry){
            .entry_id = key_get_u64((const unsigned char *)k.mv_data + 16),
            .kind = (store_ledger_kind)rec.kind,
            .amount_krw = rec.amount_krw,
            .balance_after_krw = rec.balance_after_krw,
            .at_ms = rec.at_ms,
            .payment_id = rec.payment_id,
        };
        (*n)++;
        rc = store_step_user_older(cur, user, &k, &v);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(txn->st, rc, "ledger");
    return USHER_ERR_OK;
}
