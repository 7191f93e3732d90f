/* usher-admin end to end: the tokens it prints are accepted by usherd, it
 * creates concerts and performances over the protocol, and bad usage exits 2. */
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
    assert_int_equal(run_admin(out, "--help"), 0);
    assert_non_null(strstr(out, "schedule create"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_admin_token_is_accepted_by_server),
        HARNESS_TEST(test_admin_token_of_another_data_dir_is_forbidden),
        HARNESS_TEST(test_admin_creates_concert_and_schedule_over_protocol),
        HARNESS_TEST(test_admin_create_with_forged_token_fails_with_code),
        HARNESS_TEST(test_admin_bad_usage_exits_2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
