/* Seat holds and reservations on PostgreSQL, as LMDB's store_holds.c: a
 * seat row names the hold or sale occupying it (reservation_id), a
 * reservation keeps its own status, and expiry is decided by time alone
 * (a HELD reservation past expires_at reads EXPIRED), so the tick only
 * tidies.
 *
 * Race-free under READ COMMITTED with several hosts: a hold first takes
 * the user's advisory lock (so the user's live holds are counted with no
 * other hold of theirs in flight), then takes the seat only if its current
 * row is free, locking it (FOR UPDATE rechecks the newest version), and
 * draws the reservation id only once the seat is its: a lost race takes no
 * id. Writes lock reservations before seats (hold, cancel, pay, tick), so
 * none waits on another in a circle. */
#include "store_pg_internal.h"
#include "store_rules.h"
#include <string.h>

/* The columns reservation_fill reads, in its order. */
#define RES_COLS "reservation_id, schedule_id, concert_id, seat_no, price_krw, status, " \
                 "expires_at_ms, user_id, payment_id"
#define RES_NCOLS 9

static store_reservation_status status_now(int64_t status, int64_t expires_at_ms, int64_t now_ms)
{
    if (status == STORE_RES_HELD && now_ms >= expires_at_ms)
        return STORE_RES_EXPIRED;
    return (store_reservation_status)status;
}

/* Row r of res, RES_COLS from column c on, as of now_ms. */
static usher_err reservation_fill(const PGresult *res, int r, int c, int64_t now_ms,
                                  store_reservation *out)
{
    int64_t status = pg_i64(res, r, c + 5);
    if (status < STORE_RES_HELD || status > STORE_RES_CANCELLED)
        return USHER_ERR_INTERNAL;
    *out = (store_reservation){
        .reservation_id = (uint64_t)pg_i64(res, r, c),
        .schedule_id = (uint64_t)pg_i64(res, r, c + 1),
        .concert_id = (uint64_t)pg_i64(res, r, c + 2),
        .seat_no = (uint32_t)pg_i64(res, r, c + 3),
        .price_krw = pg_i64(res, r, c + 4),
        .status = status_now(status, pg_i64(res, r, c + 6), now_ms),
        .expires_at_ms = pg_i64(res, r, c + 6),
        .payment_id = (uint64_t)pg_i64(res, r, c + 8),
    };
    if (!pg_bytes(res, r, c + 7, out->user.bytes, sizeof out->user.bytes))
        return USHER_ERR_INTERNAL;
    return USHER_ERR_OK;
}

static int64_t add_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* Columns of the hold's first read. */
enum {
    H_CONCERT, H_STARTS, H_SEATS,
    H_PRICE, H_SOLD, H_SEAT_RES, H_SEAT_USER, H_SEAT_EXPIRES,
    H_COUNT, H_RES
};

