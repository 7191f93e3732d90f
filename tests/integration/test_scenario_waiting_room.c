/* Scenario, the waiting room, with real usherd processes: a paused queue
 * admits nobody and resumes in order; the rate limit holds over a short run;
 * the pre-queue draws a permutation of exactly the early arrivals and stays
 * FIFO after; holders who stop polling are dropped (--wait-idle) and the
 * positions behind them close up. Each ends with usher-check on the data
 * dir. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRICE 500

typedef struct waiter {
    harness_user user;
    char token[HARNESS_TOKEN_CAP];
} waiter;

/* queue.status of w: 'W', 'A', 'E' or 'X' (ABANDONED); *position (0 for
 * nil, *known false). */
static char status_of(harness_conn *c, const waiter *w, uint64_t *position, bool *known)
{
    harness_reply r;
    harness_callf(c, &r, "queue.status", "{\"token\":\"%s\"}", w->token);
    harness_expect(&r, OK);
    char s = harness_obj_str_is(r.result, "status", "ACTIVE")      ? 'A'
             : harness_obj_str_is(r.result, "status", "WAITING")   ? 'W'
             : harness_obj_str_is(r.result, "status", "EXPIRED")   ? 'E'
             : harness_obj_str_is(r.result, "status", "ABANDONED") ? 'X'
                                                                   : '?';
    const msgpack_object *p = harness_get_obj(&r, "position");
    assert_non_null(p);
    if (known) *known = p->type != MSGPACK_OBJECT_NIL;
    if (position) *position = p->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? p->via.u64 : 0;
    harness_reply_free(&r);
    assert_true(s != '?');
    return s;
}

/* Registers n users and enters each into the queue in order. */
static void enter_all(harness_conn *c, uint64_t concert_id, waiter *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        harness_register(c, &w[i].user);
        harness_reply r;
        harness_callf(c, &r, "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}",
                      w[i].user.session, (unsigned long long)concert_id);
        harness_expect(&r, OK);
        const char *tok = harness_get_str(&r, "token");
        assert_non_null(tok);
        snprintf(w[i].token, sizeof w[i].token, "%s", tok);
        harness_reply_free(&r);
    }
}

/* admin.queue.set/open with params_json (without admin and concert_id);
 * returns the reply's field `field` (a u64). */
static uint64_t admin_queue(harness_venue *v, const char *method, const char *params_json,
                            const char *field)
{
    harness_reply r;
    harness_callf(v->c, &r, method, "{\"admin\":\"%s\",\"concert_id\":%llu%s%s}", v->admin,
                  (unsigned long long)v->concert_id, params_json[0] ? "," : "", params_json);
    harness_expect(&r, OK);
    uint64_t out = field ? harness_get_u64(&r, field) : 0;
    harness_reply_free(&r);
    return out;
}

static void test_paused_queue_admits_nobody_and_resumes_in_order(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-active 2 --active-ttl 1s --admit-interval 50ms", 50, PRICE, &v);
    admin_queue(&v, "admin.queue.set", "\"paused\":true", NULL);
    enum { N = 6 };
    waiter w[N];
    enter_all(v.c, v.concert_id, w, N);
    harness_sleep_ms(400);
    for (size_t i = 0; i < N; i++) {
        uint64_t pos;
        assert_int_equal(status_of(v.c, &w[i], &pos, NULL), 'W');   /* free slots, yet nobody */
        assert_int_equal(pos, i + 1);
    }
    assert_int_equal(admin_queue(&v, "admin.queue.get", "", "admitted_total"), 0);
    admin_queue(&v, "admin.queue.set", "\"paused\":false", NULL);
    /* Resumed: admitted strictly in order as 1 s slots turn over. */
    int64_t deadline = harness_mono_ms() + 10000;
    size_t admitted = 0;
    while (admitted < N && harness_mono_ms() < deadline) {
        size_t prefix = 0;
        bool gap = false;
        for (size_t i = 0; i < N; i++) {
            char s = status_of(v.c, &w[i], NULL, NULL);
            bool in = s == 'A' || s == 'E';
            if (in && gap) fail_msg("user %zu admitted before an earlier one", i + 1);
            if (in) prefix++;
            else gap = true;
        }
        admitted = prefix;
        harness_sleep_ms(100);
    }
    assert_int_equal(admitted, N);
    harness_usher_check(v.hs->data_dir, "--max-active 2");
}

