/* The catalogue: concerts, their performances (schedules) with per-seat
 * prices, and the (concert, starts_at) index behind concert.dates. Seat
 * occupancy lives in DB_SEATS (store_holds.c writes it); this file only
 * reads it to count free seats. */
#include "store_internal.h"
#include "store_rules.h"

#define DATE_KEY_LEN (8 + 8 + 8)

typedef struct concert_buf {
    rec_concert rec;
    unsigned char text[2 * STORE_TITLE_MAX];
} concert_buf;

static void date_key(unsigned char key[DATE_KEY_LEN], uint64_t concert_id, int64_t starts_at_ms,
                     uint64_t schedule_id)
{
    key_put_u64(key, concert_id);
    key_put_time(key + 8, starts_at_ms);
    key_put_u64(key + 16, schedule_id);
}

/* Copies a stored concert value into buf; NOT_FOUND when absent. */
static usher_err concert_load(store_txn *t, uint64_t concert_id, concert_buf *buf, size_t *len)
{
    MDB_val v;
    usher_err err = store_get_by_id(t, DB_CONCERTS, concert_id, &v);
    if (err != USHER_ERR_OK)
        return err;
    if (v.mv_size < sizeof buf->rec || v.mv_size > sizeof *buf)
        return USHER_ERR_INTERNAL;
    memcpy(buf, v.mv_data, v.mv_size);
    *len = v.mv_size;
    if (sizeof buf->rec + buf->rec.title_len + buf->rec.venue_len != v.mv_size)
        return USHER_ERR_INTERNAL;
    return USHER_ERR_OK;
}

static void concert_fill(uint64_t concert_id, const rec_concert *rec, const unsigned char *text,
                         store_concert *out)
{
    out->concert_id = concert_id;
    memcpy(out->title, text, rec->title_len);
    out->title[rec->title_len] = 0;
    memcpy(out->venue, text + rec->title_len, rec->venue_len);
    out->venue[rec->venue_len] = 0;
}

usher_err lmdb_concert_create(store_txn *txn, const char *title, size_t title_len,
                               const char *venue, size_t venue_len, uint64_t *concert_id)
{
    if (title_len == 0 || title_len > STORE_TITLE_MAX || venue_len > STORE_TITLE_MAX)
        return USHER_ERR_INVALID_ARGUMENT;
    uint64_t id;
    usher_err err = store_next_id(txn, COUNTER_CONCERT, &id);
    if (err != USHER_ERR_OK)
        return err;
    concert_buf buf;
    buf.rec = (rec_concert){ .schedules = 0, .title_len = (uint16_t)title_len,
                             .venue_len = (uint16_t)venue_len };
    memcpy(buf.text, title, title_len);
    if (venue_len)
        memcpy(buf.text + title_len, venue, venue_len);
    unsigned char key[8];
    key_put_u64(key, id);
    err = store_put(txn, DB_CONCERTS, key, sizeof key, &buf,
                    sizeof buf.rec + title_len + venue_len, MDB_APPEND);
    if (err == USHER_ERR_OK)
        *concert_id = id;
    return err;
}

usher_err store_concert_exists(store_txn *t, uint64_t concert_id)
{
    MDB_val v;
    return store_get_by_id(t, DB_CONCERTS, concert_id, &v);
}

usher_err lmdb_concert_get(store_txn *txn, uint64_t concert_id, store_concert *out)
{
    concert_buf buf;
    size_t len;
    usher_err err = concert_load(txn, concert_id, &buf, &len);
    if (err == USHER_ERR_OK)
        concert_fill(concert_id, &buf.rec, buf.text, out);
    return err;
}

usher_err lmdb_concert_list(store_txn *txn, uint64_t after, store_concert *out,
                             size_t cap, size_t *n)
{
    *n = 0;
    if (after == UINT64_MAX)
        return USHER_ERR_OK;
    MDB_cursor *cur;
    usher_err err = store_cursor(txn, DB_CONCERTS, &cur);
    if (err != USHER_ERR_OK)
        return err;
    unsigned char start[8];
    key_put_u64(start, after + 1);
    MDB_val k = { sizeof start, start }, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && *n < cap) {
        rec_concert rec;
        if (k.mv_size != 8 || v.mv_size < sizeof rec)
            return USHER_ERR_INTERNAL;
        memcpy(&rec, v.mv_data, sizeof rec);
        if (sizeof rec + rec.title_len + rec.venue_len != v.mv_size)
            return USHER_ERR_INTERNAL;
        concert_fill(key_get_u64(k.mv_data), &rec, (const unsigned char *)v.mv_data + sizeof rec,
                     &out[*n]);
        (*n)++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(txn->st, rc, "concerts");
    return USHER_ERR_OK;
}

