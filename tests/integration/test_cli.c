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
#include <time.h>
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
    /* the grid: a summary, the one price tier, and rows of ten, seat number then mark */
    assert_non_null(strstr(out, "50 of 50 seats available, 0 held by you\n"));
    assert_non_null(strstr(out, "A 40000 KRW (50 free)  * your hold  x taken\n"));
    assert_non_null(strstr(out, "   1A   2A   3A   4A   5A   6A   7A   8A   9A  10A\n"));
    assert_non_null(strstr(out, "  41A  42A  43A  44A  45A  46A  47A  48A  49A  50A\n"));
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
    /* the server's code and message (its wording is the server's), then
     * what the shell asked for */
    char asked[160];
    assert_non_null(strstr(out, "error SEAT_UNAVAILABLE (11): "));
    snprintf(asked, sizeof asked, " (asked: seat 5 of schedule %llu)  [", (unsigned long long)schedule_id);
    assert_non_null(strstr(out, asked));
    assert_non_null(strstr(out, " ms]\n"));
    assert_non_null(strstr(out, "\"balance\": 0")); /* commands go on after a failure */

    assert_int_equal(run_cli(out, hs, "--json", script), 1);
    assert_non_null(strstr(out, "{\"ok\":false,\"code\":\"SEAT_UNAVAILABLE\",\"num\":11,\"message\":\""));
    snprintf(asked, sizeof asked, "\",\"asked\":\"seat 5 of schedule %llu\",\"ms\":", (unsigned long long)schedule_id);
    assert_non_null(strstr(out, asked));

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
    assert_int_equal(harness_shell(out, OUT_CAP, "%s -c ping hello </dev/null 2>&1", bin), 2);
    assert_int_equal(harness_shell(out, OUT_CAP, "USHER_PORT=x %s -c ping </dev/null 2>&1", bin), 2);
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --version </dev/null", bin), 0);
    assert_true(strncmp(out, "usher-cli ", 10) == 0);
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --help </dev/null", bin), 0);
    const char *documented[] = { "--host", "--port", "--timeout", "-c", "--json", "--raw", "-r COUNT",
                                 "-i SECONDS", "--admin", "--version", "USHER_HOST", "USHER_PORT", "USHER_ADMIN",
                                 "NO_COLOR", "TZ", "exit status", "Ctrl-C", "Ctrl-D", ".usher_history", "***" };
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

/* The text after the first `"key": ` in out, as a number (0 when absent). */
static int64_t number_after(const char *out, const char *key)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\": ", key);
    const char *at = strstr(out, needle);
    return at ? strtoll(at + strlen(needle), NULL, 10) : 0;
}

/* "N (YYYY-MM-DD HH:MM:SS ZONE)" for epoch_ms shifted by offset_s, as the
 * shell should print it under a TZ of that offset and zone name. */
static void expected_time(char *buf, size_t cap, int64_t epoch_ms, int offset_s, const char *zone)
{
    time_t secs = (time_t)(epoch_ms / 1000) + offset_s;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char when[40];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, cap, "%lld (%s %s)", (long long)epoch_ms, when, zone);
}

static void test_cli_times_show_local_time_beside_epoch_ms(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    uint64_t concert_id, schedule_id;
    make_concert(hs, &concert_id, &schedule_id);
    char bin[512], out[OUT_CAP], want[96];
    (harness_program_path("USHER_CLI_BIN", "usher-cli", bin, sizeof bin), bin);
    assert_int_equal(harness_shell(out, OUT_CAP, "TZ=UTC %s --port %u -c 'ping; register; charge 100000; enter %llu; dates; "
                                   "reserve %llu 7; pay' </dev/null 2>&1", bin, (unsigned)hs->port,
                                   (unsigned long long)concert_id, (unsigned long long)schedule_id), 0);
    const char *keys[] = { "time", "session_expires_at", "active_until", "starts_at", "expires_at", "paid_at" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int64_t ms = number_after(out, keys[i]);
        if (ms <= 0)
            fail_msg("no %s in:\n%s", keys[i], out);
        expected_time(want, sizeof want, ms, 0, "UTC");
        if (!strstr(out, want))
            fail_msg("%s not shown as '%s':\n%s", keys[i], want, out);
    }
    /* TZ is honoured: a zone nine hours east, by POSIX rule (no tzdata needed) */
    assert_int_equal(harness_shell(out, OUT_CAP, "TZ=KST-9 %s --port %u -c ping </dev/null 2>&1", bin,
                                   (unsigned)hs->port), 0);
    expected_time(want, sizeof want, number_after(out, "time"), 9 * 3600, "KST");
    if (!strstr(out, want))
        fail_msg("ping's time not shown as '%s':\n%s", want, out);
    /* --json keeps bare numbers */
    assert_int_equal(harness_shell(out, OUT_CAP, "TZ=UTC %s --port %u --json -c ping </dev/null 2>&1", bin,
                                   (unsigned)hs->port), 0);
    assert_null(strstr(out, "UTC"));
}

