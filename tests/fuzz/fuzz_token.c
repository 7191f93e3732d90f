/* libFuzzer target for signed tokens (server/token.h), with one fixed key
 * pair (fuzz_keys.h) and one small cache kept across inputs, so entries are
 * evicted and re-verified. Properties, each checked on every input:
 * 1. The input as a token string: token_verify_cached accepts it exactly when
 *    token_verify does, with the same claims; token_claims_trusted on a
 *    string token_verify accepted gives the same claims again.
 * 2. A token signed for claims taken from the input verifies (plain and
 *    cached) with those claims, and the same token with one byte changed
 *    (position and new value from the input) is refused by both, even when
 *    the original sits in the cache.
 * 3. A user id the parser accepts formats back to the same text.
 * A broken property aborts. With -DFUZZ_MAKE_CORPUS this file builds a
 * program writing seed inputs (valid tokens) into the directory given. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CACHE_TOKENS 8

typedef struct token_world {
    token_keys keys;
    token_cache *cache;
} token_world;

static token_world *world_get(void)
{
    static token_world w;
    static bool ready;
    if (ready) return &w;
    char dir[] = "/tmp/usher-fuzz-token-XXXXXX";
    if (!mkdtemp(dir)) abort();
    fuzz_keys_install(dir, &w.keys);
    char path[64];
    snprintf(path, sizeof path, "%s/keys", dir);
    unlink(path);
    rmdir(dir);
    w.cache = token_cache_new(FUZZ_CACHE_TOKENS);
    if (!w.cache) abort();
    ready = true;
    return &w;
}

static bool claims_equal(const token_claims *a, const token_claims *b)
{
    return a->kind == b->kind && a->key_id == b->key_id &&
           memcmp(&a->user, &b->user, sizeof a->user) == 0 &&
           a->expires_at_ms == b->expires_at_ms && a->concert_id == b->concert_id &&
           a->seq == b->seq;
}

static void fail(const char *what, const char *tok, size_t len)
{
    fprintf(stderr, "fuzz_token: %s: '%.*s'\n", what, (int)len, tok);
    abort();
}

/* Property 1 on one string; returns whether it is a valid token. */
static bool check_string(token_world *w, const char *s, size_t len)
{
    token_claims plain, cached, trusted;
    memset(&plain, 0, sizeof plain);
    memset(&cached, 0, sizeof cached);
    bool ok_plain = token_verify(&w->keys, s, len, &plain);
    bool ok_cached = token_verify_cached(&w->keys, w->cache, s, len, &cached);
    if (ok_plain != ok_cached) fail("token_verify and token_verify_cached disagree", s, len);
    if (ok_plain && !claims_equal(&plain, &cached)) fail("cached claims differ", s, len);
    if (ok_plain) {
        if (!token_claims_trusted(&w->keys, s, len, &trusted)) fail("trusted refuses a valid token", s, len);
        if (!claims_equal(&plain, &trusted)) fail("trusted claims differ", s, len);
    }
    return ok_plain;
}

static uint64_t take_u64(const uint8_t *data, size_t size, size_t at)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++) v = v << 8 | (at + i < size ? data[at + i] : 0);
    return v;
}

/* Property 2: claims from the input, signed, then one byte changed. */
static void check_tamper(token_world *w, const uint8_t *data, size_t size)
{
    token_claims claims;
    memset(&claims, 0, sizeof claims);
    claims.kind = (token_kind)(data[0] % 3 + 1);
    for (size_t i = 0; i < sizeof claims.user.bytes; i++)
        claims.user.bytes[i] = 1 + i < size ? data[1 + i] : 0;
    claims.expires_at_ms = (int64_t)take_u64(data, size, 17);
    claims.concert_id = take_u64(data, size, 25);
    claims.seq = take_u64(data, size, 33);
    char tok[TOKEN_MAX_LEN + 1];
    size_t len;
    if (token_sign(&w->keys, &claims, tok, sizeof tok, &len) != USHER_ERR_OK) abort();
    if (len != token_length()) fail("signed token has an unexpected length", tok, len);
    token_claims back;
    if (!token_verify(&w->keys, tok, len, &back)) fail("a signed token is refused", tok, len);
    claims.key_id = w->keys.key_id;
    if (!claims_equal(&claims, &back)) fail("a signed token reads back other claims", tok, len);
    if (!check_string(w, tok, len)) abort();
    if (size > 41 && data[41] & 1) token_cache_add_signed(w->cache, tok, len);
    size_t at = size > 42 ? data[42] % len : 0;
    uint8_t delta = size > 43 && data[43] ? data[43] : 0x01;
    tok[at] = (char)((uint8_t)tok[at] ^ delta);
    if (tok[at] == '\0') tok[at] = '\x01';   /* a string, not a shorter one */
    if (check_string(w, tok, len)) fail("a token with one byte changed is accepted", tok, len);
}

static void check_user_id(const char *s, size_t len)
{
    user_id u;
    if (!user_id_parse(s, len, &u)) return;
    char back[37];
    user_id_format(&u, back);
    if (len != 36 || memcmp(back, s, 36) != 0) fail("a user id does not format back", s, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    token_world *w = world_get();
    if (size == 0) return 0;
    size_t n = size < TOKEN_MAX_LEN ? size : TOKEN_MAX_LEN;
    check_string(w, (const char *)data, n);
    check_user_id((const char *)data, n);
    check_tamper(w, data, size);
    return 0;
}

#ifdef FUZZ_MAKE_CORPUS
/* Seeds: one valid token of each kind, and a user id. */
int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: %s DIR\n", argv[0]); return 2; }
    token_world *w = world_get();
    for (int kind = TOKEN_SESSION; kind <= TOKEN_ADMIN; kind++) {
        token_claims c = { .kind = (token_kind)kind, .expires_at_ms = 4102444800000,
                           .concert_id = kind == TOKEN_QUEUE ? 1 : 0, .seq = kind == TOKEN_QUEUE ? 1 : 0 };
        if (kind != TOKEN_ADMIN) memset(&c.user, 0x5a, sizeof c.user);
        char tok[TOKEN_MAX_LEN + 1], path[4096];
        size_t len;
        if (token_sign(&w->keys, &c, tok, sizeof tok, &len) != USHER_ERR_OK) return 1;
        snprintf(path, sizeof path, "%s/valid_kind%d", argv[1], kind);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(tok, 1, len, f) != len || fclose(f) != 0) { perror(path); return 1; }
    }
    const char *uid = "0123abcd-4567-89ef-0123-456789abcdef";
    char path[4096];
    snprintf(path, sizeof path, "%s/user_id", argv[1]);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(uid, 1, strlen(uid), f) != strlen(uid) || fclose(f) != 0) { perror(path); return 1; }
    return 0;
}
#endif