usher_err lmdb_is_empty(store_txn *txn, bool *empty)
{
    MDB_cursor *cur;
    usher_err err = store_cursor(txn, DB_CONCERTS, &cur);
    if (err != USHER_ERR_OK)
        return err;
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(txn->st, rc, "concerts");
    *empty = rc == MDB_NOTFOUND;
    return USHER_ERR_OK;
}

/* ---- schedules ---- */

usher_err store_schedule_load(store_txn *t, uint64_t schedule_id, schedule_view *out)
{
    MDB_val v;
    usher_err err = store_get_by_id(t, DB_SCHEDULES, schedule_id, &v);
    if (err != USHER_ERR_OK)
        return err;
    if (v.mv_size < sizeof out->rec)
        return USHER_ERR_INTERNAL;
    memcpy(&out->rec, v.mv_data, sizeof out->rec);
    if (v.mv_size != sizeof out->rec + (size_t)out->rec.seats * sizeof(int64_t))
        return USHER_ERR_INTERNAL;
    out->prices = (const unsigned char *)v.mv_data + sizeof out->rec;
    return USHER_ERR_OK;
}

int64_t schedule_view_price(const schedule_view *v, uint32_t seat_no)
{
    int64_t price;
    memcpy(&price, v->prices + (size_t)(seat_no - 1) * sizeof price, sizeof price);
    return price;
}

usher_err lmdb_schedule_create(store_txn *txn, uint64_t concert_id, int64_t starts_at_ms,
                                uint32_t seats, const int64_t *prices_krw, uint64_t *schedule_id)
{
    usher_err rule = store_rule_schedule(seats, prices_krw);
    if (rule != USHER_ERR_OK)
        return rule;
    concert_buf buf;
    size_t concert_len;
    usher_err err = concert_load(txn, concert_id, &buf, &concert_len);
    if (err != USHER_ERR_OK)
        return err;
    if (buf.rec.schedules >= STORE_SCHEDULES_PER_CONCERT_MAX)
        return USHER_ERR_INVALID_ARGUMENT;
    uint64_t id;
    if ((err = store_next_id(txn, COUNTER_SCHEDULE, &id)) != USHER_ERR_OK)
        return err;

    unsigned char key[8];
    key_put_u64(key, id);
    rec_schedule rec = { .concert_id = concert_id, .starts_at_ms = starts_at_ms, .seats = seats };
    MDB_val k = { sizeof key, key }, v = { sizeof rec + (size_t)seats * sizeof(int64_t), NULL };
    int rc = store_mdb_put(txn, DB_SCHEDULES, &k, &v, MDB_RESERVE | MDB_APPEND);
    if (rc)
        return store_mdb_err(txn->st, rc, "schedules");
    memcpy(v.mv_data, &rec, sizeof rec);
    memcpy((unsigned char *)v.mv_data + sizeof rec, prices_krw, (size_t)seats * sizeof(int64_t));

    unsigned char dkey[DATE_KEY_LEN];
    date_key(dkey, concert_id, starts_at_ms, id);
    if ((err = store_put(txn, DB_DATES, dkey, sizeof dkey, "", 0, 0)) != USHER_ERR_OK)
        return err;
    buf.rec.schedules++;
    key_put_u64(key, concert_id);
    if ((err = store_put(txn, DB_CONCERTS, key, sizeof key, &buf, concert_len, 0)) != USHER_ERR_OK)
        return err;
    *schedule_id = id;
    return USHER_ERR_OK;
}

usher_err lmdb_schedule_get(store_txn *txn, uint64_t schedule_id, store_schedule *out)
{
    schedule_view view;
    usher_err err = store_schedule_load(txn, schedule_id, &view);
    if (err == USHER_ERR_OK)
        *out = (store_schedule){ .schedule_id = schedule_id, .concert_id = view.rec.concert_id,
                                 .starts_at_ms = view.rec.starts_at_ms, .seats = view.rec.seats };
    return err;
}

