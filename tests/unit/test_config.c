/* usherd's command line: defaults, every flag, durations, usage errors,
 * --help and --version, and the store options derived from a config. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../server/config.h"

#define MAX_ARGS 40

/* One config_parse run with captured output. */
typedef struct parse_run {
    usher_config cfg;
    int rc;
    char *out;
    char *err;
} parse_run;

/* Parses "usherd" followed by the NULL-terminated args. */
static parse_run *run_args(const char *first, ...)
{
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    va_list ap;

    argv[argc++] = (char *)"usherd";
    va_start(ap, first);
    for (const char *a = first; a != NULL; a = va_arg(ap, const char *)) {
        assert_true(argc <= MAX_ARGS);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;

    parse_run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    size_t out_len = 0, err_len = 0;
    FILE *out = open_memstream(&r->out, &out_len);
    FILE *err = open_memstream(&r->err, &err_len);
    assert_non_null(out);
    assert_non_null(err);
    config_defaults(&r->cfg);
    r->rc = config_parse(&r->cfg, argc, argv, out, err);
    fclose(out);
    fclose(err);
    return r;
}

static void run_free(parse_run *r)
{
    free(r->out);
    free(r->err);
    free(r);
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

/* A usage error: exit 2, nothing on out, one message line naming the flag
 * and the value, then the --help hint. */
static void assert_usage_error(parse_run *r, const char *flag, const char *value)
{
    assert_int_equal(r->rc, 2);
    assert_string_equal(r->out, "");
    assert_true(strncmp(r->err, "usherd: ", 8) == 0);
    assert_int_equal(count_char(r->err, '\n'), 2);
    assert_non_null(strstr(r->err, "\nTry 'usherd --help'.\n"));
    if (flag)
        assert_non_null(strstr(r->err, flag));
    if (value)
        assert_non_null(strstr(r->err, value));
}

static void expect_usage_error(const char *flag, const char *value)
{
    parse_run *r = run_args(flag, value, NULL);
    assert_usage_error(r, flag, value);
    run_free(r);
}

/* ---- defaults ---- */

static void test_defaults_match_documentation(void **state)
{
    (void)state;
    usher_config c;
    memset(&c, 0xab, sizeof c);
    config_defaults(&c);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 7700);
    assert_string_equal(c.data_dir, "./usher-data");
    assert_int_equal(c.workers, 1);
    assert_int_equal(c.hold_ttl_ms, 5 * 60 * 1000);
    assert_int_equal(c.active_ttl_ms, 10 * 60 * 1000);
    assert_int_equal(c.max_active, 100);
    assert_int_equal(c.max_holds, 4);
    assert_int_equal(c.admit_interval_ms, 1000);
    assert_int_equal(c.admit_slow_ms, 50);
    assert_int_equal(c.session_ttl_ms, 24LL * 3600 * 1000);
    assert_int_equal(c.queue_token_ttl_ms, 24LL * 3600 * 1000);
    assert_int_equal(c.admin_token_ttl_ms, 30LL * 24 * 3600 * 1000);
    assert_int_equal(c.max_frame, 65536);
    assert_int_equal(c.sync, STORE_SYNC_FULL);
    assert_false(c.demo);
    assert_int_equal(c.log_level, LOG_INFO);
    assert_false(c.log_json);
    assert_int_equal(c.max_conns, 10000);
    assert_int_equal(c.out_buf_cap, 1 << 20);
    assert_int_equal(c.idle_timeout_ms, 5 * 60 * 1000);
    assert_int_equal(c.frame_timeout_ms, 10 * 1000);
    assert_int_equal(c.max_inflight, 256);
    assert_int_equal(c.batch_max, 256);
    assert_int_equal(c.map_size_bytes, 4096ULL << 20);
    assert_int_equal(c.reader_timeout_ms, 10 * 1000);
    assert_int_equal(c.max_charge_krw, 10000000);
    assert_int_equal(c.balance_limit_krw, 1000000000000LL);
    assert_int_equal(c.request_id_ttl_ms, 24LL * 3600 * 1000);
    assert_int_equal(c.token_cache_tokens, 4194304);
    msg_limits lim = msg_limits_default();
    assert_int_equal(c.limits.max_depth, lim.max_depth);
    assert_int_equal(c.limits.max_elems, lim.max_elems);
}

static void test_no_arguments_keeps_defaults(void **state)
{
    (void)state;
    usher_config d;
    config_defaults(&d);
    parse_run *r = run_args(NULL);
    assert_int_equal(r->rc, 0);
    assert_memory_equal(&r->cfg, &d, sizeof d);
    assert_string_equal(r->err, "");
    run_free(r);
}

/* ---- every flag ---- */

static void test_every_flag_parses(void **state)
{
    (void)state;
    parse_run *r = run_args("--listen", "10.1.2.3:9000", "--data", "/tmp/x", "--workers", "64",
                            "--hold-ttl", "1500ms", "--active-ttl", "5s", "--max-active", "100000",
                            "--max-holds", "16", "--admit-interval", "10m", "--session-ttl", "24h",
                            "--max-frame", "16777216", "--sync", "meta", "--demo", NULL);
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->err, "");
    assert_string_equal(r->cfg.listen_host, "10.1.2.3");
    assert_int_equal(r->cfg.listen_port, 9000);
    assert_string_equal(r->cfg.data_dir, "/tmp/x");
    assert_int_equal(r->cfg.workers, 64);
    assert_int_equal(r->cfg.hold_ttl_ms, 1500);
    assert_int_equal(r->cfg.active_ttl_ms, 5000);
    assert_int_equal(r->cfg.max_active, 100000);
    assert_int_equal(r->cfg.max_holds, 16);
    assert_int_equal(r->cfg.admit_interval_ms, 600000);
    assert_int_equal(r->cfg.session_ttl_ms, 86400000);
    assert_int_equal(r->cfg.max_frame, 16777216);
    assert_int_equal(r->cfg.sync, STORE_SYNC_META);
    assert_true(r->cfg.demo);
    run_free(r);

    r = run_args("--admit-slow-ms", "0", NULL);
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->cfg.admit_slow_ms, 0);
    run_free(r);

    r = run_args("--log-level", "debug", "--log-json", "--max-conns", "5", "--map-size", "64",
                 "--sync", "none", NULL);
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->cfg.log_level, LOG_DEBUG);
    assert_true(r->cfg.log_json);
    assert_int_equal(r->cfg.max_conns, 5);
    assert_int_equal(r->cfg.map_size_bytes, 64u << 20);
    assert_int_equal(r->cfg.sync, STORE_SYNC_NONE);
    run_free(r);
}

