/* Checks that every secondary index agrees with its primary records, both
 * ways: each index key names a primary record that says the same, and each
 * primary record that should be indexed is. The write path moves both in
 * one transaction, so any disagreement is damage or a bug. This file: the
 * sale's and the catalogue's indexes; the queue's are in
 * store_check_index_queue.c. */
#include <stdlib.h>
#include "store_check_internal.h"

#define USER_ID_KEY_LEN (16 + 8)        /* res_by_user, pay_by_user */
#define HELD_KEY_LEN (16 + 8 + 8)       /* user | schedule_id | reservation_id */
#define EXPIRY_KEY_LEN (8 + 8)          /* expires_at | reservation_id */
#define DATE_KEY_LEN (8 + 8 + 8)        /* concert_id | starts_at | schedule_id */

/* ---- reservations: res_by_user, held, hold_expiry ---- */

static void reservation_to_indexes(check_run *r, uint64_t id, const rec_reservation *res)
{
    char u[CHECK_USER_STR];
    unsigned char key[HELD_KEY_LEN];
    memcpy(key, res->user.bytes, 16);
    key_put_u64(key + 16, id);
    if (!check_has_key(r, DB_RES_BY_USER, key, USER_ID_KEY_LEN, NULL) && !r->stop)
        check_report(r, "index.res_by_user", "reservation %llu of user %s is not in res_by_user",
                     (unsigned long long)id, check_user_str(&res->user, u));
    if (res->status != STORE_RES_HELD)
        return;
    MDB_val v;
    key_put_u64(key + 16, res->schedule_id);
    key_put_u64(key + 24, id);
    int64_t expires_at = 0;
    bool held = check_has_key(r, DB_HELD, key, HELD_KEY_LEN, &v);
    if (held && v.mv_size == sizeof expires_at)
        memcpy(&expires_at, v.mv_data, sizeof expires_at);
    if (!r->stop && (!held || expires_at != res->expires_at_ms))
        check_report(r, "index.held",
                     "HELD reservation %llu (user %s, schedule %llu, until %lld) is %s in held",
                     (unsigned long long)id, check_user_str(&res->user, u),
                     (unsigned long long)res->schedule_id, (long long)res->expires_at_ms,
                     held ? "listed with another expiry" : "not listed");
    unsigned char ekey[EXPIRY_KEY_LEN];
    key_put_time(ekey, res->expires_at_ms);
    key_put_u64(ekey + 8, id);
    if (!check_has_key(r, DB_HOLD_EXPIRY, ekey, sizeof ekey, NULL) && !r->stop)
        check_report(r, "index.hold_expiry",
                     "HELD reservation %llu (until %lld) is not in hold_expiry",
                     (unsigned long long)id, (long long)res->expires_at_ms);
}

static void check_reservation_indexes(check_run *r)
{
    check_iter it;
    check_iter_init(&it, DB_RESERVATIONS, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (it.k.mv_size != 8 || it.v.mv_size != sizeof(rec_reservation))
            continue;   /* the sales walk reports the shape */
        rec_reservation res;
        memcpy(&res, it.v.mv_data, sizeof res);
        reservation_to_indexes(r, key_get_u64(it.k.mv_data), &res);
    }
    check_iter_end(&it);
}

static void check_res_by_user(check_run *r)
{
    char u[CHECK_USER_STR];
    check_iter it;
    check_iter_init(&it, DB_RES_BY_USER, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (!check_shape(r, &it, USER_ID_KEY_LEN, CHECK_ANY_LEN))
            continue;
        user_id user;
        memcpy(user.bytes, it.k.mv_data, 16);
        uint64_t id = key_get_u64((const unsigned char *)it.k.mv_data + 16);
        rec_reservation res;
        bool found = check_load_reservation(r, id, &res);
        if (!r->stop && (!found || !user_eq(&res.user, &user)))
            check_report(r, "index.res_by_user",
                         "res_by_user lists reservation %llu under user %s, but it %s",
                         (unsigned long long)id, check_user_str(&user, u),
                         found ? "is another user's" : "does not exist");
    }
    check_iter_end(&it);
}

