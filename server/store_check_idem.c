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

/* The user's ledger entry matching what a result says, if any: of kind,
 * moving amount (any when any_amount) with balance_after, and for payments
 * naming payment_id. */
static bool ledger_has(check_run *r, const user_id *user, store_ledger_kind kind, int64_t amount,
                       int64_t balance_after, uint64_t payment_id)
{
    bool found = false;
    check_iter it;
    check_iter_init(&it, DB_LEDGER, user->bytes, 16);
    while (!found && check_iter_next(r, &it)) {
        if (it.v.mv_size != sizeof(rec_ledger))
            continue;
        rec_ledger e;
        memcpy(&e, it.v.mv_data, sizeof e);
        found = e.kind == (uint32_t)kind && e.amount_krw == amount &&
                e.balance_after_krw == balance_after && e.payment_id == payment_id;
    }
    check_iter_end(&it);
    return found;
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
                             const msgpack_object *res)
{
    char u[CHECK_USER_STR];
    int64_t payment_id = 0, amount, balance, paid_at;
    check_payment pay;
    if (!field_i64(res, "payment_id", &payment_id) || !field_i64(res, "amount", &amount) ||
        !field_i64(res, "balance", &balance) || !field_i64(res, "paid_at", &paid_at) ||
        payment_id <= 0 || !check_load_payment(r, (uint64_t)payment_id, &pay) ||
        !user_eq(&pay.rec.user, user) || pay.rec.amount_krw != amount ||
        pay.rec.paid_at_ms != paid_at || !ids_match(&pay, msg_map_get(res, "reservation_ids")) ||
        !ledger_has(r, user, STORE_LEDGER_PAYMENT, -amount, balance, (uint64_t)payment_id)) {
        if (!r->stop)
            check_report(r, "idem.result_ref",
                         "user %s, payment.pay request_id '%s': the remembered result (payment "
                         "%lld) does not match a stored payment and its ledger entry",
                         check_user_str(user, u), rid, (long long)payment_id);
    }
}

/* wallet.charge: {balance, charged}. */
static void check_charge_result(check_run *r, const user_id *user, const char *rid,
                                const msgpack_object *res)
{
    char u[CHECK_USER_STR];
    int64_t balance = 0, charged = 0;
    if (!field_i64(res, "balance", &balance) || !field_i64(res, "charged", &charged) ||
        !ledger_has(r, user, STORE_LEDGER_CHARGE, charged, balance, 0)) {
        if (!r->stop)
            check_report(r, "idem.result_ref",
                         "user %s, wallet.charge request_id '%s': no CHARGE of %lld KRW leaving "
                         "%lld in the ledger, as the remembered result says",
                         check_user_str(user, u), rid, (long long)charged, (long long)balance);
    }
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

static void check_one(check_run *r, const MDB_val *k, const MDB_val *v)
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
        check_pay_result(r, &user, rid, &res);
    else if (strcmp(method, "wallet.charge") == 0)
        check_charge_result(r, &user, rid, &res);
    else
        check_report(r, "idem.result_ref", "user %s, request_id '%s' of %s, which never remembers "
                     "results", check_user_str(&user, u), rid, method);
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
    check_iter it;
    check_iter_init(&it, DB_IDEM, NULL, 0);
    while (check_iter_next(r, &it))
        check_one(r, &it.k, &it.v);
    check_iter_end(&it);
    check_age_index(r);
}
