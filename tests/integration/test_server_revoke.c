/* End to end, admin.session.revoke: a revoked user's sessions and queue
 * tokens are refused at once by the process that committed the revocation
 * and, within a bounded time, by another usherd on the same data dir; the
 * user logs in again and is served; other users are untouched; the
 * revocation survives a restart; usher-check passes afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <signal.h>
#include <string.h>

#define PRICE 25000
#define SEATS 50
#define SPREAD_DEADLINE_MS 5000   /* generous: the bound is one refresh (100 ms) */

/* admin.session.revoke of user_id, which must succeed; returns revoked_at. */
static int64_t revoke_user(harness_conn *c, const char *admin, const char *user_id)
{
    harness_reply r;
    harness_callf(c, &r, "admin.session.revoke", "{\"admin\":\"%s\",\"user_id\":\"%s\"}", admin,
                  user_id);
    harness_expect(&r, OK);
    assert_string_equal(harness_get_str(&r, "user_id"), user_id);
    int64_t at = harness_get_i64(&r, "revoked_at");
    harness_reply_free(&r);
    return at;
}

static usher_err balance_err(harness_conn *c, const char *session)
{
    harness_reply r;
    usher_err e = harness_callf(c, &r, "wallet.balance", "{\"session\":\"%s\"}", session);
    harness_reply_free(&r);
    return e;
}

/* auth.login that must succeed; the new session into session[HARNESS_TOKEN_CAP]. */
static void login(harness_conn *c, const harness_user *u, char *session)
{
    harness_reply r;
    harness_callf(c, &r, "auth.login", "{\"user_id\":\"%s\",\"secret\":\"%s\"}", u->user_id,
                  u->secret);
    harness_expect(&r, OK);
    snprintf(session, HARNESS_TOKEN_CAP, "%s", harness_get_str(&r, "session"));
    harness_reply_free(&r);
}

static void test_revoked_tokens_are_refused_at_once_and_a_new_login_works(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, SEATS, PRICE, &v);
    harness_conn *c = v.c;
    harness_shopper sh, other;
    harness_shopper_new(c, v.concert_id, 100000, &sh);
    harness_shopper_new(c, v.concert_id, 100000, &other);
    char second[HARNESS_TOKEN_CAP];
    login(c, &sh.user, second);   /* a second live session of the same user */
    assert_int_equal(balance_err(c, second), USHER_ERR_OK);

    int64_t before = harness_now_ms();
    int64_t at = revoke_user(c, v.admin, sh.user.user_id);
    assert_true(at >= before && at <= harness_now_ms());

    /* The next request on the revoking process already meets the revocation. */
    assert_int_equal(balance_err(c, sh.user.session), USHER_ERR_UNAUTHENTICATED);
    assert_int_equal(balance_err(c, second), USHER_ERR_UNAUTHENTICATED);
    harness_callf_expect(c, UNAUTHENTICATED, "wallet.charge", "{\"session\":\"%s\",\"amount\":5}",
                         sh.user.session);
    harness_callf_expect(c, TOKEN_INVALID, "queue.status", "{\"token\":\"%s\"}", sh.token);
    harness_callf_expect(c, TOKEN_INVALID, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}",
                         sh.token, (unsigned long long)v.concert_id);
    harness_callf_expect(c, TOKEN_INVALID, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":1}", sh.token,
                         (unsigned long long)v.schedule_id);

    /* Someone else is untouched. */
    assert_int_equal(harness_balance(c, other.user.session), 100000);
    harness_reserve(c, other.token, v.schedule_id, 2, NULL);

    /* Logging in again works at once, and so does a queue token of the new session. */
    char fresh[HARNESS_TOKEN_CAP];
    login(c, &sh.user, fresh);
    assert_int_equal(harness_balance(c, fresh), 100000);
    harness_reply r;
    harness_callf(c, &r, "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}", fresh,
                  (unsigned long long)v.concert_id);
    harness_expect(&r, OK);
    char token[HARNESS_TOKEN_CAP];
    snprintf(token, sizeof token, "%s", harness_get_str(&r, "token"));
    harness_reply_free(&r);
    uint64_t position;
    assert_int_equal(harness_queue_state(c, token, &position), 'A');   /* the same entry, kept */
    harness_reserve(c, token, v.schedule_id, 3, NULL);

    /* Revoking again never moves the instant back. */
    int64_t again = revoke_user(c, v.admin, sh.user.user_id);
    assert_true(again >= at);
    assert_int_equal(balance_err(c, fresh), USHER_ERR_UNAUTHENTICATED);
    harness_usher_check(v.hs->data_dir, NULL);
}

