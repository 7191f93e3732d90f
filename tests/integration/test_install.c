/* What a kiosk developer does: `make install PREFIX=...`, compile a program
 * with `pkg-config --cflags --libs usher` against the installed files only,
 * and complete a purchase with it against a real usherd. */
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

/* Runs a shell command; out gets stdout and stderr. Returns the exit status. */
static int run(char *out, const char *fmt, ...)
{
    char body[3800], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "{ %s ; } </dev/null 2>&1", body);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, OUT_CAP - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_installed_sdk_compiles_with_pkg_config_and_buys_a_seat(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--demo");
    const char *build = getenv("USHER_BUILD");
    char prefix[] = "/tmp/usher-install-XXXXXX", out[OUT_CAP];
    assert_non_null(mkdtemp(prefix));

    int rc = run(out, "make -s BUILD=%s install PREFIX=%s", build && *build ? build : "build", prefix);
    if (rc != 0) fail_msg("make install failed (%d):\n%s", rc, out);
    rc = run(out, "test -f %s/include/usher/usher.h && test -f %s/lib/libusher.a && "
                  "test -L %s/lib/libusher.so && test -x %s/bin/usherd && test -x %s/bin/usher-cli",
             prefix, prefix, prefix, prefix, prefix);
    assert_int_equal(rc, 0);
    /* Only the installed header and library: the program is the SDK example. */
    rc = run(out, "PKG_CONFIG_PATH=%s/lib/pkgconfig cc -std=c11 -Wall -o %s/kiosk examples/kiosk.c "
                  "$(PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config --cflags --libs usher) -lev -lmsgpackc",
             prefix, prefix, prefix);
    if (rc != 0) fail_msg("compiling against the installed SDK failed:\n%s", out);
    rc = run(out, "LD_LIBRARY_PATH=%s/lib %s/kiosk --port %u --amount 500000", prefix, prefix,
             (unsigned)hs->port);
    if (rc != 0) fail_msg("kiosk exit %d:\n%s", rc, out);
    assert_non_null(strstr(out, "receipt: payment "));
    rc = run(out, "readelf -d %s/lib/libusher.so | grep -q 'SONAME.*libusher.so.1'", prefix);
    assert_int_equal(rc, 0);
    run(out, "rm -rf %s", prefix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_installed_sdk_compiles_with_pkg_config_and_buys_a_seat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