static void test_equals_form_parses(void **state)
{
    (void)state;
    parse_run *r = run_args("--listen=127.0.0.1:1", "--workers=2", "--hold-ttl=2s",
                            "--sync=full", "--log-level=error", "--map-size=1048576", NULL);
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->cfg.listen_port, 1);
    assert_int_equal(r->cfg.workers, 2);
    assert_int_equal(r->cfg.hold_ttl_ms, 2000);
    assert_int_equal(r->cfg.sync, STORE_SYNC_FULL);
    assert_int_equal(r->cfg.log_level, LOG_ERROR);
    assert_true(r->cfg.map_size_bytes == (size_t)1048576 << 20);
    run_free(r);
}

static void test_log_levels_and_sync_modes(void **state)
{
    (void)state;
    const char *levels[] = { "error", "warn", "info", "debug" };
    for (int i = 0; i < 4; i++) {
        parse_run *r = run_args("--log-level", levels[i], NULL);
        assert_int_equal(r->rc, 0);
        assert_int_equal(r->cfg.log_level, i);
        run_free(r);
    }
    expect_usage_error("--log-level", "verbose");
    expect_usage_error("--log-level", "INFO");
    expect_usage_error("--sync", "fast");
}

static void test_listen_accepts_ipv4_and_localhost_only(void **state)
{
    (void)state;
    parse_run *r = run_args("--listen", "localhost:65535", NULL);
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->cfg.listen_host, "127.0.0.1");
    assert_int_equal(r->cfg.listen_port, 65535);
    run_free(r);
    r = run_args("--listen", "0.0.0.0:7700", NULL);
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->cfg.listen_host, "0.0.0.0");
    run_free(r);

    const char *bad[] = { "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", ":7700",
                          "example.com:7700", "1.2.3:7700", "256.0.0.1:7700", "127.0.0.1:-1",
                          "127.0.0.1:80x", "127.0.0.1:", "::1:7700", "[::1]:7700" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_usage_error("--listen", bad[i]);
}

