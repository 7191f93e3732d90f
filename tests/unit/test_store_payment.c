/* Payments: all or nothing, every refusal, the freed queue slot going to
 * the next in line in the same txn, and the ledger summing to the balance. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "store_fixture.h"

typedef struct pay_ctx { uint64_t concert, schedule, seq; } pay_ctx;

/* A 10-seat performance (seat i costs 1000 * i) and user 1 ACTIVE in its queue. */
static pay_ctx setup_pay(store_fixture *fx)
{
    pay_ctx p;
    fx_catalog(fx, 10, 1000, FX_T0 + 86400000, &p.concert, &p.schedule);
    user_id u = fx_user(1);
    store_queue_entry e;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_queue_enter(t, &u, p.concert, FX_T0, &e), USHER_ERR_OK);
    fx_commit(t);
    assert_int_equal(e.state, STORE_QUEUE_ACTIVE);
    p.seq = e.seq;
    return p;
}

static uint64_t hold(store_fixture *fx, unsigned user, const pay_ctx *p, uint32_t seat)
{
    store_reservation r;
    assert_int_equal(fx_hold(fx, user, p->concert, p->schedule, seat, FX_T0, &r), USHER_ERR_OK);
    return r.reservation_id;
}

/* Pays in a child txn like the server: commit on success, abort on error. */
static usher_err pay(store_fixture *fx, unsigned user, const pay_ctx *p, const uint64_t *ids,
                     size_t n, int64_t now_ms, store_payment *out, int64_t *balance)
{
    user_id u = fx_user(user);
    store_payment dummy_p;
    int64_t dummy_b;
    store_txn *t = fx_write(fx), *child = NULL;
    assert_int_equal(store_child_begin(t, &child), USHER_ERR_OK);
    usher_err err = store_payment_pay(child, &u, p->concert, p->seq, ids, n, now_ms,
                                      out ? out : &dummy_p, balance ? balance : &dummy_b);
    if (err == USHER_ERR_OK)
        assert_int_equal(store_txn_commit(child), USHER_ERR_OK);
    else
        store_txn_end(child);
    fx_commit(t);
    return err;
}

static size_t payments_of(store_fixture *fx, unsigned user, store_payment *out, size_t cap)
{
    user_id u = fx_user(user);
    size_t n;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_payment_list(t, &u, 0, out, cap, &n), USHER_ERR_OK);
    store_txn_end(t);
    return n;
}

static void test_pay_sells_seats_confirms_and_debits(void **state)
{
    store_fixture *fx = *state;
    pay_ctx p = setup_pay(fx);
    fx_charge(fx, 1, 10000);
    uint64_t ids[2] = { hold(fx, 1, &p, 2), hold(fx, 1, &p, 1) };
    store_payment pm;
    int64_t balance;
    int64_t paid_at = FX_T0 + 10;
    assert_int_equal(pay(fx, 1, &p, ids, 2, paid_at, &pm, &balance), USHER_ERR_OK);
    assert_true(pm.payment_id > 0);
    assert_int_equal(pm.amount_krw, 3000);
    assert_int_equal(pm.paid_at_ms, paid_at);
    assert_int_equal(pm.concert_id, p.concert);
    assert_int_equal(pm.n_reservations, 2);
    assert_int_equal(pm.reservation_ids[0], ids[0]);
    assert_int_equal(pm.reservation_ids[1], ids[1]);
    assert_int_equal(balance, 7000);
    assert_int_equal(fx_balance(fx, 1), 7000);

    int64_t much_later = FX_T0 + 100 * FX_HOLD_TTL_MS;
    for (int i = 0; i < 2; i++) {
        store_reservation r = fx_reservation(fx, ids[i], much_later);
        assert_int_equal(r.status, STORE_RES_CONFIRMED);
        assert_int_equal(r.payment_id, pm.payment_id);
    }
    /* Sold seats stay taken after the hold time, for everyone, tick or not. */
    size_t expired;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_holds_tick(t, much_later, 100, &expired), USHER_ERR_OK);
    fx_commit(t);
    assert_int_equal(expired, 0);
    assert_false(fx_seat_available(fx, p.schedule, 1, much_later));
    assert_false(fx_seat_available(fx, p.schedule, 2, much_later));
    assert_int_equal(fx_hold(fx, 2, p.concert, p.schedule, 1, much_later, NULL),
                     USHER_ERR_SEAT_UNAVAILABLE);
    assert_int_equal(fx_hold(fx, 1, p.concert, p.schedule, 2, much_later, NULL),
                     USHER_ERR_SEAT_UNAVAILABLE);

    store_payment list[4];
    assert_int_equal(payments_of(fx, 1, list, 4), 1);
    assert_int_equal(list[0].payment_id, pm.payment_id);
    assert_int_equal(list[0].amount_krw, 3000);
    assert_memory_equal(list[0].reservation_ids, ids, sizeof ids);

    user_id u = fx_user(1);
    store_ledger_entry e[4];
    size_t n;
    t = fx_read(fx);
    assert_int_equal(store_wallet_history(t, &u, 0, e, 4, &n), USHER_ERR_OK);
    store_txn_end(t);
    assert_int_equal(n, 2);
    assert_int_equal(e[0].kind, STORE_LEDGER_PAYMENT);
    assert_int_equal(e[0].amount_krw, -3000);
    assert_int_equal(e[0].balance_after_krw, 7000);
    assert_int_equal(e[0].payment_id, pm.payment_id);
}

