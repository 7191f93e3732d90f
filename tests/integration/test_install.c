/* What a kiosk developer does: `make install PREFIX=...`, compile a program
 * with `pkg-config --cflags --libs usher` (or `--static`) against the
 * installed files only, and complete a purchase with it against a real
 * usherd; and what `make uninstall` leaves behind: nothing of ours. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "../../client/usher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define OUT_CAP 8192

/* The pkg-config words for the installed usher.pc; nothing else is added. */
#define PKG "PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config"

static const char *build_dir(void)
{
    const char *build = getenv("USHER_BUILD");
    return build && *build ? build : "build";
}



/* Runs the kiosk binary at path (with env words before it) and asserts a receipt. */
static void assert_kiosk_buys(const char *env, const char *path, uint16_t port)
{
    char out[OUT_CAP];
    int rc = harness_shell(out, OUT_CAP, "%s %s --port %u --amount 500000 </dev/null 2>&1", env, path, (unsigned)port);
    if (rc != 0) fail_msg("%s exit %d:\n%s", path, rc, out);
    assert_non_null(strstr(out, "receipt: payment "));
}

static void test_installed_sdk_compiles_with_pkg_config_and_buys_a_seat(void **state)
{
    harness_fixture *fx = *state;
    if (getenv("USHER_SANITIZED")) skip();   /* before the server starts: see harness_install_into_temp */
    harness_server *hs = harness_fx_start(fx, "--demo");
    char prefix[64], out[OUT_CAP], env[128];
    harness_install_into_temp(prefix, sizeof prefix);
    int rc = harness_shell(out, OUT_CAP, "test -f %s/include/usher/usher.h && test -f %s/lib/libusher.a && "
                  "test -L %s/lib/libusher.so && test -x %s/bin/usherd && test -x %s/bin/usher-cli",
             prefix, prefix, prefix, prefix, prefix);
    assert_int_equal(rc, 0);
    rc = harness_shell(out, OUT_CAP, PKG " --modversion usher", prefix);
    assert_int_equal(rc, 0);
    out[strcspn(out, "\n")] = '\0';
    assert_string_equal(out, USHER_VERSION);
    /* Only the installed header and library and what usher.pc says: the program is the SDK example. */
    rc = harness_shell(out, OUT_CAP, "cc -std=c11 -Wall -o %s/kiosk examples/kiosk.c $(" PKG " --cflags --libs usher) 2>&1",
             prefix, prefix);
    if (rc != 0) fail_msg("compiling against the installed SDK failed:\n%s", out);
    snprintf(env, sizeof env, "LD_LIBRARY_PATH=%s/lib", prefix);
    char path[128];
    snprintf(path, sizeof path, "%s/kiosk", prefix);
    assert_kiosk_buys(env, path, hs->port);
    /* The README's other way: an rpath instead of LD_LIBRARY_PATH. */
    rc = harness_shell(out, OUT_CAP, "cc -std=c11 -o %s/kiosk-rpath examples/kiosk.c $(" PKG " --cflags --libs usher) "
                       "-Wl,-rpath,%s/lib 2>&1", prefix, prefix, prefix);
    if (rc != 0) fail_msg("compiling with an rpath failed:\n%s", out);
    snprintf(path, sizeof path, "%s/kiosk-rpath", prefix);
    assert_kiosk_buys("env -u LD_LIBRARY_PATH", path, hs->port);
    rc = harness_shell(out, OUT_CAP, "readelf -d %s/lib/libusher.so | grep -q 'SONAME.*libusher.so.1'", prefix);
    assert_int_equal(rc, 0);
    /* Only the public API is exported: nothing an application could collide with. */
    rc = harness_shell(out, OUT_CAP, "nm -D --defined-only %s/lib/libusher.so | awk '{print $3}' | grep -v '^usher_'",
                       prefix);
    if (rc == 0) fail_msg("libusher.so exports names outside usher_*:\n%s", out);
    harness_remove_tree(prefix);
}

/* `pkg-config --static` names every library libusher.a needs: the program
 * links with libusher, libev and msgpack-c all taken from their archives. */
static void test_installed_static_library_links_with_pkg_config_static(void **state)
{
    harness_fixture *fx = *state;
    if (getenv("USHER_SANITIZED")) skip();
    harness_server *hs = harness_fx_start(fx, "--demo");
    char prefix[64], out[OUT_CAP], path[128];
    harness_install_into_temp(prefix, sizeof prefix);
    int rc = harness_shell(out, OUT_CAP, "cc -std=c11 -o %s/kiosk-static examples/kiosk.c $(" PKG " --cflags usher) "
                           "-Wl,-Bstatic $(" PKG " --static --libs usher) -Wl,-Bdynamic 2>&1", prefix, prefix, prefix);
    if (rc != 0) fail_msg("static link with pkg-config --static failed:\n%s", out);
    rc = harness_shell(out, OUT_CAP, "readelf -d %s/kiosk-static | grep NEEDED | grep -E 'libusher|libev|msgpack'", prefix);
    if (rc == 0) fail_msg("the static kiosk still needs shared libraries:\n%s", out);
    snprintf(path, sizeof path, "%s/kiosk-static", prefix);
    assert_kiosk_buys("env -u LD_LIBRARY_PATH", path, hs->port);
    harness_remove_tree(prefix);
}

/* uninstall removes every file install made, and nothing else under PREFIX. */
static void test_uninstall_removes_exactly_what_install_put(void **state)
{
    (void)state;
    if (getenv("USHER_SANITIZED")) skip();   /* make install would relink with the plain compiler */
    char prefix[64], out[OUT_CAP];
    snprintf(prefix, sizeof prefix, "/tmp/usher-install-XXXXXX");
    assert_non_null(mkdtemp(prefix));
    /* someone else's files where ours go */
    int rc = harness_shell(out, OUT_CAP, "mkdir -p %s/bin %s/lib/pkgconfig %s/share/man/man1 && "
                           "touch %s/bin/other-tool %s/lib/pkgconfig/other.pc %s/share/man/man1/other.1",
                           prefix, prefix, prefix, prefix, prefix, prefix);
    assert_int_equal(rc, 0);
    rc = harness_shell(out, OUT_CAP, "make -s BUILD=%s install PREFIX=%s 2>&1", build_dir(), prefix);
    if (rc != 0) fail_msg("make install failed (%d):\n%s", rc, out);
    rc = harness_shell(out, OUT_CAP, "find %s ! -type d | wc -l", prefix);
    if (atoi(out) < 10) fail_msg("install put only %d files under PREFIX", atoi(out) - 3);
    rc = harness_shell(out, OUT_CAP, "make -s BUILD=%s uninstall PREFIX=%s 2>&1", build_dir(), prefix);
    if (rc != 0) fail_msg("make uninstall failed (%d):\n%s", rc, out);
    rc = harness_shell(out, OUT_CAP, "cd %s && find . ! -type d | sort", prefix);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "./bin/other-tool\n./lib/pkgconfig/other.pc\n./share/man/man1/other.1\n");
    rc = harness_shell(out, OUT_CAP, "test -e %s/include/usher", prefix);
    assert_int_not_equal(rc, 0);
    harness_remove_tree(prefix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_installed_sdk_compiles_with_pkg_config_and_buys_a_seat),
        HARNESS_TEST(test_installed_static_library_links_with_pkg_config_static),
        HARNESS_TEST(test_uninstall_removes_exactly_what_install_put),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
