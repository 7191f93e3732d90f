/* The loop thread's copy of the revocations (contract in revocation_cache.h).
 * Revocations are rare (an operator's act), so the whole set is reloaded
 * when the version moves, into a sorted array searched by bisection. */
#include "revocation_cache.h"

#include <stdlib.h>
#include <string.h>

void revocation_cache_init(revocation_cache *rc)
{
    memset(rc, 0, sizeof *rc);
}

void revocation_cache_free(revocation_cache *rc)
{
    free(rc->entries);
    memset(rc, 0, sizeof *rc);
}

/* What a reload fills, before it replaces the cache's entries. */
typedef struct reload {
    revocation_entry *entries;
    size_t n, cap;
    bool oom;
} reload;

static bool reload_add(void *ctx, const user_id *user, int64_t revoked_at_ms)
{
    reload *r = ctx;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        revocation_entry *grown = realloc(r->entries, cap * sizeof *grown);
        if (!grown) { r->oom = true; return false; }
        r->entries = grown;
        r->cap = cap;
    }
    r->entries[r->n++] = (revocation_entry){ .user = *user, .revoked_at_ms = revoked_at_ms };
    return true;   /* the store walks in key order: the array comes out sorted */
}

static int64_t longest_token_life_ms(const usher_config *cfg)
{
    return cfg->session_ttl_ms > cfg->queue_token_ttl_ms ? cfg->session_ttl_ms
                                                         : cfg->queue_token_ttl_ms;
}

usher_err revocation_cache_read(store *st, const usher_config *cfg, int64_t now_ms, bool loaded,
                                uint64_t known_version, revocation_load *out)
{
    memset(out, 0, sizeof *out);
    store_txn *txn;
    usher_err e = store_read_begin(st, &txn);
    if (e != USHER_ERR_OK) return out->err = e;
    uint64_t version;
    e = store_revocations_version(txn, &version);
    if (e != USHER_ERR_OK || (loaded && version == known_version)) {
        store_txn_end(txn);
        return out->err = e;
    }
    reload r = { 0 };
    e = store_revocations_each(txn, now_ms - longest_token_life_ms(cfg), reload_add, &r);
    store_txn_end(txn);
    if (e == USHER_ERR_OK && r.oom) e = USHER_ERR_INTERNAL;
    if (e != USHER_ERR_OK) {
        free(r.entries);
        return out->err = e;
    }
    out->changed = true;
    out->version = version;
    out->entries = r.entries;
    out->n = r.n;
    out->cap = r.cap;
    return out->err = USHER_ERR_OK;
}

usher_err revocation_cache_install(revocation_cache *rc, revocation_load *ld)
{
    usher_err e = ld->err;
    if (e == USHER_ERR_OK && ld->changed) {
        free(rc->entries);
        rc->entries = ld->entries;
        rc->n = ld->n;
        rc->cap = ld->cap;
        rc->version = ld->version;
        rc->loaded = true;
    } else {
        free(ld->entries);
    }
    memset(ld, 0, sizeof *ld);
    return e;
}

usher_err revocation_cache_refresh(revocation_cache *rc, store *st, const usher_config *cfg,
                                   int64_t now_ms)
{
    revocation_load ld;
    revocation_cache_read(st, cfg, now_ms, rc->loaded, rc->version, &ld);
    return revocation_cache_install(rc, &ld);
}

static const revocation_entry *find(const revocation_cache *rc, const user_id *user)
{
    size_t lo = 0, hi = rc->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = memcmp(rc->entries[mid].user.bytes, user->bytes, sizeof user->bytes);
        if (cmp == 0) return &rc->entries[mid];
        if (cmp < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

int64_t revocation_issued_at(const usher_config *cfg, const token_claims *claims)
{
    int64_t ttl = claims->kind == TOKEN_QUEUE ? cfg->queue_token_ttl_ms : cfg->session_ttl_ms;
    return claims->expires_at_ms - ttl;
}

bool revocation_cache_revokes(const revocation_cache *rc, const usher_config *cfg,
                              const token_claims *claims)
{
    if (claims->kind != TOKEN_SESSION && claims->kind != TOKEN_QUEUE) return false;
    const revocation_entry *e = rc->n ? find(rc, &claims->user) : NULL;
    return e && revocation_issued_at(cfg, claims) <= e->revoked_at_ms;
}
