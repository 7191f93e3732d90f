#include "handlers.h"
#include "pack.h"
#include "../params.h"

#define SEATS_DEFAULT 50
#define PRICE_MAX 1000000000000LL   /* 10^12 KRW, the balance limit */

/* A title-like text: 1..256 bytes of valid UTF-8. */
static usher_err text_param(call *c, const char *name, bool required, const char **s, size_t *len)
{
    usher_err e = required ? param_str(c, name, 1, STORE_TITLE_MAX, s, len)
                           : param_str_opt(c, name, 1, STORE_TITLE_MAX, s, len);
    if (e == USHER_ERR_OK && *s && !utf8_valid(*s, *len))
        return param_fail(c, name, "must be valid UTF-8");
    return e;
}

usher_err admin_concert_create(call *c)
{
    const char *title, *venue;
    size_t title_len, venue_len;
    uint64_t concert_id;
    usher_err e = text_param(c, "title", true, &title, &title_len);
    if (e == USHER_ERR_OK) e = text_param(c, "venue", false, &venue, &venue_len);
    if (e == USHER_ERR_OK) e = store_concert_create(c->txn, title, title_len, venue, venue_len, &concert_id);
    if (e != USHER_ERR_OK) return e;
    msgpack_pack_map(c->out, 1);
    pack_kv_u64(c->out, "concert_id", concert_id);
    return USHER_ERR_OK;
}

usher_err admin_schedule_create(call *c)
{
    uint64_t concert_id, schedule_id;
    int64_t starts_at, seats = SEATS_DEFAULT, price = 0;
    int64_t prices[STORE_SEATS_MAX];
    bool has_seats, has_price, has_prices;
    usher_err e = param_id(c, "concert_id", &concert_id);
    if (e == USHER_ERR_OK) e = param_int(c, "starts_at", 1, INT64_MAX, &starts_at);
    if (e == USHER_ERR_OK) e = param_int_opt(c, "seats", 1, STORE_SEATS_MAX, &seats, &has_seats);
    if (e == USHER_ERR_OK) e = param_int_opt(c, "price", 1, PRICE_MAX, &price, &has_price);
    if (e == USHER_ERR_OK)
        e = param_int_array_opt(c, "prices", (size_t)seats, 1, PRICE_MAX, prices, &has_prices);
    if (e != USHER_ERR_OK) return e;
    if (starts_at <= c->now_ms) return param_fail(c, "starts_at", "must be in the future");
    if (!has_seats) seats = SEATS_DEFAULT;
    if (!has_price && !has_prices) return param_fail(c, "price", "is required (or give prices)");
    if (!has_prices)
        for (int64_t i = 0; i < seats; i++) prices[i] = price;
    e = store_schedule_create(c->txn, concert_id, starts_at, (uint32_t)seats, prices, &schedule_id);
    if (e == USHER_ERR_INVALID_ARGUMENT)
        return param_fail(c, "concert_id", "already has the maximum number of performances (500)");
    if (e == USHER_ERR_NOT_FOUND)
        return call_fail(c, e, "concert %llu not found", (unsigned long long)concert_id);
    if (e != USHER_ERR_OK) return e;
    msgpack_pack_map(c->out, 1);
    pack_kv_u64(c->out, "schedule_id", schedule_id);
    return USHER_ERR_OK;
}