static void check_held(check_run *r)
{
    char u[CHECK_USER_STR];
    check_iter it;
    check_iter_init(&it, DB_HELD, NULL, 0);
    while (check_iter_next(r, &it)) {
        int64_t expires_at;
        if (!check_shape(r, &it, HELD_KEY_LEN, sizeof expires_at))
            continue;
        const unsigned char *k = it.k.mv_data;
        user_id user;
        memcpy(user.bytes, k, 16);
        uint64_t sid = key_get_u64(k + 16), id = key_get_u64(k + 24);
        memcpy(&expires_at, it.v.mv_data, sizeof expires_at);
        rec_reservation res;
        bool found = check_load_reservation(r, id, &res);
        if (!r->stop && (!found || res.status != STORE_RES_HELD || !user_eq(&res.user, &user) ||
                         res.schedule_id != sid || res.expires_at_ms != expires_at))
            check_report(r, "index.held",
                         "held lists reservation %llu (user %s, schedule %llu, until %lld), but it "
                         "%s",
                         (unsigned long long)id, check_user_str(&user, u), (unsigned long long)sid,
                         (long long)expires_at,
                         found ? "is not stored HELD with those fields" : "does not exist");
    }
    check_iter_end(&it);
}

static void check_hold_expiry(check_run *r)
{
    check_iter it;
    check_iter_init(&it, DB_HOLD_EXPIRY, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (!check_shape(r, &it, EXPIRY_KEY_LEN, CHECK_ANY_LEN))
            continue;
        int64_t expires_at = key_get_time(it.k.mv_data);
        uint64_t id = key_get_u64((const unsigned char *)it.k.mv_data + 8);
        rec_reservation res;
        bool found = check_load_reservation(r, id, &res);
        if (!r->stop && (!found || res.status != STORE_RES_HELD || res.expires_at_ms != expires_at))
            check_report(r, "index.hold_expiry",
                         "hold_expiry lists reservation %llu at %lld, but it %s",
                         (unsigned long long)id, (long long)expires_at,
                         found ? "is not stored HELD until then" : "does not exist");
    }
    check_iter_end(&it);
}

/* ---- payments: pay_by_user ---- */

static void check_pay_by_user(check_run *r)
{
    char u[CHECK_USER_STR];
    check_iter it;
    check_iter_init(&it, DB_PAYMENTS, NULL, 0);
    while (check_iter_next(r, &it)) {
        check_payment pay;
        if (it.k.mv_size != 8 || !check_parse_payment(r, 0, &it.v, &pay))
            continue;
        unsigned char key[USER_ID_KEY_LEN];
        memcpy(key, pay.rec.user.bytes, 16);
        memcpy(key + 16, it.k.mv_data, 8);
        if (!check_has_key(r, DB_PAY_BY_USER, key, sizeof key, NULL) && !r->stop)
            check_report(r, "index.pay_by_user", "payment %llu of user %s is not in pay_by_user",
                         (unsigned long long)key_get_u64(it.k.mv_data),
                         check_user_str(&pay.rec.user, u));
    }
    check_iter_end(&it);
    check_iter_init(&it, DB_PAY_BY_USER, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (!check_shape(r, &it, USER_ID_KEY_LEN, CHECK_ANY_LEN))
            continue;
        user_id user;
        memcpy(user.bytes, it.k.mv_data, 16);
        uint64_t id = key_get_u64((const unsigned char *)it.k.mv_data + 16);
        check_payment pay;
        bool found = check_load_payment(r, id, &pay);
        if (!r->stop && (!found || !user_eq(&pay.rec.user, &user)))
            check_report(r, "index.pay_by_user",
                         "pay_by_user lists payment %llu under user %s, but it %s",
                         (unsigned long long)id, check_user_str(&user, u),
                         found ? "is another user's" : "does not exist");
    }
    check_iter_end(&it);
}

/* ---- catalogue: dates, concert.schedules ---- */

typedef struct concert_count {
    uint64_t concert_id;
    uint32_t schedules;
    uint32_t pad;
} concert_count;

static int by_concert(const void *a, const void *b)
{
    const concert_count *x = a, *y = b;
    return x->concert_id < y->concert_id ? -1 : x->concert_id > y->concert_id;
}

/* Each performance is in dates and its concert exists; *per gets one row
 * per performance, sorted by concert. */
