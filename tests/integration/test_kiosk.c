/* The SDK example run end to end: build/kiosk completes a purchase against a
 * real usherd started with --demo, waits in the queue when it must, and
 * fails with the error printed when a step fails. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define OUT_CAP 8192
#define DEMO_CONCERT 1


/* Runs kiosk with args; out gets stdout and stderr. Returns the exit status. */
static int run_kiosk(char *out, const char *fmt, ...)
{
    char bin[512], args[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    harness_program_path("USHER_KIOSK_BIN", "kiosk", bin, sizeof bin);
    return harness_shell(out, OUT_CAP, "%s %s </dev/null 2>&1", bin, args);
}

static void test_kiosk_buys_a_seat_and_prints_receipt(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--demo");
    char out[OUT_CAP];
    int rc = run_kiosk(out, "--port %u --amount 1000000", (unsigned)hs->port);
    if (rc != 0)
        fail_msg("kiosk exit %d:\n%s", rc, out);
    const char *receipt = strstr(out, "receipt: payment ");
    assert_non_null(receipt);
    unsigned long long payment_id, performance;
    unsigned seat;
    long long paid, balance;
    assert_int_equal(sscanf(receipt, "receipt: payment %llu, concert 1, performance %llu, seat %u, "
                            "paid %lld KRW, balance %lld KRW", &payment_id, &performance, &seat,
                            &paid, &balance), 5);
    assert_true(paid > 0);
    assert_int_equal(balance, 1000000 - paid);

    /* the seat on the receipt is really sold: a second buyer gets another one */
    rc = run_kiosk(out, "--port %u --amount 1000000", (unsigned)hs->port);
    assert_int_equal(rc, 0);
    unsigned long long performance2;
    unsigned seat2;
    receipt = strstr(out, "receipt: payment ");
    assert_non_null(receipt);
    assert_int_equal(sscanf(receipt, "receipt: payment %*u, concert 1, performance %llu, seat %u",
                            &performance2, &seat2), 2);
    assert_false(performance2 == performance && seat2 == seat);
}

static void test_kiosk_waits_in_queue_printing_position(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--demo --max-active 1 --active-ttl 1s --admit-interval 100ms");
    /* someone else holds the only ACTIVE slot for a second */
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    char token[HARNESS_TOKEN_CAP];
    harness_enter_until_active(c, u.session, DEMO_CONCERT, token, 5000);

    char out[OUT_CAP];
    int rc = run_kiosk(out, "--port %u --amount 1000000", (unsigned)hs->port);
    if (rc != 0)
        fail_msg("kiosk exit %d:\n%s", rc, out);
    const char *waiting = strstr(out, "waiting in line: position 1\n");
    const char *admitted = strstr(out, "admitted\n");
    assert_non_null(waiting);
    assert_non_null(admitted);
    assert_true(waiting < admitted);
    assert_non_null(strstr(out, "receipt: payment "));
}

static void test_kiosk_without_enough_money_fails_with_code(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--demo");
    char out[OUT_CAP];
    assert_int_equal(run_kiosk(out, "--port %u --amount 1000", (unsigned)hs->port), 1);
    assert_non_null(strstr(out, "pay failed: INSUFFICIENT_BALANCE (15)"));
    assert_null(strstr(out, "receipt"));
}

static void test_kiosk_unknown_concert_and_no_server_fail(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--demo");
    char out[OUT_CAP];
    assert_int_equal(run_kiosk(out, "--port %u --concert 999", (unsigned)hs->port), 1);
    assert_non_null(strstr(out, "kiosk: queue enter failed: "));
    uint16_t closed_port = harness_free_port();
    assert_int_equal(run_kiosk(out, "--port %u", (unsigned)closed_port), 1);
    assert_non_null(strstr(out, "kiosk: connect failed: EIO"));
    assert_int_equal(run_kiosk(out, "--port nope"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_kiosk_buys_a_seat_and_prints_receipt),
        HARNESS_TEST(test_kiosk_waits_in_queue_printing_position),
        HARNESS_TEST(test_kiosk_without_enough_money_fails_with_code),
        HARNESS_TEST(test_kiosk_unknown_concert_and_no_server_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
