#include "handlers.h"
#include "pack.h"
#include "../params.h"
#include "../queue_eta.h"
#include "../token_reply.h"

/* status, position, and eta_s / active_until when they apply. */
static void pack_entry_state(call *c, const store_queue_entry *entry, uint32_t extra_keys)
{
    bool waiting = entry->state == STORE_QUEUE_WAITING;
    bool has_until = entry->active_until_ms > 0;
    msgpack_pack_map(c->out, 2 + extra_keys + (waiting ? 1 : 0) + (has_until ? 1 : 0));
    pack_kv_str(c->out, "status", pack_queue_state(entry->state));
    msgpack_pack_str_with_body(c->out, "position", 8);
    if (entry->position_known) msgpack_pack_uint64(c->out, entry->position);
    else msgpack_pack_nil(c->out);   /* the pre-queue draw has not happened */
    if (waiting && entry->position_known)
        queue_eta_reply_pack(c, entry->concert_id, entry->position);
    else if (waiting) {
        msgpack_pack_str_with_body(c->out, "eta_s", 5);
        msgpack_pack_nil(c->out);   /* no position yet: no estimate */
    }
    if (has_until) pack_kv_i64(c->out, "active_until", entry->active_until_ms);
}

usher_err queue_enter(call *c)
{
    uint64_t concert_id;
    store_queue_entry entry;
    usher_err e = param_id(c, "concert_id", &concert_id);
    if (e == USHER_ERR_OK) e = store_queue_enter(c->txn, &c->user, concert_id, c->now_ms, &entry);
    if (e == USHER_ERR_NOT_FOUND)
        return call_fail(c, e, "concert %llu not found", (unsigned long long)concert_id);
    int64_t issued_at;
    if (e == USHER_ERR_OK) e = handler_issued_at(c, &c->user, &issued_at);
    if (e != USHER_ERR_OK) return e;
    token_claims claims = { .kind = TOKEN_QUEUE, .user = c->user, .concert_id = concert_id,
                            .seq = entry.seq,
                            .expires_at_ms = issued_at + c->env->cfg->queue_token_ttl_ms };
    pack_entry_state(c, &entry, 1);
    return token_reply_pack(c, "token", &claims);
}

usher_err queue_status(call *c)
{
    store_queue_entry entry;
    usher_err e = store_queue_get(c->txn, c->queue.concert_id, c->queue.seq, c->now_ms, &entry);
    if (e == USHER_ERR_NOT_FOUND) return USHER_ERR_TOKEN_INVALID;
    if (e != USHER_ERR_OK) return e;
    if (c->queue.expires_at_ms <= c->now_ms) {   /* the signed expiry passed */
        entry.state = STORE_QUEUE_EXPIRED;
        entry.position = 0;
    }
    pack_entry_state(c, &entry, 0);
    return USHER_ERR_OK;
}
