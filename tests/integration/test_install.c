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


static void test_installed_sdk_compiles_with_pkg_config_and_buys_a_seat(void **state)
{
    harness_fixture *fx = *state;
    if (getenv("USHER_SANITIZED")) skip();   /* an application would need the sanitizer runtime too */
    harness_server *hs = harness_fx_start(fx, "--demo");
    const char *build = getenv("USHER_BUILD");
    char prefix[] = "/tmp/usher-install-XXXXXX", out[OUT_CAP];
    assert_non_null(mkdtemp(prefix));

    int rc = harness_shell(out, OUT_CAP, "make -s BUILD=%s install PREFIX=%s 2>&1", build && *build ? build : "build", prefix);
    if (rc != 0) fail_msg("make install failed (%d):\n%s", rc, out);
    rc = harness_shell(out, OUT_CAP, "test -f %s/include/usher/usher.h && test -f %s/lib/libusher.a && "
                  "test -L %s/lib/libusher.so && test -x %s/bin/usherd && test -x %s/bin/usher-cli",
             prefix, prefix, prefix, prefix, prefix);
    assert_int_equal(rc, 0);
    /* Only the installed header and library: the program is the SDK example. */
    rc = harness_shell(out, OUT_CAP, "PKG_CONFIG_PATH=%s/lib/pkgconfig cc -std=c11 -Wall -o %s/kiosk examples/kiosk.c "
                  "$(PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config --cflags --libs usher) -lev -lmsgpackc 2>&1",
             prefix, prefix, prefix);
    if (rc != 0) fail_msg("compiling against the installed SDK failed:\n%s", out);
    rc = harness_shell(out, OUT_CAP, "LD_LIBRARY_PATH=%s/lib %s/kiosk --port %u --amount 500000 </dev/null 2>&1", prefix, prefix,
             (unsigned)hs->port);
    if (rc != 0) fail_msg("kiosk exit %d:\n%s", rc, out);
    assert_non_null(strstr(out, "receipt: payment "));
    rc = harness_shell(out, OUT_CAP, "readelf -d %s/lib/libusher.so | grep -q 'SONAME.*libusher.so.1'", prefix);
    assert_int_equal(rc, 0);
    /* Only the public API is exported: nothing an application could collide with. */
    rc = harness_shell(out, OUT_CAP, "nm -D --defined-only %s/lib/libusher.so | awk '{print $3}' | grep -v '^usher_'",
                       prefix);
    if (rc == 0) fail_msg("libusher.so exports names outside usher_*:\n%s", out);
    harness_shell(out, OUT_CAP, "rm -rf %s", prefix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_installed_sdk_compiles_with_pkg_config_and_buys_a_seat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
