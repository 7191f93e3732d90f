/* The frozen-reader watch (server/reader_watch.c): how long a reader slot
 * has held one snapshot while commits went on, when that is worth a warning
 * (half of --reader-timeout) and when it is overdue (all of it), and how
 * often it is reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "../../server/reader_watch.h"

#define TIMEOUT_MS 10000
#define SELF 100

static size_t scan(reader_watch *rw, const store_reader *slots, size_t n, uint64_t last,
                   int64_t now, reader_lag *out)
{
    return reader_watch_scan(rw, slots, n, last, now, out, 8);
}

static void test_old_snapshot_lags_at_half_timeout_and_is_overdue_at_timeout(void **state)
{
    (void)state;
    reader_watch rw;
    reader_watch_init(&rw, SELF, TIMEOUT_MS);
    store_reader slot = { .pid = 7, .txnid = 50 };
    reader_lag lag[8];
    assert_int_equal(scan(&rw, &slot, 1, 60, 1000, lag), 0);                      /* just seen */
    assert_int_equal(scan(&rw, &slot, 1, 70, 1000 + TIMEOUT_MS / 2 - 1, lag), 0); /* not yet */
    assert_int_equal(scan(&rw, &slot, 1, 80, 1000 + TIMEOUT_MS / 2, lag), 1);
    assert_int_equal(lag[0].pid, 7);
    assert_int_equal(lag[0].txnid, 50);
    assert_int_equal(lag[0].behind, 30);
    assert_int_equal(lag[0].held_ms, TIMEOUT_MS / 2);
    assert_int_equal(lag[0].verdict, READER_LAGGING);
    assert_true(lag[0].log_due);
    assert_int_equal(scan(&rw, &slot, 1, 90, 1000 + TIMEOUT_MS - 1, lag), 1);
    assert_int_equal(lag[0].verdict, READER_LAGGING);
    assert_false(lag[0].log_due);                                                 /* reported already */
    assert_int_equal(scan(&rw, &slot, 1, 99, 1000 + TIMEOUT_MS, lag), 1);
    assert_int_equal(lag[0].verdict, READER_OVERDUE);
}

static void test_reports_repeat_once_per_timeout(void **state)
{
    (void)state;
    reader_watch rw;
    reader_watch_init(&rw, SELF, TIMEOUT_MS);
    store_reader slot = { .pid = 7, .txnid = 1 };
    reader_lag lag[8];
    int due = 0;
    scan(&rw, &slot, 1, 2, 0, lag);
    for (int64_t t = TIMEOUT_MS / 2; t <= TIMEOUT_MS / 2 + 3 * TIMEOUT_MS; t += 1000) {
        assert_int_equal(scan(&rw, &slot, 1, 2, t, lag), 1);
        due += lag[0].log_due;
    }
    assert_int_equal(due, 4);   /* at 5 s, 15 s, 25 s, 35 s */
}

static void test_reader_at_newest_commit_or_moving_on_is_never_reported(void **state)
{
    (void)state;
    reader_watch rw;
    reader_watch_init(&rw, SELF, TIMEOUT_MS);
    reader_lag lag[8];
    /* Idle database: an old reader on the newest txnid pins nothing. */
    store_reader idle = { .pid = 7, .txnid = 40 };
    for (int64_t t = 0; t <= 3 * TIMEOUT_MS; t += 1000)
        assert_int_equal(scan(&rw, &idle, 1, 40, t, lag), 0);
    /* ... until a commit comes: then it has held its snapshot for 30 s. */
    assert_int_equal(scan(&rw, &idle, 1, 41, 3 * TIMEOUT_MS + 1000, lag), 1);
    assert_int_equal(lag[0].verdict, READER_OVERDUE);
    /* A busy reader takes a new snapshot each time: never reported. */
    reader_watch_init(&rw, SELF, TIMEOUT_MS);
    for (int64_t t = 0; t <= 3 * TIMEOUT_MS; t += 1000) {
        store_reader busy = { .pid = 8, .txnid = (uint64_t)(100 + t / 1000) };
        assert_int_equal(scan(&rw, &busy, 1, busy.txnid + 5, t, lag), 0);
    }
}

static void test_own_slots_are_never_judged_and_gone_slots_are_forgotten(void **state)
{
    (void)state;
    reader_watch rw;
    reader_watch_init(&rw, SELF, TIMEOUT_MS);
    reader_lag lag[8];
    store_reader mine = { .pid = SELF, .txnid = 1 };
    assert_int_equal(scan(&rw, &mine, 1, 100, 0, lag), 0);
    assert_int_equal(scan(&rw, &mine, 1, 100, 2 * TIMEOUT_MS, lag), 0);
    store_reader other = { .pid = 9, .txnid = 1 };
    assert_int_equal(scan(&rw, &other, 1, 100, 0, lag), 0);
    assert_int_equal(scan(&rw, NULL, 0, 100, 1000, lag), 0);                 /* it went away */
    assert_int_equal(scan(&rw, &other, 1, 100, TIMEOUT_MS, lag), 0);         /* seen afresh */
    assert_int_equal(scan(&rw, &other, 1, 100, TIMEOUT_MS + TIMEOUT_MS / 2, lag), 1);
}

static void test_two_slots_of_one_process_on_one_snapshot_are_one_report(void **state)
{
    (void)state;
    reader_watch rw;
    reader_watch_init(&rw, SELF, TIMEOUT_MS);
    reader_lag lag[8];
    store_reader slots[3] = { { 5, 10 }, { 5, 10 }, { 6, 10 } };
    scan(&rw, slots, 3, 20, 0, lag);
    assert_int_equal(scan(&rw, slots, 3, 20, TIMEOUT_MS, lag), 2);
    assert_int_equal(lag[0].pid, 5);
    assert_int_equal(lag[1].pid, 6);
}

static void test_proc_inspect_sees_a_stopped_process(void **state)
{
    (void)state;
    char comm[16], st;
    assert_true(reader_proc_inspect((int)getpid(), comm, &st));
    assert_string_equal(comm, "test_reader_wat");   /* the kernel keeps 15 characters */
    assert_int_equal(st, 'R');
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        for (;;) pause();
    }
    kill(child, SIGSTOP);
    int status;
    assert_int_equal(waitpid(child, &status, WUNTRACED), child);
    assert_true(reader_proc_inspect((int)child, comm, &st));
    assert_int_equal(st, 'T');
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    assert_false(reader_proc_inspect((int)child, comm, &st));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_old_snapshot_lags_at_half_timeout_and_is_overdue_at_timeout),
        cmocka_unit_test(test_reports_repeat_once_per_timeout),
        cmocka_unit_test(test_reader_at_newest_commit_or_moving_on_is_never_reported),
        cmocka_unit_test(test_own_slots_are_never_judged_and_gone_slots_are_forgotten),
        cmocka_unit_test(test_two_slots_of_one_process_on_one_snapshot_are_one_report),
        cmocka_unit_test(test_proc_inspect_sees_a_stopped_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