/* 600 a minute for 10 s: about 100 admitted, within 10%. */
static void test_rate_limit_holds_within_ten_percent(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-active 5 --active-ttl 1m --admit-interval 100ms", 50, PRICE, &v);
    admin_queue(&v, "admin.queue.set",
                "\"paused\":true,\"max_active\":10000,\"admit_rate_per_min\":600", NULL);
    enum { N = 150 };
    waiter *w = calloc(N, sizeof *w);
    assert_non_null(w);
    enter_all(v.c, v.concert_id, w, N);
    int64_t began = harness_mono_ms();
    admin_queue(&v, "admin.queue.set", "\"paused\":false", NULL);
    harness_sleep_ms(10000);
    uint64_t admitted = admin_queue(&v, "admin.queue.get", "", "admitted_total");
    int64_t elapsed = harness_mono_ms() - began;
    double expected = (double)elapsed * 600.0 / 60000.0;
    print_message("rate limit: %llu admitted in %lld ms (%.1f expected)\n",
                  (unsigned long long)admitted, (long long)elapsed, expected);
    assert_true((double)admitted >= expected * 0.9 && (double)admitted <= expected * 1.1);
    /* The first ones admitted are the first ones in line. */
    assert_int_equal(status_of(v.c, &w[0], NULL, NULL), 'A');
    assert_int_equal(status_of(v.c, &w[N - 1], NULL, NULL), 'W');
    free(w);
    harness_usher_check(v.hs->data_dir, "--max-active 5");
}

/* Early arrivals get nil positions, then a random permutation of their
 * places; later arrivals queue behind them; admission follows the draw. */
static void test_pre_queue_draws_the_early_arrivals_then_stays_fifo(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-active 3 --active-ttl 1500ms --admit-interval 50ms", 50, PRICE, &v);
    int64_t opens_at = harness_now_ms() + 2500;
    char params[64];
    snprintf(params, sizeof params, "\"opens_at\":%lld", (long long)opens_at);
    admin_queue(&v, "admin.queue.open", params, NULL);
    harness_reply r;
    harness_callf(v.c, &r, "admin.queue.open", "{\"admin\":\"%s\",\"concert_id\":%llu,%s}", v.admin,
                  (unsigned long long)v.concert_id, params);
    harness_expect(&r, INVALID_ARGUMENT);   /* opened already */
    harness_reply_free(&r);
    enum { EARLY = 12, LATE = 3 };
    waiter w[EARLY + LATE];
    enter_all(v.c, v.concert_id, w, EARLY);
    for (size_t i = 0; i < EARLY; i++) {
        bool known = true;
        assert_int_equal(status_of(v.c, &w[i], NULL, &known), 'W');
        assert_false(known);
    }
    while (harness_now_ms() < opens_at + 300) harness_sleep_ms(50);
    enter_all(v.c, v.concert_id, w + EARLY, LATE);
    /* The draw: 3 early ones ACTIVE, the other 9 hold places 1..9 once each. */
    uint64_t place[EARLY];
    bool taken[EARLY + 1] = { false };
    size_t active = 0;
    for (size_t i = 0; i < EARLY; i++) {
        uint64_t pos;
        char s = status_of(v.c, &w[i], &pos, NULL);
        place[i] = s == 'A' ? 0 : pos;
        if (s == 'A') { active++; continue; }
        assert_int_equal(s, 'W');
        assert_in_range(pos, 1, EARLY - 3);
        assert_false(taken[pos]);
        taken[pos] = true;
    }
    assert_int_equal(active, 3);
    for (size_t i = 0; i < LATE; i++) {
        uint64_t pos;
        assert_int_equal(status_of(v.c, &w[EARLY + i], &pos, NULL), 'W');
        assert_int_equal(pos, EARLY - 3 + i + 1);   /* strictly FIFO behind the early ones */
    }
    /* One turnover of the slots later: places 1..3 were admitted, the rest moved up 3. */
    harness_sleep_ms(1500 + 400);
    for (size_t i = 0; i < EARLY; i++) {
        if (place[i] == 0) continue;
        uint64_t pos;
        char s = status_of(v.c, &w[i], &pos, NULL);
        if (place[i] <= 3) assert_int_equal(s, 'A');
        else { assert_int_equal(s, 'W'); assert_int_equal(pos, place[i] - 3); }
    }
    harness_usher_check(v.hs->data_dir, "--max-active 3");
}

