/* Checks of the remembered request_id results: a replay hands the stored
 * bytes back verbatim, so they must still describe records that exist. The
 * result is the handler's msgpack map (server/methods/wallet.c, payment.c),
 * decoded here through the bounded decoder like any other input. */
#include <msgpack.h>
#include "store_check_internal.h"
#include "../protocol/msg.h"

#define IDEM_ZONE_CHUNK 1024

/* An integer field of a result map. */
static bool field_i64(const msgpack_object *map, const char *key, int64_t *out)
{
    const msgpack_object *o = msg_map_get(map, key);
    if (!o)
        return false;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)INT64_MAX)
        *out = (int64_t)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *out = o->via.i64;
    else
        return false;
    return true;
}

/* A ledger entry a remembered result promises, matched against the ledger
 * in one walk after every result is read (a scan of the user's ledger per
 * result would be quadratic in a busy wallet). */
typedef struct ledger_promise {
    user_id user;
    uint32_t kind;
    uint32_t found;
    int64_t amount;
    int64_t balance_after;
    uint64_t payment_id;
    char method[16];
    char rid[STORE_REQUEST_ID_MAX + 1];
} ledger_promise;

static int promise_cmp(const void *a, const void *b)
{
    const ledger_promise *x = a, *y = b;
    int c = memcmp(x->user.bytes, y->user.bytes, sizeof x->user.bytes);
    if (c)
        return c;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->amount != y->amount)
        return x->amount < y->amount ? -1 : 1;
    if (x->balance_after != y->balance_after)
        return x->balance_after < y->balance_after ? -1 : 1;
    return x->payment_id < y->payment_id ? -1 : x->payment_id > y->payment_id;
}

static void promise(check_run *r, check_vec *promises, const user_id *user,
                    store_ledger_kind kind, int64_t amount, int64_t balance_after,
                    uint64_t payment_id, const char *method, const char *rid)
{
    ledger_promise p = { .user = *user, .kind = (uint32_t)kind, .amount = amount,
                         .balance_after = balance_after, .payment_id = payment_id };
    snprintf(p.method, sizeof p.method, "%s", method);
    snprintf(p.rid, sizeof p.rid, "%s", rid);
    check_vec_push(r, promises, &p);
}

/* One walk of the ledger marks every promise it keeps; the rest are reported. */
static void keep_promises(check_run *r, check_vec *promises)
{
    if (promises->n == 0)
        return;
    check_vec_sort(promises, promise_cmp);
    check_iter it;
    check_iter_init(&it, DB_LEDGER, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (it.k.mv_size != 16 + 8 || it.v.mv_size != sizeof(rec_ledger))
            continue;   /* the wallet walk reports the shape */
        rec_ledger e;
        memcpy(&e, it.v.mv_data, sizeof e);
        ledger_promise key = { .kind = e.kind, .amount = e.amount_krw,
                               .balance_after = e.balance_after_krw, .payment_id = e.payment_id };
        memcpy(key.user.bytes, it.k.mv_data, 16);
        size_t lo = 0, hi = promises->n;   /* first promise >= key */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (promise_cmp(check_vec_at(promises, mid), &key) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < promises->n && promise_cmp(check_vec_at(promises, lo), &key) == 0; lo++)
            ((ledger_promise *)check_vec_at(promises, lo))->found = 1;
    }
    check_iter_end(&it);
    char u[CHECK_USER_STR];
    for (size_t i = 0; i < promises->n && !r->stop; i++) {
        const ledger_promise *p = check_vec_at(promises, i);
        if (!p->found)
            check_report(r, "idem.result_ref",
                         "user %s, %s request_id '%s': no %s ledger entry of %lld KRW leaving "
                         "%lld%s, as the remembered result says",
                         check_user_str(&p->user, u), p->method, p->rid,
                         p->kind == STORE_LEDGER_PAYMENT ? "PAYMENT" : "CHARGE",
                         (long long)p->amount, (long long)p->balance_after,
                         p->kind == STORE_LEDGER_PAYMENT ? " for that payment" : "");
    }
}

static bool ids_match(const check_payment *pay, const msgpack_object *ids)
{
    if (!ids || ids->type != MSGPACK_OBJECT_ARRAY || ids->via.array.size != pay->rec.n_reservations)
        return false;
    for (uint32_t i = 0; i < ids->via.array.size; i++) {
        const msgpack_object *o = &ids->via.array.ptr[i];
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 != pay->ids[i])
            return false;
    }
    return true;
}

/* payment.pay: {payment_id, reservation_ids, amount, balance, paid_at}. */
static void check_pay_result(check_run *r, const user_id *user, const char *rid,
                             const msgpack_object *res, check_vec *promises)
{
    char u[CHECK_USER_STR];
    int64_t payment_id = 0, amount, balance, paid_at;
    check_payment pay;
    if (!field_i64(res, "payment_id", &payment_id) || !field_i64(res, "amount", &amount) ||
        !field_i64(res, "balance", &balance) || !field_i64(res, "paid_at", &paid_at) ||
        payment_id <= 0 || !check_load_payment(r, (uint64_t)payment_id, &pay) ||
        !user_eq(&pay.rec.user, user) || pay.rec.amount_krw != amount ||
        pay.rec.paid_at_ms != paid_at || !ids_match(&pay, msg_map_get(res, "reservation_ids"))) {
        if (!r->stop)
            check_report(r, "idem.result_ref",
                         "user %s, payment.pay request_id '%s': the remembered result (payment "
                         "%lld) does not match a stored payment",
                         check_user_str(user, u), rid, (long long)payment_id);
        return;
    }
    promise(r, promises, user, STORE_LEDGER_PAYMENT, -amount, balance, (uint64_t)payment_id,
            "payment.pay", rid);
}

