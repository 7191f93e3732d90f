/* usher-fuzz end to end: about 5 s of attacks on a fresh usherd end with exit 0 (the polite client never
 * failed or stalled, a fresh sys.ping answered), and afterwards usherd is still running, answers sys.ping
 * here too, and usher-check finds its data clean. Bad usage exits 2. Figures are never judged. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_CAP (64 * 1024)

static void test_fuzz_leaves_server_alive_answering_and_clean(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    char *out = malloc(OUT_CAP), bin[512];
    assert_non_null(out);
    harness_program_path("USHER_FUZZ_BIN", "usher-fuzz", bin, sizeof bin);
    int rc = harness_shell(out, OUT_CAP, "'%s' --port %u --admin '%s' --seconds 5 --seed 7 --flood 200 --max-gap-ms 10000 </dev/null 2>&1",
                           bin, (unsigned)hs->port, harness_admin_token(hs));
    if (rc != 0) {
        fprintf(stderr, "usher-fuzz exited %d:\n%s\n", rc, out);
        harness_print_log_tail(hs, 30);
    }
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "verdict: PASS"));
    assert_true(harness_alive(hs));
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_reply r;
    assert_int_equal(harness_call(c, "sys.ping", NULL, &r), USHER_ERR_OK);
    assert_true(harness_has(&r, "time"));
    harness_reply_free(&r);
    harness_usher_check(hs->data_dir, NULL);
    free(out);
}

static void test_fuzz_usage(void **state)
{
    (void)state;
    char *out = malloc(OUT_CAP), bin[512];
    assert_non_null(out);
    harness_program_path("USHER_FUZZ_BIN", "usher-fuzz", bin, sizeof bin);
    assert_int_equal(harness_shell(out, OUT_CAP, "'%s' --help", bin), 0);
    const char *const words[] = { "--host", "--port", "--seconds", "--admin", "--seed", "--connections", "--flood",
                                  "--max-gap-ms", "mutated", "garbage", "truncated", "oversized", "bomb",
                                  "slow-drip", "half-close", "reset", "flood" };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        assert_non_null(strstr(out, words[i]));
    assert_int_equal(harness_shell(out, OUT_CAP, "'%s' --seconds 0 2>&1", bin), 2);
    assert_int_equal(harness_shell(out, OUT_CAP, "'%s' --host 10.0.0.1 2>&1", bin), 2);
    assert_int_equal(harness_shell(out, OUT_CAP, "'%s' --bogus 2>&1", bin), 2);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_fuzz_leaves_server_alive_answering_and_clean),
        HARNESS_TEST(test_fuzz_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