usher_err pg_seat_hold(store_txn *txn, const user_id *user, uint64_t concert_id,
                       uint64_t schedule_id, uint32_t seat_no, int64_t now_ms,
                       store_reservation *out, const char **bad_param)
{
    const store_policy *pol = &pg_txn_of(txn)->st->policy;
    bool write = pg_is_write(txn);
    usher_err err;
    if (write && (err = pg_lock_user(txn, user)) != USHER_ERR_OK)
        return err;
    /* Everything the checks need, in one read: the performance, the seat,
     * the reservation occupying it and the user's live holds on it. */
    pg_params p = { 0 };
    pg_p_u64(&p, schedule_id);
    pg_p_i64(&p, seat_no);
    pg_p_user(&p, user);
    pg_p_i64(&p, now_ms);
    PGresult *res;
    err = pg_read(txn,
        "SELECT sc.concert_id, sc.starts_at_ms, sc.seats, "
        "       st.price_krw, st.sold, st.reservation_id, st.user_id, st.expires_at_ms, "
        "       (SELECT count(*) FROM reservations h WHERE h.user_id = $3 AND h.schedule_id = $1 "
        "               AND h.status = 1 AND h.expires_at_ms > $4), "
        "       r.reservation_id, r.schedule_id, r.concert_id, r.seat_no, r.price_krw, r.status, "
        "       r.expires_at_ms, r.user_id, r.payment_id "
        "FROM schedules sc "
        "LEFT JOIN seats st ON st.schedule_id = sc.schedule_id AND st.seat_no = $2 "
        "LEFT JOIN reservations r ON r.reservation_id = st.reservation_id AND st.reservation_id <> 0 "
        "WHERE sc.schedule_id = $1",
        &p, &res);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(res) == 0)
        return USHER_ERR_NOT_FOUND;
    if ((uint64_t)pg_i64(res, 0, H_CONCERT) != concert_id)
        return USHER_ERR_FORBIDDEN;
    const char *bad = NULL;
    if (pg_i64(res, 0, H_STARTS) <= now_ms)
        bad = "schedule_id";
    else if (seat_no < 1 || seat_no > pg_i64(res, 0, H_SEATS))
        bad = "seat_no";
    if (bad) {
        if (bad_param)
            *bad_param = bad;
        return USHER_ERR_INVALID_ARGUMENT;
    }
    if (pg_null(res, 0, H_PRICE))
        return USHER_ERR_INTERNAL;   /* a performance without its seat row */
    bool sold = pg_bool(res, 0, H_SOLD);
    if (sold || (pg_i64(res, 0, H_SEAT_RES) != 0 && pg_i64(res, 0, H_SEAT_EXPIRES) > now_ms)) {
        user_id holder;
        if (sold || !pg_bytes(res, 0, H_SEAT_USER, holder.bytes, sizeof holder.bytes) ||
            memcmp(holder.bytes, user->bytes, sizeof holder.bytes) != 0)
            return USHER_ERR_SEAT_UNAVAILABLE;
        if (pg_null(res, 0, H_RES))
            return USHER_ERR_INTERNAL;
        return reservation_fill(res, 0, H_RES, now_ms, out);
    }
    if ((uint64_t)pg_i64(res, 0, H_COUNT) >= pol->max_holds)
        return USHER_ERR_HOLD_LIMIT;
    if (!write) {   /* a precheck: the hold may be made, by a write */
        memset(out, 0, sizeof *out);
        return USHER_ERR_OK;
    }

    /* The take: lock the seat's row if it is free now (rechecked on its
     * newest version), then the reservation, then the seat names it. */
    int64_t expires_at = add_sat(now_ms, pol->hold_ttl_ms);
    pg_params q = { 0 };
    pg_p_u64(&q, schedule_id);
    pg_p_i64(&q, seat_no);
    pg_p_i64(&q, now_ms);
    pg_p_u64(&q, concert_id);
    pg_p_i64(&q, expires_at);
    pg_p_user(&q, user);
    err = pg_write(txn,
        "WITH free AS MATERIALIZED ("
        "   SELECT schedule_id, seat_no, price_krw FROM seats "
        "   WHERE schedule_id = $1 AND seat_no = $2 AND NOT sold "
        "     AND (reservation_id = 0 OR expires_at_ms <= $3) FOR UPDATE), "
        "r AS (INSERT INTO reservations (reservation_id, schedule_id, concert_id, seat_no, "
        "                                price_krw, status, expires_at_ms, user_id) "
        "      SELECT nextval('reservation_ids'), schedule_id, $4, seat_no, price_krw, 1, $5, $6 "
        "      FROM free RETURNING reservation_id, price_krw) "
        "UPDATE seats SET reservation_id = r.reservation_id, user_id = $6, expires_at_ms = $5 "
        "FROM r WHERE seats.schedule_id = $1 AND seats.seat_no = $2 "
        "RETURNING r.reservation_id, r.price_krw",
        &q, &res);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(res) == 0)
        return USHER_ERR_SEAT_UNAVAILABLE;   /* taken since the read */
    *out = (store_reservation){
        .reservation_id = (uint64_t)pg_i64(res, 0, 0),
        .schedule_id = schedule_id,
        .concert_id = concert_id,
        .seat_no = seat_no,
        .price_krw = pg_i64(res, 0, 1),
        .status = STORE_RES_HELD,
        .expires_at_ms = expires_at,
        .user = *user,
        .payment_id = 0,
    };
    return USHER_ERR_OK;
}

usher_err pg_reservation_get(store_txn *txn, uint64_t reservation_id, int64_t now_ms,
                             store_reservation *out)
{
    pg_params p = { 0 };
    pg_p_u64(&p, reservation_id);
    PGresult *res;
    usher_err err = pg_read(txn, "SELECT " RES_COLS " FROM reservations WHERE reservation_id = $1",
                            &p, &res);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(res) == 0)
        return USHER_ERR_NOT_FOUND;
    return reservation_fill(res, 0, 0, now_ms, out);
}

