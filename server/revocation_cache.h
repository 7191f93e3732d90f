/* The revocations one usherd process knows (admin.session.revoke), kept on
 * the loop thread so the token filter checks a session or queue token
 * without a storage read. It is refreshed from the store on a short timer
 * and right after this process commits a revocation: one read of
 * store_revocations_version, and a reload only when that changed. So a
 * revocation made by any process takes effect everywhere within one
 * refresh interval (REVOCATION_REFRESH_MS). Loop thread only. */
#ifndef USHER_SERVER_REVOCATION_CACHE_H
#define USHER_SERVER_REVOCATION_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "store.h"
#include "token.h"

#define REVOCATION_REFRESH_MS 100

typedef struct revocation_entry {
    user_id user;
    int64_t revoked_at_ms;
} revocation_entry;

typedef struct revocation_cache {
    bool loaded;                 /* version and entries were read at least once */
    uint64_t version;            /* store_revocations_version of the entries */
    revocation_entry *entries;   /* sorted by user bytes; owned */
    size_t n, cap;
} revocation_cache;

/* An empty cache (nothing is revoked until the first refresh). */
void revocation_cache_init(revocation_cache *rc);

/* Frees the entries. */
void revocation_cache_free(revocation_cache *rc);

/* Reads the version in a fresh snapshot of st and, when it changed, every
 * revocation younger than the longest token life of cfg (older ones can no
 * longer stop a live token). On failure the cache keeps what it had and
 * the error is returned (the next refresh tries again). */
usher_err revocation_cache_refresh(revocation_cache *rc, store *st, const usher_config *cfg,
                                   int64_t now_ms);

/* revocation_cache_refresh in two halves, so the store read may run on
 * another thread (a remote store: server.c runs it on the writer's pool)
 * and only the install on the loop. _read touches no cache: it is given
 * what the cache knows (loaded, its version) and fills out (changed false
 * when the version did not move). _install takes what out holds (and
 * frees what it does not keep) and returns the read's error; a failed read
 * leaves the cache as it was. */
typedef struct revocation_load {
    usher_err err;
    bool changed;
    uint64_t version;
    revocation_entry *entries;   /* owned until installed */
    size_t n, cap;
} revocation_load;
usher_err revocation_cache_read(store *st, const usher_config *cfg, int64_t now_ms, bool loaded,
                                uint64_t known_version, revocation_load *out);
usher_err revocation_cache_install(revocation_cache *rc, revocation_load *ld);

/* True when claims (a session or queue token) were issued at or before a
 * revocation of their user. A token carries its expiry, not its issue time:
 * it was issued at expires_at - the lifetime this server gives that kind
 * (--session-ttl, or the queue token's). Other kinds are never revoked. */
bool revocation_cache_revokes(const revocation_cache *rc, const usher_config *cfg,
                              const token_claims *claims);

/* The issue time of claims as revocation_cache_revokes judges it. */
int64_t revocation_issued_at(const usher_config *cfg, const token_claims *claims);

#endif
