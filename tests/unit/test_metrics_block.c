/* The figures' mapping: a forked child's counts reach the parent's view,
 * slots are summed, a claimed slot's gauges restart while its counters go
 * on, quantiles report their bucket's upper bound, request rows come sorted
 * by method then code, and the Prometheus text writes bounds in seconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "../../server/metrics.h"
#include "../../server/metrics_prom.h"

static void test_a_forked_workers_counts_reach_every_view_and_are_summed(void **state)
{
    (void)state;
    metrics_block *b = metrics_block_new(2);
    assert_non_null(b);
    metrics_slot *mine = metrics_slot_claim(b, 0);
    metrics_note_request(mine, USHER_METHOD_SYS_PING, USHER_ERR_OK, 10);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        metrics_slot *child = metrics_slot_claim(b, 1);
        for (int i = 0; i < 4; i++) metrics_note_request(child, USHER_METHOD_SYS_PING, USHER_ERR_OK, 10);
        metrics_note_commit(child, 3, 700);
        metrics_note_conn_open(child, 5);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    metrics_totals t;
    metrics_sum(b, b->started_mono_us, &t);
    assert_int_equal(t.processes, 2);
    assert_int_equal(t.requests[USHER_METHOD_SYS_PING][USHER_ERR_OK], 5);
    assert_int_equal(metrics_row_count(&t, USHER_METHOD_SYS_PING), 5);
    assert_int_equal(t.commits, 1);
    assert_int_equal(t.commit_writes, 3);
    assert_int_equal(t.commit_us, 700);
    assert_int_equal(t.conns_open, 5);
    /* A replacement in slot 1: the open gauge restarts, counters go on. */
    metrics_slot_claim(b, 1);
    metrics_sum(b, b->started_mono_us, &t);
    assert_int_equal(t.conns_open, 0);
    assert_int_equal(t.requests[USHER_METHOD_SYS_PING][USHER_ERR_OK], 5);
    assert_null(metrics_slot_claim(b, 2));
    metrics_block_free(b);
}

static void test_quantiles_report_the_upper_bound_of_their_bucket(void **state)
{
    (void)state;
    metrics_block *b = metrics_block_new(1);
    metrics_slot *s = metrics_slot_claim(b, 0);
    for (int i = 0; i < 98; i++) metrics_note_request(s, USHER_METHOD_SEAT_RESERVE, USHER_ERR_OK, 40);
    metrics_note_request(s, USHER_METHOD_SEAT_RESERVE, USHER_ERR_OK, 3000);
    metrics_note_request(s, USHER_METHOD_SEAT_RESERVE, USHER_ERR_OK, 60000000);   /* past 10 s */
    metrics_totals t;
    metrics_sum(b, b->started_mono_us, &t);
    assert_int_equal(metrics_row_quantile_us(&t, USHER_METHOD_SEAT_RESERVE, 0.50), 50);
    assert_int_equal(metrics_row_quantile_us(&t, USHER_METHOD_SEAT_RESERVE, 0.99), 5000);
    assert_int_equal(metrics_row_quantile_us(&t, USHER_METHOD_SEAT_RESERVE, 1.0), 10000000);
    assert_int_equal(metrics_row_quantile_us(&t, USHER_METHOD_SYS_PING, 0.5), 0);
    assert_int_equal(t.latency_sum_us[USHER_METHOD_SEAT_RESERVE], 98 * 40 + 3000 + 60000000);
    metrics_block_free(b);
}

static void test_request_rows_are_sorted_by_method_then_code_without_zero_rows(void **state)
{
    (void)state;
    metrics_block *b = metrics_block_new(1);
    metrics_slot *s = metrics_slot_claim(b, 0);
    metrics_note_request(s, USHER_METHOD_SEAT_RESERVE, USHER_ERR_SEAT_UNAVAILABLE, 1);
    metrics_note_request(s, USHER_METHOD_SEAT_RESERVE, USHER_ERR_OK, 1);
    metrics_note_request(s, USHER_METHOD_ADMIN_CONCERT_CREATE, USHER_ERR_FORBIDDEN, 1);
    metrics_note_reply_only(s, USHER_ERR_BAD_REQUEST);
    metrics_totals t;
    metrics_sum(b, b->started_mono_us, &t);
    metrics_request_row rows[METRICS_REQUEST_ROWS_MAX];
    size_t n = metrics_request_rows(&t, rows, METRICS_REQUEST_ROWS_MAX);
    assert_int_equal(n, 4);
    assert_string_equal(metrics_method_row_name(rows[0].method_row), "-");
    assert_int_equal(rows[0].code, USHER_ERR_BAD_REQUEST);
    assert_string_equal(metrics_method_row_name(rows[1].method_row), "admin.concert.create");
    assert_string_equal(metrics_method_row_name(rows[2].method_row), "seat.reserve");
    assert_int_equal(rows[2].code, USHER_ERR_OK);
    assert_int_equal(rows[3].code, USHER_ERR_SEAT_UNAVAILABLE);
    metrics_block_free(b);
}

static void test_prometheus_text_writes_bounds_in_seconds_and_cumulative_buckets(void **state)
{
    (void)state;
    metrics_block *b = metrics_block_new(1);
    metrics_slot *s = metrics_slot_claim(b, 0);
    metrics_note_request(s, USHER_METHOD_SYS_PING, USHER_ERR_OK, 40);
    metrics_note_request(s, USHER_METHOD_SYS_PING, USHER_ERR_OK, 70);
    metrics_totals t;
    metrics_sum(b, b->started_mono_us, &t);
    store_stats *st = calloc(1, sizeof *st);
    assert_non_null(st);
    st->n_queues = 1;
    st->queues[0] = (store_queue_stat){ .concert_id = 7, .waiting = 3, .active = 2 };
    char *text = NULL;
    size_t len = 0;
    assert_true(metrics_prom_format(&t, st, &text, &len));
    assert_int_equal(strlen(text), len);
    assert_non_null(strstr(text, "usher_request_duration_seconds_bucket{method=\"sys.ping\",le=\"0.00005\"} 1\n"));
    assert_non_null(strstr(text, "usher_request_duration_seconds_bucket{method=\"sys.ping\",le=\"0.0001\"} 2\n"));
    assert_non_null(strstr(text, "usher_request_duration_seconds_bucket{method=\"sys.ping\",le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(text, "usher_request_duration_seconds_sum{method=\"sys.ping\"} 0.00011\n"));
    assert_non_null(strstr(text, "usher_request_duration_seconds_count{method=\"sys.ping\"} 2\n"));
    assert_non_null(strstr(text, "usher_requests_total{method=\"sys.ping\",code=\"OK\"} 2\n"));
    assert_non_null(strstr(text, "usher_queue_waiting{concert_id=\"7\"} 3\n"));
    assert_non_null(strstr(text, "usher_queue_active{concert_id=\"7\"} 2\n"));
    assert_null(strstr(text, "method=\"seat.reserve\""));   /* no traffic, no series */
    free(text);
    free(st);
    metrics_block_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_forked_workers_counts_reach_every_view_and_are_summed),
        cmocka_unit_test(test_quantiles_report_the_upper_bound_of_their_bucket),
        cmocka_unit_test(test_request_rows_are_sorted_by_method_then_code_without_zero_rows),
        cmocka_unit_test(test_prometheus_text_writes_bounds_in_seconds_and_cumulative_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
