/* Idempotency records: (user, method, request_id) -> fingerprint and
 * result, forgotten after FX_REQUEST_ID_TTL_MS and purged by the tick. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "store_fixture.h"

static const char result_a[] = "first result";

static usher_err idem_put(store_fixture *fx, unsigned user, const char *method, const char *rid,
                          uint8_t fp_byte, int64_t now_ms, const char *result)
{
    user_id u = fx_user(user);
    uint8_t fp[STORE_FINGERPRINT_BYTES];
    memset(fp, fp_byte, sizeof fp);
    store_txn *t = fx_write(fx);
    usher_err err = store_idem_put(t, &u, method, rid, strlen(rid), fp, now_ms, result,
                                   strlen(result));
    fx_commit(t);
    return err;
}

static usher_err idem_get(store_fixture *fx, unsigned user, const char *method, const char *rid,
                          uint8_t fp_byte, int64_t now_ms, char *out, size_t cap)
{
    user_id u = fx_user(user);
    uint8_t fp[STORE_FINGERPRINT_BYTES];
    memset(fp, fp_byte, sizeof fp);
    const void *res = NULL;
    size_t len = 0;
    store_txn *t = fx_read(fx);
    usher_err err = store_idem_get(t, &u, method, rid, strlen(rid), fp, now_ms, &res, &len);
    if (err == USHER_ERR_OK) {
        assert_true(len < cap);
        memcpy(out, res, len);
        out[len] = 0;
    }
    store_txn_end(t);
    return err;
}

static void test_idem_put_then_get_returns_stored_result(void **state)
{
    store_fixture *fx = *state;
    char out[64];
    assert_int_equal(idem_get(fx, 1, "wallet.charge", "r1", 7, FX_T0, out, sizeof out),
                     USHER_ERR_NOT_FOUND);
    assert_int_equal(idem_put(fx, 1, "wallet.charge", "r1", 7, FX_T0, result_a), USHER_ERR_OK);
    assert_int_equal(idem_get(fx, 1, "wallet.charge", "r1", 7, FX_T0 + 1, out, sizeof out),
                     USHER_ERR_OK);
    assert_string_equal(out, result_a);
}

static void test_idem_is_scoped_to_user_and_method(void **state)
{
    store_fixture *fx = *state;
    char out[64];
    assert_int_equal(idem_put(fx, 1, "wallet.charge", "r1", 7, FX_T0, result_a), USHER_ERR_OK);
    assert_int_equal(idem_get(fx, 2, "wallet.charge", "r1", 7, FX_T0, out, sizeof out),
                     USHER_ERR_NOT_FOUND);
    assert_int_equal(idem_get(fx, 1, "payment.pay", "r1", 7, FX_T0, out, sizeof out),
                     USHER_ERR_NOT_FOUND);
    assert_int_equal(idem_get(fx, 1, "wallet.charge", "r2", 7, FX_T0, out, sizeof out),
                     USHER_ERR_NOT_FOUND);
}

static void test_idem_other_fingerprint_is_invalid_argument(void **state)
{
    store_fixture *fx = *state;
    char out[64];
    assert_int_equal(idem_put(fx, 1, "payment.pay", "r1", 7, FX_T0, result_a), USHER_ERR_OK);
    assert_int_equal(idem_get(fx, 1, "payment.pay", "r1", 8, FX_T0, out, sizeof out),
                     USHER_ERR_INVALID_ARGUMENT);
}

static void test_idem_forgotten_after_ttl_and_purged_by_tick(void **state)
{
    store_fixture *fx = *state;
    char out[64];
    assert_int_equal(idem_put(fx, 1, "wallet.charge", "old", 7, FX_T0, result_a), USHER_ERR_OK);
    assert_int_equal(idem_put(fx, 1, "wallet.charge", "new", 7, FX_T0 + 5000, result_a),
                     USHER_ERR_OK);
    int64_t edge = FX_T0 + FX_REQUEST_ID_TTL_MS;
    assert_int_equal(idem_get(fx, 1, "wallet.charge", "old", 7, edge, out, sizeof out),
                     USHER_ERR_OK);
    assert_int_equal(idem_get(fx, 1, "wallet.charge", "old", 7, edge + 1, out, sizeof out),
                     USHER_ERR_NOT_FOUND);
    /* A fingerprint mismatch on a forgotten record no longer matters either. */
    assert_int_equal(idem_get(fx, 1, "wallet.charge", "old", 9, edge + 1, out, sizeof out),
                     USHER_ERR_NOT_FOUND);

    size_t purged = 99;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_idem_tick(t, edge, 10, &purged), USHER_ERR_OK);
    assert_int_equal(purged, 0);
    assert_int_equal(store_idem_tick(t, edge + 1, 10, &purged), USHER_ERR_OK);
    assert_int_equal(purged, 1);
    fx_commit(t);
    /* The purged one is gone even for an old clock; the newer one stays. */
    assert_int_equal(idem_get(fx, 1, "wallet.charge", "old", 7, FX_T0, out, sizeof out),
                     USHER_ERR_NOT_FOUND);
    assert_int_equal(idem_get(fx, 1, "wallet.charge", "new", 7, edge + 1, out, sizeof out),
                     USHER_ERR_OK);
}

