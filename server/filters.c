#include "filters.h"
#include <sodium.h>
#include <string.h>
#include "params.h"
#include "../protocol/msg.h"

/* The token string of params[name], or false when absent or not a string. */
static bool token_param(const call *c, const char *name, const char **tok, size_t *len)
{
    const msgpack_object *o = c->params ? msg_map_get(c->params, name) : NULL;
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 ||
        o->via.str.size > TOKEN_MAX_LEN)
        return false;
    *tok = o->via.str.ptr;
    *len = o->via.str.size;
    return true;
}

/* Verifies params[name] as a token of the given kind. */
static bool check_token(call *c, token_cache *cache, const char *name, token_kind kind,
                        token_claims *out)
{
    const char *tok;
    size_t len;
    if (!token_param(c, name, &tok, &len)) return false;
    if (!token_verify_cached(c->env->keys, cache, tok, len, out)) return false;
    return out->kind == kind;
}

usher_err filter_tokens(call *c, token_cache *cache, const revocation_cache *revoked)
{
    unsigned flags = c->method->flags;
    token_claims claims;
    if (flags & METHOD_ADMIN) {
        if (!check_token(c, cache, "admin", TOKEN_ADMIN, &claims) || claims.expires_at_ms <= c->now_ms)
            return USHER_ERR_FORBIDDEN;
    }
    if (flags & METHOD_NEEDS_SESSION) {
        if (!check_token(c, cache, "session", TOKEN_SESSION, &claims) ||
            claims.expires_at_ms <= c->now_ms ||
            (revoked && revocation_cache_revokes(revoked, c->env->cfg, &claims)))
            return USHER_ERR_UNAUTHENTICATED;
        c->has_user = true;
        c->user = claims.user;
    }
    if (flags & (METHOD_NEEDS_QUEUE_TOKEN | METHOD_NEEDS_ACTIVE_QUEUE)) {
        if (!check_token(c, cache, "token", TOKEN_QUEUE, &claims) ||
            (revoked && revocation_cache_revokes(revoked, c->env->cfg, &claims)))
            return USHER_ERR_TOKEN_INVALID;
        c->has_queue = true;
        c->queue = claims;
        c->has_user = true;
        c->user = claims.user;
    }
    return USHER_ERR_OK;
}

usher_err filter_queue_active(call *c)
{
    store_queue_entry entry;
    if (c->queue.expires_at_ms <= c->now_ms) return USHER_ERR_TOKEN_EXPIRED;
    usher_err e = store_queue_get(c->txn, c->queue.concert_id, c->queue.seq, c->now_ms, &entry);
    if (e == USHER_ERR_NOT_FOUND) return USHER_ERR_TOKEN_INVALID;
    if (e != USHER_ERR_OK) return e;
    if (memcmp(&entry.user, &c->queue.user, sizeof entry.user) != 0) return USHER_ERR_TOKEN_INVALID;
    switch (entry.state) {
    case STORE_QUEUE_ACTIVE: return USHER_ERR_OK;
    case STORE_QUEUE_WAITING: return USHER_ERR_QUEUE_WAITING;
    default: return USHER_ERR_TOKEN_EXPIRED;
    }
}

usher_err filter_replay(call *c, bool *replayed)
{
    const void *stored;
    size_t stored_len;

    *replayed = false;
    usher_err e = param_str_opt(c, "request_id", 1, STORE_REQUEST_ID_MAX, &c->request_id,
                                &c->request_id_len);
    if (e != USHER_ERR_OK || !c->request_id) return e;
    e = c->method->fingerprint(c, c->fingerprint);
    if (e != USHER_ERR_OK) return e;
    e = store_idem_get(c->txn, &c->user, method_name(c->method), c->request_id, c->request_id_len,
                       c->fingerprint, c->now_ms, &stored, &stored_len);
    if (e == USHER_ERR_NOT_FOUND) return USHER_ERR_OK;
    if (e == USHER_ERR_INVALID_ARGUMENT)
        return param_fail(c, "request_id", "was used before with other parameters");
    if (e != USHER_ERR_OK) return e;
    c->out->callback(c->out->data, stored, stored_len);
    *replayed = true;
    return USHER_ERR_OK;
}

usher_err filter_remember(call *c, const void *result, size_t len)
{
    if (!c->request_id) return USHER_ERR_OK;
    return store_idem_put(c->txn, &c->user, method_name(c->method), c->request_id,
                          c->request_id_len, c->fingerprint, c->now_ms, result, len);
}
