/* Payments: one write that debits the wallet, sells the seats, confirms the
 * reservations, records the payment and frees the payer's queue slot for
 * the next in line. Every check runs before the first write. */
#include "store_internal.h"
#include "store_rules.h"

#define PAY_USER_KEY_LEN (16 + 8)   /* user | payment_id */

typedef struct payment_buf {
    rec_payment rec;
    uint64_t ids[STORE_HOLDS_MAX];
} payment_buf;

/* Checks every reservation in the given order and sums their prices. */
static usher_err check_holds(store_txn *t, const user_id *user, uint64_t concert_id,
                             const uint64_t *ids, size_t n, int64_t now_ms,
                             rec_reservation *recs, int64_t *sum)
{
    *sum = 0;
    for (size_t i = 0; i < n; i++) {
        usher_err err = store_reservation_load(t, ids[i], &recs[i]);
        if (err != USHER_ERR_OK)
            return err;
        if (!user_eq(&recs[i].user, user) || recs[i].concert_id != concert_id)
            return USHER_ERR_FORBIDDEN;
        if ((err = store_rule_pay(reservation_status_now(&recs[i], now_ms))) != USHER_ERR_OK)
            return err;
        if (recs[i].price_krw > INT64_MAX - *sum)
            return USHER_ERR_INSUFFICIENT_BALANCE;   /* no wallet holds that much */
        *sum += recs[i].price_krw;
    }
    return USHER_ERR_OK;
}

/* Sells one held seat to its holder and confirms the reservation. */
static usher_err sell(store_txn *t, uint64_t reservation_id, rec_reservation *rec,
                      uint64_t payment_id)
{
    unsigned char skey[SEAT_KEY_LEN];
    seat_key(skey, rec->schedule_id, rec->seat_no);
    rec_seat seat = { .reservation_id = reservation_id, .expires_at_ms = rec->expires_at_ms,
                      .user = rec->user, .sold = 1 };
    usher_err err = store_put(t, DB_SEATS, skey, sizeof skey, &seat, sizeof seat, 0);
    if (err != USHER_ERR_OK)
        return err;
    rec->status = STORE_RES_CONFIRMED;
    rec->payment_id = payment_id;
    if ((err = store_reservation_save(t, reservation_id, rec)) != USHER_ERR_OK)
        return err;
    return store_hold_unindex(t, reservation_id, rec);
}

static void payment_fill(uint64_t payment_id, const rec_payment *rec, const unsigned char *ids,
                         store_payment *out)
{
    *out = (store_payment){
        .payment_id = payment_id,
        .user = rec->user,
        .concert_id = rec->concert_id,
        .amount_krw = rec->amount_krw,
        .paid_at_ms = rec->paid_at_ms,
        .n_reservations = rec->n_reservations,
    };
    memcpy(out->reservation_ids, ids, (size_t)rec->n_reservations * sizeof(uint64_t));
}

/* Writes the payment record and its per-user index entry. */
static usher_err payment_record(store_txn *t, uint64_t payment_id, const payment_buf *buf)
{
    unsigned char key[8];
    key_put_u64(key, payment_id);
    size_t len = sizeof buf->rec + (size_t)buf->rec.n_reservations * sizeof(uint64_t);
    usher_err err = store_put(t, DB_PAYMENTS, key, sizeof key, buf, len, MDB_APPEND);
    if (err != USHER_ERR_OK)
        return err;
    unsigned char ukey[PAY_USER_KEY_LEN];
    memcpy(ukey, buf->rec.user.bytes, 16);
    key_put_u64(ukey + 16, payment_id);
    return store_put(t, DB_PAY_BY_USER, ukey, sizeof ukey, "", 0, 0);
}

usher_err lmdb_payment_pay(store_txn *txn, const user_id *user, uint64_t concert_id,
                            uint64_t queue_seq, const uint64_t *reservation_ids, size_t n,
                            int64_t now_ms, store_payment *out, int64_t *balance_after_krw)
{
    usher_err rule = store_rule_payment(&txn->st->policy, reservation_ids, n);
    if (rule != USHER_ERR_OK)
        return rule;
    rec_reservation recs[STORE_HOLDS_MAX];
    int64_t sum, balance;
    usher_err err = check_holds(txn, user, concert_id, reservation_ids, n, now_ms, recs, &sum);
    if (err != USHER_ERR_OK)
        return err;
    if ((err = store_wallet_balance(txn, user, &balance)) != USHER_ERR_OK)
        return err;
    if (balance < sum)
        return USHER_ERR_INSUFFICIENT_BALANCE;

    uint64_t payment_id;
    if ((err = store_next_id(txn, COUNTER_PAYMENT, &payment_id)) != USHER_ERR_OK)
        return err;
    err = store_wallet_append(txn, user, STORE_LEDGER_PAYMENT, -sum, now_ms, payment_id,
                              balance_after_krw);
    if (err != USHER_ERR_OK)
        return err;
    for (size_t i = 0; i < n; i++)
        if ((err = sell(txn, reservation_ids[i], &recs[i], payment_id)) != USHER_ERR_OK)
            return err;
    payment_buf buf = { .rec = { .user = *user, .concert_id = concert_id, .amount_krw = sum,
                                 .paid_at_ms = now_ms, .n_reservations = (uint32_t)n } };
    memcpy(buf.ids, reservation_ids, n * sizeof *reservation_ids);
    if ((err = payment_record(txn, payment_id, &buf)) != USHER_ERR_OK)
        return err;
    /* The payer's slot goes to the next in line in this same txn. */
    if ((err = store_queue_expire_entry(txn, user, concert_id, queue_seq)) != USHER_ERR_OK ||
        (err = store_queue_admit(txn, concert_id, now_ms, NULL)) != USHER_ERR_OK)
        return err;
    payment_fill(payment_id, &buf.rec, (const unsigned char *)buf.ids, out);
    return USHER_ERR_OK;
}

usher_err lmdb_payment_list(store_txn *txn, const user_id *user, uint64_t before,
                             store_payment *out, size_t cap, size_t *n)
{
    *n = 0;
    MDB_cursor *cur;
    usher_err err = store_cursor(txn, DB_PAY_BY_USER, &cur);
    if (err != USHER_ERR_OK)
        return err;
    MDB_val k, v;
    int rc = store_seek_user_before(cur, user, before, &k, &v);
    for (; rc == 0 && *n < cap; rc = store_step_user_older(cur, user, &k, &v)) {
        uint64_t id = key_get_u64((const unsigned char *)k.mv_data + 16);
        MDB_val pv;
        if ((err = store_get_by_id(txn, DB_PAYMENTS, id, &pv)) != USHER_ERR_OK)
            return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
        rec_payment rec;
        if (pv.mv_size < sizeof rec)
            return USHER_ERR_INTERNAL;
        memcpy(&rec, pv.mv_data, sizeof rec);
        if (rec.n_reservations > STORE_HOLDS_MAX ||
            pv.mv_size != sizeof rec + rec.n_reservations * sizeof(uint64_t))
            return USHER_ERR_INTERNAL;
        payment_fill(id, &rec, (const unsigned char *)pv.mv_data + sizeof rec, &out[*n]);
        (*n)++;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(txn->st, rc, "pay_by_user");
    return USHER_ERR_OK;
}