usher_err pg_reservation_cancel(store_txn *txn, const user_id *user, uint64_t reservation_id,
                                int64_t now_ms, store_reservation *out)
{
    usher_err err = pg_lock_user(txn, user);
    if (err != USHER_ERR_OK)
        return err;
    /* The reservation as it was, and the cancel done only where it is the
     * user's live hold (a tick on another host may expire it meanwhile):
     * the checks below then decide in LMDB's order. */
    pg_params p = { 0 };
    pg_p_u64(&p, reservation_id);
    pg_p_user(&p, user);
    pg_p_i64(&p, now_ms);
    PGresult *res;
    err = pg_write(txn,
        "WITH cur AS (SELECT " RES_COLS " FROM reservations WHERE reservation_id = $1), "
        "up AS (UPDATE reservations SET status = 4 "
        "       WHERE reservation_id = $1 AND user_id = $2 AND status = 1 AND expires_at_ms > $3 "
        "       RETURNING schedule_id, seat_no), "
        "fr AS (UPDATE seats SET reservation_id = 0, user_id = NULL, expires_at_ms = 0 FROM up "
        "       WHERE seats.schedule_id = up.schedule_id AND seats.seat_no = up.seat_no "
        "         AND seats.reservation_id = $1 AND NOT seats.sold) "
        "SELECT cur.*, (SELECT count(*) FROM up) FROM cur",
        &p, &res);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(res) == 0)
        return USHER_ERR_NOT_FOUND;
    store_reservation r;
    if ((err = reservation_fill(res, 0, 0, now_ms, &r)) != USHER_ERR_OK)
        return err;
    if (memcmp(r.user.bytes, user->bytes, sizeof r.user.bytes) != 0)
        return USHER_ERR_FORBIDDEN;
    bool already;
    if ((err = store_rule_cancel(r.status, &already)) != USHER_ERR_OK || already) {
        if (already)
            *out = r;
        return err;
    }
    if (pg_i64(res, 0, RES_NCOLS) != 1)
        return USHER_ERR_HOLD_EXPIRED;   /* a tick expired it since */
    r.status = STORE_RES_CANCELLED;
    *out = r;
    return USHER_ERR_OK;
}

usher_err pg_reservation_list(store_txn *txn, const user_id *user, uint64_t before,
                              int64_t now_ms, store_reservation *out, size_t cap, size_t *n)
{
    *n = 0;
    if (cap == 0)
        return USHER_ERR_OK;
    pg_params p = { 0 };
    pg_p_user(&p, user);
    pg_p_u64(&p, before == 0 ? UINT64_MAX : before);
    pg_p_u64(&p, cap);
    PGresult *res;
    usher_err err = pg_read(txn, "SELECT " RES_COLS " FROM reservations "
                                 "WHERE user_id = $1 AND reservation_id < $2 "
                                 "ORDER BY reservation_id DESC LIMIT $3",
                            &p, &res);
    if (err != USHER_ERR_OK)
        return err;
    int rows = PQntuples(res);
    for (int r = 0; r < rows && *n < cap; r++) {
        if ((err = reservation_fill(res, r, 0, now_ms, &out[*n])) != USHER_ERR_OK)
            return err;
        (*n)++;
    }
    return USHER_ERR_OK;
}

usher_err pg_holds_tick(store_txn *txn, int64_t now_ms, size_t max, size_t *expired)
{
    if (expired)
        *expired = 0;
    if (max == 0)
        return USHER_ERR_OK;
    /* The due holds, earliest first, skipping any a payment or cancel has
     * locked (it decides them itself); their seats freed where they still
     * name them (a later hold may have taken the seat). */
    pg_params p = { 0 };
    pg_p_i64(&p, now_ms);
    pg_p_u64(&p, max);
    PGresult *res;
    usher_err err = pg_write(txn,
        "WITH due AS MATERIALIZED ("
        "   SELECT reservation_id FROM reservations WHERE status = 1 AND expires_at_ms <= $1 "
        "   ORDER BY expires_at_ms, reservation_id LIMIT $2 FOR UPDATE SKIP LOCKED), "
        "ex AS (UPDATE reservations r SET status = 3 FROM due "
        "       WHERE r.reservation_id = due.reservation_id AND r.status = 1 "
        "       RETURNING r.reservation_id, r.schedule_id, r.seat_no), "
        "fr AS (UPDATE seats SET reservation_id = 0, user_id = NULL, expires_at_ms = 0 FROM ex "
        "       WHERE seats.schedule_id = ex.schedule_id AND seats.seat_no = ex.seat_no "
        "         AND seats.reservation_id = ex.reservation_id AND NOT seats.sold) "
        "SELECT count(*) FROM ex",
        &p, &res);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(res) != 1)
        return USHER_ERR_INTERNAL;
    if (expired)
        *expired = (size_t)pg_i64(res, 0, 0);
    return USHER_ERR_OK;
}
