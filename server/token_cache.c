/* A fixed-size, direct-mapped cache of verified tokens, so a hot token costs
 * one BLAKE2b hash instead of an Ed25519 verification.
 * Each slot holds the 32-byte digest of a whole token string and its claims.
 * The slot is picked by the digest's first 8 bytes; a hit needs all 32 bytes
 * to match, so a token that differs in any byte never hits. A new token
 * simply replaces the slot's occupant. Only valid tokens are stored; expiry
 * is the caller's business (it checks expires_at_ms on every use).
 * Not thread-safe: one cache per thread (the loop thread). */
#include "token.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define DIGEST_BYTES 32u

typedef struct token_cache_slot {
    bool used;
    uint8_t digest[DIGEST_BYTES];
    token_claims claims;
} token_cache_slot;

struct token_cache {
    size_t slots;
    token_cache_slot slot[];
};

token_cache *token_cache_new(size_t slots)
{
    if (slots == 0)
        slots = 1;
    if (slots > (SIZE_MAX - sizeof(token_cache)) / sizeof(token_cache_slot))
        return NULL;
    token_cache *cache = calloc(1, sizeof(token_cache) + slots * sizeof(token_cache_slot));
    if (cache)
        cache->slots = slots;
    return cache;
}

void token_cache_free(token_cache *cache)
{
    free(cache);
}

static token_cache_slot *slot_for(token_cache *cache, const uint8_t digest[DIGEST_BYTES])
{
    uint64_t index = 0;
    for (int i = 0; i < 8; i++)
        index = index << 8 | digest[i];
    return &cache->slot[index % cache->slots];
}

bool token_verify_cached(const token_keys *keys, token_cache *cache,
                         const char *tok, size_t len, token_claims *out)
{
    uint8_t digest[DIGEST_BYTES];
    token_claims claims;

    if (cache == NULL)
        return token_verify(keys, tok, len, out);
    if (tok == NULL || len == 0 || len > TOKEN_MAX_LEN)
        return false;
    crypto_generichash(digest, sizeof digest, (const unsigned char *)tok, len, NULL, 0);
    token_cache_slot *slot = slot_for(cache, digest);
    if (slot->used && sodium_memcmp(slot->digest, digest, sizeof digest) == 0
        && slot->claims.key_id == keys->key_id) {
        if (out)
            *out = slot->claims;
        return true;
    }
    if (!token_verify(keys, tok, len, &claims))
        return false;
    slot->used = true;
    memcpy(slot->digest, digest, sizeof digest);
    slot->claims = claims;
    if (out)
        *out = claims;
    return true;
}
