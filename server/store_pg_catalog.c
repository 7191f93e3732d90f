/* The catalogue on PostgreSQL: concerts, performances (schedules) with one
 * row per seat, and the free-seat counts behind concert.dates. As LMDB's
 * store_catalog.c; occupancy (seats.reservation_id, sold) is written by
 * store_pg_holds.c and store_pg_payment.c, only counted here.
 *
 * A seat is taken at now_ms when it is sold or a hold names it
 * (reservation_id <> 0) that expires after now_ms: seat_taken on LMDB. The
 * seats_occupied partial index keeps counting to the occupied rows. */
#include "store_pg_internal.h"
#include "store_rules.h"
#include <string.h>

/* Longest bigint[] literal of STORE_SEATS_MAX prices: 19 digits and a
 * comma each, the braces and the NUL. */
#define PRICES_LITERAL_MAX (STORE_SEATS_MAX * 20 + 4)

static void concert_fill(const PGresult *res, int r, store_concert *out)
{
    out->concert_id = (uint64_t)pg_i64(res, r, 0);
    pg_text(res, r, 1, out->title, sizeof out->title);
    pg_text(res, r, 2, out->venue, sizeof out->venue);
}

usher_err pg_concert_create(store_txn *txn, const char *title, size_t title_len,
                            const char *venue, size_t venue_len, uint64_t *concert_id)
{
    if (title_len == 0 || title_len > STORE_TITLE_MAX || venue_len > STORE_TITLE_MAX)
        return USHER_ERR_INVALID_ARGUMENT;
    /* The caller's text need not end in a NUL: copies that do. */
    char t[STORE_TITLE_MAX + 1], v[STORE_TITLE_MAX + 1];
    memcpy(t, title, title_len);
    t[title_len] = '\0';
    if (venue_len)
        memcpy(v, venue, venue_len);
    v[venue_len] = '\0';
    pg_params p = { 0 };
    pg_p_text(&p, t, title_len);
    pg_p_text(&p, v, venue_len);
    PGresult *res;
    usher_err err = pg_write(txn, "INSERT INTO concerts (concert_id, title, venue) "
                                  "VALUES (nextval('concert_ids'), $1, $2) RETURNING concert_id",
                             &p, &res);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(res) != 1)
        return USHER_ERR_INTERNAL;
    *concert_id = (uint64_t)pg_i64(res, 0, 0);
    return USHER_ERR_OK;
}

usher_err pg_concert_get(store_txn *txn, uint64_t concert_id, store_concert *out)
{
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    PGresult *res;
    usher_err err = pg_read(txn, "SELECT concert_id, title, venue FROM concerts WHERE concert_id = $1",
                            &p, &res);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(res) == 0)
        return USHER_ERR_NOT_FOUND;
    concert_fill(res, 0, out);
    return USHER_ERR_OK;
}

usher_err pg_concert_list(store_txn *txn, uint64_t after, store_concert *out, size_t cap,
                          size_t *n)
{
    *n = 0;
    if (after >= INT64_MAX || cap == 0)
        return USHER_ERR_OK;
    pg_params p = { 0 };
    pg_p_u64(&p, after);
    pg_p_u64(&p, cap);
    PGresult *res;
    usher_err err = pg_read(txn, "SELECT concert_id, title, venue FROM concerts WHERE concert_id > $1 "
                                 "ORDER BY concert_id LIMIT $2",
                            &p, &res);
    if (err != USHER_ERR_OK)
        return err;
    int rows = PQntuples(res);
    for (int r = 0; r < rows && *n < cap; r++)
        concert_fill(res, r, &out[(*n)++]);
    return USHER_ERR_OK;
}

/* ---- schedules ---- */

usher_err pg_schedule_create(store_txn *txn, uint64_t concert_id, int64_t starts_at_ms,
                             uint32_t seats, const int64_t *prices_krw, uint64_t *schedule_id)
{
    usher_err rule = store_rule_schedule(seats, prices_krw);
    if (rule != USHER_ERR_OK)
        return rule;
    /* One statement: count the performance on the concert's row (which
     * locks it, so two hosts never pass the limit together), then the
     * performance and all its seats. No row counted: no id taken. */
    char literal[PRICES_LITERAL_MAX];
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    pg_p_i64(&p, STORE_SCHEDULES_PER_CONCERT_MAX);
    pg_p_i64(&p, starts_at_ms);
    pg_p_i64(&p, seats);
    if (!pg_p_i64_array(&p, (const uint64_t *)(const void *)prices_krw, seats, literal,
                        sizeof literal))
        return USHER_ERR_INTERNAL;
    PGresult *res;
    usher_err err = pg_write(txn,
        "WITH c AS (UPDATE concerts SET schedules = schedules + 1 "
        "           WHERE concert_id = $1 AND schedules < $2 RETURNING concert_id), "
        "s AS (INSERT INTO schedules (schedule_id, concert_id, starts_at_ms, seats) "
        "      SELECT nextval('schedule_ids'), c.concert_id, $3, $4 FROM c RETURNING schedule_id), "
        "seat AS (INSERT INTO seats (schedule_id, seat_no, price_krw) "
        "         SELECT s.schedule_id, p.ord, p.price "
        "         FROM s, unnest($5::bigint[]) WITH ORDINALITY AS p(price, ord)) "
        "SELECT (SELECT schedule_id FROM s), EXISTS (SELECT 1 FROM concerts WHERE concert_id = $1)",
        &p, &res);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(res) != 1)
        return USHER_ERR_INTERNAL;
    if (pg_null(res, 0, 0))
        return pg_bool(res, 0, 1) ? USHER_ERR_INVALID_ARGUMENT : USHER_ERR_NOT_FOUND;
    *schedule_id = (uint64_t)pg_i64(res, 0, 0);
    return USHER_ERR_OK;
}

