/* usher-admin end to end: the tokens it prints are accepted by usherd and
 * expire when --ttl says (30 days by default), it never creates a key (a
 * --data DIR usherd never ran in is refused), it creates concerts and
 * performances over the protocol, lists them from DIR's store (past
 * performances too), and bad usage exits 2. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_CAP 8192
#define DAY_MS 86400000LL


/* Runs usher-admin with args (shell words) and no stdin; out gets stdout and
 * stderr, trimmed. Returns the exit status (-1 when killed). */
static int run_admin(char *out, const char *fmt, ...)
{
    char bin[512], args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    harness_program_path("USHER_ADMIN_BIN", "usher-admin", bin, sizeof bin);
    int rc = harness_shell(out, OUT_CAP, "%s %s </dev/null 2>&1", bin, args);
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    return rc;
}

/* Parses a printed id; fails the test unless out is one positive integer. */
static uint64_t printed_id(const char *out)
{
    char *end;
    unsigned long long id = strtoull(out, &end, 10);
    if (id == 0 || *end != '\0')
        fail_msg("expected an id, got '%s'", out);
    return id;
}

static void test_admin_token_is_accepted_by_server(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    char out[OUT_CAP];
    assert_int_equal(run_admin(out, "--data %s token", hs->data_dir), 0);
    assert_true(strncmp(out, "u1.", 3) == 0);
    assert_null(strchr(out, '\n'));

    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_reply r;
    harness_callf(c, &r, "admin.concert.create", "{\"admin\":\"%s\",\"title\":\"Admin Gala\"}", out);
    harness_expect(&r, OK);
    assert_true(harness_get_u64(&r, "concert_id") > 0);
    harness_reply_free(&r);
}

/* Signs a token with `usher-admin ARGS` (which must succeed) and checks that
 * its signed expiry is ttl_ms after a moment during the run. */
static void expect_token_lifetime(const harness_server *hs, const char *args, int64_t ttl_ms,
                                  char *out)
{
    int64_t before = harness_now_ms();
    assert_int_equal(run_admin(out, "%s", args), 0);
    int64_t after = harness_now_ms();
    token_claims claims;
    harness_token_claims(hs->data_dir, out, &claims);
    assert_int_equal(claims.kind, TOKEN_ADMIN);
    if (claims.expires_at_ms < before + ttl_ms || claims.expires_at_ms > after + ttl_ms)
        fail_msg("'%s' signed a token expiring %lld ms after the run began, not %lld",
                 args, (long long)(claims.expires_at_ms - before), (long long)ttl_ms);
}

static void test_admin_token_ttl_sets_its_signed_expiry(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    char args[512], out[OUT_CAP];
    snprintf(args, sizeof args, "--data %s token", hs->data_dir);
    expect_token_lifetime(hs, args, 30 * DAY_MS, out);
    snprintf(args, sizeof args, "--data %s token --ttl 10m", hs->data_dir);
    expect_token_lifetime(hs, args, 10 * 60000LL, out);
    harness_callf_expect(c, OK, "admin.concert.create", "{\"admin\":\"%s\",\"title\":\"Ten Minutes\"}", out);
    snprintf(args, sizeof args, "--ttl 1500ms --data %s token", hs->data_dir);
    expect_token_lifetime(hs, args, 1500, out);
    snprintf(args, sizeof args, "--data %s token --ttl 720h", hs->data_dir);
    expect_token_lifetime(hs, args, 30 * DAY_MS, out);
}

