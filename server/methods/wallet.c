#include <sodium.h>
#include <stdlib.h>
#include "handlers.h"
#include "pack.h"
#include "../params.h"
#include "../../protocol/msg.h"

#define HISTORY_LIMIT_DEFAULT 50
#define HISTORY_LIMIT_CAP 500

usher_err wallet_balance(call *c)
{
    int64_t balance;
    usher_err e = store_wallet_balance(c->txn, &c->user, &balance);
    if (e != USHER_ERR_OK) return e;
    msgpack_pack_map(c->out, 2);
    pack_kv_user(c->out, "user_id", &c->user);
    pack_kv_i64(c->out, "balance", balance);
    return USHER_ERR_OK;
}

/* amount: an integer; 0 or less INVALID_ARGUMENT, above any limit (even
 * beyond int64) AMOUNT_LIMIT. */
static usher_err charge_amount(call *c, int64_t *amount)
{
    const msgpack_object *o = c->params ? msg_map_get(c->params, "amount") : NULL;
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 > (uint64_t)INT64_MAX)
        return call_fail(c, USHER_ERR_AMOUNT_LIMIT, "a charge is at most %lld KRW",
                         (long long)c->env->cfg->max_charge_krw);
    usher_err e = param_int(c, "amount", INT64_MIN, INT64_MAX, amount);
    if (e == USHER_ERR_OK && *amount <= 0) return param_fail(c, "amount", "must be 1 or more");
    return e;
}

usher_err wallet_charge_fingerprint(call *c, uint8_t fp[STORE_FINGERPRINT_BYTES])
{
    int64_t amount;
    usher_err e = charge_amount(c, &amount);
    if (e != USHER_ERR_OK) return e;
    crypto_generichash(fp, STORE_FINGERPRINT_BYTES, (const unsigned char *)&amount, sizeof amount,
                       NULL, 0);
    return USHER_ERR_OK;
}

/* Which limit a refused charge of amount met, with the figures. */
static usher_err amount_limit(call *c, int64_t amount)
{
    const usher_config *cfg = c->env->cfg;
    int64_t balance = 0;
    if (amount > cfg->max_charge_krw || store_wallet_balance(c->txn, &c->user, &balance) != USHER_ERR_OK)
        return call_fail(c, USHER_ERR_AMOUNT_LIMIT, "a charge is at most %lld KRW",
                         (long long)cfg->max_charge_krw);
    return call_fail(c, USHER_ERR_AMOUNT_LIMIT, "the balance would be %lld, above the limit %lld",
                     (long long)(balance + amount), (long long)cfg->balance_limit_krw);
}

usher_err wallet_charge(call *c)
{
    int64_t amount, balance;
    usher_err e = charge_amount(c, &amount);
    if (e != USHER_ERR_OK) return e;
    e = store_wallet_charge(c->txn, &c->user, amount, c->now_ms, &balance);
    if (e == USHER_ERR_INVALID_ARGUMENT) return param_fail(c, "amount", "must be 1 or more");
    if (e == USHER_ERR_AMOUNT_LIMIT) return amount_limit(c, amount);
    if (e != USHER_ERR_OK) return e;
    msgpack_pack_map(c->out, 2);
    pack_kv_i64(c->out, "balance", balance);
    pack_kv_i64(c->out, "charged", amount);
    return USHER_ERR_OK;
}

usher_err wallet_history(call *c)
{
    size_t limit, n;
    uint64_t before;
    usher_err e = param_limit(c, HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_CAP, &limit);
    if (e == USHER_ERR_OK) e = param_id_opt(c, "before", &before);
    if (e != USHER_ERR_OK) return e;
    store_ledger_entry *entries = malloc(limit * sizeof *entries);
    if (!entries) return USHER_ERR_INTERNAL;
    e = store_wallet_history(c->txn, &c->user, before, entries, limit, &n);
    if (e == USHER_ERR_OK) {
        page pg;
        page_init(&pg, handler_page_budget(c));
        for (size_t i = 0; i < n; i++) {
            const store_ledger_entry *le = &entries[i];
            bool payment = le->kind == STORE_LEDGER_PAYMENT;
            msgpack_packer *pk = page_item_begin(&pg);
            msgpack_pack_map(pk, payment ? 6 : 5);
            pack_kv_u64(pk, "entry_id", le->entry_id);
            pack_kv_str(pk, "kind", payment ? "PAYMENT" : "CHARGE");
            pack_kv_i64(pk, "amount", le->amount_krw);
            pack_kv_i64(pk, "balance_after", le->balance_after_krw);
            pack_kv_i64(pk, "at", le->at_ms);
            if (payment) pack_kv_u64(pk, "payment_id", le->payment_id);
            if (!page_item_end(&pg)) break;
        }
        msgpack_pack_map(c->out, 1);
        pack_key(c->out, "entries");
        page_finish(&pg, c->out);
    }
    free(entries);
    return e;
}
