/* End to end, --admit-slow-ms: usherd with an LD_PRELOAD shim that slows
 * its data syncs (tests/integration/shims/slow_sync.c) sees its own commit
 * p99 rise above the threshold and throttles admission, saying so in the
 * log and in the usher_admission_throttled gauge of --metrics; with --admit-slow-ms 0 the same slow disk throttles nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_procs.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENGAGE_DEADLINE_MS 20000   /* a 10 s window, sampled once a second, on a shared machine */
#define THROTTLED_LINE "admission throttled: commit p99"

/* usherd with the shim (its trigger beside the data dir, not yet made). */
static harness_server *start_with_slow_disk(harness_fixture *fx, const char *args)
{
    char shim[PATH_MAX];
    harness_shim_path("slow_sync", shim, sizeof shim);
    setenv("USHER_SLOW_SYNC", "../slow-sync", 1);
    setenv("USHER_SLOW_SYNC_MS", "120", 1);
    setenv("LD_PRELOAD", shim, 1);
    harness_server *hs = harness_fx_start(fx, args);
    unsetenv("LD_PRELOAD");
    unsetenv("USHER_SLOW_SYNC");
    unsetenv("USHER_SLOW_SYNC_MS");
    return hs;
}

static void make_disk_slow(const harness_server *hs)
{
    char trigger[400];
    snprintf(trigger, sizeof trigger, "%s/slow-sync", hs->root);
    int fd = open(trigger, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
}

/* Charges until the log holds needle or the deadline passes; true when it did. */
static bool write_until_logged(harness_server *hs, harness_conn *c, const char *session,
                               const char *needle, int64_t deadline_ms)
{
    while (harness_mono_ms() < deadline_ms) {
        harness_charge(c, session, 10);
        if (harness_log_count(hs, needle) > 0) return true;
    }
    return false;
}

/* The --metrics scrape of port (bash's /dev/tcp: no HTTP client needed). */
static void scrape(uint16_t port, char *out, size_t cap)
{
    int rc = harness_shell(out, cap, "bash -c 'exec 3<>/dev/tcp/127.0.0.1/%u; "
                           "printf \"GET /metrics HTTP/1.0\\r\\n\\r\\n\" >&3; cat <&3'",
                           (unsigned)port);
    assert_int_equal(rc, 0);
}

static void test_slow_commits_throttle_admission(void **state)
{
    harness_fixture *fx = *state;
    uint16_t mport = harness_free_port();
    char args[128], text[65536];
    snprintf(args, sizeof args, "--admit-slow-ms 50 --admit-interval 200ms --metrics 127.0.0.1:%u",
             (unsigned)mport);
    harness_server *hs = start_with_slow_disk(fx, args);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    assert_int_equal(harness_log_count(hs, THROTTLED_LINE), 0);   /* fast disk: no throttle */
    scrape(mport, text, sizeof text);
    assert_non_null(strstr(text, "\nusher_admission_throttled 0\n"));
    make_disk_slow(hs);
    int64_t began = harness_mono_ms();
    assert_true(write_until_logged(hs, c, u.session, THROTTLED_LINE, began + ENGAGE_DEADLINE_MS));
    printf("# admission throttled %lld ms after the disk turned slow\n",
           (long long)(harness_mono_ms() - began));
    assert_true(harness_log_count(hs, "above --admit-slow-ms 50") > 0);
    scrape(mport, text, sizeof text);
    if (!strstr(text, "\nusher_admission_throttled 1\n"))
        fail_msg("the scrape does not count the throttled process:\n%s", text);
}

static void test_admit_slow_ms_0_never_throttles(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = start_with_slow_disk(fx, "--admit-slow-ms 0 --admit-interval 200ms");
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    make_disk_slow(hs);
    /* Slow commits for as long as the other test needed at most, plus two
     * samples: a throttle line would have appeared by then. */
    int64_t deadline = harness_mono_ms() + 3000;
    int64_t slow_seen = 0;
    while (harness_mono_ms() < deadline) {
        int64_t t0 = harness_mono_ms();
        harness_charge(c, u.session, 10);
        if (harness_mono_ms() - t0 >= 100) slow_seen++;
    }
    assert_true(slow_seen > 0);   /* the shim did slow the commits */
    assert_int_equal(harness_log_count(hs, THROTTLED_LINE), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_slow_commits_throttle_admission),
        HARNESS_TEST(test_admit_slow_ms_0_never_throttles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
