/* Seat holds and reservations. A seat record (schedule, seat_no) names the
 * hold or sale occupying the seat; a reservation keeps its own status. The
 * HELD index (user, schedule, reservation) counts live holds for
 * HOLD_LIMIT; the expiry index (expires_at, reservation) feeds the tick.
 * Expiry is decided by time alone, so the tick is only tidying. */
#include "store_internal.h"
#include "store_rules.h"

#define HELD_KEY_LEN (16 + 8 + 8)     /* user | schedule_id | reservation_id */
#define EXPIRY_KEY_LEN (8 + 8)        /* expires_at | reservation_id */
#define RUSER_KEY_LEN (16 + 8)        /* user | reservation_id */

static void held_key(unsigned char key[HELD_KEY_LEN], const user_id *user, uint64_t schedule_id,
                     uint64_t reservation_id)
{
    memcpy(key, user->bytes, 16);
    key_put_u64(key + 16, schedule_id);
    key_put_u64(key + 24, reservation_id);
}

static void expiry_key(unsigned char key[EXPIRY_KEY_LEN], int64_t expires_at_ms,
                       uint64_t reservation_id)
{
    key_put_time(key, expires_at_ms);
    key_put_u64(key + 8, reservation_id);
}

usher_err store_reservation_load(store_txn *t, uint64_t reservation_id, rec_reservation *out)
{
    unsigned char key[8];
    key_put_u64(key, reservation_id);
    return store_get_rec(t, DB_RESERVATIONS, key, sizeof key, out, sizeof *out);
}

usher_err store_reservation_save(store_txn *t, uint64_t reservation_id, const rec_reservation *rec)
{
    unsigned char key[8];
    key_put_u64(key, reservation_id);
    return store_put(t, DB_RESERVATIONS, key, sizeof key, rec, sizeof *rec, 0);
}

store_reservation_status reservation_status_now(const rec_reservation *rec, int64_t now_ms)
{
    if (rec->status == STORE_RES_HELD && now_ms >= rec->expires_at_ms)
        return STORE_RES_EXPIRED;
    return (store_reservation_status)rec->status;
}

void reservation_fill(uint64_t reservation_id, const rec_reservation *rec, int64_t now_ms,
                      store_reservation *out)
{
    *out = (store_reservation){
        .reservation_id = reservation_id,
        .schedule_id = rec->schedule_id,
        .concert_id = rec->concert_id,
        .seat_no = rec->seat_no,
        .price_krw = rec->price_krw,
        .status = reservation_status_now(rec, now_ms),
        .expires_at_ms = rec->expires_at_ms,
        .user = rec->user,
        .payment_id = rec->payment_id,
    };
}

usher_err store_hold_unindex(store_txn *t, uint64_t reservation_id, const rec_reservation *rec)
{
    unsigned char hkey[HELD_KEY_LEN], ekey[EXPIRY_KEY_LEN];
    held_key(hkey, &rec->user, rec->schedule_id, reservation_id);
    usher_err err = store_del(t, DB_HELD, hkey, sizeof hkey);
    if (err != USHER_ERR_OK)
        return err;
    expiry_key(ekey, rec->expires_at_ms, reservation_id);
    return store_del(t, DB_HOLD_EXPIRY, ekey, sizeof ekey);
}

/* Deletes the seat record if it still belongs to this unsold reservation. */
static usher_err seat_release(store_txn *t, uint64_t reservation_id, const rec_reservation *rec)
{
    unsigned char key[SEAT_KEY_LEN];
    seat_key(key, rec->schedule_id, rec->seat_no);
    rec_seat seat;
    usher_err err = store_get_rec(t, DB_SEATS, key, sizeof key, &seat, sizeof seat);
    if (err == USHER_ERR_NOT_FOUND)
        return USHER_ERR_OK;
    if (err != USHER_ERR_OK || seat.sold || seat.reservation_id != reservation_id)
        return err;
    return store_del(t, DB_SEATS, key, sizeof key);
}

/* Live holds of user on a performance (HELD and not yet expired). */
static usher_err live_holds(store_txn *t, const user_id *user, uint64_t schedule_id,
                            int64_t now_ms, uint32_t *count)
{
    *count = 0;
    MDB_cursor *cur;
    usher_err err = store_cursor(t, DB_HELD, &cur);
    if (err != USHER_ERR_OK)
        return err;
    unsigned char start[HELD_KEY_LEN];
    held_key(start, user, schedule_id, 0);
    MDB_val k = { sizeof start, start }, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != HELD_KEY_LEN || memcmp(k.mv_data, start, 16 + 8) != 0)
            break;
        int64_t expires_at;
        memcpy(&expires_at, v.mv_data, sizeof expires_at);
        if (expires_at > now_ms)
            (*count)++;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(t->st, rc, "held");
    return USHER_ERR_OK;
}

