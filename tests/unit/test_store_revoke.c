/* Revocations: the store's record (store_revoke.c) and the loop thread's
 * cache over it (revocation_cache.c), including how a token's issue time is
 * judged from its expiry. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "store_fixture.h"
#include "../../server/revocation_cache.h"

static void make_user(store_fixture *fx, unsigned n)
{
    uint8_t hash[STORE_SECRET_HASH_BYTES] = { 0 };
    user_id u = fx_user(n);
    store_txn *t = fx_write(fx);
    assert_int_equal(store_user_create(t, &u, hash, FX_T0), USHER_ERR_OK);
    fx_commit(t);
}

static usher_err revoke_at(store_fixture *fx, unsigned n, int64_t now_ms, int64_t *at)
{
    user_id u = fx_user(n);
    store_txn *t = fx_write(fx);
    usher_err e = store_user_revoke(t, &u, now_ms, at);
    if (e == USHER_ERR_OK) fx_commit(t);
    else store_txn_end(t);
    return e;
}

static uint64_t version_of(store_fixture *fx)
{
    uint64_t v = 99;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_revocations_version(t, &v), USHER_ERR_OK);
    store_txn_end(t);
    return v;
}

static void test_revoke_records_the_instant_and_moves_the_version(void **state)
{
    store_fixture *fx = *state;
    make_user(fx, 1);
    assert_int_equal(version_of(fx), 0);
    int64_t at = 0, got = 0;
    assert_int_equal(revoke_at(fx, 1, FX_T0 + 10, &at), USHER_ERR_OK);
    assert_int_equal(at, FX_T0 + 10);
    assert_int_equal(version_of(fx), 1);
    user_id u = fx_user(1), other = fx_user(2);
    store_txn *t = fx_read(fx);
    assert_int_equal(store_revocation_get(t, &u, &got), USHER_ERR_OK);
    assert_int_equal(got, FX_T0 + 10);
    assert_int_equal(store_revocation_get(t, &other, &got), USHER_ERR_NOT_FOUND);
    store_txn_end(t);
    /* An earlier clock never moves it back; the version still moves. */
    assert_int_equal(revoke_at(fx, 1, FX_T0 + 5, &at), USHER_ERR_OK);
    assert_int_equal(at, FX_T0 + 10);
    assert_int_equal(version_of(fx), 2);
    assert_int_equal(revoke_at(fx, 1, FX_T0 + 20, &at), USHER_ERR_OK);
    assert_int_equal(at, FX_T0 + 20);
}

static void test_revoking_an_unknown_user_is_not_found_and_changes_nothing(void **state)
{
    store_fixture *fx = *state;
    int64_t at = 0;
    assert_int_equal(revoke_at(fx, 9, FX_T0, &at), USHER_ERR_NOT_FOUND);
    assert_int_equal(version_of(fx), 0);
}

static void test_each_skips_revocations_older_than_since(void **state)
{
    store_fixture *fx = *state;
    make_user(fx, 1);
    make_user(fx, 2);
    assert_int_equal(revoke_at(fx, 1, FX_T0, NULL), USHER_ERR_OK);
    assert_int_equal(revoke_at(fx, 2, FX_T0 + 1000, NULL), USHER_ERR_OK);
    revocation_cache rc;
    revocation_cache_init(&rc);
    usher_config cfg;
    config_defaults(&cfg);
    cfg.session_ttl_ms = cfg.queue_token_ttl_ms = 500;
    assert_int_equal(revocation_cache_refresh(&rc, fx->st, &cfg, FX_T0 + 1200), USHER_ERR_OK);
    assert_int_equal(rc.n, 1);   /* user 1's revocation outlived every token it could stop */
    assert_memory_equal(rc.entries[0].user.bytes, fx_user(2).bytes, 16);
    revocation_cache_free(&rc);
}

static token_claims claims_of(unsigned n, token_kind kind, int64_t expires_at_ms)
{
    return (token_claims){ .kind = kind, .user = fx_user(n), .expires_at_ms = expires_at_ms };
}