static void test_pay_insufficient_balance_changes_nothing(void **state)
{
    store_fixture *fx = *state;
    pay_ctx p = setup_pay(fx);
    fx_charge(fx, 1, 2999);
    uint64_t ids[2] = { hold(fx, 1, &p, 1), hold(fx, 1, &p, 2) };
    assert_int_equal(pay(fx, 1, &p, ids, 2, FX_T0 + 1, NULL, NULL), USHER_ERR_INSUFFICIENT_BALANCE);

    assert_int_equal(fx_balance(fx, 1), 2999);
    for (int i = 0; i < 2; i++) {
        store_reservation r = fx_reservation(fx, ids[i], FX_T0 + 1);
        assert_int_equal(r.status, STORE_RES_HELD);
        assert_int_equal(r.payment_id, 0);
    }
    assert_false(fx_seat_available(fx, p.schedule, 1, FX_T0 + 1));
    assert_true(fx_seat_available(fx, p.schedule, 1, FX_T0 + FX_HOLD_TTL_MS));   /* not sold */
    store_payment list[2];
    assert_int_equal(payments_of(fx, 1, list, 2), 0);
    store_queue_entry e;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_queue_get(t, p.concert, p.seq, FX_T0 + 1, &e), USHER_ERR_OK);
    store_txn_end(t);
    assert_int_equal(e.state, STORE_QUEUE_ACTIVE);
    /* One more won makes it pay, judged afresh. */
    fx_charge(fx, 1, 1);
    assert_int_equal(pay(fx, 1, &p, ids, 2, FX_T0 + 2, NULL, NULL), USHER_ERR_OK);
    assert_int_equal(fx_balance(fx, 1), 0);
}

static void test_pay_confirmed_reservation_is_already_paid(void **state)
{
    store_fixture *fx = *state;
    pay_ctx p = setup_pay(fx);
    fx_charge(fx, 1, 100000);
    uint64_t a = hold(fx, 1, &p, 1), b = hold(fx, 1, &p, 2);
    assert_int_equal(pay(fx, 1, &p, &a, 1, FX_T0, NULL, NULL), USHER_ERR_OK);
    uint64_t both[2] = { b, a };
    assert_int_equal(pay(fx, 1, &p, both, 2, FX_T0, NULL, NULL), USHER_ERR_ALREADY_PAID);
    assert_int_equal(fx_balance(fx, 1), 99000);
    assert_int_equal(fx_reservation(fx, b, FX_T0).status, STORE_RES_HELD);
    user_id u = fx_user(1);
    store_reservation r;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_reservation_cancel(t, &u, a, FX_T0, &r), USHER_ERR_ALREADY_PAID);
    fx_commit(t);
}

static void test_pay_expired_or_cancelled_hold_is_hold_expired(void **state)
{
    store_fixture *fx = *state;
    pay_ctx p = setup_pay(fx);
    fx_charge(fx, 1, 100000);
    uint64_t a = hold(fx, 1, &p, 1), b = hold(fx, 1, &p, 2);
    assert_int_equal(pay(fx, 1, &p, &a, 1, FX_T0 + FX_HOLD_TTL_MS, NULL, NULL),
                     USHER_ERR_HOLD_EXPIRED);
    user_id u = fx_user(1);
    store_reservation r;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_reservation_cancel(t, &u, b, FX_T0, &r), USHER_ERR_OK);
    fx_commit(t);
    assert_int_equal(pay(fx, 1, &p, &b, 1, FX_T0, NULL, NULL), USHER_ERR_HOLD_EXPIRED);
    /* Tick-expired too. */
    size_t expired;
    t = fx_write(fx);
    assert_int_equal(store_holds_tick(t, FX_T0 + FX_HOLD_TTL_MS, 10, &expired), USHER_ERR_OK);
    fx_commit(t);
    assert_int_equal(pay(fx, 1, &p, &a, 1, FX_T0, NULL, NULL), USHER_ERR_HOLD_EXPIRED);
    assert_int_equal(fx_balance(fx, 1), 100000);
}

