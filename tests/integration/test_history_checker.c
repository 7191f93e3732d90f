/* The history checker on synthetic histories: one clean history that holds
 * every legal subtlety (a hold re-reserved by its owner, a cancel before the
 * next hold, a hold whose reply came after the previous one expired,
 * unanswered charges that did and did not commit, a retry that repeated its
 * result, admissions in order) reports nothing, and the same history with
 * exactly one flaw reports that flaw under its rule. So the checker cannot
 * pass by doing nothing, nor by reporting everything. No server runs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history.h"

#include <stdio.h>
#include <string.h>

#define T0 1000000LL  /* ms: every synthetic instant is T0 + a small offset */

typedef enum flaw {
    FLAW_NONE,
    FLAW_OVERLAP,             /* a second user's hold while the first is live */
    FLAW_LOST_CHARGE,         /* an acknowledged charge missing from the ledger */
    FLAW_OUT_OF_ORDER,        /* a later arrival admitted while an earlier one waits */
    FLAW_RETRY,               /* a request_id retry answered with another balance */
    FLAW_UNEXPLAINED_BALANCE, /* a balance no subset of the unanswered charges makes */
    FLAW_SOLD_TWICE,          /* a seat CONFIRMED in two users' lists */
    FLAW_CANCELLED_AND_PAID,  /* one hold acknowledged as cancelled and as paid */
} flaw;

/* Adds one op; fails the test on bad JSON. */
static void add(harness_history *h, uint32_t user, const char *method, const char *params, int64_t sent,
                int64_t replied, harness_outcome outcome, usher_err err, const char *result)
{
    long i = harness_history_add(h, user, user, method, params, T0 + sent, T0 + replied, outcome, err, result);
    assert_true(i >= 0);
}

#define OK_(h, user, method, params, sent, replied, result) \
    add((h), (user), (method), (params), (sent), (replied), HARNESS_OP_OK, USHER_ERR_OK, (result))

static void entry(harness_user_final *f, uint64_t id, int64_t amount, int64_t after, uint64_t payment_id)
{
    assert_true(harness_final_add_entry(f, (harness_ledger_entry){ .entry_id = id, .charge = payment_id == 0,
                                                                   .amount = amount, .balance_after = after,
                                                                   .payment_id = payment_id }));
}

static void reservation(harness_user_final *f, uint64_t rid, uint32_t seat, char status, int64_t expires)
{
    assert_true(harness_final_add_reservation(f, (harness_reservation){ .reservation_id = rid, .schedule_id = 7,
                                                                        .seat_no = seat, .status = status,
                                                                        .expires_at = T0 + expires }));
}

/* A reserve result for performance 7. */
static const char *hold_result(char *buf, size_t cap, uint64_t rid, uint32_t seat, int64_t expires)
{
    snprintf(buf, cap, "{\"reservation_id\":%llu,\"schedule_id\":7,\"seat_no\":%u,\"price\":30,\"expires_at\":%lld}",
             (unsigned long long)rid, seat, (long long)(T0 + expires));
    return buf;
}

/* Users 0, 1, 2 and their queue entries 1, 2, 3 of concert 5. */
static void add_queue(harness_history *h, flaw f)
{
    char tok[3][HARNESS_TOKEN_CAP], params[700], result[800];
    for (int u = 0; u < 3; u++)
        harness_fake_queue_token(5, (uint64_t)u + 1, tok[u]);
    /* Entry 1 is admitted at once; 2 and 3 wait. */
    snprintf(result, sizeof result, "{\"token\":\"%s\",\"status\":\"ACTIVE\",\"position\":0,\"active_until\":%lld}",
             tok[0], T0 + 900);
    OK_(h, 0, "queue.enter", "{\"concert_id\":5}", 0, 5, result);
    for (int u = 1; u < 3; u++) {
        snprintf(result, sizeof result, "{\"token\":\"%s\",\"status\":\"WAITING\",\"position\":%d,\"eta_s\":1}",
                 tok[u], u);
        OK_(h, (uint32_t)u, "queue.enter", "{\"concert_id\":5}", u, 6 + u, result);
    }
    /* Entry 2 still waits at 310 and is admitted by 605; entry 3 by 705. */
    snprintf(params, sizeof params, "{\"token\":\"%s\"}", tok[1]);
    OK_(h, 1, "queue.status", params, 310, 312, "{\"status\":\"WAITING\",\"position\":1,\"eta_s\":1}");
    if (f == FLAW_OUT_OF_ORDER)  /* entry 2 still waits at 710, after entry 3 was admitted by 705 */
        OK_(h, 1, "queue.status", params, 710, 712, "{\"status\":\"WAITING\",\"position\":1,\"eta_s\":1}");
    else
        OK_(h, 1, "queue.status", params, 600, 605, "{\"status\":\"ACTIVE\",\"position\":0,\"active_until\":2000}");
    /* Sent in the millisecond entry 2's admission was seen (605): it may
     * have left before that reply came, so it proves nothing. */
    if (f != FLAW_OUT_OF_ORDER)
        OK_(h, 1, "queue.status", params, 605, 606, "{\"status\":\"WAITING\",\"position\":1,\"eta_s\":1}");
    snprintf(params, sizeof params, "{\"token\":\"%s\"}", tok[2]);
    /* Seen waiting while entry 2 was admitted (sent before 605): legal. */
    OK_(h, 2, "queue.status", params, 601, 609, "{\"status\":\"WAITING\",\"position\":1,\"eta_s\":1}");
    OK_(h, 2, "queue.status", params, 700, 705, "{\"status\":\"ACTIVE\",\"position\":0,\"active_until\":2100}");
    /* Entry 1 expired after being admitted: its active_until is still there. */
    snprintf(params, sizeof params, "{\"token\":\"%s\"}", tok[0]);
    OK_(h, 0, "queue.status", params, 950, 951, "{\"status\":\"EXPIRED\",\"position\":0,\"active_until\":900}");
}