static void test_idem_tick_is_bounded_by_max(void **state)
{
    store_fixture *fx = *state;
    char rid[8];
    for (int i = 0; i < 5; i++) {
        snprintf(rid, sizeof rid, "r%d", i);
        assert_int_equal(idem_put(fx, 1, "wallet.charge", rid, 7, FX_T0 + i, result_a), USHER_ERR_OK);
    }
    size_t purged;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_idem_tick(t, FX_T0 + 10 * FX_REQUEST_ID_TTL_MS, 2, &purged), USHER_ERR_OK);
    assert_int_equal(purged, 2);
    assert_int_equal(store_idem_tick(t, FX_T0 + 10 * FX_REQUEST_ID_TTL_MS, 10, &purged), USHER_ERR_OK);
    assert_int_equal(purged, 3);
    fx_commit(t);
}

static void test_idem_put_again_replaces_and_keeps_one_age_entry(void **state)
{
    store_fixture *fx = *state;
    char out[64];
    assert_int_equal(idem_put(fx, 1, "wallet.charge", "r", 7, FX_T0, "one"), USHER_ERR_OK);
    int64_t later = FX_T0 + 2 * FX_REQUEST_ID_TTL_MS;
    assert_int_equal(idem_put(fx, 1, "wallet.charge", "r", 8, later, "two"), USHER_ERR_OK);
    size_t purged;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_idem_tick(t, later, 10, &purged), USHER_ERR_OK);
    fx_commit(t);
    assert_int_equal(purged, 0);   /* the old age entry went with the replacement */
    assert_int_equal(idem_get(fx, 1, "wallet.charge", "r", 8, later, out, sizeof out), USHER_ERR_OK);
    assert_string_equal(out, "two");
}

static void test_idem_result_from_write_txn_survives_later_writes(void **state)
{
    store_fixture *fx = *state;
    assert_int_equal(idem_put(fx, 1, "wallet.charge", "r", 7, FX_T0, result_a), USHER_ERR_OK);
    user_id u = fx_user(1);
    uint8_t fp[STORE_FINGERPRINT_BYTES];
    memset(fp, 7, sizeof fp);
    const void *res;
    size_t len;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_idem_get(t, &u, "wallet.charge", "r", 1, fp, FX_T0, &res, &len),
                     USHER_ERR_OK);
    char rid[8];
    for (int i = 0; i < 200; i++) {   /* rewrite the pages around it */
        snprintf(rid, sizeof rid, "x%d", i);
        assert_int_equal(store_idem_put(t, &u, "wallet.charge", rid, strlen(rid), fp, FX_T0,
                                        "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 30), USHER_ERR_OK);
    }
    assert_int_equal(len, strlen(result_a));
    assert_memory_equal(res, result_a, len);
    store_txn_end(t);
}

static void test_idem_request_id_length_is_bounded(void **state)
{
    store_fixture *fx = *state;
    char rid[STORE_REQUEST_ID_MAX + 2];
    memset(rid, 'a', sizeof rid - 1);
    rid[sizeof rid - 1] = 0;
    assert_int_equal(idem_put(fx, 1, "wallet.charge", rid, 7, FX_T0, result_a),
                     USHER_ERR_INVALID_ARGUMENT);
    rid[STORE_REQUEST_ID_MAX] = 0;
    assert_int_equal(idem_put(fx, 1, "wallet.charge", rid, 7, FX_T0, result_a), USHER_ERR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_idem_put_then_get_returns_stored_result),
        FX_TEST(test_idem_is_scoped_to_user_and_method),
        FX_TEST(test_idem_other_fingerprint_is_invalid_argument),
        FX_TEST(test_idem_forgotten_after_ttl_and_purged_by_tick),
        FX_TEST(test_idem_tick_is_bounded_by_max),
        FX_TEST(test_idem_put_again_replaces_and_keeps_one_age_entry),
        FX_TEST(test_idem_result_from_write_txn_survives_later_writes),
        FX_TEST(test_idem_request_id_length_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