static void test_cli_explains_typos_missing_tokens_and_ids(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    uint64_t concert_id, schedule_id;
    make_concert(hs, &concert_id, &schedule_id);
    char script[512], out[OUT_CAP];
    /* a command misspelt: the nearest one is suggested; nonsense gets none */
    assert_int_equal(run_cli(out, hs, "", "reserv 3"), 1);
    assert_non_null(strstr(out, "unknown command 'reserv': did you mean 'reserve'?"));
    assert_int_equal(run_cli(out, hs, "", "admin concrt X"), 1);
    assert_non_null(strstr(out, "did you mean 'admin concert'?"));
    assert_int_equal(run_cli(out, hs, "", "frobnicate"), 1);
    assert_null(strstr(out, "did you mean"));
    /* no queue token: how to get one */
    assert_int_equal(run_cli(out, hs, "", "register; status"), 1);
    assert_non_null(strstr(out, "no queue token held: `enter CONCERT_ID`"));
    /* the payment ends the token: said at once, and again by the next command
     * needing it, never a bare TOKEN_EXPIRED */
    snprintf(script, sizeof script, "register; charge 100000; enter %llu; reserve %llu 3; pay; reserve %llu 4; balance",
             (unsigned long long)concert_id, (unsigned long long)schedule_id, (unsigned long long)schedule_id);
    assert_int_equal(run_cli(out, hs, "", script), 1);
    assert_int_equal(count_of(out, "your queue token ended with the payment; `enter CONCERT_ID` to queue again"), 2);
    assert_null(strstr(out, "TOKEN_EXPIRED"));
    assert_non_null(strstr(out, "\"balance\": 60000"));
    /* an id the server does not know: the shell says which it asked for */
    assert_int_equal(run_cli(out, hs, "", "register; cancel 99999"), 1);
    assert_non_null(strstr(out, "error NOT_FOUND (10): "));
    assert_non_null(strstr(out, "(asked: reservation 99999)  ["));
    /* a code the shell can help with gets a hint */
    assert_int_equal(run_cli(out, hs, "", "call wallet.balance {\"session\": \"u1.nonsense\"}"), 1);
    assert_non_null(strstr(out, "error UNAUTHENTICATED (5): "));
    assert_non_null(strstr(out, "\nhint: `register`, or `login USER SECRET`"));
    /* the hint follows the method: FORBIDDEN from an admin method is about the admin token */
    assert_int_equal(run_cli(out, hs, "--admin not-a-token", "admin concert X"), 1);
    assert_non_null(strstr(out, "error FORBIDDEN (9): "));
    assert_non_null(strstr(out, "\nhint: the admin token was refused"));
}

static void test_cli_grid_tells_own_holds_and_price_tiers(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--demo"); /* seats 1-10 110000, 11-30 88000, 31-50 66000 */
    const uint64_t concert_id = 1, schedule_id = 3;
    assert_int_equal(reserve_as_someone_else(fx, hs, concert_id, schedule_id, 6), USHER_ERR_OK);
    char script[512], out[OUT_CAP];
    snprintf(script, sizeof script, "register; enter %llu; reserve %llu 5; reserve %llu 12; seats %llu",
             (unsigned long long)concert_id, (unsigned long long)schedule_id, (unsigned long long)schedule_id,
             (unsigned long long)schedule_id);
    int rc = run_cli(out, hs, "", script);
    if (rc != 0)
        fail_msg("usher-cli exit %d:\n%s", rc, out);
    assert_non_null(strstr(out, "47 of 50 seats available, 2 held by you\n"));
    assert_non_null(strstr(out, "A 110000 KRW (8 free)  B 88000 KRW (19 free)  C 66000 KRW (20 free)  "
                                "* your hold  x taken\n"));
    /* 5 and 12 are this shell's holds, 6 someone else's */
    assert_non_null(strstr(out, "   1A   2A   3A   4A   5*   6x   7A   8A   9A  10A\n"));
    assert_non_null(strstr(out, "  11B  12*  13B  14B  15B  16B  17B  18B  19B  20B\n"));
    assert_non_null(strstr(out, "  41C  42C  43C  44C  45C  46C  47C  48C  49C  50C\n"));
}