/* ---- durations ---- */

static void test_duration_units(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(config_parse_duration("1500ms", &ms), USHER_ERR_OK);
    assert_int_equal(ms, 1500);
    assert_int_equal(config_parse_duration("5s", &ms), USHER_ERR_OK);
    assert_int_equal(ms, 5000);
    assert_int_equal(config_parse_duration("10m", &ms), USHER_ERR_OK);
    assert_int_equal(ms, 600000);
    assert_int_equal(config_parse_duration("24h", &ms), USHER_ERR_OK);
    assert_int_equal(ms, 86400000);
    assert_int_equal(config_parse_duration("720h", &ms), USHER_ERR_OK);     /* 30 days */
    assert_int_equal(ms, 2592000000LL);
    assert_int_equal(config_parse_duration("2d", &ms), USHER_ERR_OK);
    assert_int_equal(ms, 172800000LL);
    assert_int_equal(config_parse_duration("30d", &ms), USHER_ERR_OK);
    assert_int_equal(ms, 2592000000LL);
    assert_int_equal(config_parse_duration("2592000000ms", &ms), USHER_ERR_OK);
    assert_int_equal(config_parse_duration("1ms", &ms), USHER_ERR_OK);
    assert_int_equal(ms, 1);
}

/* usherd's duration flags take days, as usher-admin's +2d does: the 30-day
 * cap at it and one past it. (config_parse_duration, usher-admin --ttl's
 * parser, does not yet: test_duration_rejects_bad_text.) */
static void test_duration_flags_take_days(void **state)
{
    (void)state;
    const char *flags[] = { "--hold-ttl", "--active-ttl", "--admit-interval", "--session-ttl" };
    for (size_t i = 0; i < 4; i++) {
        parse_run *r = run_args(flags[i], "2d", NULL);
        assert_int_equal(r->rc, 0);
        run_free(r);
        expect_usage_error(flags[i], "31d");
        expect_usage_error(flags[i], "0d");
    }
    parse_run *r = run_args("--session-ttl", "2d", "--hold-ttl", "30d", NULL);
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->cfg.session_ttl_ms, 2LL * 24 * 3600 * 1000);
    assert_int_equal(r->cfg.hold_ttl_ms, 2592000000LL);
    run_free(r);
    r = run_args("--idle-timeout", "1d", NULL);   /* 24h, its upper bound */
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->cfg.idle_timeout_ms, 86400000);
    run_free(r);
    expect_usage_error("--idle-timeout", "2d");    /* past 24h */
}

static void test_duration_rejects_bad_text(void **state)
{
    (void)state;
    const char *bad[] = { "5", "", "ms", "31d", "5D", "1dd", "d", "5 s", " 5s", "5S", "5sec", "-5s", "+5s",
                          "0s", "0ms", "721h", "2592000001ms", "43201m",
                          "99999999999999999999999s", "1.5s", "5s5", "0x10s" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        assert_int_equal(config_parse_duration(bad[i], &ms), USHER_ERR_INVALID_ARGUMENT);
        assert_int_equal(ms, 42);
    }
}

static void test_bare_number_duration_is_usage_error_naming_units(void **state)
{
    (void)state;
    const char *flags[] = { "--hold-ttl", "--active-ttl", "--admit-interval", "--session-ttl" };
    for (size_t i = 0; i < 4; i++) {
        parse_run *r = run_args(flags[i], "5", NULL);
        assert_usage_error(r, flags[i], "'5'");
        assert_non_null(strstr(r->err, "ms"));
        assert_non_null(strstr(r->err, " s,"));
        assert_non_null(strstr(r->err, " m,"));
        assert_non_null(strstr(r->err, " h or d "));
        run_free(r);
    }
}

