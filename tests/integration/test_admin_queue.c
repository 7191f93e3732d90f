/* usher-admin's `queue` commands and usher-cli's `admin queue` commands
 * against a fake usherd that answers every request with one fixed
 * admin.queue.get map (the contract's shape): what each command sends
 * (method, keys and their msgpack values byte for byte), how the answer
 * prints, and that bad usage is refused before anything is sent. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_fake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_CAP 16384

static const char fixed_queue_json[] =
    "{\"concert_id\": 7, \"waiting\": 120, \"active\": 100, \"admitted_total\": 350,"
    " \"max_active\": 100, \"admit_rate_per_min\": 0, \"paused\": false, \"oldest_wait_s\": 42,"
    " \"throttled\": true, \"opens_at\": null}";

/* msgpack of the values the commands send, after their key. */
#define MP_TRUE "\xc3"
#define MP_FALSE "\xc2"
#define MP_U16 "\xcd"            /* 256..65535 */
#define MP_U64 "\xcf"            /* epoch ms */

static int start_fake(void **state)
{
    *state = fake_start_fixed_json(fixed_queue_json);
    return 0;
}

/* A tool against the fake; out gets stdout and stderr. Returns the exit status. */
static int run_tool(char *out, const char *env_name, const char *program, const fake_server *fs,
                    const char *args)
{
    char bin[512];
    harness_program_path(env_name, program, bin, sizeof bin);
    return harness_shell(out, OUT_CAP, "env -u USHER_ADMIN %s --port %u %s </dev/null 2>&1", bin,
                         (unsigned)fs->port, args);
}

static int run_admin(char *out, const fake_server *fs, const char *args)
{
    return run_tool(out, "USHER_ADMIN_BIN", "usher-admin", fs, args);
}

static int run_cli(char *out, const fake_server *fs, const char *args)
{
    return run_tool(out, "USHER_CLI_BIN", "usher-cli", fs, args);
}

static void expect_line(const char *out, const char *key, const char *value)
{
    char line[128];
    snprintf(line, sizeof line, "%-20s %s\n", key, value);
    if (!strstr(out, line)) fail_msg("no line '%s' in:\n%s", key, out);
}

static void test_admin_queue_get_prints_every_figure(void **state)
{
    fake_server *fs = *state;
    char out[OUT_CAP];
    assert_int_equal(run_admin(out, fs, "--token ADM queue get 7"), 0);
    assert_true(fake_last_request_has(fs, "admin.queue.get"));
    assert_true(fake_last_request_has(fs, "admin\xa3" "ADM"));
    assert_true(fake_last_request_has(fs, "concert_id\x07"));
    expect_line(out, "concert_id", "7");
    expect_line(out, "waiting", "120");
    expect_line(out, "active", "100");
    expect_line(out, "admitted_total", "350");
    expect_line(out, "max_active", "100");
    expect_line(out, "admit_rate_per_min", "0 (no limit)");
    expect_line(out, "paused", "false");
    expect_line(out, "oldest_wait_s", "42");
    expect_line(out, "throttled", "true");
    expect_line(out, "opens_at", "-");
}

static void test_admin_queue_set_pause_resume_open_send_their_params(void **state)
{
    fake_server *fs = *state;
    char out[OUT_CAP];
    assert_int_equal(run_admin(out, fs, "--token ADM queue set 7 --max-active 500 --rate 600 --paused true"), 0);
    assert_true(fake_last_request_has(fs, "admin.queue.set"));
    assert_true(fake_last_request_has(fs, "max_active" MP_U16 "\x01\xf4"));          /* 500 */
    assert_true(fake_last_request_has(fs, "admit_rate_per_min" MP_U16 "\x02\x58"));  /* 600 */
    assert_true(fake_last_request_has(fs, "paused" MP_TRUE));
    expect_line(out, "waiting", "120");   /* the map after the change */

    assert_int_equal(run_admin(out, fs, "--token ADM queue set 7 --max-active 0"), 0);
    assert_true(fake_last_request_has(fs, "max_active"));   /* 0 packs as the byte 0x00 */
    assert_false(fake_last_request_has(fs, "paused"));
    assert_false(fake_last_request_has(fs, "admit_rate_per_min"));

    assert_int_equal(run_admin(out, fs, "--token ADM queue pause 7"), 0);
    assert_true(fake_last_request_has(fs, "admin.queue.set"));
    assert_true(fake_last_request_has(fs, "paused" MP_TRUE));
    assert_false(fake_last_request_has(fs, "max_active"));
    assert_int_equal(run_admin(out, fs, "--token ADM queue resume 7"), 0);
    assert_true(fake_last_request_has(fs, "paused" MP_FALSE));

    assert_int_equal(run_admin(out, fs, "--token ADM queue open 7 +1h"), 0);
    assert_true(fake_last_request_has(fs, "admin.queue.open"));
    assert_true(fake_last_request_has(fs, "opens_at" MP_U64));
    assert_int_equal(run_admin(out, fs, "--token ADM queue open 7 1767225600000"), 0);
    /* 1767225600000 = 0x0000019b_77e5_3c00 (2026-01-01) */
    assert_true(fake_last_request_has(fs, "opens_at" MP_U64 "\x00\x00\x01\x9b\x77\xe5\x3c\x00"));
}