static void test_cache_refuses_tokens_issued_at_or_before_the_revocation(void **state)
{
    store_fixture *fx = *state;
    usher_config cfg;
    config_defaults(&cfg);
    int64_t s_ttl = cfg.session_ttl_ms, q_ttl = cfg.queue_token_ttl_ms;
    make_user(fx, 1);
    make_user(fx, 2);
    revocation_cache rc;
    revocation_cache_init(&rc);
    assert_int_equal(revocation_cache_refresh(&rc, fx->st, &cfg, FX_T0), USHER_ERR_OK);
    token_claims old = claims_of(1, TOKEN_SESSION, FX_T0 + 50 + s_ttl);
    assert_false(revocation_cache_revokes(&rc, &cfg, &old));

    assert_int_equal(revoke_at(fx, 1, FX_T0 + 100, NULL), USHER_ERR_OK);
    assert_false(revocation_cache_revokes(&rc, &cfg, &old));   /* not refreshed yet */
    assert_int_equal(revocation_cache_refresh(&rc, fx->st, &cfg, FX_T0 + 100), USHER_ERR_OK);
    assert_true(revocation_cache_revokes(&rc, &cfg, &old));
    token_claims same_ms = claims_of(1, TOKEN_SESSION, FX_T0 + 100 + s_ttl);
    token_claims after = claims_of(1, TOKEN_SESSION, FX_T0 + 101 + s_ttl);
    token_claims queue_old = claims_of(1, TOKEN_QUEUE, FX_T0 + 100 + q_ttl);
    token_claims queue_new = claims_of(1, TOKEN_QUEUE, FX_T0 + 101 + q_ttl);
    token_claims someone_else = claims_of(2, TOKEN_SESSION, FX_T0 + 50 + s_ttl);
    token_claims admin = claims_of(1, TOKEN_ADMIN, FX_T0 + 50);
    assert_true(revocation_cache_revokes(&rc, &cfg, &same_ms));
    assert_false(revocation_cache_revokes(&rc, &cfg, &after));
    assert_true(revocation_cache_revokes(&rc, &cfg, &queue_old));
    assert_false(revocation_cache_revokes(&rc, &cfg, &queue_new));
    assert_false(revocation_cache_revokes(&rc, &cfg, &someone_else));
    assert_false(revocation_cache_revokes(&rc, &cfg, &admin));
    assert_int_equal(revocation_issued_at(&cfg, &after), FX_T0 + 101);
    revocation_cache_free(&rc);
}

static void test_cache_reloads_only_when_the_version_moves(void **state)
{
    store_fixture *fx = *state;
    usher_config cfg;
    config_defaults(&cfg);
    make_user(fx, 1);
    make_user(fx, 2);
    assert_int_equal(revoke_at(fx, 1, FX_T0, NULL), USHER_ERR_OK);
    revocation_cache rc;
    revocation_cache_init(&rc);
    assert_int_equal(revocation_cache_refresh(&rc, fx->st, &cfg, FX_T0), USHER_ERR_OK);
    assert_int_equal(rc.version, 1);
    rc.entries[0].revoked_at_ms = 42;     /* a mark a reload would overwrite */
    assert_int_equal(revocation_cache_refresh(&rc, fx->st, &cfg, FX_T0), USHER_ERR_OK);
    assert_int_equal(rc.entries[0].revoked_at_ms, 42);   /* same version: nothing reloaded */
    assert_int_equal(revoke_at(fx, 2, FX_T0 + 1, NULL), USHER_ERR_OK);
    assert_int_equal(revocation_cache_refresh(&rc, fx->st, &cfg, FX_T0 + 1), USHER_ERR_OK);
    assert_int_equal(rc.version, 2);
    assert_int_equal(rc.n, 2);
    assert_int_equal(rc.entries[0].revoked_at_ms, FX_T0);   /* reloaded from the store */
    revocation_cache_free(&rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_revoke_records_the_instant_and_moves_the_version),
        FX_TEST(test_revoking_an_unknown_user_is_not_found_and_changes_nothing),
        FX_TEST(test_each_skips_revocations_older_than_since),
        FX_TEST(test_cache_refuses_tokens_issued_at_or_before_the_revocation),
        FX_TEST(test_cache_reloads_only_when_the_version_moves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