static void check_schedules(check_run *r, check_vec *per)
{
    check_iter it;
    check_iter_init(&it, DB_SCHEDULES, NULL, 0);
    while (check_iter_next(r, &it)) {
        rec_schedule rec;
        if (it.k.mv_size != 8 || it.v.mv_size < sizeof rec) {
            check_report(r, "record.format", "schedules: a record of %zu/%zu bytes (key/value)",
                         it.k.mv_size, it.v.mv_size);
            continue;
        }
        memcpy(&rec, it.v.mv_data, sizeof rec);
        uint64_t id = key_get_u64(it.k.mv_data);
        if (rec.seats < 1 || rec.seats > STORE_SEATS_MAX ||
            it.v.mv_size != sizeof rec + (size_t)rec.seats * sizeof(int64_t))
            check_report(r, "record.format", "schedule %llu: %u seats in %zu bytes",
                         (unsigned long long)id, rec.seats, it.v.mv_size);
        unsigned char key[DATE_KEY_LEN];
        key_put_u64(key, rec.concert_id);
        key_put_time(key + 8, rec.starts_at_ms);
        key_put_u64(key + 16, id);
        if (!check_has_key(r, DB_DATES, key, sizeof key, NULL) && !r->stop)
            check_report(r, "index.dates",
                         "schedule %llu (concert %llu, starts at %lld) is not in dates",
                         (unsigned long long)id, (unsigned long long)rec.concert_id,
                         (long long)rec.starts_at_ms);
        if (!check_has_key(r, DB_CONCERTS, key, 8, NULL) && !r->stop)
            check_report(r, "concert.schedules", "schedule %llu names concert %llu, which does not exist",
                         (unsigned long long)id, (unsigned long long)rec.concert_id);
        concert_count c = { .concert_id = rec.concert_id };
        check_vec_push(r, per, &c);
    }
    check_iter_end(&it);
    check_vec_sort(per, by_concert);
}

static void check_dates(check_run *r)
{
    check_iter it;
    check_iter_init(&it, DB_DATES, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (!check_shape(r, &it, DATE_KEY_LEN, CHECK_ANY_LEN))
            continue;
        const unsigned char *k = it.k.mv_data;
        uint64_t concert_id = key_get_u64(k), id = key_get_u64(k + 16);
        int64_t starts_at = key_get_time(k + 8);
        schedule_view s;
        bool found = check_load_schedule(r, id, &s);
        if (!r->stop && (!found || s.rec.concert_id != concert_id || s.rec.starts_at_ms != starts_at))
            check_report(r, "index.dates",
                         "dates lists schedule %llu under concert %llu at %lld, but it %s",
                         (unsigned long long)id, (unsigned long long)concert_id, (long long)starts_at,
                         found ? "says otherwise" : "does not exist");
    }
    check_iter_end(&it);
}

/* Performances of concert_id among the sorted rows. */
static uint32_t count_of(const check_vec *per, uint64_t concert_id)
{
    size_t lo = 0, hi = per->n;
    while (lo < hi) {   /* first row >= concert_id */
        size_t mid = lo + (hi - lo) / 2;
        if (((const concert_count *)check_vec_at(per, mid))->concert_id < concert_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t n = 0;
    while (lo < per->n && ((const concert_count *)check_vec_at(per, lo))->concert_id == concert_id) {
        n++;
        lo++;
    }
    return n;
}

static void check_concerts(check_run *r, const check_vec *per)
{
    check_iter it;
    check_iter_init(&it, DB_CONCERTS, NULL, 0);
    while (check_iter_next(r, &it)) {
        rec_concert rec;
        if (it.k.mv_size != 8 || it.v.mv_size < sizeof rec) {
            check_report(r, "record.format", "concerts: a record of %zu/%zu bytes (key/value)",
                         it.k.mv_size, it.v.mv_size);
            continue;
        }
        memcpy(&rec, it.v.mv_data, sizeof rec);
        uint64_t id = key_get_u64(it.k.mv_data);
        if (sizeof rec + rec.title_len + rec.venue_len != it.v.mv_size || rec.title_len == 0 ||
            rec.title_len > STORE_TITLE_MAX || rec.venue_len > STORE_TITLE_MAX)
            check_report(r, "record.format", "concert %llu: title %u and venue %u bytes in %zu",
                         (unsigned long long)id, rec.title_len, rec.venue_len, it.v.mv_size);
        uint32_t n = count_of(per, id);
        if (n != rec.schedules)
            check_report(r, "concert.schedules",
                         "concert %llu counts %u performances but has %u",
                         (unsigned long long)id, rec.schedules, n);
    }
    check_iter_end(&it);
}

static void check_catalog(check_run *r)
{
    check_vec per;
    check_vec_init(&per, sizeof(concert_count));
    check_schedules(r, &per);
    check_dates(r);
    if (!r->stop)
        check_concerts(r, &per);
    check_vec_free(&per);
}

void store_check_index(check_run *r)
{
    check_reservation_indexes(r);
    check_res_by_user(r);
    check_held(r);
    check_hold_expiry(r);
    check_pay_by_user(r);
    check_catalog(r);
    store_check_index_queue(r);
}
