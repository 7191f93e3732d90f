/* admin.session.revoke: ends every session and queue token a user holds.
 * The store records the instant; each process's token filter refuses the
 * tokens issued at or before it (server/revocation_cache.h). */
#include "handlers.h"
#include "pack.h"
#include "../params.h"

usher_err admin_session_revoke(call *c)
{
    user_id user;
    int64_t revoked_at;
    usher_err e = param_user_id(c, "user_id", &user);
    if (e == USHER_ERR_OK) e = store_user_revoke(c->txn, &user, c->now_ms, &revoked_at);
    if (e == USHER_ERR_NOT_FOUND) {
        char text[37];
        user_id_format(&user, text);
        return call_fail(c, e, "user %s not found", text);
    }
    if (e != USHER_ERR_OK) return e;
    msgpack_pack_map(c->out, 2);
    pack_kv_user(c->out, "user_id", &user);
    pack_kv_i64(c->out, "revoked_at", revoked_at);
    return USHER_ERR_OK;
}

usher_err handler_issued_at(call *c, const user_id *user, int64_t *issued_at_ms)
{
    int64_t revoked_at;
    *issued_at_ms = c->now_ms;
    usher_err e = store_revocation_get(c->txn, user, &revoked_at);
    if (e == USHER_ERR_NOT_FOUND) return USHER_ERR_OK;
    if (e == USHER_ERR_OK && revoked_at >= *issued_at_ms) *issued_at_ms = revoked_at + 1;
    return e;
}