/* Counts the taken seats of a performance as of now_ms, and marks them
 * unavailable in seats[] when given (indexed seat_no - 1). */
static usher_err seats_taken(store_txn *t, uint64_t schedule_id, uint32_t n_seats, int64_t now_ms,
                             uint32_t *taken, uint32_t *sold, store_seat *seats)
{
    *taken = 0;
    if (sold)
        *sold = 0;
    MDB_cursor *cur;
    usher_err err = store_cursor(t, DB_SEATS, &cur);
    if (err != USHER_ERR_OK)
        return err;
    unsigned char start[SEAT_KEY_LEN];
    seat_key(start, schedule_id, 0);
    MDB_val k = { sizeof start, start }, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != SEAT_KEY_LEN || key_get_u64(k.mv_data) != schedule_id)
            break;
        uint32_t seat_no = key_get_u32((const unsigned char *)k.mv_data + 8);
        rec_seat seat;
        if (v.mv_size != sizeof seat || seat_no < 1 || seat_no > n_seats)
            return USHER_ERR_INTERNAL;
        memcpy(&seat, v.mv_data, sizeof seat);
        if (!seat_taken(&seat, now_ms))
            continue;
        (*taken)++;
        if (sold && seat.sold)
            (*sold)++;
        if (seats)
            seats[seat_no - 1].available = false;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(t->st, rc, "seats");
    return USHER_ERR_OK;
}

/* The performances of a concert starting after after_ms, earliest first,
 * with their seats as of now_ms. */
static usher_err dates_after(store_txn *txn, uint64_t concert_id, int64_t after_ms, int64_t now_ms,
                             store_date *out, size_t cap, size_t *n)
{
    *n = 0;
    concert_buf buf;
    size_t len;
    usher_err err = concert_load(txn, concert_id, &buf, &len);
    if (err != USHER_ERR_OK)
        return err;
    MDB_cursor *cur;
    if ((err = store_cursor(txn, DB_DATES, &cur)) != USHER_ERR_OK)
        return err;
    unsigned char start[DATE_KEY_LEN];
    date_key(start, concert_id, add_sat(after_ms, 1), 0);   /* starts_at > after */
    MDB_val k = { sizeof start, start }, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (; rc == 0 && *n < cap; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != DATE_KEY_LEN || key_get_u64(k.mv_data) != concert_id)
            break;
        uint64_t schedule_id = key_get_u64((const unsigned char *)k.mv_data + 16);
        store_date *d = &out[*n];
        if ((err = store_schedule_get(txn, schedule_id, &d->schedule)) != USHER_ERR_OK)
            return err == USHER_ERR_NOT_FOUND ? USHER_ERR_INTERNAL : err;
        uint32_t taken;
        err = seats_taken(txn, schedule_id, d->schedule.seats, now_ms, &taken, &d->sold, NULL);
        if (err != USHER_ERR_OK)
            return err;
        d->available = d->schedule.seats - taken;
        (*n)++;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(txn->st, rc, "dates");
    return USHER_ERR_OK;
}

usher_err lmdb_concert_dates(store_txn *txn, uint64_t concert_id, int64_t now_ms,
                              store_date *out, size_t cap, size_t *n)
{
    return dates_after(txn, concert_id, now_ms, now_ms, out, cap, n);
}

usher_err lmdb_concert_schedules(store_txn *txn, uint64_t concert_id, int64_t now_ms,
                                  store_date *out, size_t cap, size_t *n)
{
    return dates_after(txn, concert_id, INT64_MIN, now_ms, out, cap, n);
}

usher_err lmdb_schedule_seats(store_txn *txn, uint64_t schedule_id, int64_t now_ms,
                               store_seat *out, size_t *n)
{
    *n = 0;
    schedule_view view;
    usher_err err = store_schedule_load(txn, schedule_id, &view);
    if (err != USHER_ERR_OK)
        return err;
    for (uint32_t i = 0; i < view.rec.seats; i++)
        out[i] = (store_seat){ .seat_no = i + 1, .price_krw = schedule_view_price(&view, i + 1),
                               .available = true };
    uint32_t taken;
    err = seats_taken(txn, schedule_id, view.rec.seats, now_ms, &taken, NULL, out);
    if (err == USHER_ERR_OK)
        *n = view.rec.seats;
    return err;
}
