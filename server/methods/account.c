/* Users and sessions. A secret is 32 random bytes shown once as 43 base64url
 * characters; only its BLAKE2b-256 hash is stored (the secret is random, so a
 * fast hash is enough: there is no password to guess). */
#include <sodium.h>
#include <string.h>
#include "handlers.h"
#include "pack.h"
#include "../params.h"
#include "../token_reply.h"

#define SECRET_BYTES 32
#define SECRET_TEXT_MAX 64

static void hash_secret(const char *secret, size_t len, uint8_t out[STORE_SECRET_HASH_BYTES])
{
    crypto_generichash(out, STORE_SECRET_HASH_BYTES, (const unsigned char *)secret, len, NULL, 0);
}

/* Signs a session for the user and packs {session, session_expires_at}. */
static usher_err pack_session(call *c, const user_id *user)
{
    int64_t issued_at;
    usher_err e = handler_issued_at(c, user, &issued_at);
    if (e != USHER_ERR_OK) return e;
    token_claims claims = { .kind = TOKEN_SESSION, .user = *user,
                            .expires_at_ms = issued_at + c->env->cfg->session_ttl_ms };
    e = token_reply_pack(c, "session", &claims);
    if (e == USHER_ERR_OK) pack_kv_i64(c->out, "session_expires_at", claims.expires_at_ms);
    return e;
}

usher_err user_register(call *c)
{
    uint8_t raw[SECRET_BYTES], hash[STORE_SECRET_HASH_BYTES];
    char secret[SECRET_TEXT_MAX];
    user_id user;

    user_id_random(&user);
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(secret, sizeof secret, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    hash_secret(secret, strlen(secret), hash);
    usher_err e = store_user_create(c->txn, &user, hash, c->now_ms);
    if (e != USHER_ERR_OK) return e;
    c->has_user = true;
    c->user = user;
    msgpack_pack_map(c->out, 4);
    pack_kv_user(c->out, "user_id", &user);
    pack_kv_str(c->out, "secret", secret);
    e = pack_session(c, &user);
    sodium_memzero(secret, sizeof secret);
    return e;
}

usher_err auth_login(call *c)
{
    const char *secret;
    size_t secret_len;
    user_id user;
    uint8_t stored[STORE_SECRET_HASH_BYTES], given[STORE_SECRET_HASH_BYTES];

    usher_err e = param_user_id(c, "user_id", &user);
    if (e != USHER_ERR_OK) return e;
    e = param_str(c, "secret", 1, TOKEN_MAX_LEN, &secret, &secret_len);
    if (e != USHER_ERR_OK) return e;
    c->has_user = true;
    c->user = user;
    e = store_user_secret_hash(c->txn, &user, stored);
    if (e == USHER_ERR_NOT_FOUND) return USHER_ERR_UNAUTHENTICATED;
    if (e != USHER_ERR_OK) return e;
    hash_secret(secret, secret_len, given);
    if (sodium_memcmp(stored, given, sizeof given) != 0) return USHER_ERR_UNAUTHENTICATED;
    msgpack_pack_map(c->out, 2);
    return pack_session(c, &user);
}
