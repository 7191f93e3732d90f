/* Repeated identical errors are logged once per interval with a count, not
 * once each: a full map (--map-size) refuses thousands of writes with
 * STORAGE_FULL while the log (warnings and errors) holds a few dozen lines,
 * among them the store's reason and a "(N more like this ...)" count. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_procs.h"

#include <stdio.h>
#include <string.h>

#define BURST 100
#define FILL_BURSTS_MAX 400          /* 40,000 performances: far past a 64 MiB map */
#define BURSTS_PER_CONCERT 5         /* 500 performances: a concert's maximum */
#define REFUSED_WANTED 2000
#define LOG_LINES_MAX 50

/* Sends BURST pipelined 1000-seat performances of concert_id; returns how
 * many were refused with STORAGE_FULL (any other error fails). */
static unsigned write_burst(harness_conn *c, const char *admin, uint64_t concert_id,
                            unsigned *seq)
{
    uint32_t first = 0;
    for (unsigned i = 0; i < BURST; i++, (*seq)++) {
        uint32_t id = harness_sendf(c, "admin.schedule.create",
                                    "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld,"
                                    "\"seats\":1000,\"price\":5}",
                                    admin, (unsigned long long)concert_id,
                                    (long long)(harness_now_ms() + 86400000LL + *seq));
        if (i == 0) first = id;
    }
    unsigned refused = 0;
    for (unsigned i = 0; i < BURST; i++) {
        harness_reply r;
        usher_err e = harness_recv(c, first + i, &r);
        if (e == USHER_ERR_STORAGE_FULL) refused++;
        else if (e != USHER_ERR_OK) fail_msg("unexpected %s: %s", r.code, r.message ? r.message : "");
        harness_reply_free(&r);
    }
    return refused;
}

static size_t log_lines(const harness_server *hs)
{
    return harness_log_count(hs, "");
}

static void test_full_map_logs_a_counted_line_per_interval_not_one_per_refusal(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--map-size 64 --log-level warn");
    harness_conn *c = harness_fx_connect(fx, hs->port);
    const char *admin = harness_admin_token(hs);
    unsigned seq = 0, refused = 0;
    uint64_t concert_id = 0;
    for (unsigned b = 0; refused == 0 && b < FILL_BURSTS_MAX; b++) {
        if (b % BURSTS_PER_CONCERT == 0) {
            harness_reply r;
            harness_callf(c, &r, "admin.concert.create", "{\"admin\":\"%s\",\"title\":\"fill\"}",
                          admin);
            if (r.err == USHER_ERR_STORAGE_FULL) refused++;
            else concert_id = harness_get_u64(&r, "concert_id");
            harness_reply_free(&r);
            if (refused) break;
        }
        refused += write_burst(c, admin, concert_id, &seq);
    }
    assert_true(refused > 0);
    size_t lines_when_full = log_lines(hs);
    /* Now thousands of performances that no longer fit, on a concert with
     * room for them (a concert is small: it may still fit). */
    for (int tries = 0; tries < 10; tries++) {
        harness_reply r;
        harness_callf(c, &r, "admin.concert.create", "{\"admin\":\"%s\",\"title\":\"more\"}", admin);
        bool made = r.err == USHER_ERR_OK;
        if (made) concert_id = harness_get_u64(&r, "concert_id");
        harness_reply_free(&r);
        if (made) break;
    }
    for (unsigned b = 0; refused < REFUSED_WANTED && b < 2 * REFUSED_WANTED / BURST; b++)
        refused += write_burst(c, admin, concert_id, &seq);
    assert_true(refused >= REFUSED_WANTED);

    /* The owed counts go out within a second or two (the limiter's sweep). */
    assert_true(harness_log_wait(hs, "more like this", 3000));
    harness_sleep_ms(1500);
    size_t lines = log_lines(hs);
    print_message("%u writes refused with STORAGE_FULL: %zu log lines (%zu when the map filled)\n",
                  refused, lines, lines_when_full);
    assert_true(lines < LOG_LINES_MAX);
    assert_true(harness_log_count(hs, "raise --map-size") > 0);          /* the store's reason */
    assert_true(harness_log_count(hs, "failed: STORAGE_FULL") > 0);     /* the request's */
    assert_true(harness_alive(hs));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_full_map_logs_a_counted_line_per_interval_not_one_per_refusal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
