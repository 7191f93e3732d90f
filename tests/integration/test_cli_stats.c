/* usher-cli's `stats` against a fake usherd that answers every request with
 * one fixed sys.stats map (the contract's shape): the tables, --json and
 * --raw, and where the admin token comes from. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_fake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_CAP 65536

static const char fixed_stats_json[] =
    "{\"instance\": \"fake-1\", \"version\": \"9.8.7\", \"uptime_s\": 93784, \"processes\": 2,"
    " \"connections\": {\"open\": 3, \"accepted\": 120, \"refused\": 1},"
    " \"requests\": [{\"method\": \"seat.reserve\", \"code\": \"OK\", \"count\": 10},"
    "                {\"method\": \"seat.reserve\", \"code\": \"SEAT_UNAVAILABLE\", \"count\": 2},"
    "                {\"method\": \"sys.ping\", \"code\": \"OK\", \"count\": 7}],"
    " \"latency\": [{\"method\": \"seat.reserve\", \"count\": 12, \"sum_us\": 6000, \"p50_us\": 256, \"p99_us\": 1024}],"
    " \"commits\": {\"count\": 40, \"writes\": 95, \"fsync_us\": 12000},"
    " \"queues\": [{\"concert_id\": 1, \"waiting\": 10, \"active\": 2}, {\"concert_id\": 4, \"waiting\": 0, \"active\": 1}],"
    " \"holds_live\": 4, \"seats_sold\": 17,"
    " \"storage\": {\"used_bytes\": 2097152, \"map_bytes\": 1073741824}}";

static int start_fake(void **state)
{
    *state = fake_start_fixed_json(fixed_stats_json);
    return 0;
}

/* usher-cli against the fake: env and options before the binary's options,
 * stdout and stderr into out. */
static int run_cli(char *out, const fake_server *fs, const char *env, const char *options)
{
    char bin[512];
    harness_program_path("USHER_CLI_BIN", "usher-cli", bin, sizeof bin);
    return harness_shell(out, OUT_CAP, "env -u USHER_ADMIN %s %s --port %u %s </dev/null 2>&1", env, bin,
                         (unsigned)fs->port, options);
}

static void test_cli_stats_draws_every_table(void **state)
{
    fake_server *fs = *state;
    char out[OUT_CAP];
    int rc = run_cli(out, fs, "", "--admin ADM-OPTION -c stats");
    if (rc != 0)
        fail_msg("usher-cli exit %d:\n%s", rc, out);
    const char *lines[] = {
        "usherd fake-1  version 9.8.7  up 1d 02h 03m 04s  processes 2\n",
        "connections  open 3  accepted 120  refused 1\n",
        "commits      40  writes 95  writes/commit 2.38  commit+fsync 12.000 ms in all, 0.300 ms each\n",
        "holds live   4  seats sold 17\n",
        "storage      used 2.0 MiB of a 1024.0 MiB map (0.2%)\n",
        "requests by method and code\n",
        "  seat.reserve             OK                             10\n",
        "  seat.reserve             SEAT_UNAVAILABLE                2\n",
        "  sys.ping                 OK                              7\n",
        "latency by method\n",
        "  seat.reserve                     12     0.500 ms     0.256 ms     1.024 ms\n",
        "queues per concert\n",
        "           1         10          2\n",
        "           4          0          1\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!strstr(out, lines[i]))
            fail_msg("no line '%s' in:\n%s", lines[i], out);
    assert_true(fake_last_request_has(fs, "sys.stats"));
    assert_true(fake_last_request_has(fs, "ADM-OPTION"));
}

static void test_cli_stats_admin_token_from_option_env_or_command(void **state)
{
    fake_server *fs = *state;
    char out[OUT_CAP];
    assert_int_equal(run_cli(out, fs, "USHER_ADMIN=ADM-ENV", "-c stats"), 0);
    assert_true(fake_last_request_has(fs, "ADM-ENV"));
    assert_int_equal(run_cli(out, fs, "USHER_ADMIN=ADM-ENV", "--admin ADM-OPTION -c stats"), 0);
    assert_true(fake_last_request_has(fs, "ADM-OPTION"));
    assert_int_equal(run_cli(out, fs, "USHER_ADMIN=ADM-ENV", "-c 'admin token ADM-COMMAND; stats'"), 0);
    assert_true(fake_last_request_has(fs, "ADM-COMMAND"));
    /* none: nothing is sent, and the three ways are named */
    unsigned before = __atomic_load_n(&fs->requests, __ATOMIC_RELAXED);
    assert_int_equal(run_cli(out, fs, "", "-c stats"), 1);
    assert_non_null(strstr(out, "--admin TOKEN"));
    assert_non_null(strstr(out, "$USHER_ADMIN"));
    assert_non_null(strstr(out, "`admin token TOKEN`"));
    assert_int_equal(__atomic_load_n(&fs->requests, __ATOMIC_RELAXED), before);
}

static void test_cli_stats_json_raw_and_repeat(void **state)
{
    fake_server *fs = *state;
    char out[OUT_CAP];
    assert_int_equal(run_cli(out, fs, "", "--admin A --json -c stats"), 0);
    assert_true(strncmp(out, "{\"ok\":true,\"result\":{\"instance\":\"fake-1\",", 41) == 0);
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out)); /* one line */
    /* --raw: the leaves in order, so a script can pick them by line */
    assert_int_equal(run_cli(out, fs, "", "--admin A --raw stats"), 0);
    assert_true(strncmp(out, "fake-1\n9.8.7\n93784\n2\n3\n120\n1\nseat.reserve\nOK\n10\n", 47) == 0);
    assert_null(strstr(out, "requests by method"));
    /* -r repeats the command; -i 0.01 waits between runs */
    unsigned before = __atomic_load_n(&fs->requests, __ATOMIC_RELAXED);
    assert_int_equal(run_cli(out, fs, "", "--admin A -r 3 -i 0.01 stats"), 0);
    assert_int_equal(__atomic_load_n(&fs->requests, __ATOMIC_RELAXED) - before, 3);
    int tables = 0;
    for (const char *p = strstr(out, "latency by method"); p; p = strstr(p + 1, "latency by method"))
        tables++;
    assert_int_equal(tables, 3);
    /* a bad interval is a usage error, nothing sent */
    before = __atomic_load_n(&fs->requests, __ATOMIC_RELAXED);
    assert_int_equal(run_cli(out, fs, "", "--admin A -c 'stats -i 0'"), 1);
    assert_non_null(strstr(out, "usage: stats [-i SECONDS]"));
    assert_int_equal(__atomic_load_n(&fs->requests, __ATOMIC_RELAXED), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cli_stats_draws_every_table, start_fake, fake_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cli_stats_admin_token_from_option_env_or_command, start_fake,
                                        fake_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cli_stats_json_raw_and_repeat, start_fake, fake_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
