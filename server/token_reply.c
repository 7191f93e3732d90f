#include "token_reply.h"
#include <string.h>
#include "methods/pack.h"

usher_err token_reply_pack(call *c, const char *key, const token_claims *claims)
{
    size_t len = token_length();
    bool defer = !(c->method && (c->method->flags & METHOD_IDEMPOTENT)) && !c->token_pending;
    if (!defer) {
        char token[TOKEN_MAX_LEN + 1];
        usher_err e = token_sign(c->env->keys, claims, token, sizeof token, &len);
        if (e == USHER_ERR_OK) pack_kv_str(c->out, key, token);
        return e;
    }
    msgpack_sbuffer *buf = c->out->data;
    pack_key(c->out, key);
    msgpack_pack_str(c->out, len);
    c->token_at = buf->size;
    char placeholder[TOKEN_MAX_LEN];
    memset(placeholder, '.', len);
    msgpack_pack_str_body(c->out, placeholder, len);
    c->token_claims = *claims;
    c->token_pending = true;
    return USHER_ERR_OK;
}

usher_err token_reply_finish(call *c, msgpack_sbuffer *result, token_cache *cache)
{
    if (!c->token_pending) return USHER_ERR_OK;
    c->token_pending = false;
    char token[TOKEN_MAX_LEN + 1];
    size_t len;
    usher_err e = token_sign(c->env->keys, &c->token_claims, token, sizeof token, &len);
    if (e != USHER_ERR_OK) return e;
    if (len != token_length() || c->token_at + len > result->size) return USHER_ERR_INTERNAL;
    memcpy(result->data + c->token_at, token, len);
    token_cache_add_signed(cache, token, len);
    return USHER_ERR_OK;
}