static void test_admin_queue_bad_usage_exits_2_and_sends_nothing(void **state)
{
    fake_server *fs = *state;
    char out[OUT_CAP];
    const char *bad[] = {
        "--token ADM queue get", "--token ADM queue get x", "--token ADM queue get 7 8",
        "--token ADM queue set 7", "--token ADM queue set 7 --max-active 100001",
        "--token ADM queue set 7 --rate -1", "--token ADM queue set 7 --paused yes",
        "--token ADM queue set 7 --bogus 1", "--token ADM queue set 7 --rate",
        "--token ADM queue open 7", "--token ADM queue open 7 soon", "--token ADM queue flip 7",
        "--token ADM revoke", "queue get 7",   /* no token and no --data */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = run_admin(out, fs, bad[i]);
        if (rc != 2) fail_msg("usher-admin %s: exit %d, not 2:\n%s", bad[i], rc, out);
    }
    assert_false(fake_last_request_has(fs, "admin"));   /* refused before connecting */
}

static void test_cli_admin_queue_commands_send_their_params(void **state)
{
    fake_server *fs = *state;
    char out[OUT_CAP];
    assert_int_equal(run_cli(out, fs, "--admin ADM -c 'admin queue get 7'"), 0);
    assert_true(fake_last_request_has(fs, "admin.queue.get"));
    assert_true(fake_last_request_has(fs, "concert_id\x07"));
    assert_non_null(strstr(out, "\"throttled\": true"));
    assert_non_null(strstr(out, "\"oldest_wait_s\": 42"));

    assert_int_equal(run_cli(out, fs, "--admin ADM -c 'admin queue set 7 --rate 600 --paused false'"), 0);
    assert_true(fake_last_request_has(fs, "admin.queue.set"));
    assert_true(fake_last_request_has(fs, "admit_rate_per_min" MP_U16 "\x02\x58"));
    assert_true(fake_last_request_has(fs, "paused" MP_FALSE));
    assert_false(fake_last_request_has(fs, "max_active"));

    /* The concert is remembered: pause and resume without one. */
    assert_int_equal(run_cli(out, fs, "--admin ADM -c 'admin queue get 7; admin queue pause'"), 0);
    assert_true(fake_last_request_has(fs, "paused" MP_TRUE));
    assert_true(fake_last_request_has(fs, "concert_id\x07"));
    assert_int_equal(run_cli(out, fs, "--admin ADM -c 'admin queue resume 7'"), 0);
    assert_true(fake_last_request_has(fs, "paused" MP_FALSE));

    assert_int_equal(run_cli(out, fs, "--admin ADM -c 'admin queue open 7 1767225600000'"), 0);
    assert_true(fake_last_request_has(fs, "admin.queue.open"));
    assert_true(fake_last_request_has(fs, "opens_at" MP_U64 "\x00\x00\x01\x9b\x77\xe5\x3c\x00"));
}

static void test_cli_admin_queue_refuses_bad_usage(void **state)
{
    fake_server *fs = *state;
    char out[OUT_CAP];
    const char *bad[] = {
        "admin queue get 7",                         /* no admin token */
        "--admin A -c 'admin queue pause'",          /* no concert given or remembered */
        "--admin A -c 'admin queue set 7 --rate x'",
        "--admin A -c 'admin queue set 7 --max-active'",
        "--admin A -c 'admin queue open 7 later'",
        "--admin A -c 'admin queue open x +1h'",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = run_cli(out, fs, bad[i]);
        if (rc == 0) fail_msg("usher-cli %s succeeded:\n%s", bad[i], out);
    }
    assert_false(fake_last_request_has(fs, "admin"));   /* refused before sending */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_admin_queue_get_prints_every_figure, start_fake,
                                        fake_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_admin_queue_set_pause_resume_open_send_their_params,
                                        start_fake, fake_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_admin_queue_bad_usage_exits_2_and_sends_nothing,
                                        start_fake, fake_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cli_admin_queue_commands_send_their_params, start_fake,
                                        fake_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cli_admin_queue_refuses_bad_usage, start_fake,
                                        fake_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