/* Users 2 and 4 stop asking: after --wait-idle they are ABANDONED and the
 * others move up by exactly the drops ahead; re-entering goes to the back. */
static void test_abandoned_entries_are_dropped_and_positions_close_up(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-active 1 --active-ttl 1m --wait-idle 2s --admit-interval 100ms",
                       50, PRICE, &v);
    enum { N = 7 };
    waiter w[N];
    enter_all(v.c, v.concert_id, w, N);
    int64_t until = harness_mono_ms() + 4000;
    while (harness_mono_ms() < until) {
        for (size_t i = 0; i < N; i++)
            if (i != 1 && i != 3) status_of(v.c, &w[i], NULL, NULL);   /* 2 and 4 went away */
        harness_sleep_ms(250);
    }
    uint64_t pos;
    assert_int_equal(status_of(v.c, &w[0], &pos, NULL), 'A');
    assert_int_equal(status_of(v.c, &w[1], &pos, NULL), 'X');
    assert_int_equal(pos, 0);
    assert_int_equal(status_of(v.c, &w[3], &pos, NULL), 'X');
    static const size_t waiting[] = { 2, 4, 5, 6 };
    for (size_t k = 0; k < 4; k++) {
        assert_int_equal(status_of(v.c, &w[waiting[k]], &pos, NULL), 'W');
        assert_int_equal(pos, k + 1);
    }
    assert_int_equal(admin_queue(&v, "admin.queue.get", "", "waiting"), 4);
    harness_reply r;
    harness_callf(v.c, &r, "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}",
                  w[1].user.session, (unsigned long long)v.concert_id);
    harness_expect(&r, OK);
    assert_true(harness_obj_str_is(r.result, "status", "WAITING"));
    assert_int_equal(harness_get_u64(&r, "position"), 5);
    harness_reply_free(&r);
    harness_usher_check(v.hs->data_dir, "--max-active 1");
}

/* The admin.queue.* refusals name what was wrong. */
static void test_admin_queue_refusals_name_the_parameter(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, 10, PRICE, &v);
    static const struct { const char *method, *params, *bad; } cases[] = {
        { "admin.queue.set", "\"max_active\":100001", "max_active" },
        { "admin.queue.set", "\"max_active\":-1", "max_active" },
        { "admin.queue.set", "\"admit_rate_per_min\":1000001", "admit_rate_per_min" },
        { "admin.queue.set", "\"paused\":1", "paused" },
        { "admin.queue.open", "\"opens_at\":1", "opens_at" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        harness_reply r;
        harness_callf(v.c, &r, cases[i].method, "{\"admin\":\"%s\",\"concert_id\":%llu,%s}",
                      v.admin, (unsigned long long)v.concert_id, cases[i].params);
        harness_expect(&r, INVALID_ARGUMENT);
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s: ", cases[i].bad);
        harness_expect_message(&r, prefix);
        harness_reply_free(&r);
    }
    harness_reply r;
    harness_callf(v.c, &r, "admin.queue.get", "{\"admin\":\"%s\",\"concert_id\":%llu}", v.admin,
                  (unsigned long long)(v.concert_id + 99));
    harness_expect(&r, NOT_FOUND);
    harness_reply_free(&r);
    harness_callf(v.c, &r, "admin.queue.get", "{\"admin\":\"nope\",\"concert_id\":%llu}",
                  (unsigned long long)v.concert_id);
    harness_expect(&r, FORBIDDEN);
    harness_reply_free(&r);
    /* A fresh queue's report: zeros, the defaults, no pre-queue. */
    harness_callf(v.c, &r, "admin.queue.get", "{\"admin\":\"%s\",\"concert_id\":%llu}", v.admin,
                  (unsigned long long)v.concert_id);
    harness_expect(&r, OK);
    assert_int_equal(harness_get_u64(&r, "waiting"), 0);
    assert_int_equal(harness_get_u64(&r, "max_active"), 100);
    const msgpack_object *opens = harness_get_obj(&r, "opens_at");
    assert_non_null(opens);
    assert_int_equal(opens->type, MSGPACK_OBJECT_NIL);
    const msgpack_object *paused = harness_get_obj(&r, "paused");
    assert_non_null(paused);
    assert_int_equal(paused->type, MSGPACK_OBJECT_BOOLEAN);
    harness_reply_free(&r);
}