/* User 0's wallet: charges, a retried request_id, unanswered charges (the
 * 3 committed, the 7 did not) and one payment of hold 1. */
static void add_money(harness_history *h, flaw f)
{
    OK_(h, 0, "wallet.charge", "{\"amount\":100}", 10, 12, "{\"balance\":100,\"charged\":100}");
    OK_(h, 0, "wallet.charge", "{\"amount\":50,\"request_id\":\"r1\"}", 20, 22, "{\"balance\":150,\"charged\":50}");
    OK_(h, 0, "wallet.charge", "{\"amount\":50,\"request_id\":\"r1\"}", 21, 40,
        f == FLAW_RETRY ? "{\"balance\":151,\"charged\":50}" : "{\"balance\":150,\"charged\":50}");
    add(h, 0, "wallet.charge", "{\"amount\":7}", 30, 5030, HARNESS_OP_NO_REPLY, USHER_ERR_OK, NULL);
    add(h, 0, "wallet.charge", "{\"amount\":3}", 31, 5031, HARNESS_OP_NO_REPLY, USHER_ERR_OK, NULL);
    add(h, 0, "wallet.charge", "{\"amount\":20000000}", 32, 33, HARNESS_OP_FAILED, USHER_ERR_AMOUNT_LIMIT, NULL);
    OK_(h, 0, "payment.pay", "{\"reservation_ids\":[1]}", 60, 70,
        "{\"payment_id\":1,\"reservation_ids\":[1],\"amount\":30,\"balance\":123,\"paid_at\":1000065}");

    harness_user_final *fin = harness_history_final(h, 0);
    assert_non_null(fin);
    if (f == FLAW_LOST_CHARGE) {  /* the charge of 100 never reached the ledger */
        entry(fin, 2, 50, 50, 0);
        entry(fin, 3, 3, 53, 0);
        entry(fin, 4, -30, 23, 1);
        fin->balance = 23;
    } else {
        entry(fin, 1, 100, 100, 0);
        entry(fin, 2, 50, 150, 0);
        entry(fin, 3, 3, 153, 0);
        entry(fin, 4, -30, 123, 1);
        fin->balance = 123;
        if (f == FLAW_UNEXPLAINED_BALANCE) {  /* 5 more than any subset of {7, 3} gives */
            entry(fin, 5, 5, 128, 0);
            fin->balance = 128;
        }
    }
    assert_true(harness_final_add_payment(fin, (harness_payment){ .payment_id = 1, .reservation_ids = { 1 },
                                                                  .nids = 1, .amount = 30 }));
}

/* Holds on performance 7. Seat 1: user 0, paid. Seat 2: user 1, cancelled
 * (acknowledged at 3010), then user 1 again from 3100. Seat 3: user 1 until
 * 1000, user 0 replied at 1010 (sent before the expiry: legal). Seat 4:
 * user 1 twice, the same hold. */