/* Writes a new HELD reservation, its seat record and its three indexes. */
static usher_err hold_create(store_txn *t, uint64_t reservation_id, const rec_reservation *rec)
{
    unsigned char key[8];
    key_put_u64(key, reservation_id);
    usher_err err = store_put(t, DB_RESERVATIONS, key, sizeof key, rec, sizeof *rec, MDB_APPEND);
    if (err != USHER_ERR_OK)
        return err;
    unsigned char skey[SEAT_KEY_LEN];
    seat_key(skey, rec->schedule_id, rec->seat_no);
    rec_seat seat = { .reservation_id = reservation_id, .expires_at_ms = rec->expires_at_ms,
                      .user = rec->user, .sold = 0 };
    if ((err = store_put(t, DB_SEATS, skey, sizeof skey, &seat, sizeof seat, 0)) != USHER_ERR_OK)
        return err;
    unsigned char ukey[RUSER_KEY_LEN];
    memcpy(ukey, rec->user.bytes, 16);
    key_put_u64(ukey + 16, reservation_id);
    if ((err = store_put(t, DB_RES_BY_USER, ukey, sizeof ukey, "", 0, 0)) != USHER_ERR_OK)
        return err;
    unsigned char hkey[HELD_KEY_LEN];
    held_key(hkey, &rec->user, rec->schedule_id, reservation_id);
    err = store_put(t, DB_HELD, hkey, sizeof hkey, &rec->expires_at_ms,
                    sizeof rec->expires_at_ms, 0);
    if (err != USHER_ERR_OK)
        return err;
    unsigned char ekey[EXPIRY_KEY_LEN];
    expiry_key(ekey, rec->expires_at_ms, reservation_id);
    return store_put(t, DB_HOLD_EXPIRY, ekey, sizeof ekey, "", 0, 0);
}

usher_err lmdb_seat_hold(store_txn *txn, const user_id *user, uint64_t concert_id,
                          uint64_t schedule_id, uint32_t seat_no, int64_t now_ms,
                          store_reservation *out, const char **bad_param)
{
    const store_policy *p = &txn->st->policy;
    schedule_view sched;
    usher_err err = store_schedule_load(txn, schedule_id, &sched);
    if (err != USHER_ERR_OK)
        return err;
    if (sched.rec.concert_id != concert_id)
        return USHER_ERR_FORBIDDEN;
    const char *bad = NULL;
    if (sched.rec.starts_at_ms <= now_ms)
        bad = "schedule_id";
    else if (seat_no < 1 || seat_no > sched.rec.seats)
        bad = "seat_no";
    if (bad) {
        if (bad_param)
            *bad_param = bad;
        return USHER_ERR_INVALID_ARGUMENT;
    }
    int64_t price = schedule_view_price(&sched, seat_no);   /* before any write moves it */

    unsigned char skey[SEAT_KEY_LEN];
    seat_key(skey, schedule_id, seat_no);
    rec_seat seat;
    err = store_get_rec(txn, DB_SEATS, skey, sizeof skey, &seat, sizeof seat);
    if (err != USHER_ERR_OK && err != USHER_ERR_NOT_FOUND)
        return err;
    if (err == USHER_ERR_OK && seat_taken(&seat, now_ms)) {
        if (seat.sold || !user_eq(&seat.user, user))
            return USHER_ERR_SEAT_UNAVAILABLE;
        rec_reservation mine;
        if ((err = store_reservation_load(txn, seat.reservation_id, &mine)) != USHER_ERR_OK)
            return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
        reservation_fill(seat.reservation_id, &mine, now_ms, out);
        return USHER_ERR_OK;
    }

    uint32_t held;
    if ((err = live_holds(txn, user, schedule_id, now_ms, &held)) != USHER_ERR_OK)
        return err;
    if (held >= p->max_holds)
        return USHER_ERR_HOLD_LIMIT;
    if (txn->kind == TXN_READ) {   /* a precheck: the hold may be made, by a write */
        memset(out, 0, sizeof *out);
        return USHER_ERR_OK;
    }
    uint64_t id;
    if ((err = store_next_id(txn, COUNTER_RESERVATION, &id)) != USHER_ERR_OK)
        return err;
    rec_reservation rec = {
        .schedule_id = schedule_id,
        .concert_id = concert_id,
        .payment_id = 0,
        .price_krw = price,
        .expires_at_ms = add_sat(now_ms, p->hold_ttl_ms),
        .user = *user,
        .seat_no = seat_no,
        .status = STORE_RES_HELD,
    };
    if ((err = hold_create(txn, id, &rec)) != USHER_ERR_OK)
        return err;
    reservation_fill(id, &rec, now_ms, out);
    return USHER_ERR_OK;
}