static void test_cli_raw_and_repeat_print_bare_values(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    char bin[512], out[OUT_CAP];
    (harness_program_path("USHER_CLI_BIN", "usher-cli", bin, sizeof bin), bin);
    /* --raw ping: the time and nothing else */
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --port %u --raw ping </dev/null 2>&1", bin, (unsigned)hs->port), 0);
    assert_int_equal(count_of(out, "\n"), 1);
    assert_int_equal(strspn(out, "0123456789"), strlen(out) - 1);
    int64_t now = harness_now_ms(), shown = strtoll(out, NULL, 10);
    assert_true(shown > now - 60000 && shown < now + 60000);
    /* -r COUNT -i SECONDS repeats it */
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --port %u --raw -r 3 -i 0.01 ping </dev/null 2>&1", bin,
                                   (unsigned)hs->port), 0);
    assert_int_equal(count_of(out, "\n"), 3);
    assert_int_equal(strspn(out, "0123456789\n"), strlen(out));
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --port %u -r 2 -c 'ping; hello' </dev/null 2>&1", bin,
                                   (unsigned)hs->port), 0);
    assert_int_equal(count_of(out, "\"time\": "), 2);
    assert_int_equal(count_of(out, "\"server\": \"usherd\""), 2);
    /* every leaf of a map, keys left out, strings unquoted */
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --port %u --raw hello </dev/null 2>&1", bin, (unsigned)hs->port), 0);
    assert_true(strncmp(out, "usherd\n", 7) == 0);
    assert_null(strchr(out, '"'));
    assert_null(strchr(out, '{'));
    /* an error: nothing on stdout, "CODE: message" on stderr, exit 1 */
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --port %u --raw call no.such </dev/null 2>/dev/null", bin,
                                   (unsigned)hs->port), 1);
    assert_string_equal(out, "");
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --port %u --raw call no.such </dev/null 2>&1 >/dev/null", bin,
                                   (unsigned)hs->port), 1);
    assert_true(strncmp(out, "UNKNOWN_METHOD: ", 16) == 0);
    /* a command in arguments keeps a quoted word together */
    assert_int_equal(harness_shell(out, OUT_CAP, "%s --port %u call sys.ping '{\"a\": 1}' </dev/null 2>&1", bin,
                                   (unsigned)hs->port), 0);
    assert_non_null(strstr(out, "\"time\": "));
    /* bad repeat options */
    const char *bad[] = { "-r 0 ping", "-r x ping", "-i -1 ping", "-i soon ping", "-r 2", "--json --raw ping",
                          "-c ping ping" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (harness_shell(out, OUT_CAP, "%s --port %u %s </dev/null 2>&1", bin, (unsigned)hs->port, bad[i]) != 2)
            fail_msg("'%s' did not exit 2:\n%s", bad[i], out);
}

/* `watch` follows the server's pushes: the entry waits behind one ACTIVE
 * user whose second runs out, then is admitted; no polling in between. */
static void test_cli_watch_follows_pushes_until_active(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--max-active 1 --active-ttl 1500ms --admit-interval 100ms");
    uint64_t concert_id, schedule_id;
    make_concert(hs, &concert_id, &schedule_id);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user first;
    harness_register(c, &first);
    harness_callf_expect(c, OK, "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}", first.session,
                         (unsigned long long)concert_id);
    char out[OUT_CAP], script[256];
    snprintf(script, sizeof script, "register; enter %llu; watch", (unsigned long long)concert_id);
    assert_int_equal(run_cli(out, hs, "", script), 0);
    const char *waiting = strstr(out, "queue WAITING  position 1");
    const char *active = strstr(out, "queue ACTIVE  position 0");
    if (!waiting || !active || active < waiting) fail_msg("watch output:\n%s", out);
    assert_int_equal(count_of(out, "queue ACTIVE"), 1);
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
        HARNESS_TEST(test_cli_times_show_local_time_beside_epoch_ms),
        HARNESS_TEST(test_cli_explains_typos_missing_tokens_and_ids),
        HARNESS_TEST(test_cli_grid_tells_own_holds_and_price_tiers),
        HARNESS_TEST(test_cli_raw_and_repeat_print_bare_values),
        HARNESS_TEST(test_cli_watch_follows_pushes_until_active),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