static void add_holds(harness_history *h, flaw f)
{
    char r[256];
    OK_(h, 0, "seat.reserve", "{\"schedule_id\":7,\"seat_no\":1}", 40, 45, hold_result(r, sizeof r, 1, 1, 10000));
    OK_(h, 1, "seat.reserve", "{\"schedule_id\":7,\"seat_no\":2}", 40, 46, hold_result(r, sizeof r, 2, 2, 5000));
    OK_(h, 1, "reservation.cancel", "{\"reservation_id\":2}", 3000, 3010,
        "{\"reservation_id\":2,\"status\":\"CANCELLED\"}");
    OK_(h, 1, "seat.reserve", "{\"schedule_id\":7,\"seat_no\":2}", 3100, 3110, hold_result(r, sizeof r, 3, 2, 8100));
    OK_(h, 1, "seat.reserve", "{\"schedule_id\":7,\"seat_no\":3}", 0, 10, hold_result(r, sizeof r, 4, 3, 1000));
    OK_(h, 0, "seat.reserve", "{\"schedule_id\":7,\"seat_no\":3}", 990, 1010, hold_result(r, sizeof r, 5, 3, 6000));
    OK_(h, 1, "seat.reserve", "{\"schedule_id\":7,\"seat_no\":4}", 50, 55, hold_result(r, sizeof r, 6, 4, 5050));
    OK_(h, 1, "seat.reserve", "{\"schedule_id\":7,\"seat_no\":4}", 52, 60, hold_result(r, sizeof r, 6, 4, 5050));
    add(h, 2, "seat.reserve", "{\"schedule_id\":7,\"seat_no\":1}", 41, 47, HARNESS_OP_FAILED,
        USHER_ERR_SEAT_UNAVAILABLE, NULL);
    if (f == FLAW_OVERLAP)  /* user 2 gets seat 1 while user 0's paid hold stands */
        OK_(h, 2, "seat.reserve", "{\"schedule_id\":7,\"seat_no\":1}", 500, 510, hold_result(r, sizeof r, 9, 1, 5510));

    if (f == FLAW_CANCELLED_AND_PAID)  /* user 1's cancelled hold 2 is then paid, and nothing in its wallet says so */
        OK_(h, 1, "payment.pay", "{\"reservation_ids\":[2]}", 3020, 3030,
            "{\"payment_id\":7,\"reservation_ids\":[2],\"amount\":30,\"balance\":0,\"paid_at\":1003025}");
    harness_user_final *u0 = harness_history_final(h, 0), *u1 = harness_history_final(h, 1),
                       *u2 = harness_history_final(h, 2);
    assert_true(u0 && u1 && u2);
    reservation(u0, 1, 1, 'C', 10000);
    reservation(u0, 5, 3, 'H', 6000);
    reservation(u1, 2, 2, 'X', 5000);
    reservation(u1, 3, 2, 'H', 8100);
    reservation(u1, 4, 3, 'E', 1000);
    reservation(u1, 6, 4, 'H', 5050);
    u1->read = u2->read = true;
    if (f == FLAW_OVERLAP)
        reservation(u2, 9, 1, 'H', 5510);
    if (f == FLAW_SOLD_TWICE) {  /* user 2's list shows seat 1 sold to them too, with a payment */
        OK_(h, 2, "seat.reserve", "{\"schedule_id\":7,\"seat_no\":1}", 20000, 20010,
            hold_result(r, sizeof r, 10, 1, 30000));
        add(h, 2, "payment.pay", "{\"reservation_ids\":[10]}", 20020, 25020, HARNESS_OP_NO_REPLY, USHER_ERR_OK, NULL);
        reservation(u2, 10, 1, 'C', 30000);
        assert_true(harness_final_add_entry(u2, (harness_ledger_entry){ .entry_id = 9, .charge = true,
                                                                        .amount = 100, .balance_after = 100 }));
        assert_true(harness_final_add_entry(u2, (harness_ledger_entry){ .entry_id = 10, .amount = -30,
                                                                        .balance_after = 70, .payment_id = 2 }));
        assert_true(harness_final_add_payment(u2, (harness_payment){ .payment_id = 2, .reservation_ids = { 10 },
                                                                     .nids = 1, .amount = 30 }));
        u2->balance = 70;
        add(h, 2, "wallet.charge", "{\"amount\":100}", 19000, 19001, HARNESS_OP_OK, USHER_ERR_OK,
            "{\"balance\":100,\"charged\":100}");
    }
}

/* Builds the history with flaw f and checks it. */
static harness_check_counts check_with(flaw f, const char *label)
{
    harness_history *h = harness_history_new();
    assert_non_null(h);
    add_queue(h, f);
    add_holds(h, f);
    add_money(h, f);
    harness_check_counts counts;
    size_t total = harness_history_check(h, label, &counts);
    assert_int_equal(total, counts.holds + counts.money + counts.queue + counts.retries);
    harness_history_free(h);
    return counts;
}

