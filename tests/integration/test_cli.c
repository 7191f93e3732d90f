/* usher-cli driven non-interactively (-c, stdin, --json) against a real
 * usherd without the demo: the test creates its concert with usher-admin,
 * buys a seat through the shell, and checks exit codes, help, the seat grid
 * and how errors are shown. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "methods.h"

#define OUT_CAP 65536
#define SEATS 50
#define PRICE 40000



/* usher-cli against hs with extra options and a -c script (no single
 * quotes in it); stdout and stderr into out. */
static int run_cli(char *out, const harness_server *hs, const char *options, const char *script)
{
    char bin[512];
    return harness_shell(out, OUT_CAP, "%s --port %u --timeout 5000 %s -c '%s' </dev/null 2>&1",
                     (harness_program_path("USHER_CLI_BIN", "usher-cli", bin, sizeof bin), bin),
                     (unsigned)hs->port, options, script);
}

/* A concert with one performance of SEATS seats, made with usher-admin. */
static void make_concert(harness_server *hs, uint64_t *concert_id, uint64_t *schedule_id)
{
    char bin[512], out[OUT_CAP];
    (harness_program_path("USHER_ADMIN_BIN", "usher-admin", bin, sizeof bin), bin);
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --port %u --data %s concert create 'CLI Night' </dev/null",
                               bin, (unsigned)hs->port, hs->data_dir), 0);
    *concert_id = strtoull(out, NULL, 10);
    assert_true(*concert_id > 0);
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --port %u --data %s schedule create %llu +1d %d %d </dev/null",
                               bin, (unsigned)hs->port, hs->data_dir,
                               (unsigned long long)*concert_id, PRICE, SEATS), 0);
    *schedule_id = strtoull(out, NULL, 10);
    assert_true(*schedule_id > 0);
}

