/* Wallet ledger and limits, and users.
 * FX_MAX_CHARGE is 1,000,000 and FX_BALANCE_LIMIT 2,000,000. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "store_fixture.h"

static usher_err charge(store_fixture *fx, unsigned user, int64_t amount, int64_t *after)
{
    user_id u = fx_user(user);
    int64_t dummy;
    store_txn *t = fx_write(fx);
    usher_err err = store_wallet_charge(t, &u, amount, FX_T0, after ? after : &dummy);
    fx_commit(t);
    return err;
}

static void test_wallet_balance_of_new_user_is_zero(void **state)
{
    assert_int_equal(fx_balance(*state, 5), 0);
}

static void test_wallet_charge_adds_and_records_entry(void **state)
{
    store_fixture *fx = *state;
    int64_t after;
    assert_int_equal(charge(fx, 1, 300, &after), USHER_ERR_OK);
    assert_int_equal(after, 300);
    assert_int_equal(charge(fx, 1, 200, &after), USHER_ERR_OK);
    assert_int_equal(after, 500);
    assert_int_equal(fx_balance(fx, 1), 500);
    assert_int_equal(fx_balance(fx, 2), 0);

    user_id u = fx_user(1);
    store_ledger_entry e[4];
    size_t n;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_wallet_history(t, &u, 0, e, 4, &n), USHER_ERR_OK);
    store_txn_end(t);
    assert_int_equal(n, 2);
    assert_true(e[0].entry_id > e[1].entry_id);
    assert_int_equal(e[0].kind, STORE_LEDGER_CHARGE);
    assert_int_equal(e[0].amount_krw, 200);
    assert_int_equal(e[0].balance_after_krw, 500);
    assert_int_equal(e[0].at_ms, FX_T0);
    assert_int_equal(e[0].payment_id, 0);
    assert_int_equal(e[1].balance_after_krw, 300);
}

static void test_wallet_charge_rejects_non_positive_amount(void **state)
{
    store_fixture *fx = *state;
    assert_int_equal(charge(fx, 1, 0, NULL), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(charge(fx, 1, -5, NULL), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(fx_balance(fx, 1), 0);
}

static void test_wallet_charge_limits(void **state)
{
    store_fixture *fx = *state;
    assert_int_equal(charge(fx, 1, FX_MAX_CHARGE + 1, NULL), USHER_ERR_AMOUNT_LIMIT);
    assert_int_equal(charge(fx, 1, FX_MAX_CHARGE, NULL), USHER_ERR_OK);
    assert_int_equal(charge(fx, 1, FX_MAX_CHARGE - 1, NULL), USHER_ERR_OK);
    assert_int_equal(charge(fx, 1, 2, NULL), USHER_ERR_AMOUNT_LIMIT);   /* one past the limit */
    assert_int_equal(charge(fx, 1, 1, NULL), USHER_ERR_OK);             /* exactly the limit */
    assert_int_equal(fx_balance(fx, 1), FX_BALANCE_LIMIT);
    assert_int_equal(charge(fx, 1, 1, NULL), USHER_ERR_AMOUNT_LIMIT);
}

static void test_wallet_charge_cannot_overflow(void **state)
{
    store_fixture *fx = *state;
    fx_close(fx);
    fx->opt.policy.max_charge_krw = INT64_MAX;
    fx->opt.policy.balance_limit_krw = INT64_MAX;
    fx_open(fx);
    assert_int_equal(charge(fx, 1, INT64_MAX - 1, NULL), USHER_ERR_OK);
    assert_int_equal(charge(fx, 1, INT64_MAX, NULL), USHER_ERR_AMOUNT_LIMIT);
    assert_int_equal(charge(fx, 1, 2, NULL), USHER_ERR_AMOUNT_LIMIT);
    assert_int_equal(charge(fx, 1, 1, NULL), USHER_ERR_OK);
    assert_int_equal(fx_balance(fx, 1), INT64_MAX);
}

static void test_wallet_history_pages_newest_first(void **state)
{
    store_fixture *fx = *state;
    for (int i = 1; i <= 7; i++) {
        assert_int_equal(charge(fx, 1, i, NULL), USHER_ERR_OK);
        assert_int_equal(charge(fx, 2, 100 * i, NULL), USHER_ERR_OK);   /* interleaved ids */
    }
    user_id u = fx_user(1);
    store_ledger_entry e[3];
    size_t n, seen = 0;
    uint64_t before = 0;
    int64_t expect = 7;
    store_txn *t = fx_read(fx);
    do {
        assert_int_equal(store_wallet_history(t, &u, before, e, 3, &n), USHER_ERR_OK);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(e[i].amount_krw, expect--);
        if (n)
            before = e[n - 1].entry_id;
        seen += n;
    } while (n > 0);
    store_txn_end(t);
    assert_int_equal(seen, 7);
}

static void test_user_create_and_secret_hash(void **state)
{
    store_fixture *fx = *state;
    user_id u = fx_user(1), v = fx_user(2);
    uint8_t hash[STORE_SECRET_HASH_BYTES], got[STORE_SECRET_HASH_BYTES];
    memset(hash, 0x42, sizeof hash);
    store_txn *t = fx_write(fx);
    assert_int_equal(store_user_create(t, &u, hash, FX_T0), USHER_ERR_OK);
    assert_int_equal(store_user_create(t, &u, hash, FX_T0), USHER_ERR_INTERNAL);
    fx_commit(t);
    t = fx_read(fx);
    assert_int_equal(store_user_secret_hash(t, &u, got), USHER_ERR_OK);
    assert_memory_equal(got, hash, sizeof hash);
    assert_int_equal(store_user_secret_hash(t, &v, got), USHER_ERR_NOT_FOUND);
    store_txn_end(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_wallet_balance_of_new_user_is_zero),
        FX_TEST(test_wallet_charge_adds_and_records_entry),
        FX_TEST(test_wallet_charge_rejects_non_positive_amount),
        FX_TEST(test_wallet_charge_limits),
        FX_TEST(test_wallet_charge_cannot_overflow),
        FX_TEST(test_wallet_history_pages_newest_first),
        FX_TEST(test_user_create_and_secret_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
