#include "pack.h"
#include <string.h>
#include "../token.h"

void pack_key(msgpack_packer *pk, const char *key)
{
    size_t n = strlen(key);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, key, n);
}

void pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t v)
{
    pack_key(pk, key);
    msgpack_pack_uint64(pk, v);
}

void pack_kv_i64(msgpack_packer *pk, const char *key, int64_t v)
{
    pack_key(pk, key);
    msgpack_pack_int64(pk, v);
}

void pack_kv_str(msgpack_packer *pk, const char *key, const char *s)
{
    pack_key(pk, key);
    pack_key(pk, s);
}

void pack_kv_user(msgpack_packer *pk, const char *key, const user_id *user)
{
    char text[37];
    user_id_format(user, text);
    pack_kv_str(pk, key, text);
}

const char *pack_reservation_status(store_reservation_status s)
{
    switch (s) {
    case STORE_RES_HELD: return "HELD";
    case STORE_RES_CONFIRMED: return "CONFIRMED";
    case STORE_RES_CANCELLED: return "CANCELLED";
    default: return "EXPIRED";
    }
}

const char *pack_queue_state(store_queue_state s)
{
    switch (s) {
    case STORE_QUEUE_WAITING: return "WAITING";
    case STORE_QUEUE_ACTIVE: return "ACTIVE";
    case STORE_QUEUE_ABANDONED: return "ABANDONED";
    default: return "EXPIRED";
    }
}

void pack_reservation(msgpack_packer *pk, const store_reservation *r)
{
    msgpack_pack_map(pk, 6);
    pack_kv_u64(pk, "reservation_id", r->reservation_id);
    pack_kv_u64(pk, "schedule_id", r->schedule_id);
    pack_kv_u64(pk, "seat_no", r->seat_no);
    pack_kv_i64(pk, "price", r->price_krw);
    pack_kv_str(pk, "status", pack_reservation_status(r->status));
    pack_kv_i64(pk, "expires_at", r->expires_at_ms);
}

void pack_id_array(msgpack_packer *pk, const uint64_t *ids, size_t n)
{
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) msgpack_pack_uint64(pk, ids[i]);
}

void page_init(page *pg, size_t budget)
{
    msgpack_sbuffer_init(&pg->items);
    msgpack_packer_init(&pg->pk, &pg->items, msgpack_sbuffer_write);
    pg->count = 0;
    pg->budget = budget;
    pg->mark = 0;
}

msgpack_packer *page_item_begin(page *pg)
{
    pg->mark = pg->items.size;
    return &pg->pk;
}

bool page_item_end(page *pg)
{
    if (pg->items.size > pg->budget && pg->count > 0) {
        pg->items.size = pg->mark;
        return false;
    }
    pg->count++;
    return true;
}

void page_finish(page *pg, msgpack_packer *out)
{
    msgpack_pack_array(out, pg->count);
    if (pg->items.size) out->callback(out->data, pg->items.data, pg->items.size);
    msgpack_sbuffer_destroy(&pg->items);
}