usher_err pg_schedule_get(store_txn *txn, uint64_t schedule_id, store_schedule *out)
{
    pg_params p = { 0 };
    pg_p_u64(&p, schedule_id);
    PGresult *res;
    usher_err err = pg_read(txn, "SELECT concert_id, starts_at_ms, seats FROM schedules "
                                 "WHERE schedule_id = $1",
                            &p, &res);
    if (err != USHER_ERR_OK)
        return err;
    if (PQntuples(res) == 0)
        return USHER_ERR_NOT_FOUND;
    *out = (store_schedule){ .schedule_id = schedule_id,
                             .concert_id = (uint64_t)pg_i64(res, 0, 0),
                             .starts_at_ms = pg_i64(res, 0, 1),
                             .seats = (uint32_t)pg_i64(res, 0, 2) };
    return USHER_ERR_OK;
}

/* The performances of a concert starting after after_ms, earliest first, at
 * most cap, with their seats as of now_ms: one statement, the concert's row
 * first (no row: NOT_FOUND; a row with a NULL performance: none). */
static usher_err dates_after(store_txn *txn, uint64_t concert_id, int64_t after_ms, int64_t now_ms,
                             store_date *out, size_t cap, size_t *n)
{
    *n = 0;
    pg_params p = { 0 };
    pg_p_u64(&p, concert_id);
    pg_p_i64(&p, after_ms);
    pg_p_i64(&p, now_ms);
    pg_p_u64(&p, cap);
    PGresult *res;
    usher_err err = pg_read(txn,
        "SELECT sc.schedule_id, sc.starts_at_ms, sc.seats, "
        "       count(st.seat_no) FILTER (WHERE st.sold), "
        "       count(st.seat_no) FILTER (WHERE st.sold OR st.expires_at_ms > $3) "
        "FROM concerts c "
        "LEFT JOIN LATERAL (SELECT schedule_id, starts_at_ms, seats FROM schedules "
        "                   WHERE concert_id = c.concert_id AND starts_at_ms > $2 "
        "                   ORDER BY starts_at_ms, schedule_id LIMIT $4) sc ON true "
        "LEFT JOIN seats st ON st.schedule_id = sc.schedule_id "
        "                  AND (st.sold OR st.reservation_id <> 0) "
        "WHERE c.concert_id = $1 "
        "GROUP BY sc.schedule_id, sc.starts_at_ms, sc.seats "
        "ORDER BY sc.starts_at_ms, sc.schedule_id",
        &p, &res);
    if (err != USHER_ERR_OK)
        return err;
    int rows = PQntuples(res);
    if (rows == 0)
        return USHER_ERR_NOT_FOUND;
    for (int r = 0; r < rows && *n < cap; r++) {
        if (pg_null(res, r, 0))
            continue;
        uint32_t seats = (uint32_t)pg_i64(res, r, 2), taken = (uint32_t)pg_i64(res, r, 4);
        if (taken > seats)
            return USHER_ERR_INTERNAL;
        store_date *d = &out[(*n)++];
        d->schedule = (store_schedule){ .schedule_id = (uint64_t)pg_i64(res, r, 0),
                                        .concert_id = concert_id,
                                        .starts_at_ms = pg_i64(res, r, 1),
                                        .seats = seats };
        d->sold = (uint32_t)pg_i64(res, r, 3);
        d->available = seats - taken;
    }
    return USHER_ERR_OK;
}

usher_err pg_concert_dates(store_txn *txn, uint64_t concert_id, int64_t now_ms, store_date *out,
                           size_t cap, size_t *n)
{
    return dates_after(txn, concert_id, now_ms, now_ms, out, cap, n);
}

usher_err pg_concert_schedules(store_txn *txn, uint64_t concert_id, int64_t now_ms,
                               store_date *out, size_t cap, size_t *n)
{
    return dates_after(txn, concert_id, INT64_MIN, now_ms, out, cap, n);
}

usher_err pg_schedule_seats(store_txn *txn, uint64_t schedule_id, int64_t now_ms, store_seat *out,
                            size_t *n)
{
    *n = 0;
    pg_params p = { 0 };
    pg_p_u64(&p, schedule_id);
    pg_p_i64(&p, now_ms);
    PGresult *res;
    usher_err err = pg_read(txn,
        "SELECT sc.seats, st.seat_no, st.price_krw, "
        "       NOT (st.sold OR (st.reservation_id <> 0 AND st.expires_at_ms > $2)) "
        "FROM schedules sc LEFT JOIN seats st ON st.schedule_id = sc.schedule_id "
        "WHERE sc.schedule_id = $1 ORDER BY st.seat_no",
        &p, &res);
    if (err != USHER_ERR_OK)
        return err;
    int rows = PQntuples(res);
    if (rows == 0)
        return USHER_ERR_NOT_FOUND;
    int64_t seats = pg_i64(res, 0, 0);
    if (seats < 1 || seats > STORE_SEATS_MAX || rows != seats)
        return USHER_ERR_INTERNAL;
    for (int r = 0; r < rows; r++) {
        if (pg_i64(res, r, 1) != r + 1)
            return USHER_ERR_INTERNAL;
        out[r] = (store_seat){ .seat_no = (uint32_t)(r + 1), .price_krw = pg_i64(res, r, 2),
                               .available = pg_bool(res, r, 3) };
    }
    *n = (size_t)seats;
    return USHER_ERR_OK;
}