static void test_revoke_refusals(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    const char *admin = harness_admin_token(hs);
    harness_user u;
    harness_register(c, &u);

    harness_reply r;
    harness_callf(c, &r, "admin.session.revoke",
                  "{\"admin\":\"%s\",\"user_id\":\"00000000-0000-4000-8000-000000000000\"}", admin);
    harness_expect(&r, NOT_FOUND);
    harness_expect_message(&r, "user 00000000-0000-4000-8000-000000000000 not found");
    harness_reply_free(&r);
    harness_callf(c, &r, "admin.session.revoke", "{\"admin\":\"%s\",\"user_id\":\"nobody\"}", admin);
    harness_expect(&r, INVALID_ARGUMENT);
    harness_expect_message(&r, "user_id");
    harness_reply_free(&r);
    harness_callf(c, &r, "admin.session.revoke", "{\"admin\":\"%s\"}", admin);
    harness_expect(&r, INVALID_ARGUMENT);
    harness_expect_message(&r, "user_id");
    harness_reply_free(&r);
    /* A session is no admin token. */
    harness_callf_expect(c, FORBIDDEN, "admin.session.revoke", "{\"admin\":\"%s\",\"user_id\":\"%s\"}",
                         u.session, u.user_id);
    assert_int_equal(balance_err(c, u.session), USHER_ERR_OK);   /* nothing was revoked */
}

static void test_a_revocation_reaches_another_process_in_bounded_time_and_lasts(void **state)
{
    harness_fixture *fx = *state;
    harness_server *a = harness_fx_start(fx, NULL);
    harness_server *b = harness_fx_start_shared(fx, a, NULL);
    harness_conn *ca = harness_fx_connect(fx, a->port), *cb = harness_fx_connect(fx, b->port);
    const char *admin = harness_admin_token(a);
    harness_user u, other;
    harness_register(cb, &u);
    harness_register(cb, &other);
    assert_int_equal(balance_err(cb, u.session), USHER_ERR_OK);   /* b has it cached as valid */

    revoke_user(ca, admin, u.user_id);
    int64_t began = harness_mono_ms(), deadline = began + SPREAD_DEADLINE_MS;
    usher_err e;
    while ((e = balance_err(cb, u.session)) == USHER_ERR_OK && harness_mono_ms() < deadline)
        harness_sleep_ms(5);
    assert_int_equal(e, USHER_ERR_UNAUTHENTICATED);
    printf("# the other process refused the revoked session after %lld ms\n",
           (long long)(harness_mono_ms() - began));
    assert_int_equal(balance_err(cb, other.session), USHER_ERR_OK);

    char fresh[HARNESS_TOKEN_CAP];
    login(cb, &u, fresh);
    assert_int_equal(balance_err(cb, fresh), USHER_ERR_OK);
    assert_int_equal(balance_err(ca, fresh), USHER_ERR_OK);

    /* Stored, not remembered: a restarted process still refuses it. */
    assert_int_equal(harness_kill(b, SIGTERM) == -1, 0);
    harness_restart(b);
    cb = harness_fx_connect(fx, b->port);
    assert_int_equal(balance_err(cb, u.session), USHER_ERR_UNAUTHENTICATED);
    assert_int_equal(balance_err(cb, fresh), USHER_ERR_OK);
}

/* A tool (usher-admin or usher-cli, by env_name/program) with args against
 * hs; out gets stdout and stderr. Returns the exit status. */
static int run_tool(char *out, size_t cap, const char *env_name, const char *program,
                    const char *args)
{
    char bin[512];
    harness_program_path(env_name, program, bin, sizeof bin);
    return harness_shell(out, cap, "env -u USHER_ADMIN %s %s </dev/null 2>&1", bin, args);
}

static void test_usher_admin_and_usher_cli_revoke_end_to_end(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u, w;
    harness_register(c, &u);
    harness_register(c, &w);
    char out[4096], args[1024];

    snprintf(args, sizeof args, "--data %s --port %u revoke %s", hs->data_dir, (unsigned)hs->port,
             u.user_id);
    assert_int_equal(run_tool(out, sizeof out, "USHER_ADMIN_BIN", "usher-admin", args), 0);
    char line[128];
    snprintf(line, sizeof line, "%-20s %s\n", "user_id", u.user_id);
    assert_non_null(strstr(out, line));
    assert_non_null(strstr(out, "revoked_at"));
    assert_non_null(strstr(out, " UTC)"));
    assert_int_equal(balance_err(c, u.session), USHER_ERR_UNAUTHENTICATED);
    assert_int_equal(balance_err(c, w.session), USHER_ERR_OK);

    snprintf(args, sizeof args, "--data %s --port %u revoke 00000000-0000-4000-8000-000000000000",
             hs->data_dir, (unsigned)hs->port);
    assert_int_equal(run_tool(out, sizeof out, "USHER_ADMIN_BIN", "usher-admin", args), 1);
    assert_non_null(strstr(out, "NOT_FOUND"));

    snprintf(args, sizeof args, "--port %u --admin %s -c 'admin revoke %s'", (unsigned)hs->port,
             harness_admin_token(hs), w.user_id);
    assert_int_equal(run_tool(out, sizeof out, "USHER_CLI_BIN", "usher-cli", args), 0);
    assert_non_null(strstr(out, "revoked_at"));
    assert_int_equal(balance_err(c, w.session), USHER_ERR_UNAUTHENTICATED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_revoked_tokens_are_refused_at_once_and_a_new_login_works),
        HARNESS_TEST(test_revoke_refusals),
        HARNESS_TEST(test_a_revocation_reaches_another_process_in_bounded_time_and_lasts),
        HARNESS_TEST(test_usher_admin_and_usher_cli_revoke_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
