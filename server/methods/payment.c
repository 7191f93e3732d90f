#include <sodium.h>
#include <stdlib.h>
#include "handlers.h"
#include "pack.h"
#include "../params.h"

#define PAYMENT_LIMIT_DEFAULT 50
#define PAYMENT_LIMIT_CAP 500

/* reservation_ids: 1..max_holds positive ids. */
static usher_err pay_ids(call *c, uint64_t *ids, size_t *n)
{
    return param_id_array(c, "reservation_ids", 1, c->env->cfg->max_holds, ids, n);
}

static int id_order(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A payment's parameters are its set of reservation ids, in any order. */
usher_err payment_pay_fingerprint(call *c, uint8_t fp[STORE_FINGERPRINT_BYTES])
{
    uint64_t ids[STORE_HOLDS_MAX];
    size_t n;
    usher_err e = pay_ids(c, ids, &n);
    if (e != USHER_ERR_OK) return e;
    qsort(ids, n, sizeof ids[0], id_order);
    crypto_generichash(fp, STORE_FINGERPRINT_BYTES, (const unsigned char *)ids, n * sizeof ids[0],
                       NULL, 0);
    return USHER_ERR_OK;
}

/* The figures of a refused payment: the id that names nothing, or the
 * balance and the amount due (read again: the refusal changed nothing). */
static usher_err pay_refusal(call *c, usher_err e, const uint64_t *ids, size_t n)
{
    int64_t due = 0, balance = 0;
    for (size_t i = 0; i < n; i++) {
        store_reservation r;
        usher_err g = store_reservation_get(c->txn, ids[i], c->now_ms, &r);
        if (g == USHER_ERR_NOT_FOUND && e == USHER_ERR_NOT_FOUND)
            return call_fail(c, e, "reservation %llu not found", (unsigned long long)ids[i]);
        if (g != USHER_ERR_OK) return e;
        due = r.price_krw > INT64_MAX - due ? INT64_MAX : due + r.price_krw;
    }
    if (e != USHER_ERR_INSUFFICIENT_BALANCE ||
        store_wallet_balance(c->txn, &c->user, &balance) != USHER_ERR_OK)
        return e;
    return call_fail(c, e, "balance %lld is below the amount due %lld", (long long)balance,
                     (long long)due);
}

usher_err payment_pay(call *c)
{
    uint64_t ids[STORE_HOLDS_MAX];
    size_t n;
    store_payment p;
    int64_t balance;
    usher_err e = pay_ids(c, ids, &n);
    if (e != USHER_ERR_OK) return e;
    e = store_payment_pay(c->txn, &c->user, c->queue.concert_id, c->queue.seq, ids, n, c->now_ms,
                          &p, &balance);
    if (e == USHER_ERR_INVALID_ARGUMENT)
        return param_fail(c, "reservation_ids", "must not repeat an id");
    if (e == USHER_ERR_NOT_FOUND || e == USHER_ERR_INSUFFICIENT_BALANCE) return pay_refusal(c, e, ids, n);
    if (e != USHER_ERR_OK) return e;
    msgpack_pack_map(c->out, 5);
    pack_kv_u64(c->out, "payment_id", p.payment_id);
    pack_key(c->out, "reservation_ids");
    pack_id_array(c->out, p.reservation_ids, p.n_reservations);
    pack_kv_i64(c->out, "amount", p.amount_krw);
    pack_kv_i64(c->out, "balance", balance);
    pack_kv_i64(c->out, "paid_at", p.paid_at_ms);
    return USHER_ERR_OK;
}

usher_err payment_list(call *c)
{
    size_t limit, n;
    uint64_t before;
    usher_err e = param_limit(c, PAYMENT_LIMIT_DEFAULT, PAYMENT_LIMIT_CAP, &limit);
    if (e == USHER_ERR_OK) e = param_id_opt(c, "before", &before);
    if (e != USHER_ERR_OK) return e;
    store_payment *list = malloc(limit * sizeof *list);
    if (!list) return USHER_ERR_INTERNAL;
    e = store_payment_list(c->txn, &c->user, before, list, limit, &n);
    if (e == USHER_ERR_OK) {
        page pg;
        page_init(&pg, handler_page_budget(c));
        for (size_t i = 0; i < n; i++) {
            msgpack_packer *pk = page_item_begin(&pg);
            msgpack_pack_map(pk, 4);
            pack_kv_u64(pk, "payment_id", list[i].payment_id);
            pack_key(pk, "reservation_ids");
            pack_id_array(pk, list[i].reservation_ids, list[i].n_reservations);
            pack_kv_i64(pk, "amount", list[i].amount_krw);
            pack_kv_i64(pk, "paid_at", list[i].paid_at_ms);
            if (!page_item_end(&pg)) break;
        }
        msgpack_pack_map(c->out, 1);
        pack_key(c->out, "payments");
        page_finish(&pg, c->out);
    }
    free(list);
    return e;
}
