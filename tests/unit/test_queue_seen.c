/* How often a process resends that an entry was seen: often enough that an
 * entry polled steadily is never idle for the shorter idle limit, rarely
 * enough that polling stays a read (10 s at the defaults). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "../../server/queue_seen.h"

static void test_defaults_resend_every_ten_seconds(void **state)
{
    (void)state;
    assert_int_equal(queue_seen_resend_ms(2 * 60000, 3 * 60000), 10000);
    assert_int_equal(queue_seen_resend_ms(0, 0), 10000);
}

static void test_short_limit_resends_at_a_quarter_of_it(void **state)
{
    (void)state;
    assert_int_equal(queue_seen_resend_ms(2000, 3 * 60000), 500);
    assert_int_equal(queue_seen_resend_ms(0, 8000), 2000);
    assert_int_equal(queue_seen_resend_ms(60000, 20000), 5000);
}

static void test_resend_stays_within_bounds(void **state)
{
    (void)state;
    assert_int_equal(queue_seen_resend_ms(100, 0), 100);
    assert_int_equal(queue_seen_resend_ms(1, 1), 100);
    assert_int_equal(queue_seen_resend_ms(24 * 3600000LL, 0), 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_resend_every_ten_seconds),
        cmocka_unit_test(test_short_limit_resends_at_a_quarter_of_it),
        cmocka_unit_test(test_resend_stays_within_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