/* usher-cli's and usher-admin's queue commands reach the handlers: pause, read
 * back, open, resume. */
static void test_cli_admin_queue_commands(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, 10, PRICE, &v);
    char bin[512], out[8192];
    harness_program_path("USHER_CLI_BIN", "usher-cli", bin, sizeof bin);
    int rc = harness_shell(out, sizeof out,
                           "%s --port %u --json --admin '%s' -c 'admin queue set %llu --paused true "
                           "--rate 120; admin queue get %llu; admin queue open %llu +1h' </dev/null 2>&1",
                           bin, (unsigned)v.hs->port, v.admin, (unsigned long long)v.concert_id,
                           (unsigned long long)v.concert_id, (unsigned long long)v.concert_id);
    if (rc != 0) fail_msg("usher-cli failed (%d):\n%s", rc, out);
    assert_non_null(strstr(out, "\"paused\":true"));
    assert_non_null(strstr(out, "\"admit_rate_per_min\":120"));
    harness_reply r;
    harness_callf(v.c, &r, "admin.queue.get", "{\"admin\":\"%s\",\"concert_id\":%llu}", v.admin,
                  (unsigned long long)v.concert_id);
    harness_expect(&r, OK);
    assert_true(harness_get_i64(&r, "opens_at") > harness_now_ms());
    harness_reply_free(&r);
    /* usher-admin's queue commands reach the same handlers: resume it. */
    harness_program_path("USHER_ADMIN_BIN", "usher-admin", bin, sizeof bin);
    rc = harness_shell(out, sizeof out, "%s --port %u --token '%s' queue resume %llu </dev/null 2>&1",
                       bin, (unsigned)v.hs->port, v.admin, (unsigned long long)v.concert_id);
    if (rc != 0) fail_msg("usher-admin queue resume failed (%d):\n%s", rc, out);
    harness_callf(v.c, &r, "admin.queue.get", "{\"admin\":\"%s\",\"concert_id\":%llu}", v.admin,
                  (unsigned long long)v.concert_id);
    harness_expect(&r, OK);
    const msgpack_object *paused = harness_get_obj(&r, "paused");
    assert_non_null(paused);
    assert_int_equal(paused->type, MSGPACK_OBJECT_BOOLEAN);
    assert_false(paused->via.boolean);
    harness_reply_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_paused_queue_admits_nobody_and_resumes_in_order),
        HARNESS_TEST(test_rate_limit_holds_within_ten_percent),
        HARNESS_TEST(test_pre_queue_draws_the_early_arrivals_then_stays_fifo),
        HARNESS_TEST(test_abandoned_entries_are_dropped_and_positions_close_up),
        HARNESS_TEST(test_admin_queue_refusals_name_the_parameter),
        HARNESS_TEST(test_cli_admin_queue_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
