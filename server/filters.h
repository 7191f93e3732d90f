/* The pipeline's interceptors, driven by the method table's flags:
 * - filter_tokens (loop thread): session, queue and admin token signatures,
 *   expiry and revocation (the loop's revocation cache), filling c->user /
 *   c->queue.
 * - filter_replay and filter_remember (in the request's transaction):
 *   request_id replay of a first success, and recording it.
 * - filter_queue_active (in the request's transaction): the queue entry named
 *   by the token must be ACTIVE now.
 * Handlers never see a request whose filters failed. */
#ifndef USHER_SERVER_FILTERS_H
#define USHER_SERVER_FILTERS_H

#include <stdbool.h>
#include "method.h"
#include "revocation_cache.h"

/* Checks the tokens a method's flags ask for. UNAUTHENTICATED (session),
 * TOKEN_INVALID / TOKEN_EXPIRED (queue), FORBIDDEN (admin). A session or
 * queue token that revoked (may be NULL: none) says was revoked is refused
 * like a forged one, after its signature was checked: the token cache only
 * spares the signature check, never this one. */
usher_err filter_tokens(call *c, token_cache *cache, const revocation_cache *revoked);

/* For METHOD_IDEMPOTENT with a request_id: OK with *replayed = true and the
 * stored result copied to c->out when this is a repeat; INVALID_ARGUMENT
 * (request_id) when the parameters differ; OK with *replayed = false when new. */
usher_err filter_replay(call *c, bool *replayed);

/* Stores a successful result under the request_id and fingerprint that
 * filter_replay read (no-op without a request_id). */
usher_err filter_remember(call *c, const void *result, size_t len);

/* QUEUE_WAITING, TOKEN_EXPIRED or TOKEN_INVALID unless c->queue's entry is ACTIVE. */
usher_err filter_queue_active(call *c);

#endif