usher_err lmdb_reservation_get(store_txn *txn, uint64_t reservation_id, int64_t now_ms,
                                store_reservation *out)
{
    rec_reservation rec;
    usher_err err = store_reservation_load(txn, reservation_id, &rec);
    if (err == USHER_ERR_OK)
        reservation_fill(reservation_id, &rec, now_ms, out);
    return err;
}

usher_err lmdb_reservation_cancel(store_txn *txn, const user_id *user,
                                   uint64_t reservation_id, int64_t now_ms,
                                   store_reservation *out)
{
    rec_reservation rec;
    usher_err err = store_reservation_load(txn, reservation_id, &rec);
    if (err != USHER_ERR_OK)
        return err;
    if (!user_eq(&rec.user, user))
        return USHER_ERR_FORBIDDEN;
    bool already;
    if ((err = store_rule_cancel(reservation_status_now(&rec, now_ms), &already)) != USHER_ERR_OK ||
        already) {
        if (already)
            reservation_fill(reservation_id, &rec, now_ms, out);
        return err;
    }
    rec.status = STORE_RES_CANCELLED;
    if ((err = store_reservation_save(txn, reservation_id, &rec)) != USHER_ERR_OK ||
        (err = seat_release(txn, reservation_id, &rec)) != USHER_ERR_OK ||
        (err = store_hold_unindex(txn, reservation_id, &rec)) != USHER_ERR_OK)
        return err;
    reservation_fill(reservation_id, &rec, now_ms, out);
    return USHER_ERR_OK;
}

usher_err lmdb_reservation_list(store_txn *txn, const user_id *user, uint64_t before,
                                 int64_t now_ms, store_reservation *out, size_t cap, size_t *n)
{
    *n = 0;
    MDB_cursor *cur;
    usher_err err = store_cursor(txn, DB_RES_BY_USER, &cur);
    if (err != USHER_ERR_OK)
        return err;
    MDB_val k, v;
    int rc = store_seek_user_before(cur, user, before, &k, &v);
    for (; rc == 0 && *n < cap; rc = store_step_user_older(cur, user, &k, &v)) {
        uint64_t id = key_get_u64((const unsigned char *)k.mv_data + 16);
        if ((err = store_reservation_get(txn, id, now_ms, &out[*n])) != USHER_ERR_OK)
            return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
        (*n)++;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(txn->st, rc, "res_by_user");
    return USHER_ERR_OK;
}

usher_err lmdb_holds_tick(store_txn *txn, int64_t now_ms, size_t max, size_t *expired)
{
    size_t count = 0;
    MDB_cursor *cur;
    usher_err err = store_cursor(txn, DB_HOLD_EXPIRY, &cur);
    if (err != USHER_ERR_OK)
        return err;
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0 && count < max) {
        if (k.mv_size != EXPIRY_KEY_LEN || key_get_time(k.mv_data) > now_ms)
            break;
        uint64_t id = key_get_u64((const unsigned char *)k.mv_data + 8);
        if ((rc = store_mdb_cursor_del(txn, DB_HOLD_EXPIRY, cur)) != 0)
            break;
        rec_reservation rec;
        if ((err = store_reservation_load(txn, id, &rec)) != USHER_ERR_OK)
            return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
        if (rec.status == STORE_RES_HELD) {
            rec.status = STORE_RES_EXPIRED;
            if ((err = store_reservation_save(txn, id, &rec)) != USHER_ERR_OK ||
                (err = seat_release(txn, id, &rec)) != USHER_ERR_OK)
                return err;
        }
        if ((err = store_hold_unindex(txn, id, &rec)) != USHER_ERR_OK)
            return err;
        count++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);   /* the cursor moved under the deletes */
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(txn->st, rc, "hold_expiry");
    if (expired)
        *expired = count;
    return USHER_ERR_OK;
}