/* Number of times needle occurs in haystack. */
static int count_of(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(haystack, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Another user tries seat_no: the reply code of seat.reserve. */
static usher_err reserve_as_someone_else(harness_fixture *fx, harness_server *hs, uint64_t concert_id,
                                         uint64_t schedule_id, uint32_t seat_no)
{
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    char token[HARNESS_TOKEN_CAP];
    harness_enter_until_active(c, u.session, concert_id, token, 5000);
    harness_reply r;
    usher_err err = harness_callf(c, &r, "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%u}",
                                  token, (unsigned long long)schedule_id, seat_no);
    harness_reply_free(&r);
    return err;
}

static void test_cli_script_completes_purchase_and_draws_grid(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    uint64_t concert_id, schedule_id;
    make_concert(hs, &concert_id, &schedule_id);
    char script[512], out[OUT_CAP];
    snprintf(script, sizeof script, "register; charge 100000; enter %llu; status; dates %llu; seats %llu; "
             "reserve %llu 17; pay; payments; balance",
             (unsigned long long)concert_id, (unsigned long long)concert_id,
             (unsigned long long)schedule_id, (unsigned long long)schedule_id);
    int rc = run_cli(out, hs, "", script);
    if (rc != 0)
        fail_msg("usher-cli exit %d:\n%s", rc, out);
    /* replies as indented JSON */
    assert_non_null(strstr(out, "\"status\": \"ACTIVE\""));
    assert_non_null(strstr(out, "\"payment_id\": "));
    assert_non_null(strstr(out, "\"balance\": 60000"));
    /* the grid: a summary and rows of ten, seat number then mark */
    assert_non_null(strstr(out, "50 of 50 seats available"));
    assert_non_null(strstr(out, "   1o   2o   3o   4o   5o   6o   7o   8o   9o  10o\n"));
    assert_non_null(strstr(out, "  41o  42o  43o  44o  45o  46o  47o  48o  49o  50o\n"));
    assert_null(strstr(out, "error"));
    /* the seat is really sold */
    assert_int_equal(reserve_as_someone_else(fx, hs, concert_id, schedule_id, 17), USHER_ERR_SEAT_UNAVAILABLE);
}

static void test_cli_json_from_stdin_prints_one_object_per_reply(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    uint64_t concert_id, schedule_id;
    make_concert(hs, &concert_id, &schedule_id);
    char bin[512], out[OUT_CAP];
    int rc = harness_shell(out, OUT_CAP, "printf 'register\\ncharge 100000\\nenter %llu; dates\\nseats %llu\\n"
                            "reserve %llu 3\\nreserve 4\\npay\\n' | %s --port %u --json 2>/dev/null",
                       (unsigned long long)concert_id, (unsigned long long)schedule_id,
                       (unsigned long long)schedule_id,
                       (harness_program_path("USHER_CLI_BIN", "usher-cli", bin, sizeof bin), bin), (unsigned)hs->port);
    if (rc != 0)
        fail_msg("usher-cli exit %d:\n%s", rc, out);
    assert_int_equal(count_of(out, "\n"), 8);
    for (const char *line = out; *line; line = strchr(line, '\n') + 1) {
        assert_true(strncmp(line, "{\"ok\":true,\"result\":{", 21) == 0);
        const char *end = strchr(line, '\n');
        assert_true(strncmp(end - 1, "}", 1) == 0);
        assert_non_null(strstr(line, ",\"ms\":"));
    }
    assert_null(strstr(out, "seats available")); /* no grid in --json */
    assert_int_equal(count_of(out, "\"reservation_ids\":["), 1);
    /* `pay` without ids paid both holds of this session */
    const char *paid = strstr(out, "\"amount\":");
    assert_non_null(paid);
    assert_int_equal(strtoll(paid + 9, NULL, 10), 2 * PRICE);
}

static void test_cli_failed_command_exits_1_and_shows_code(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    uint64_t concert_id, schedule_id;
    make_concert(hs, &concert_id, &schedule_id);
    assert_int_equal(reserve_as_someone_else(fx, hs, concert_id, schedule_id, 5), USHER_ERR_OK);
    char script[256], out[OUT_CAP];
    snprintf(script, sizeof script, "register; enter %llu; reserve %llu 5; balance",
             (unsigned long long)concert_id, (unsigned long long)schedule_id);
    assert_int_equal(run_cli(out, hs, "", script), 1);
    assert_non_null(strstr(out, "error SEAT_UNAVAILABLE (11): seat is held or sold  ["));
    assert_non_null(strstr(out, " ms]\n"));
    assert_non_null(strstr(out, "\"balance\": 0")); /* commands go on after a failure */

    assert_int_equal(run_cli(out, hs, "--json", script), 1);
    assert_non_null(strstr(out, "{\"ok\":false,\"code\":\"SEAT_UNAVAILABLE\",\"num\":11,"
                                "\"message\":\"seat is held or sold\",\"ms\":"));

    /* a command used wrongly fails too, and so does one without a session */
    assert_int_equal(run_cli(out, hs, "", "reserve"), 1);
    assert_non_null(strstr(out, "usage: reserve [SCHEDULE] SEAT"));
    assert_int_equal(run_cli(out, hs, "", "frobnicate"), 1);
    assert_int_equal(run_cli(out, hs, "", "balance"), 1);
    assert_non_null(strstr(out, "register"));
    assert_int_equal(run_cli(out, hs, "", "ping; help"), 0);
}

static void test_cli_bad_flag_exits_2(void **state)
{
    (void)state;
    char bin[512], out[OUT_CAP];
    (harness_program_path("USHER_CLI_BIN", "usher-cli", bin, sizeof bin), bin);
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --bogus -c ping </dev/null 2>&1", bin), 2);
    assert_non_null(strstr(out, "--bogus"));
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --port 0 -c ping </dev/null 2>&1", bin), 2);
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --port </dev/null 2>&1", bin), 2);
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --timeout soon -c ping </dev/null 2>&1", bin), 2);
    assert_int_equal(harness_shell(out, OUT_CAP, "%s ping </dev/null 2>&1", bin), 2);
    assert_int_equal(harness_shell(out, OUT_CAP, "USHER_PORT=x %s -c ping </dev/null 2>&1", bin), 2);
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --version </dev/null", bin), 0);
    assert_true(strncmp(out, "usher-cli ", 10) == 0);
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --help </dev/null", bin), 0);
    const char *documented[] = { "--host", "--port", "--timeout", "-c", "--json", "--version",
                                 "USHER_HOST", "USHER_PORT", "NO_COLOR", "exit status" };
    for (size_t i = 0; i < sizeof documented / sizeof documented[0]; i++)
        if (!strstr(out, documented[i]))
            fail_msg("--help does not mention %s", documented[i]);
}

static void test_cli_help_lists_every_method(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    char out[OUT_CAP], bracketed[64];
    assert_int_equal(run_cli(out, hs, "", "help"), 0);
    for (size_t i = 0; i < USHER_METHOD__COUNT; i++) {
        snprintf(bracketed, sizeof bracketed, "[%s]", usher_method_docs[i].name);
        if (!strstr(out, bracketed))
            fail_msg("help has no command for %s:\n%s", usher_method_docs[i].name, out);
    }
    assert_int_equal(run_cli(out, hs, "", "help call"), 0);
    assert_non_null(strstr(out, "payment.pay"));
}

static void test_cli_raw_call_and_send_hex_show_server_codes(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    char out[OUT_CAP];
    assert_int_equal(run_cli(out, hs, "", "call sys.ping {}; call no.such {\"a\": [1, 2]}; "
                                         "call seat.reserve [1]; send-hex 00000001c1; ping"), 1);
    assert_int_equal(count_of(out, "\"time\": "), 2); /* the shell reconnects after the close */
    assert_non_null(strstr(out, "error UNKNOWN_METHOD (3): "));
    assert_non_null(strstr(out, "error BAD_REQUEST (2): "));
    assert_non_null(strstr(out, "reply to msgid 0:\nerror BAD_FRAME (1): "));
    assert_non_null(strstr(out, "connection closed\n"));
    /* two frames at once: both replies come back */
    assert_int_equal(run_cli(out, hs, "", "send-hex 0000000d940001a87379732e70696e6780 "
                                         "0000000d940002a87379732e70696e6780"), 0);
    assert_non_null(strstr(out, "reply to msgid 1:"));
    assert_non_null(strstr(out, "reply to msgid 2:"));
    assert_int_equal(run_cli(out, hs, "", "call sys.ping {oops"), 1);
    assert_non_null(strstr(out, "bad JSON"));
}

static void test_cli_uses_env_and_reports_connection_failure(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    char bin[512], out[OUT_CAP];
    (harness_program_path("USHER_CLI_BIN", "usher-cli", bin, sizeof bin), bin);
    assert_int_equal(harness_shell(out, OUT_CAP, "USHER_HOST=127.0.0.1 USHER_PORT=%u %s -c ping </dev/null 2>&1",
                               (unsigned)hs->port, bin), 0);
    assert_non_null(strstr(out, "\"time\": "));
    uint16_t closed_port = harness_free_port();
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --port %u -c ping </dev/null 2>&1", bin, (unsigned)closed_port), 1);
    assert_non_null(strstr(out, "error EIO (100): "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_cli_script_completes_purchase_and_draws_grid),
        HARNESS_TEST(test_cli_json_from_stdin_prints_one_object_per_reply),
        HARNESS_TEST(test_cli_failed_command_exits_1_and_shows_code),
        HARNESS_TEST(test_cli_bad_flag_exits_2),
        HARNESS_TEST(test_cli_help_lists_every_method),
        HARNESS_TEST(test_cli_raw_call_and_send_hex_show_server_codes),
        HARNESS_TEST(test_cli_uses_env_and_reports_connection_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