static void test_pay_someone_elses_or_other_concert_is_forbidden(void **state)
{
    store_fixture *fx = *state;
    pay_ctx p = setup_pay(fx);
    pay_ctx q;
    fx_catalog(fx, 5, 10, FX_T0 + 86400000, &q.concert, &q.schedule);
    q.seq = p.seq;
    fx_charge(fx, 1, 100000);
    uint64_t theirs = hold(fx, 2, &p, 3);
    uint64_t other_concert = hold(fx, 1, &q, 1);
    uint64_t mine = hold(fx, 1, &p, 1);
    uint64_t ids[2] = { mine, theirs };
    assert_int_equal(pay(fx, 1, &p, ids, 2, FX_T0, NULL, NULL), USHER_ERR_FORBIDDEN);
    ids[1] = other_concert;
    assert_int_equal(pay(fx, 1, &p, ids, 2, FX_T0, NULL, NULL), USHER_ERR_FORBIDDEN);
    assert_int_equal(fx_balance(fx, 1), 100000);
    assert_int_equal(fx_reservation(fx, mine, FX_T0).status, STORE_RES_HELD);
}

static void test_pay_checks_ids_in_the_given_order(void **state)
{
    store_fixture *fx = *state;
    pay_ctx p = setup_pay(fx);
    fx_charge(fx, 1, 100000);
    uint64_t theirs = hold(fx, 2, &p, 3);
    uint64_t unknown = theirs + 100;
    uint64_t a[2] = { unknown, theirs }, b[2] = { theirs, unknown };
    assert_int_equal(pay(fx, 1, &p, a, 2, FX_T0, NULL, NULL), USHER_ERR_NOT_FOUND);
    assert_int_equal(pay(fx, 1, &p, b, 2, FX_T0, NULL, NULL), USHER_ERR_FORBIDDEN);
}