static void test_clean_history_reports_nothing(void **state)
{
    (void)state;
    harness_check_counts c = check_with(FLAW_NONE, "clean");
    assert_int_equal(c.holds + c.money + c.queue + c.retries, 0);
}

static void test_two_users_holding_one_seat_at_once_is_reported(void **state)
{
    (void)state;
    harness_check_counts c = check_with(FLAW_OVERLAP, "overlap");
    assert_int_equal(c.holds, 1);
    assert_int_equal(c.money + c.queue + c.retries, 0);
}

static void test_acknowledged_charge_missing_from_the_ledger_is_reported(void **state)
{
    (void)state;
    harness_check_counts c = check_with(FLAW_LOST_CHARGE, "lost charge");
    assert_true(c.money >= 1);
    assert_int_equal(c.holds + c.queue + c.retries, 0);
}

static void test_balance_no_subset_of_unanswered_charges_explains_is_reported(void **state)
{
    (void)state;
    harness_check_counts c = check_with(FLAW_UNEXPLAINED_BALANCE, "unexplained balance");
    assert_true(c.money >= 1);
    assert_int_equal(c.holds + c.queue + c.retries, 0);
}

static void test_later_arrival_admitted_while_earlier_waits_is_reported(void **state)
{
    (void)state;
    harness_check_counts c = check_with(FLAW_OUT_OF_ORDER, "out of order");
    assert_int_equal(c.queue, 1);
    assert_int_equal(c.holds + c.money + c.retries, 0);
}

static void test_retry_with_another_result_is_reported(void **state)
{
    (void)state;
    harness_check_counts c = check_with(FLAW_RETRY, "retry");
    assert_int_equal(c.retries, 1);
    assert_int_equal(c.holds + c.queue, 0);
}

static void test_seat_confirmed_for_two_users_is_reported(void **state)
{
    (void)state;
    harness_check_counts c = check_with(FLAW_SOLD_TWICE, "sold twice");
    assert_true(c.holds >= 1);
    assert_int_equal(c.money + c.queue + c.retries, 0);
}

static void test_hold_both_cancelled_and_paid_is_reported(void **state)
{
    (void)state;
    harness_check_counts c = check_with(FLAW_CANCELLED_AND_PAID, "cancelled and paid");
    assert_true(c.holds >= 1);
    assert_int_equal(c.queue + c.retries, 0);
}

/* The unknown outcomes are summed exactly: with 12 unanswered charges of
 * powers of two, every balance from 0 to 4095 is explained and 4096 is not. */
static void test_subset_sum_over_unanswered_charges_is_exact(void **state)
{
    (void)state;
    for (int64_t balance = 4094; balance <= 4096; balance++) {
        harness_history *h = harness_history_new();
        assert_non_null(h);
        for (int i = 0; i < 12; i++) {
            char params[64];
            snprintf(params, sizeof params, "{\"amount\":%d}", 1 << i);
            add(h, 0, "wallet.charge", params, i, 100 + i, HARNESS_OP_NO_REPLY, USHER_ERR_OK, NULL);
        }
        harness_user_final *f = harness_history_final(h, 0);
        assert_non_null(f);
        uint64_t id = 1;
        int64_t sum = 0;
        for (int i = 0; i < 13 && sum < balance; i++)
            if (balance & (1LL << i)) {
                sum += 1LL << i;
                entry(f, id++, 1LL << i, sum, 0);
            }
        f->balance = balance;
        harness_check_counts c;
        size_t total = harness_history_check(h, "subset sum", &c);
        assert_int_equal(total, balance < 4096 ? 0 : c.money);
        if (balance == 4096)
            assert_true(c.money >= 1);
        harness_history_free(h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_history_reports_nothing),
        cmocka_unit_test(test_two_users_holding_one_seat_at_once_is_reported),
        cmocka_unit_test(test_acknowledged_charge_missing_from_the_ledger_is_reported),
        cmocka_unit_test(test_balance_no_subset_of_unanswered_charges_explains_is_reported),
        cmocka_unit_test(test_later_arrival_admitted_while_earlier_waits_is_reported),
        cmocka_unit_test(test_retry_with_another_result_is_reported),
        cmocka_unit_test(test_seat_confirmed_for_two_users_is_reported),
        cmocka_unit_test(test_hold_both_cancelled_and_paid_is_reported),
        cmocka_unit_test(test_subset_sum_over_unanswered_charges_is_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
