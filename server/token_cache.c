/* The verified-token cache (contract in token.h).
 * Layout: buckets of TOKEN_CACHE_WAYS tags, one 64-byte cache line each. A
 * tag is SipHash-2-4 with 128-bit output (libsodium's crypto_shorthash_
 * siphashx24) of the whole token string under a key drawn at creation, so
 * nobody outside the process can compute which string maps to which tag:
 * making a forged token hit means guessing a 128-bit keyed hash. The tag's
 * first 8 bytes pick the bucket; a bucket is kept newest first, and a new
 * tag pushes out the oldest. An all-zero tag marks an empty way, so stored
 * tags always have their lowest bit set. */
#include "token.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_CACHE_WAYS 4u
#define TAG_BYTES TOKEN_CACHE_BYTES_PER_TOKEN

_Static_assert(TAG_BYTES == crypto_shorthash_siphashx24_BYTES, "a tag is one SipHash-x24 output");

typedef struct cache_bucket {
    uint8_t tag[TOKEN_CACHE_WAYS][TAG_BYTES];
} cache_bucket;

struct token_cache {
    uint8_t key[crypto_shorthash_siphashx24_KEYBYTES];
    size_t buckets;
    cache_bucket *bucket;
    uint64_t hits, misses, evictions;
};

token_cache *token_cache_new(size_t tokens)
{
    if (tokens == 0)
        return NULL;
    size_t buckets = tokens / TOKEN_CACHE_WAYS + (tokens % TOKEN_CACHE_WAYS != 0);
    token_cache *cache = calloc(1, sizeof *cache);
    if (!cache)
        return NULL;
    /* calloc of this size maps fresh zero pages: resident only once touched. */
    cache->bucket = calloc(buckets, sizeof *cache->bucket);
    if (!cache->bucket) {
        free(cache);
        return NULL;
    }
    cache->buckets = buckets;
    randombytes_buf(cache->key, sizeof cache->key);
    return cache;
}

void token_cache_free(token_cache *cache)
{
    if (!cache)
        return;
    free(cache->bucket);
    sodium_memzero(cache->key, sizeof cache->key);
    free(cache);
}

/* Constant-time equality of two tags. */
static bool tag_equal(const uint8_t *a, const uint8_t *b)
{
    uint8_t diff = 0;
    for (unsigned i = 0; i < TAG_BYTES; i++)
        diff |= (uint8_t)(a[i] ^ b[i]);
    return diff == 0;
}

static cache_bucket *bucket_of(token_cache *cache, const uint8_t tag[TAG_BYTES])
{
    uint64_t index;
    memcpy(&index, tag, sizeof index);
    return &cache->bucket[index % cache->buckets];
}

/* Way of tag in b, or -1. */
static int bucket_find(const cache_bucket *b, const uint8_t tag[TAG_BYTES])
{
    for (unsigned w = 0; w < TOKEN_CACHE_WAYS; w++)
        if (tag_equal(b->tag[w], tag))
            return (int)w;
    return -1;
}

/* Puts tag first in b, shifting the others down; the last one falls out. */
static void bucket_insert(token_cache *cache, cache_bucket *b, const uint8_t tag[TAG_BYTES])
{
    static const uint8_t empty[TAG_BYTES];
    if (!tag_equal(b->tag[TOKEN_CACHE_WAYS - 1], empty))
        cache->evictions++;
    memmove(b->tag[1], b->tag[0], (TOKEN_CACHE_WAYS - 1) * TAG_BYTES);
    memcpy(b->tag[0], tag, TAG_BYTES);
}

static void tag_of(const token_cache *cache, const char *tok, size_t len, uint8_t tag[TAG_BYTES])
{
    crypto_shorthash_siphashx24(tag, (const unsigned char *)tok, len, cache->key);
    tag[TAG_BYTES - 1] |= 1u;
}

void token_cache_add_signed(token_cache *cache, const char *tok, size_t len)
{
    if (cache == NULL || tok == NULL || len == 0 || len > TOKEN_MAX_LEN)
        return;
    uint8_t tag[TAG_BYTES];
    tag_of(cache, tok, len, tag);
    cache_bucket *b = bucket_of(cache, tag);
    if (bucket_find(b, tag) < 0)
        bucket_insert(cache, b, tag);
}

bool token_verify_cached(const token_keys *keys, token_cache *cache,
                         const char *tok, size_t len, token_claims *out)
{
    if (cache == NULL)
        return token_verify(keys, tok, len, out);
    if (tok == NULL || len == 0 || len > TOKEN_MAX_LEN)
        return false;
    uint8_t tag[TAG_BYTES];
    tag_of(cache, tok, len, tag);
    cache_bucket *b = bucket_of(cache, tag);
    if (bucket_find(b, tag) >= 0 && token_claims_trusted(keys, tok, len, out)) {
        cache->hits++;
        return true;
    }
    cache->misses++;
    if (!token_verify(keys, tok, len, out))
        return false;
    bucket_insert(cache, b, tag);
    return true;
}

token_cache_stats token_cache_stats_get(const token_cache *cache)
{
    token_cache_stats s = { 0 };
    if (cache) {
        s.capacity = cache->buckets * TOKEN_CACHE_WAYS;
        s.hits = cache->hits;
        s.misses = cache->misses;
        s.evictions = cache->evictions;
    }
    return s;
}
