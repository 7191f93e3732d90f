/* The admission health window (server/health.c) on synthetic commit
 * histograms: p99 over the last 10 one-second snapshots, slow commits that
 * leave the window, the threshold, and the sampler over a metrics slot. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "../../server/health.h"

/* The bucket that holds a commit of us microseconds. */
static unsigned bucket_of_us(uint64_t us)
{
    unsigned b = 0;
    while (b < METRICS_COMMIT_BOUNDS && us > metrics_commit_bounds_us[b]) b++;
    return b;
}

/* A running cumulative histogram a test adds commits to, second by second. */
typedef struct feed {
    uint64_t cum[HEALTH_BUCKETS];
} feed;

static void add(feed *f, uint64_t n, uint64_t us)
{
    f->cum[bucket_of_us(us)] += n;
}

static void test_empty_window_has_no_p99_and_is_never_slow(void **state)
{
    (void)state;
    health_window w;
    health_window_init(&w);
    uint64_t n = 9, p99 = 9;
    health_window_p99(&w, &n, &p99);
    assert_int_equal(n, 0);
    assert_int_equal(p99, 0);
    feed f = { { 0 } };
    health_window_push(&w, f.cum);
    health_window_push(&w, f.cum);
    assert_false(health_window_slow(&w, 1));
}

static void test_p99_is_the_bucket_of_the_99th_percentile(void **state)
{
    (void)state;
    health_window w;
    health_window_init(&w);
    feed f = { { 0 } };
    health_window_push(&w, f.cum);
    add(&f, 990, 800);        /* (500 µs, 1 ms] */
    add(&f, 10, 70000);       /* (50 ms, 100 ms]: exactly the top 1% */
    health_window_push(&w, f.cum);
    uint64_t n, p99;
    health_window_p99(&w, &n, &p99);
    assert_int_equal(n, 1000);
    assert_int_equal(p99, 1000);   /* rank 990 is still a fast one */
    assert_false(health_window_slow(&w, 50));

    add(&f, 1, 70000);        /* one more slow commit tips the 99th percentile */
    health_window_push(&w, f.cum);
    health_window_p99(&w, &n, &p99);
    assert_int_equal(n, 1001);
    assert_int_equal(p99, 100000);
    assert_true(health_window_slow(&w, 50));
    assert_true(health_window_slow(&w, 99));
    assert_false(health_window_slow(&w, 100));   /* 100 ms is not above 100 ms */
    assert_false(health_window_slow(&w, 0));     /* 0 = never */
}

static void test_slow_commits_leave_the_window_after_ten_seconds(void **state)
{
    (void)state;
    health_window w;
    health_window_init(&w);
    feed f = { { 0 } };
    health_window_push(&w, f.cum);
    add(&f, 20, 200000);      /* one bad second */
    health_window_push(&w, f.cum);
    for (int s = 1; s < HEALTH_WINDOW_S; s++) {   /* nine fast seconds: still inside */
        add(&f, 50, 300);
        health_window_push(&w, f.cum);
        assert_true(health_window_slow(&w, 50));
    }
    add(&f, 50, 300);         /* the tenth: the bad second drops out */
    health_window_push(&w, f.cum);
    uint64_t n, p99;
    health_window_p99(&w, &n, &p99);
    assert_int_equal(n, 50u * HEALTH_WINDOW_S);
    assert_int_equal(p99, 500);
    assert_false(health_window_slow(&w, 50));
}

static void test_a_commit_above_the_last_bound_reports_that_bound(void **state)
{
    (void)state;
    health_window w;
    health_window_init(&w);
    feed f = { { 0 } };
    health_window_push(&w, f.cum);
    add(&f, 3, 60000000);     /* a minute */
    health_window_push(&w, f.cum);
    uint64_t n, p99;
    health_window_p99(&w, &n, &p99);
    assert_int_equal(p99, metrics_commit_bounds_us[METRICS_COMMIT_BOUNDS - 1]);
    assert_true(health_window_slow(&w, 5000));
}

static void test_sampler_reads_the_slot_and_says_when_the_flag_changes(void **state)
{
    (void)state;
    metrics_block *b = metrics_block_new(1);
    assert_non_null(b);
    metrics_slot *slot = metrics_slot_claim(b, 0);
    health h;
    health_init(&h, slot, 50);
    assert_false(h.throttled);
    metrics_note_commit(slot, 1, 300);
    assert_false(health_sample(&h));            /* fast: unchanged */
    for (int i = 0; i < 5; i++) metrics_note_commit(slot, 1, 120000);
    assert_true(health_sample(&h));             /* slow: changed */
    assert_true(h.throttled);
    assert_false(health_sample(&h));            /* still slow within the window */
    for (int s = 0; s < HEALTH_WINDOW_S; s++) health_sample(&h);
    assert_false(h.throttled);                  /* the slow second aged out */

    health off;
    health_init(&off, slot, 0);
    for (int i = 0; i < 5; i++) metrics_note_commit(slot, 1, 120000);
    assert_false(health_sample(&off));
    assert_false(off.throttled);
    metrics_block_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_window_has_no_p99_and_is_never_slow),
        cmocka_unit_test(test_p99_is_the_bucket_of_the_99th_percentile),
        cmocka_unit_test(test_slow_commits_leave_the_window_after_ten_seconds),
        cmocka_unit_test(test_a_commit_above_the_last_bound_reports_that_bound),
        cmocka_unit_test(test_sampler_reads_the_slot_and_says_when_the_flag_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