static void test_pay_count_out_of_range_or_duplicates_is_invalid(void **state)
{
    store_fixture *fx = *state;
    pay_ctx p = setup_pay(fx);
    fx_charge(fx, 1, 100000);
    uint64_t a = hold(fx, 1, &p, 1);
    uint64_t dup[2] = { a, a };
    uint64_t three[3] = { a, a + 1, a + 2 };   /* FX_MAX_HOLDS is 2 */
    assert_int_equal(pay(fx, 1, &p, &a, 0, FX_T0, NULL, NULL), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(pay(fx, 1, &p, dup, 2, FX_T0, NULL, NULL), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(pay(fx, 1, &p, three, 3, FX_T0, NULL, NULL), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(pay(fx, 1, &p, &a, 1, FX_T0, NULL, NULL), USHER_ERR_OK);
}

static void test_pay_may_span_performances_of_one_concert(void **state)
{
    store_fixture *fx = *state;
    pay_ctx p = setup_pay(fx);
    pay_ctx p2 = p;
    p2.schedule = fx_schedule(fx, p.concert, 5, 500, FX_T0 + 999999);
    fx_charge(fx, 1, 100000);
    uint64_t ids[2] = { hold(fx, 1, &p, 1), hold(fx, 1, &p2, 1) };
    store_payment pm;
    assert_int_equal(pay(fx, 1, &p, ids, 2, FX_T0, &pm, NULL), USHER_ERR_OK);
    assert_int_equal(pm.amount_krw, 1500);
}

static void test_pay_frees_queue_slot_for_next_in_same_txn(void **state)
{
    store_fixture *fx = *state;
    pay_ctx p = setup_pay(fx);   /* user 1 is seq 1, ACTIVE */
    store_queue_entry e;
    store_txn *t = fx_write(fx);
    for (unsigned u = 2; u <= 4; u++) {
        user_id id = fx_user(u);
        assert_int_equal(store_queue_enter(t, &id, p.concert, FX_T0, &e), USHER_ERR_OK);
    }
    fx_commit(t);
    assert_int_equal(e.state, STORE_QUEUE_WAITING);   /* seq 4 waits behind seq 3 */
    fx_charge(fx, 1, 100000);
    uint64_t a = hold(fx, 1, &p, 1);

    user_id u1 = fx_user(1);
    store_payment pm;
    int64_t balance;
    t = fx_write(fx);
    assert_int_equal(store_payment_pay(t, &u1, p.concert, p.seq, &a, 1, FX_T0 + 5, &pm, &balance),
                     USHER_ERR_OK);
    /* Same txn, no tick: the payer is EXPIRED and seq 3 took the slot. */
    assert_int_equal(store_queue_get(t, p.concert, 1, FX_T0 + 5, &e), USHER_ERR_OK);
    assert_int_equal(e.state, STORE_QUEUE_EXPIRED);
    assert_int_equal(store_queue_get(t, p.concert, 3, FX_T0 + 5, &e), USHER_ERR_OK);
    assert_int_equal(e.state, STORE_QUEUE_ACTIVE);
    assert_int_equal(e.active_until_ms, FX_T0 + 5 + FX_ACTIVE_TTL_MS);
    assert_int_equal(store_queue_get(t, p.concert, 4, FX_T0 + 5, &e), USHER_ERR_OK);
    assert_int_equal(e.state, STORE_QUEUE_WAITING);
    assert_int_equal(e.position, 1);
    fx_commit(t);
    /* Re-entering after paying goes to the back. */
    t = fx_write(fx);
    assert_int_equal(store_queue_enter(t, &u1, p.concert, FX_T0 + 6, &e), USHER_ERR_OK);
    fx_commit(t);
    assert_int_equal(e.seq, 5);
    assert_int_equal(e.position, 2);
}

static void test_ledger_sums_to_balance_after_charges_and_payments(void **state)
{
    store_fixture *fx = *state;
    pay_ctx p = setup_pay(fx);
    fx_charge(fx, 1, 5000);
    uint64_t a = hold(fx, 1, &p, 3);                    /* 3000 */
    assert_int_equal(pay(fx, 1, &p, &a, 1, FX_T0, NULL, NULL), USHER_ERR_OK);
    fx_charge(fx, 1, 12345);
    uint64_t b[2] = { hold(fx, 1, &p, 4), hold(fx, 1, &p, 5) };   /* 9000 */
    assert_int_equal(pay(fx, 1, &p, b, 2, FX_T0, NULL, NULL), USHER_ERR_OK);
    uint64_t c = hold(fx, 1, &p, 10);                   /* 10000: too much */
    assert_int_equal(pay(fx, 1, &p, &c, 1, FX_T0, NULL, NULL), USHER_ERR_INSUFFICIENT_BALANCE);
    fx_charge(fx, 1, 7);

    user_id u = fx_user(1);
    store_ledger_entry e[16];
    size_t n;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_wallet_history(t, &u, 0, e, 16, &n), USHER_ERR_OK);
    store_txn_end(t);
    assert_int_equal(n, 5);
    int64_t sum = 0;
    for (size_t i = n; i-- > 0;) {   /* oldest first: each balance_after is the running sum */
        sum += e[i].amount_krw;
        assert_int_equal(e[i].balance_after_krw, sum);
        assert_true(e[i].kind == STORE_LEDGER_PAYMENT ? e[i].amount_krw < 0 : e[i].amount_krw > 0);
    }
    assert_int_equal(sum, 5000 - 3000 + 12345 - 9000 + 7);
    assert_int_equal(fx_balance(fx, 1), sum);
}

static void test_payment_list_pages_newest_first(void **state)
{
    store_fixture *fx = *state;
    pay_ctx p = setup_pay(fx);
    fx_charge(fx, 1, 1000000);
    uint64_t pids[3];
    for (uint32_t i = 0; i < 3; i++) {
        uint64_t id = hold(fx, 1, &p, i + 1);
        store_payment pm;
        assert_int_equal(pay(fx, 1, &p, &id, 1, FX_T0, &pm, NULL), USHER_ERR_OK);
        pids[i] = pm.payment_id;
    }
    user_id u = fx_user(1);
    store_payment out[3];
    size_t n;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_payment_list(t, &u, 0, out, 2, &n), USHER_ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].payment_id, pids[2]);
    assert_int_equal(out[1].payment_id, pids[1]);
    assert_int_equal(store_payment_list(t, &u, out[1].payment_id, out, 2, &n), USHER_ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].payment_id, pids[0]);
    store_txn_end(t);
    assert_int_equal(payments_of(fx, 2, out, 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_pay_sells_seats_confirms_and_debits),
        FX_TEST(test_pay_insufficient_balance_changes_nothing),
        FX_TEST(test_pay_confirmed_reservation_is_already_paid),
        FX_TEST(test_pay_expired_or_cancelled_hold_is_hold_expired),
        FX_TEST(test_pay_someone_elses_or_other_concert_is_forbidden),
        FX_TEST(test_pay_checks_ids_in_the_given_order),
        FX_TEST(test_pay_count_out_of_range_or_duplicates_is_invalid),
        FX_TEST(test_pay_may_span_performances_of_one_concert),
        FX_TEST(test_pay_frees_queue_slot_for_next_in_same_txn),
        FX_TEST(test_ledger_sums_to_balance_after_charges_and_payments),
        FX_TEST(test_payment_list_pages_newest_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
