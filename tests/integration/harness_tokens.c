/* Harness, tokens: claims and re-signing with a data dir's key (see
 * harness_tokens.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_tokens.h"

#include <sodium.h>
#include <string.h>

/* data_dir's key pair; fails the test when it cannot be loaded. */
static void keys_load(const char *data_dir, token_keys *keys)
{
    char err[256] = "";
    if (sodium_init() < 0)
        fail_msg("libsodium failed to initialise");
    if (strncmp(data_dir, "postgres://", 11) == 0 || strncmp(data_dir, "postgresql://", 13) == 0) {
        store *st;
        store_options opt = store_options_default();
        opt.read_only = true;
        opt.connections = 1;
        if (store_open(&st, data_dir, &opt) != USHER_ERR_OK)
            fail_msg("cannot open %s", data_dir);
        usher_err e = token_keys_from_store(st, keys, NULL, err, sizeof err);
        store_close(st);
        if (e != USHER_ERR_OK)
            fail_msg("cannot read the key of %s: %s", data_dir, err);
        return;
    }
    if (token_keys_open(data_dir, keys, err, sizeof err) != USHER_ERR_OK)
        fail_msg("cannot open the keys of %s: %s", data_dir, err);
}

/* Verifies tok with keys into *out; fails the test when it does not verify. */
static void claims_read(const token_keys *keys, const char *tok, token_claims *out)
{
    if (!token_verify(keys, tok, strlen(tok), out))
        fail_msg("token '%s' is not signed by this data dir's key", tok);
}

void harness_token_claims(const char *data_dir, const char *tok, token_claims *out)
{
    token_keys keys;
    keys_load(data_dir, &keys);
    claims_read(&keys, tok, out);
    sodium_memzero(&keys, sizeof keys);
}

void harness_token_resign(const char *data_dir, const char *tok, int64_t expires_at_ms,
                          char *out, size_t cap)
{
    token_keys keys;
    token_claims claims;
    size_t len;
    keys_load(data_dir, &keys);
    claims_read(&keys, tok, &claims);
    claims.expires_at_ms = expires_at_ms;
    usher_err e = token_sign(&keys, &claims, out, cap, &len);
    sodium_memzero(&keys, sizeof keys);
    if (e != USHER_ERR_OK)
        fail_msg("re-signing failed: %s", usher_err_message(e));
}