static void test_admin_token_past_its_ttl_is_forbidden(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    char args[512], out[OUT_CAP];
    snprintf(args, sizeof args, "--data %s token --ttl 1s", hs->data_dir);
    expect_token_lifetime(hs, args, 1000, out);   /* so the wait below is short */
    token_claims claims;
    harness_token_claims(hs->data_dir, out, &claims);
    int64_t wait_ms = claims.expires_at_ms - harness_now_ms() + 50;
    if (wait_ms > 0)
        harness_sleep_ms(wait_ms);

    harness_callf_expect(c, FORBIDDEN, "admin.concert.create",
                         "{\"admin\":\"%s\",\"title\":\"Too Late\"}", out);
    harness_reply r;
    harness_call(c, "concert.list", "{}", &r);
    size_t n;
    harness_get_array(&r, "concerts", &n);
    assert_int_equal(n, 0);
    harness_reply_free(&r);
}

static void test_admin_token_of_another_data_dir_is_forbidden(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_server *other = harness_fx_start(fx, NULL); /* another deployment, another key */
    char out[OUT_CAP];
    assert_int_equal(run_admin(out, "--data %s token", other->data_dir), 0);

    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_callf_expect(c, FORBIDDEN, "admin.concert.create",
                         "{\"admin\":\"%s\",\"title\":\"Not Ours\"}", out);
}

static void test_admin_creates_concert_and_schedule_over_protocol(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    char out[OUT_CAP];
    assert_int_equal(run_admin(out, "--port %u --data %s concert create 'Spring Gala' 'Seoul Hall'",
                               (unsigned)hs->port, hs->data_dir), 0);
    uint64_t concert_id = printed_id(out);
    /* --token instead of --data, and a start relative to now */
    const char *admin = harness_admin_token(hs);
    assert_int_equal(run_admin(out, "--port %u --token %s schedule create %llu +2d 55000 30",
                               (unsigned)hs->port, admin, (unsigned long long)concert_id), 0);
    uint64_t schedule_id = printed_id(out);

    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_reply r;
    harness_call(c, "concert.list", "{}", &r);
    size_t n;
    const msgpack_object *concerts = harness_get_array(&r, "concerts", &n);
    assert_int_equal(n, 1);
    assert_int_equal(harness_obj_u64(&concerts[0], "concert_id"), concert_id);
    assert_true(harness_obj_str_is(&concerts[0], "title", "Spring Gala"));
    assert_true(harness_obj_str_is(&concerts[0], "venue", "Seoul Hall"));
    harness_reply_free(&r);

    harness_user u;
    harness_register(c, &u);
    char token[HARNESS_TOKEN_CAP];
    harness_enter_until_active(c, u.session, concert_id, token, 5000);
    harness_callf(c, &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", token,
                  (unsigned long long)concert_id);
    const msgpack_object *dates = harness_get_array(&r, "dates", &n);
    assert_int_equal(n, 1);
    assert_int_equal(harness_obj_u64(&dates[0], "schedule_id"), schedule_id);
    assert_int_equal(harness_obj_i64(&dates[0], "total"), 30);
    int64_t starts_in = harness_obj_i64(&dates[0], "starts_at") - harness_now_ms();
    assert_true(starts_in > 2 * 86400000LL - 60000 && starts_in <= 2 * 86400000LL);
    harness_reply_free(&r);
}

static void test_admin_create_with_forged_token_fails_with_code(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    char out[OUT_CAP];
    assert_int_equal(run_admin(out, "--port %u --token u1.forged concert create X",
                               (unsigned)hs->port), 1);
    assert_non_null(strstr(out, "FORBIDDEN"));
}

/* A --data DIR without a key (a typo, an empty dir) is refused with exit 1
 * and a message naming it, and nothing is created there. */