static void test_duration_flag_out_of_range_or_bad_unit(void **state)
{
    (void)state;
    expect_usage_error("--hold-ttl", "0s");
    expect_usage_error("--hold-ttl", "721h");
    expect_usage_error("--active-ttl", "3w");
    expect_usage_error("--active-ttl", "31d");
    expect_usage_error("--admit-interval", "fast");
    expect_usage_error("--session-ttl", "-1h");
}

/* ---- --reader-timeout: 1s..1h, each at the limit and one past it ---- */

static void test_reader_timeout_at_and_past_limits(void **state)
{
    (void)state;
    const struct { const char *text; int64_t ms; } ok[] = {
        { "1s", 1000 }, { "1000ms", 1000 }, { "1h", 3600000 }, { "60m", 3600000 }, { "2s", 2000 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        parse_run *r = run_args("--reader-timeout", ok[i].text, NULL);
        assert_int_equal(r->rc, 0);
        assert_int_equal(r->cfg.reader_timeout_ms, ok[i].ms);
        run_free(r);
    }
    expect_usage_error("--reader-timeout", "999ms");
    expect_usage_error("--reader-timeout", "3600001ms");
    expect_usage_error("--reader-timeout", "61m");
    expect_usage_error("--reader-timeout", "10");
    expect_usage_error("--reader-timeout", "0s");
}

/* ---- --idle-timeout 1s..24h and --frame-timeout 100ms..10m, at and past each limit ---- */

static void test_connection_timeouts_at_and_past_limits(void **state)
{
    (void)state;
    const struct { const char *flag, *text; int64_t ms; } ok[] = {
        { "--idle-timeout", "1s", 1000 }, { "--idle-timeout", "24h", 86400000 },
        { "--idle-timeout", "1440m", 86400000 }, { "--frame-timeout", "100ms", 100 },
        { "--frame-timeout", "10m", 600000 }, { "--frame-timeout", "600000ms", 600000 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        parse_run *r = run_args(ok[i].flag, ok[i].text, NULL);
        assert_int_equal(r->rc, 0);
        int64_t got = ok[i].flag[2] == 'i' ? r->cfg.idle_timeout_ms : r->cfg.frame_timeout_ms;
        assert_int_equal(got, ok[i].ms);
        run_free(r);
    }
    expect_usage_error("--idle-timeout", "999ms");
    expect_usage_error("--idle-timeout", "86400001ms");
    expect_usage_error("--idle-timeout", "25h");
    expect_usage_error("--idle-timeout", "5");
    expect_usage_error("--frame-timeout", "99ms");
    expect_usage_error("--frame-timeout", "600001ms");
    expect_usage_error("--frame-timeout", "11m");
    expect_usage_error("--frame-timeout", "0s");
}

/* ---- integer limits, each at the limit and one past it ---- */

static void test_integer_flags_at_and_past_limits(void **state)
{
    (void)state;
    const struct { const char *flag, *ok_lo, *ok_hi, *bad_lo, *bad_hi; } rows[] = {
        { "--workers",    "1",     "64",       "0",     "65" },
        { "--max-active", "1",     "100000",   "0",     "100001" },
        { "--max-holds",  "1",     "16",       "0",     "17" },
        { "--max-frame",  "65536", "16777216", "65535", "16777217" },
        { "--max-conns",  "1",     "1000000",  "0",     "1000001" },
        { "--map-size",   "64",    "1048576",  "63",    "1048577" },
        { "--token-cache", "0",    "268435456", "-1",   "268435457" },
        { "--max-inflight", "1",   "65536",    "0",     "65537" },
        { "--admit-slow-ms", "0",  "5000",     "-1",    "5001" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        parse_run *r = run_args(rows[i].flag, rows[i].ok_lo, NULL);
        assert_int_equal(r->rc, 0);
        run_free(r);
        r = run_args(rows[i].flag, rows[i].ok_hi, NULL);
        assert_int_equal(r->rc, 0);
        run_free(r);
        expect_usage_error(rows[i].flag, rows[i].bad_lo);
        expect_usage_error(rows[i].flag, rows[i].bad_hi);
        expect_usage_error(rows[i].flag, "-1");
        expect_usage_error(rows[i].flag, "+2");
        expect_usage_error(rows[i].flag, " 2");
        expect_usage_error(rows[i].flag, "2x");
        expect_usage_error(rows[i].flag, "1e3");
        expect_usage_error(rows[i].flag, "18446744073709551616"); /* overflows uint64 */
        expect_usage_error(rows[i].flag, "abc");
    }
}

static void test_max_holds_17_and_max_frame_65535_rejected(void **state)
{
    (void)state;
    parse_run *r = run_args("--max-holds", "17", NULL);
    assert_usage_error(r, "--max-holds", "17");
    assert_int_equal(r->cfg.max_holds, 4);
    run_free(r);
    r = run_args("--max-frame", "65535", NULL);
    assert_usage_error(r, "--max-frame", "65535");
    assert_int_equal(r->cfg.max_frame, 65536);
    run_free(r);
}

/* ---- malformed command lines ---- */

static void test_unknown_flag_is_usage_error(void **state)
{
    (void)state;
    parse_run *r = run_args("--bogus", NULL);
    assert_usage_error(r, "--bogus", NULL);
    run_free(r);
    r = run_args("--demo", "--frobnicate=3", NULL);
    assert_usage_error(r, "--frobnicate", NULL);
    run_free(r);
    r = run_args("-x", NULL);
    assert_usage_error(r, "-x", NULL);
    run_free(r);
    r = run_args("--ma", "3", NULL); /* --max-active, --max-holds, --max-frame ... */
    assert_usage_error(r, "ambiguous option '--ma'", NULL);
    run_free(r);
}

static void test_stray_argument_is_usage_error(void **state)
{
    (void)state;
    parse_run *r = run_args("--demo", "extra", NULL);
    assert_usage_error(r, "extra", NULL);
    run_free(r);
    r = run_args("extra", "--demo", NULL);
    assert_usage_error(r, "extra", NULL);
    run_free(r);
}

static void test_missing_or_unwanted_value_is_usage_error(void **state)
{
    (void)state;
    parse_run *r = run_args("--workers", NULL);
    assert_usage_error(r, "--workers", NULL);
    run_free(r);
    r = run_args("--demo=yes", NULL);
    assert_usage_error(r, "--demo", NULL);
    run_free(r);
    r = run_args("--data=", NULL);
    assert_usage_error(r, "--data", NULL);
    run_free(r);
    r = run_args("--data", "", NULL);
    assert_usage_error(r, "--data", NULL);
    run_free(r);
}

static void test_parse_can_run_twice(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        parse_run *r = run_args("--workers", "3", "--demo", NULL);
        assert_int_equal(r->rc, 0);
        assert_int_equal(r->cfg.workers, 3);
        assert_true(r->cfg.demo);
        run_free(r);
    }
}

/* ---- --help and --version ---- */

static void test_help_lists_every_flag(void **state)
{
    (void)state;
    const char *flags[] = { "--listen", "--data", "--workers", "--hold-ttl", "--active-ttl",
                            "--max-active", "--max-holds", "--admit-interval", "--session-ttl",
                            "--max-frame", "--sync", "--demo", "--log-level", "--log-json",
                            "--max-conns", "--map-size", "--reader-timeout", "--token-cache", "--idle-timeout",
                            "--frame-timeout", "--max-inflight", "--admit-slow-ms", "--config", "--help", "--version",
                            "EXAMPLES", "SIGNALS", "SIGTERM", "SIGINT" };
    const char *args[] = { "--help", "-h" };
    for (size_t a = 0; a < 2; a++) {
        parse_run *r = run_args(args[a], NULL);
        assert_int_equal(r->rc, 1);
        assert_string_equal(r->err, "");
        assert_true(strncmp(r->out, "Usage: usherd", 13) == 0);
        for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
            if (strstr(r->out, flags[i]) == NULL)
                fail_msg("--help does not mention %s", flags[i]);
        }
        run_free(r);
    }
}

static void test_version_prints_version(void **state)
{
    (void)state;
    parse_run *r = run_args("--version", NULL);
    assert_int_equal(r->rc, 1);
    assert_string_equal(r->out, "usherd 1.0.0 (protocol 1)\n");
    assert_string_equal(r->err, "");
    run_free(r);
}

/* ---- --config FILE ---- */

/* A temp file holding text; its path in path[cap]. Remove with unlink. */
static void write_config(char *path, size_t cap, const char *text)
{
    snprintf(path, cap, "/tmp/usherd-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static const char sample_config[] =
    "# usherd settings\n"
    "\n"
    "listen = 127.0.0.1:7711\n"
    "  max-active=200\n"
    "log-json = true\n"
    "\thold-ttl =   2d  \n"
    "   # an indented comment\n"
    "data = /var/lib/usher data\n"
    "sync = meta\r\n";

static void test_config_file_sets_every_kind_of_key(void **state)
{
    (void)state;
    char path[64];
    write_config(path, sizeof path, sample_config);
    parse_run *r = run_args("--config", path, NULL);
    unlink(path);
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->err, "");
    assert_string_equal(r->cfg.listen_host, "127.0.0.1");
    assert_int_equal(r->cfg.listen_port, 7711);
    assert_int_equal(r->cfg.max_active, 200);
    assert_true(r->cfg.log_json);
    assert_int_equal(r->cfg.hold_ttl_ms, 2LL * 24 * 3600 * 1000);
    assert_string_equal(r->cfg.data_dir, "/var/lib/usher data");
    assert_int_equal(r->cfg.sync, STORE_SYNC_META);
    assert_int_equal(r->cfg.workers, 1);   /* not in the file: the default */
    run_free(r);
}

static void test_command_line_wins_over_config_file_in_any_order(void **state)
{
    (void)state;
    char path[64];
    write_config(path, sizeof path, "max-active = 200\nlog-json = false\nworkers = 3\n");
    parse_run *before = run_args("--max-active", "300", "--log-json", "--config", path, NULL);
    parse_run *after = run_args("--config", path, "--max-active", "300", "--log-json", NULL);
    parse_run *empty_name = run_args("--max-active=300", "--log-json", "--config=", NULL);
    unlink(path);
    parse_run *runs[] = { before, after };
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(runs[i]->rc, 0);
        assert_int_equal(runs[i]->cfg.max_active, 300);
        assert_true(runs[i]->cfg.log_json);
        assert_int_equal(runs[i]->cfg.workers, 3);   /* from the file */
        run_free(runs[i]);
    }
    assert_usage_error(empty_name, "--config", NULL);   /* an empty file name */
    run_free(empty_name);
}

static void test_config_switch_false_turns_it_off(void **state)
{
    (void)state;
    char path[64];
    write_config(path, sizeof path, "demo = true\nlog-json = true\ndemo = false\n");
    parse_run *r = run_args("--config", path, NULL);
    unlink(path);
    assert_int_equal(r->rc, 0);
    assert_false(r->cfg.demo);   /* the later line of the file wins, as a later flag does */
    assert_true(r->cfg.log_json);
    run_free(r);
}

/* A usage error from a file: exit 2, "usherd: PATH:LINE: ..." naming the key or value. */
static void expect_config_error(const char *text, unsigned line, const char *needle)
{
    char path[64], where[80];
    write_config(path, sizeof path, text);
    parse_run *r = run_args("--config", path, NULL);
    unlink(path);
    snprintf(where, sizeof where, "usherd: %s:%u: ", path, line);
    assert_usage_error(r, where, needle);
    run_free(r);
}

static void test_config_file_errors_name_file_and_line(void **state)
{
    (void)state;
    expect_config_error("# ok\nlisten = 127.0.0.1:7700\nbogus = 1\n", 3, "unknown key 'bogus'");
    expect_config_error("max-active = 0\n", 1, "--max-active: '0'");
    expect_config_error("\n\nhold-ttl = 5\n", 3, "'5' needs a unit");
    expect_config_error("log-json = yes\n", 1, "'yes' is not true or false");
    expect_config_error("max-active 200\n", 1, "'max-active 200' is not KEY = VALUE");
    expect_config_error("= 200\n", 1, "no key before '='");
    expect_config_error("max-active =\n", 1, "needs a value");
    expect_config_error("max-active = 200 # per concert\n", 1, "'200 # per concert'");
    expect_config_error("--max-active = 200\n", 1, "unknown key '--max-active'");
    expect_config_error("help = true\n", 1, "unknown key 'help'");
    expect_config_error("version = true\n", 1, "unknown key 'version'");
    expect_config_error("config = /etc/other.conf\n", 1, "unknown key 'config'");
}

static void test_config_file_missing_or_twice_is_usage_error(void **state)
{
    (void)state;
    parse_run *r = run_args("--config", "/nonexistent/usherd.conf", NULL);
    assert_usage_error(r, "--config", "'/nonexistent/usherd.conf'");
    run_free(r);
    r = run_args("--config", "/tmp", NULL);   /* a directory cannot be read */
    assert_usage_error(r, "--config", "'/tmp'");
    run_free(r);
    char path[64];
    write_config(path, sizeof path, "workers = 2\n");
    r = run_args("--config", path, "--config", path, NULL);
    unlink(path);
    assert_usage_error(r, "--config given twice", NULL);
    run_free(r);
}

/* ---- store options ---- */

static void test_store_options_follow_config(void **state)
{
    (void)state;
    parse_run *r = run_args("--sync", "none", "--map-size", "128", "--hold-ttl", "1500ms",
                            "--active-ttl", "7s", "--max-active", "3", "--max-holds", "2",
                            "--workers", "64", NULL);
    assert_int_equal(r->rc, 0);
    store_options o = config_store_options(&r->cfg);
    assert_int_equal(o.sync, STORE_SYNC_NONE);
    assert_int_equal(o.map_size_bytes, 128u << 20);
    assert_true(o.max_readers >= 126);
    assert_true(o.max_readers >= 64 * 2);
    assert_int_equal(o.policy.hold_ttl_ms, 1500);
    assert_int_equal(o.policy.active_ttl_ms, 7000);
    assert_int_equal(o.policy.max_active, 3);
    assert_int_equal(o.policy.max_holds, 2);
    assert_int_equal(o.policy.max_charge_krw, 10000000);
    assert_int_equal(o.policy.balance_limit_krw, 1000000000000LL);
    assert_int_equal(o.policy.request_id_ttl_ms, 86400000);
    run_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_match_documentation),
        cmocka_unit_test(test_no_arguments_keeps_defaults),
        cmocka_unit_test(test_every_flag_parses),
        cmocka_unit_test(test_equals_form_parses),
        cmocka_unit_test(test_log_levels_and_sync_modes),
        cmocka_unit_test(test_listen_accepts_ipv4_and_localhost_only),
        cmocka_unit_test(test_duration_units),
        cmocka_unit_test(test_duration_rejects_bad_text),
        cmocka_unit_test(test_duration_flags_take_days),
        cmocka_unit_test(test_bare_number_duration_is_usage_error_naming_units),
        cmocka_unit_test(test_duration_flag_out_of_range_or_bad_unit),
        cmocka_unit_test(test_integer_flags_at_and_past_limits),
        cmocka_unit_test(test_max_holds_17_and_max_frame_65535_rejected),
        cmocka_unit_test(test_unknown_flag_is_usage_error),
        cmocka_unit_test(test_stray_argument_is_usage_error),
        cmocka_unit_test(test_missing_or_unwanted_value_is_usage_error),
        cmocka_unit_test(test_parse_can_run_twice),
        cmocka_unit_test(test_reader_timeout_at_and_past_limits),
        cmocka_unit_test(test_connection_timeouts_at_and_past_limits),
        cmocka_unit_test(test_help_lists_every_flag),
        cmocka_unit_test(test_version_prints_version),
        cmocka_unit_test(test_store_options_follow_config),
        cmocka_unit_test(test_config_file_sets_every_kind_of_key),
        cmocka_unit_test(test_command_line_wins_over_config_file_in_any_order),
        cmocka_unit_test(test_config_switch_false_turns_it_off),
        cmocka_unit_test(test_config_file_errors_name_file_and_line),
        cmocka_unit_test(test_config_file_missing_or_twice_is_usage_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
