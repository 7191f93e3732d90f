#include <stdlib.h>
#include "handlers.h"
#include "pack.h"
#include "../params.h"

#define CONCERT_LIMIT_DEFAULT 100
#define CONCERT_LIMIT_CAP 500

usher_err concert_list(call *c)
{
    size_t limit, n;
    uint64_t after;
    usher_err e = param_limit(c, CONCERT_LIMIT_DEFAULT, CONCERT_LIMIT_CAP, &limit);
    if (e == USHER_ERR_OK) e = param_id_opt(c, "after", &after);
    if (e != USHER_ERR_OK) return e;
    store_concert *concerts = malloc(limit * sizeof *concerts);
    if (!concerts) return USHER_ERR_INTERNAL;
    e = store_concert_list(c->txn, after, concerts, limit, &n);
    if (e == USHER_ERR_OK) {
        page pg;
        page_init(&pg, handler_page_budget(c));
        for (size_t i = 0; i < n; i++) {
            msgpack_packer *pk = page_item_begin(&pg);
            msgpack_pack_map(pk, 3);
            pack_kv_u64(pk, "concert_id", concerts[i].concert_id);
            pack_kv_str(pk, "title", concerts[i].title);
            pack_kv_str(pk, "venue", concerts[i].venue);
            if (!page_item_end(&pg)) break;
        }
        msgpack_pack_map(c->out, 1);
        pack_key(c->out, "concerts");
        page_finish(&pg, c->out);
    }
    free(concerts);
    return e;
}

usher_err concert_dates(call *c)
{
    uint64_t concert_id;
    size_t n;
    usher_err e = param_id(c, "concert_id", &concert_id);
    if (e != USHER_ERR_OK) return e;
    if (concert_id != c->queue.concert_id) return USHER_ERR_FORBIDDEN;
    store_date *dates = malloc(STORE_SCHEDULES_PER_CONCERT_MAX * sizeof *dates);
    if (!dates) return USHER_ERR_INTERNAL;
    e = store_concert_dates(c->txn, concert_id, c->now_ms, dates, STORE_SCHEDULES_PER_CONCERT_MAX, &n);
    if (e == USHER_ERR_NOT_FOUND)
        e = call_fail(c, e, "concert %llu not found", (unsigned long long)concert_id);
    if (e == USHER_ERR_OK) {
        msgpack_pack_map(c->out, 1);
        pack_key(c->out, "dates");
        msgpack_pack_array(c->out, n);
        for (size_t i = 0; i < n; i++) {
            msgpack_pack_map(c->out, 4);
            pack_kv_u64(c->out, "schedule_id", dates[i].schedule.schedule_id);
            pack_kv_i64(c->out, "starts_at", dates[i].schedule.starts_at_ms);
            pack_kv_u64(c->out, "available", dates[i].available);
            pack_kv_u64(c->out, "total", dates[i].schedule.seats);
        }
    }
    free(dates);
    return e;
}

usher_err concert_seats(call *c)
{
    uint64_t schedule_id;
    store_schedule sched;
    size_t n;
    usher_err e = param_id(c, "schedule_id", &schedule_id);
    if (e == USHER_ERR_OK) e = store_schedule_get(c->txn, schedule_id, &sched);
    if (e == USHER_ERR_NOT_FOUND)
        return call_fail(c, e, "schedule %llu not found", (unsigned long long)schedule_id);
    if (e != USHER_ERR_OK) return e;
    if (sched.concert_id != c->queue.concert_id) return USHER_ERR_FORBIDDEN;
    store_seat *seats = malloc(STORE_SEATS_MAX * sizeof *seats);
    if (!seats) return USHER_ERR_INTERNAL;
    e = store_schedule_seats(c->txn, schedule_id, c->now_ms, seats, &n);
    if (e == USHER_ERR_OK) {
        msgpack_pack_map(c->out, 2);
        pack_kv_u64(c->out, "schedule_id", schedule_id);
        pack_key(c->out, "seats");
        msgpack_pack_array(c->out, n);
        for (size_t i = 0; i < n; i++) {
            msgpack_pack_map(c->out, 3);
            pack_kv_u64(c->out, "seat_no", seats[i].seat_no);
            pack_kv_i64(c->out, "price", seats[i].price_krw);
            pack_key(c->out, "available");
            if (seats[i].available) msgpack_pack_true(c->out); else msgpack_pack_false(c->out);
        }
    }
    free(seats);
    return e;
}