static void test_admin_refuses_a_dir_usherd_never_ran_in(void **state)
{
    (void)state;
    char root[] = "/tmp/usher-admin-XXXXXX", missing[300], empty[300], keys[340], out[OUT_CAP];
    assert_non_null(mkdtemp(root));
    snprintf(missing, sizeof missing, "%s/typo", root);
    snprintf(empty, sizeof empty, "%s/empty", root);
    assert_int_equal(mkdir(empty, 0700), 0);
    const char *const dirs[] = { missing, empty };
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(run_admin(out, "--data %s token", dirs[i]), 1);
        assert_non_null(strstr(out, "is not a usherd data directory"));
        assert_non_null(strstr(out, dirs[i]));
        assert_non_null(strstr(out, "start usherd there first"));
        assert_null(strstr(out, "u1."));   /* no token printed */
        assert_int_equal(run_admin(out, "--data %s concert create X", dirs[i]), 1);
        assert_non_null(strstr(out, "is not a usherd data directory"));
        assert_int_equal(run_admin(out, "--data %s concert list", dirs[i]), 1);
        assert_non_null(strstr(out, "is not a usherd data directory"));
        snprintf(keys, sizeof keys, "%s/keys", dirs[i]);
        assert_int_not_equal(access(keys, F_OK), 0);
    }
    assert_int_not_equal(access(missing, F_OK), 0);   /* not even the directory */
    rmdir(empty);
    rmdir(root);
}

/* Counts the lines of out that contain every one of the words. */
static int lines_with(const char *out, const char *const *words)
{
    int n = 0;
    for (const char *line = out; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        bool all = true;
        for (const char *const *w = words; *w && all; w++) {
            const char *at = strstr(line, *w);
            all = at && at < line + len;
        }
        n += all;
        line += len + (end ? 1 : 0);
    }
    return n;
}

static void test_admin_lists_concerts_and_every_performance(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    const char *admin = harness_admin_token(hs);
    char out[OUT_CAP];
    assert_int_equal(run_admin(out, "--data %s concert list", hs->data_dir), 0);
    assert_non_null(strstr(out, "(no concerts)"));

    uint64_t concert_id, soon_id;
    harness_make_concert(c, admin, 20, 30000, harness_now_ms() + DAY_MS, &concert_id, &soon_id);
    uint64_t later_id = harness_make_schedule(c, admin, concert_id, 10, 50000, harness_now_ms() + 2 * DAY_MS);
    /* One performance that has started by the time it is listed. */
    uint64_t past_id = harness_make_schedule(c, admin, concert_id, 5, 7000, harness_now_ms() + 300);
    harness_callf_expect(c, OK, "admin.concert.create", "{\"admin\":\"%s\",\"title\":\"Second Show\"}", admin);
    harness_shopper sh;
    harness_shopper_new(c, concert_id, 100000, &sh);
    uint64_t rid = harness_reserve(c, sh.token, soon_id, 3, NULL);
    harness_callf_expect(c, OK, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}", sh.token,
                         (unsigned long long)rid);
    harness_sleep_ms(400);

    assert_int_equal(run_admin(out, "--data %s concert list", hs->data_dir), 0);
    char id[32];
    snprintf(id, sizeof id, "%llu ", (unsigned long long)concert_id);
    const char *const first[] = { id, "Harness Night", " 3", NULL };
    const char *const second[] = { "Second Show", " 0", NULL };
    if (lines_with(out, first) != 1 || lines_with(out, second) != 1)
        fail_msg("concert list:\n%s", out);

    assert_int_equal(run_admin(out, "--data %s schedule list %llu", hs->data_dir,
                               (unsigned long long)concert_id), 0);
    char sid[3][32];
    snprintf(sid[0], sizeof sid[0], "%llu ", (unsigned long long)soon_id);
    snprintf(sid[1], sizeof sid[1], "%llu ", (unsigned long long)later_id);
    snprintf(sid[2], sizeof sid[2], "%llu ", (unsigned long long)past_id);
    /* seats, price, sold, free; the started one is listed as past */
    const char *const soon[] = { sid[0], "future", " 20 ", "30000", " 1 ", " 19", NULL };
    const char *const later[] = { sid[1], "future", " 10 ", "50000", " 0 ", " 10", NULL };
    const char *const past[] = { sid[2], "past", " 5 ", "7000", " UTC", NULL };
    if (lines_with(out, soon) != 1 || lines_with(out, later) != 1 || lines_with(out, past) != 1)
        fail_msg("schedule list:\n%s", out);
    /* earliest first: the past one before the others (ids start their lines) */
    const char *at[3];
    for (int i = 0; i < 3; i++) {
        char needle[40];
        snprintf(needle, sizeof needle, "\n%.30s", sid[i]);
        at[i] = strstr(out, needle);
        assert_non_null(at[i]);
    }
    if (!(at[2] < at[0] && at[0] < at[1]))
        fail_msg("schedule list not earliest first:\n%s", out);

    assert_int_equal(run_admin(out, "--data %s schedule list 999", hs->data_dir), 1);
    assert_non_null(strstr(out, "concert 999 not found"));
    assert_int_equal(run_admin(out, "concert list"), 2);              /* needs --data */
    assert_int_equal(run_admin(out, "--data %s schedule list", hs->data_dir), 2);
    assert_int_equal(run_admin(out, "--data %s schedule list x", hs->data_dir), 2);
}

