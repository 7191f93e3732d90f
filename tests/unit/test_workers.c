/* The --workers supervisor's policy (server/workers.c): how long a dead
 * worker's slot waits before its replacement, and when a crash loop makes
 * the parent give up. The processes themselves are driven end to end in
 * tests/integration/test_server_workers.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "../../server/workers.h"

static void test_restart_delay_is_zero_after_a_long_life_then_doubles_to_the_cap(void **state)
{
    (void)state;
    assert_int_equal(worker_restart_delay_ms(0), 0);
    assert_int_equal(worker_restart_delay_ms(1), WORKER_RESTART_FIRST_MS);
    assert_int_equal(worker_restart_delay_ms(2), 2 * WORKER_RESTART_FIRST_MS);
    assert_int_equal(worker_restart_delay_ms(3), 4 * WORKER_RESTART_FIRST_MS);
    int64_t last = 0;
    for (unsigned k = 1; k < 40; k++) {
        int64_t d = worker_restart_delay_ms(k);
        assert_true(d >= last);
        assert_true(d <= WORKER_RESTART_MAX_MS);
        last = d;
    }
    assert_int_equal(worker_restart_delay_ms(1000), WORKER_RESTART_MAX_MS);
}

static void test_give_up_on_the_nth_fast_death_within_the_window(void **state)
{
    (void)state;
    worker_deaths d = { 0 };
    int64_t t = 5000;
    for (int i = 1; i < WORKER_GIVE_UP_DEATHS; i++)
        assert_false(worker_deaths_note(&d, WORKER_FAST_DEATH_MS - 1, t + i));
    assert_true(worker_deaths_note(&d, 0, t + WORKER_GIVE_UP_DEATHS));
}

static void test_deaths_of_long_lived_workers_never_give_up(void **state)
{
    (void)state;
    worker_deaths d = { 0 };
    for (int i = 0; i < 10 * WORKER_GIVE_UP_DEATHS; i++)
        assert_false(worker_deaths_note(&d, WORKER_FAST_DEATH_MS, 1000 + i));
}

static void test_fast_deaths_spread_beyond_the_window_do_not_give_up(void **state)
{
    (void)state;
    worker_deaths d = { 0 };
    /* N fast deaths, each a little more than window/(N-1) apart: the oldest
     * of any N is always outside the window. */
    int64_t gap = WORKER_GIVE_UP_WINDOW_MS / (WORKER_GIVE_UP_DEATHS - 1) + 1;
    for (int i = 0; i < 3 * WORKER_GIVE_UP_DEATHS; i++)
        assert_false(worker_deaths_note(&d, 10, 1000 + i * gap));
    /* Exactly at the window's edge it still does not count; just inside it does. */
    worker_deaths e = { 0 };
    for (int i = 0; i < WORKER_GIVE_UP_DEATHS - 1; i++)
        assert_false(worker_deaths_note(&e, 10, 1000));
    assert_false(worker_deaths_note(&e, 10, 1000 + WORKER_GIVE_UP_WINDOW_MS));
    worker_deaths f = { 0 };
    for (int i = 0; i < WORKER_GIVE_UP_DEATHS - 1; i++)
        assert_false(worker_deaths_note(&f, 10, 1000));
    assert_true(worker_deaths_note(&f, 10, 1000 + WORKER_GIVE_UP_WINDOW_MS - 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restart_delay_is_zero_after_a_long_life_then_doubles_to_the_cap),
        cmocka_unit_test(test_give_up_on_the_nth_fast_death_within_the_window),
        cmocka_unit_test(test_deaths_of_long_lived_workers_never_give_up),
        cmocka_unit_test(test_fast_deaths_spread_beyond_the_window_do_not_give_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