/* wallet.charge: {balance, charged}. */
static void check_charge_result(check_run *r, const user_id *user, const char *rid,
                                const msgpack_object *res, check_vec *promises)
{
    char u[CHECK_USER_STR];
    int64_t balance = 0, charged = 0;
    if (!field_i64(res, "balance", &balance) || !field_i64(res, "charged", &charged)) {
        check_report(r, "idem.result_ref",
                     "user %s, wallet.charge request_id '%s': the result lacks balance or charged",
                     check_user_str(user, u), rid);
        return;
    }
    promise(r, promises, user, STORE_LEDGER_CHARGE, charged, balance, 0, "wallet.charge", rid);
}

/* The age index has this record's (stored_at, key). */
static void check_age_entry(check_run *r, const MDB_val *k, int64_t stored_at)
{
    unsigned char key[8 + 16 + STORE_METHOD_MAX + 1 + STORE_REQUEST_ID_MAX];
    if (k->mv_size > sizeof key - 8)
        return;
    key_put_time(key, stored_at);
    memcpy(key + 8, k->mv_data, k->mv_size);
    MDB_val v;
    if (check_get(r, DB_IDEM_AGE, key, 8 + k->mv_size, &v) == MDB_NOTFOUND && !r->stop)
        check_report(r, "idem.age_index", "idem record stored at %lld has no idem_age entry",
                     (long long)stored_at);
}

static void check_one(check_run *r, const MDB_val *k, const MDB_val *v, check_vec *promises)
{
    const unsigned char *key = k->mv_data;
    const unsigned char *nul = k->mv_size > 17 ? memchr(key + 16, 0, k->mv_size - 16) : NULL;
    size_t method_len = nul ? (size_t)(nul - key - 16) : 0;
    size_t rid_len = nul ? k->mv_size - 16 - method_len - 1 : 0;
    if (!nul || method_len == 0 || method_len > STORE_METHOD_MAX || rid_len == 0 ||
        rid_len > STORE_REQUEST_ID_MAX || v->mv_size < sizeof(rec_idem)) {
        check_report(r, "record.format", "idem: a record of %zu/%zu bytes (key/value)", k->mv_size,
                     v->mv_size);
        return;
    }
    user_id user;
    memcpy(user.bytes, key, 16);
    char method[STORE_METHOD_MAX + 1], rid[STORE_REQUEST_ID_MAX + 1];
    memcpy(method, key + 16, method_len);
    method[method_len] = 0;
    for (size_t i = 0; i < rid_len; i++) {   /* printable for the report */
        unsigned char c = nul[1 + i];
        rid[i] = c >= 0x20 && c < 0x7f && c != '\'' ? (char)c : '?';
    }
    rid[rid_len] = 0;
    rec_idem rec;
    memcpy(&rec, v->mv_data, sizeof rec);
    check_age_entry(r, k, rec.stored_at_ms);

    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, IDEM_ZONE_CHUNK)) {
        check_oom(r);
        return;
    }
    msgpack_object res;
    msg_limits lim = msg_limits_default();
    char u[CHECK_USER_STR];
    if (msg_decode((const uint8_t *)v->mv_data + sizeof rec, v->mv_size - sizeof rec, &lim, &zone,
                   &res) != USHER_ERR_OK || res.type != MSGPACK_OBJECT_MAP)
        check_report(r, "idem.result_ref", "user %s, %s request_id '%s': the result is not a map",
                     check_user_str(&user, u), method, rid);
    else if (strcmp(method, "payment.pay") == 0)
        check_pay_result(r, &user, rid, &res, promises);
    else if (strcmp(method, "wallet.charge") == 0)
        check_charge_result(r, &user, rid, &res, promises);
    /* A method this checker does not know yet is not judged: the age index
     * and the record's shape are all it can vouch for. */
    msgpack_zone_destroy(&zone);
}

/* Every age entry names an idem record stored at that time. */
static void check_age_index(check_run *r)
{
    check_iter it;
    check_iter_init(&it, DB_IDEM_AGE, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (it.k.mv_size <= 8 + 16) {
            check_report(r, "record.format", "idem_age: a key of %zu bytes", it.k.mv_size);
            continue;
        }
        int64_t stored_at = key_get_time(it.k.mv_data);
        MDB_val v;
        int rc = check_get(r, DB_IDEM, (const unsigned char *)it.k.mv_data + 8, it.k.mv_size - 8, &v);
        rec_idem rec;
        if (rc == 0 && v.mv_size >= sizeof rec)
            memcpy(&rec, v.mv_data, sizeof rec);
        if (r->stop)
            break;
        if (rc == MDB_NOTFOUND || (v.mv_size >= sizeof rec && rec.stored_at_ms != stored_at))
            check_report(r, "idem.age_index",
                         "idem_age entry at %lld names an idem record that is %s", (long long)stored_at,
                         rc == MDB_NOTFOUND ? "absent" : "stored at another time");
    }
    check_iter_end(&it);
}

void store_check_idem(check_run *r)
{
    check_vec promises;
    check_vec_init(&promises, sizeof(ledger_promise));
    check_iter it;
    check_iter_init(&it, DB_IDEM, NULL, 0);
    while (check_iter_next(r, &it))
        check_one(r, &it.k, &it.v, &promises);
    check_iter_end(&it);
    keep_promises(r, &promises);
    check_vec_free(&promises);
    check_age_index(r);
}
