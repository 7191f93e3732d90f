/* Signed tokens: session, queue and admin tokens, Ed25519 via libsodium.
 * A token is "u1." + base64url(claims || signature): the claims are a fixed
 * binary layout (kind, key id, user, expiry, concert, seq) and the signature
 * covers all of them, so changing any byte invalidates the token.
 * The key pair lives in DATA/keys (mode 0600), shared by every process on
 * the data dir. Keys are read-only after load: any thread may sign/verify.
 * A token_cache belongs to one thread (the loop thread). */
#ifndef USHER_SERVER_TOKEN_H
#define USHER_SERVER_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "store.h"

#define TOKEN_MAX_LEN 512           /* longest token string accepted */

typedef enum token_kind { TOKEN_SESSION = 1, TOKEN_QUEUE = 2, TOKEN_ADMIN = 3 } token_kind;

typedef struct token_claims {
    token_kind kind;
    uint32_t key_id;          /* first bytes of a hash of the public key */
    user_id user;             /* all-zero for admin tokens */
    int64_t expires_at_ms;
    uint64_t concert_id;      /* queue tokens; 0 otherwise */
    uint64_t seq;             /* queue tokens; 0 otherwise */
} token_claims;

typedef struct token_keys {
    uint8_t public_key[32];
    uint8_t secret_key[64];
    uint32_t key_id;
} token_keys;

/* Loads DATA/keys, creating it (0600, atomically, safe against another
 * process doing the same) when absent. Refuses a symlink or a key file
 * readable by group/others. INTERNAL with a message in err (may be NULL). */
usher_err token_keys_open(const char *data_dir, token_keys *out, char *err, size_t err_cap);

typedef enum token_keys_mode {
    TOKEN_KEYS_LOAD_OR_CREATE,   /* usherd: the first start of a data dir makes the key */
    TOKEN_KEYS_LOAD_ONLY         /* a tool: a dir without a key is not a data dir */
} token_keys_mode;

/* token_keys_open with a mode (token_keys_open is LOAD_OR_CREATE). Under
 * LOAD_ONLY nothing is created, not even the directory, and a missing key
 * file is NOT_FOUND (err says which path). *created (may be NULL) tells
 * whether this call made the key that is now DATA/keys (false when it was
 * loaded, or another process's creation won the race). */
usher_err token_keys_open_as(const char *data_dir, token_keys_mode mode, token_keys *out,
                             bool *created, char *err, size_t err_cap);

/* The key pair of a shared store (PostgreSQL): what the database holds is
 * the 32-byte Ed25519 seed (TOKEN_SEED_BYTES), from which every host derives
 * the same pair. token_keys_from_store asks store_shared_key for it,
 * offering a fresh random seed that is stored when none is yet (*created,
 * may be NULL, then true; racing usherd agree on the first one stored). On
 * a read-only store (a tool) nothing is stored: NOT_FOUND when the
 * database holds no key yet. UNAVAILABLE when the database cannot be
 * reached; INTERNAL otherwise. err (may be NULL) says why. */
#define TOKEN_SEED_BYTES 32
usher_err token_keys_from_seed(const uint8_t seed[TOKEN_SEED_BYTES], token_keys *out);
usher_err token_keys_from_store(store *st, token_keys *out, bool *created, char *err,
                                size_t err_cap);

/* Signs claims (key_id is filled from keys) into out as a NUL-terminated
 * string; INTERNAL when cap is too small. */
usher_err token_sign(const token_keys *keys, const token_claims *claims,
                     char *out, size_t cap, size_t *len);

/* The length of every token string this server signs (they have one length). */
size_t token_length(void);

/* True when tok[0..len) is well-formed and signed by keys (signature checked
 * before any claim is trusted); fills *out. Expiry is not checked here. */
bool token_verify(const token_keys *keys, const char *tok, size_t len, token_claims *out);

/* The claims of tok without checking its signature: only for a caller that
 * has proven this exact string was verified before (the token cache). */
bool token_claims_trusted(const token_keys *keys, const char *tok, size_t len, token_claims *out);

/* A bounded cache of verified tokens, so a token seen before costs one keyed
 * 128-bit hash instead of an Ed25519 verification. It keeps 16 bytes per
 * token (TOKEN_CACHE_BYTES_PER_TOKEN) and never the claims: a hit re-reads
 * them from the token itself. Only valid tokens enter; a token that differs
 * in any byte from a cached one is verified in full. When more tokens are
 * live than it holds, the oldest of a bucket makes room (misses then cost a
 * verification each, nothing else). Memory is reserved at creation and
 * becomes resident only as tokens arrive. One cache per thread. */
typedef struct token_cache token_cache;

#define TOKEN_CACHE_BYTES_PER_TOKEN 16u

typedef struct token_cache_stats {
    size_t capacity;         /* tokens it can hold */
    uint64_t hits, misses;   /* lookups of valid-looking tokens */
    uint64_t evictions;      /* cached tokens pushed out by newer ones */
} token_cache_stats;

/* A cache of at least `tokens` entries (rounded up to whole buckets); NULL
 * on OOM. 0 means no cache: every lookup verifies. */
token_cache *token_cache_new(size_t tokens);

/* Frees the cache (NULL is fine). */
void token_cache_free(token_cache *cache);

/* token_verify through the cache (NULL cache: plain token_verify). */
bool token_verify_cached(const token_keys *keys, token_cache *cache,
                         const char *tok, size_t len, token_claims *out);

/* Remembers tok as verified without checking it: only for a token this
 * process has just signed itself. */
void token_cache_add_signed(token_cache *cache, const char *tok, size_t len);

/* Counters since creation. */
token_cache_stats token_cache_stats_get(const token_cache *cache);

/* Formats a user id as lowercase 8-4-4-4-12 (37 bytes with the NUL). */
void user_id_format(const user_id *user, char out[37]);

/* Parses a lowercase 8-4-4-4-12 UUID of exactly len bytes. */
bool user_id_parse(const char *s, size_t len, user_id *out);

/* A new random (version 4) user id. */
void user_id_random(user_id *out);

#endif
