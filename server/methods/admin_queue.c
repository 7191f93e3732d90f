/* admin.queue.get / admin.queue.set / admin.queue.open: a queue's figures
 * and its operator controls (stored in the queue record; every process's
 * admission tick reads them). */
#include "handlers.h"
#include "pack.h"
#include "../params.h"
#include "../../protocol/msg.h"

/* The one result map of all three. */
static void pack_report(call *c, const store_queue_report *r)
{
    bool throttled = c->env->admission_throttled && *c->env->admission_throttled;
    msgpack_pack_map(c->out, 10);
    pack_kv_u64(c->out, "concert_id", r->concert_id);
    pack_kv_u64(c->out, "waiting", r->waiting);
    pack_kv_u64(c->out, "active", r->active);
    pack_kv_u64(c->out, "admitted_total", r->admitted_total);
    pack_kv_u64(c->out, "max_active", r->max_active);
    pack_kv_u64(c->out, "admit_rate_per_min", r->controls.admit_rate_per_min);
    msgpack_pack_str_with_body(c->out, "paused", 6);
    if (r->controls.paused) msgpack_pack_true(c->out); else msgpack_pack_false(c->out);
    pack_kv_i64(c->out, "oldest_wait_s", r->oldest_wait_ms / 1000);
    msgpack_pack_str_with_body(c->out, "throttled", 9);
    if (throttled) msgpack_pack_true(c->out); else msgpack_pack_false(c->out);
    msgpack_pack_str_with_body(c->out, "opens_at", 8);
    if (r->controls.opens_at_ms) msgpack_pack_int64(c->out, r->controls.opens_at_ms);
    else msgpack_pack_nil(c->out);
}

static usher_err not_found(call *c, uint64_t concert_id)
{
    return call_fail(c, USHER_ERR_NOT_FOUND, "concert %llu not found", (unsigned long long)concert_id);
}

/* An optional boolean parameter (nil = absent). */
static usher_err param_bool_opt(call *c, const char *name, bool *out, bool *has)
{
    const msgpack_object *o = c->params ? msg_map_get(c->params, name) : NULL;
    *has = o && o->type != MSGPACK_OBJECT_NIL;
    if (!*has) return USHER_ERR_OK;
    if (o->type != MSGPACK_OBJECT_BOOLEAN) return param_fail(c, name, "must be true or false");
    *out = o->via.boolean;
    return USHER_ERR_OK;
}

usher_err admin_queue_get(call *c)
{
    uint64_t concert_id;
    store_queue_report r;
    usher_err e = param_id(c, "concert_id", &concert_id);
    if (e == USHER_ERR_OK) e = store_queue_control_get(c->txn, concert_id, c->now_ms, &r);
    if (e == USHER_ERR_NOT_FOUND) return not_found(c, concert_id);
    if (e != USHER_ERR_OK) return e;
    pack_report(c, &r);
    return USHER_ERR_OK;
}

usher_err admin_queue_set(call *c)
{
    uint64_t concert_id;
    int64_t max_active = 0, rate = 0;
    store_queue_control_change change = { 0 };
    store_queue_report r;
    usher_err e = param_id(c, "concert_id", &concert_id);
    if (e == USHER_ERR_OK)
        e = param_int_opt(c, "max_active", 0, STORE_QUEUE_MAX_ACTIVE_MAX, &max_active,
                          &change.set_max_active);
    if (e == USHER_ERR_OK)
        e = param_int_opt(c, "admit_rate_per_min", 0, STORE_QUEUE_RATE_MAX, &rate, &change.set_rate);
    if (e == USHER_ERR_OK) e = param_bool_opt(c, "paused", &change.paused, &change.set_paused);
    if (e != USHER_ERR_OK) return e;
    change.max_active = (uint32_t)max_active;
    change.admit_rate_per_min = (uint32_t)rate;
    e = store_queue_control_set(c->txn, concert_id, &change, c->now_ms, &r, &c->bad_param);
    if (e == USHER_ERR_NOT_FOUND) return not_found(c, concert_id);
    if (e != USHER_ERR_OK) return e;
    pack_report(c, &r);
    return USHER_ERR_OK;
}

usher_err admin_queue_open(call *c)
{
    uint64_t concert_id;
    int64_t opens_at;
    store_queue_report r;
    usher_err e = param_id(c, "concert_id", &concert_id);
    if (e == USHER_ERR_OK) e = param_int(c, "opens_at", 1, INT64_MAX, &opens_at);
    if (e != USHER_ERR_OK) return e;
    if (opens_at <= c->now_ms) return param_fail(c, "opens_at", "must be in the future");
    const char *bad = NULL;
    e = store_queue_open(c->txn, concert_id, opens_at, c->now_ms, &r, &bad);
    if (e == USHER_ERR_NOT_FOUND) return not_found(c, concert_id);
    if (e == USHER_ERR_INVALID_ARGUMENT)
        return param_fail(c, "opens_at", "the queue has admitted someone or was opened already");
    if (e != USHER_ERR_OK) return e;
    pack_report(c, &r);
    return USHER_ERR_OK;
}
