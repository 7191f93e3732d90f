/* Test-only token tools: read a token's signed claims and re-sign them with
 * another expiry, using the server's own token code and the key in a data
 * dir (DATA/keys, as usherd and usher-admin load it). They let a test hold a
 * token whose signed expiry has passed while its queue entry, user or
 * deployment is still live, without waiting out the server's lifetimes.
 * Include <cmocka.h> first: a token that does not verify fails the test. */
#ifndef USHER_TESTS_HARNESS_TOKENS_H
#define USHER_TESTS_HARNESS_TOKENS_H

#include <stddef.h>
#include <stdint.h>
#include "../../server/token.h"

/* The claims of tok as verified with data_dir's key; fails the test when
 * the key cannot be read or tok is not a token signed with it. */
void harness_token_claims(const char *data_dir, const char *tok, token_claims *out);

/* tok re-signed with data_dir's key into out[cap]: every claim as it was
 * (kind, user, concert, seq) except expires_at_ms. Fails the test when tok
 * does not verify or out is too small. */
void harness_token_resign(const char *data_dir, const char *tok, int64_t expires_at_ms,
                          char *out, size_t cap);

#endif