static void test_admin_bad_usage_exits_2(void **state)
{
    (void)state;
    char out[OUT_CAP];
    assert_int_equal(run_admin(out, "%s", ""), 2);                       /* no command */
    assert_int_equal(run_admin(out, "token"), 2);                        /* token without --data */
    assert_int_equal(run_admin(out, "--bogus token"), 2);
    assert_int_equal(run_admin(out, "--data /nonexistent frobnicate"), 2);
    assert_int_equal(run_admin(out, "--token t concert create"), 2);     /* no TITLE */
    assert_int_equal(run_admin(out, "--token t schedule create 1 tomorrow 5000"), 2);
    assert_int_equal(run_admin(out, "--token t schedule create 1 +2y 5000"), 2);
    assert_int_equal(run_admin(out, "--token t schedule create 0 +2d 5000"), 2);
    assert_int_equal(run_admin(out, "--port 0 --token t concert create X"), 2);
    assert_int_equal(run_admin(out, "concert create X"), 2);             /* neither --token nor --data */
    assert_non_null(strstr(out, "--token"));
    assert_int_equal(run_admin(out, "--data /nonexistent token --ttl 5"), 2);   /* no unit */
    assert_non_null(strstr(out, "--ttl"));
    assert_int_equal(run_admin(out, "--data /nonexistent token --ttl 0s"), 2);
    assert_int_equal(run_admin(out, "--data /nonexistent token --ttl 31d"), 2); /* above 30 days */
    assert_int_equal(run_admin(out, "--data /proc/usher-no-data token --ttl 2d"), 1);  /* days parse: the dir is what fails */
    assert_non_null(strstr(out, "not a usherd data directory"));
    assert_int_equal(run_admin(out, "--data /nonexistent token --ttl 721h"), 2); /* above 30 days */
    assert_int_equal(run_admin(out, "--data /nonexistent token --ttl"), 2);
    assert_int_equal(run_admin(out, "--data /nonexistent token --ttl 5s extra"), 2);
    assert_int_equal(run_admin(out, "--token t --ttl 5s concert create X"), 2);
    assert_int_equal(run_admin(out, "--help"), 0);
    assert_non_null(strstr(out, "schedule create"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_admin_token_is_accepted_by_server),
        HARNESS_TEST(test_admin_token_ttl_sets_its_signed_expiry),
        HARNESS_TEST(test_admin_token_past_its_ttl_is_forbidden),
        HARNESS_TEST(test_admin_token_of_another_data_dir_is_forbidden),
        HARNESS_TEST(test_admin_creates_concert_and_schedule_over_protocol),
        HARNESS_TEST(test_admin_create_with_forged_token_fails_with_code),
        HARNESS_TEST(test_admin_bad_usage_exits_2),
        HARNESS_TEST(test_admin_refuses_a_dir_usherd_never_ran_in),
        HARNESS_TEST(test_admin_lists_concerts_and_every_performance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
