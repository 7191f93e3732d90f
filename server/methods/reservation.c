#include <stdlib.h>
#include <string.h>
#include "handlers.h"
#include "pack.h"
#include "../params.h"

#define RESERVATION_LIMIT_DEFAULT 50
#define RESERVATION_LIMIT_CAP 500

usher_err seat_reserve(call *c)
{
    uint64_t schedule_id;
    int64_t seat_no;
    store_reservation r;
    usher_err e = param_id(c, "schedule_id", &schedule_id);
    if (e == USHER_ERR_OK) e = param_int(c, "seat_no", 1, STORE_SEATS_MAX, &seat_no);
    if (e != USHER_ERR_OK) return e;
    const char *bad_param = "seat_no";
    e = store_seat_hold(c->txn, &c->user, c->queue.concert_id, schedule_id, (uint32_t)seat_no,
                        c->now_ms, &r, &bad_param);
    if (e == USHER_ERR_INVALID_ARGUMENT)
        return param_fail(c, bad_param, strcmp(bad_param, "schedule_id") == 0
                                            ? "has already started"
                                            : "is outside the performance's seats");
    if (e == USHER_ERR_NOT_FOUND)
        return call_fail(c, e, "schedule %llu not found", (unsigned long long)schedule_id);
    if (e == USHER_ERR_HOLD_LIMIT)
        return call_fail(c, e, "at most %u live holds per user on a performance",
                         (unsigned)c->env->cfg->max_holds);
    if (e != USHER_ERR_OK) return e;
    if (r.reservation_id == 0) {   /* a precheck found nothing against it: the writer holds it */
        c->needs_write = true;
        return USHER_ERR_OK;
    }
    msgpack_pack_map(c->out, 5);
    pack_kv_u64(c->out, "reservation_id", r.reservation_id);
    pack_kv_u64(c->out, "schedule_id", r.schedule_id);
    pack_kv_u64(c->out, "seat_no", r.seat_no);
    pack_kv_i64(c->out, "price", r.price_krw);
    pack_kv_i64(c->out, "expires_at", r.expires_at_ms);
    return USHER_ERR_OK;
}

usher_err reservation_cancel(call *c)
{
    uint64_t reservation_id;
    store_reservation r;
    usher_err e = param_id(c, "reservation_id", &reservation_id);
    if (e == USHER_ERR_OK) e = store_reservation_cancel(c->txn, &c->user, reservation_id, c->now_ms, &r);
    if (e == USHER_ERR_NOT_FOUND)
        return call_fail(c, e, "reservation %llu not found", (unsigned long long)reservation_id);
    if (e != USHER_ERR_OK) return e;
    msgpack_pack_map(c->out, 2);
    pack_kv_u64(c->out, "reservation_id", r.reservation_id);
    pack_kv_str(c->out, "status", "CANCELLED");
    return USHER_ERR_OK;
}

usher_err reservation_list(call *c)
{
    size_t limit, n;
    uint64_t before;
    usher_err e = param_limit(c, RESERVATION_LIMIT_DEFAULT, RESERVATION_LIMIT_CAP, &limit);
    if (e == USHER_ERR_OK) e = param_id_opt(c, "before", &before);
    if (e != USHER_ERR_OK) return e;
    store_reservation *list = malloc(limit * sizeof *list);
    if (!list) return USHER_ERR_INTERNAL;
    e = store_reservation_list(c->txn, &c->user, before, c->now_ms, list, limit, &n);
    if (e == USHER_ERR_OK) {
        page pg;
        page_init(&pg, handler_page_budget(c));
        for (size_t i = 0; i < n; i++) {
            pack_reservation(page_item_begin(&pg), &list[i]);
            if (!page_item_end(&pg)) break;
        }
        msgpack_pack_map(c->out, 1);
        pack_key(c->out, "reservations");
        page_finish(&pg, c->out);
    }
    free(list);
    return e;
}
