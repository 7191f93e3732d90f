/* Tokens in replies. An Ed25519 signature costs about 20 µs, and a write's
 * handler runs on the writer thread, where that time would be paid inside
 * every group commit (a batch of 50 queue.enter calls: 1 ms, as much as the
 * commit's fsync). So a handler packs a placeholder of the token's one fixed
 * length and leaves the claims in the call; the loop thread signs them into
 * the reply bytes just before the reply is sent (token_reply_finish).
 * Idempotent methods sign at once: their result is stored with the
 * request_id before any reply exists. One deferred token per call. */
#ifndef USHER_SERVER_TOKEN_REPLY_H
#define USHER_SERVER_TOKEN_REPLY_H

#include <msgpack.h>
#include "method.h"

/* Packs key and a token for claims into c->out (see above). */
usher_err token_reply_pack(call *c, const char *key, const token_claims *claims);

/* Signs a deferred token over its placeholder in result (c->out's buffer)
 * and adds it to cache (the loop thread's), so its first use is already a
 * hit; OK when nothing is pending. Loop thread. */
usher_err token_reply_finish(call *c, msgpack_sbuffer *result, token_cache *cache);

#endif
