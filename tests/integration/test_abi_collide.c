/* libusher keeps its internal names to itself: an application defining its
 * own conn_open, conn_now_ms, frame_header_put and msg_decode (tests/
 * integration/abi/app_collide.c) links against libusher.a and against
 * libusher.so, buys a seat through usher.h with each, and its own functions
 * are neither replaced nor called by the library. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <string.h>

#define OUT_CAP 4096
#define DEMO_CONCERT 1

/* Runs the application built as `name` against hs; asserts the purchase and
 * the untouched own names ($env_name overrides the path). */
static void run_app(harness_server *hs, const char *env_name, const char *name, char *out)
{
    char bin[512];
    harness_program_path(env_name, name, bin, sizeof bin);
    int rc = harness_shell(out, OUT_CAP, "%s %u %d </dev/null 2>&1", bin, (unsigned)hs->port, DEMO_CONCERT);
    if (rc != 0) fail_msg("%s exit %d:\n%s", name, rc, out);
    assert_non_null(strstr(out, "bought seat "));
    assert_non_null(strstr(out, "own names kept\n"));
}

static void test_app_with_internal_names_links_static_and_buys(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--demo");
    char out[OUT_CAP];
    run_app(hs, "USHER_ABI_APP_STATIC_BIN", "tests/abi_app_static", out);
}

static void test_app_with_internal_names_links_shared_and_buys(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--demo");
    char out[OUT_CAP], bin[512];
    run_app(hs, "USHER_ABI_APP_SHARED_BIN", "tests/abi_app_shared", out);
    /* really the shared library, not a static copy */
    harness_program_path("USHER_ABI_APP_SHARED_BIN", "tests/abi_app_shared", bin, sizeof bin);
    assert_int_equal(harness_shell(out, OUT_CAP, "readelf -d %s | grep -q 'NEEDED.*libusher.so'", bin), 0);
}

/* The static archive defines nothing an application could collide with:
 * its only global definitions are the exports of libusher.map. */
static void test_static_library_defines_only_exported_names(void **state)
{
    (void)state;
    char out[OUT_CAP], lib[512];
    harness_program_path("USHER_LIB_STATIC", "libusher.a", lib, sizeof lib);
    int rc = harness_shell(out, OUT_CAP, "nm -g --defined-only %s | awk 'NF == 3 { print $3 }' | sort > %s.globals.txt && "
                           "sed -n 's/^ *\\(usher_[a-z0-9_]*\\);.*/\\1/p' client/libusher.map | sort | "
                           "diff %s.globals.txt - 2>&1; rc=$?; rm -f %s.globals.txt; exit $rc", lib, lib, lib, lib);
    if (rc != 0) fail_msg("libusher.a globals differ from libusher.map (< archive, > map):\n%s", out);
    /* and the names the application above uses are local in it, if present at all */
    rc = harness_shell(out, OUT_CAP, "nm %s | grep -E ' [A-Z] (conn_open|conn_now_ms|frame_header_put|msg_decode)$'", lib);
    if (rc == 0) fail_msg("libusher.a has global internal names:\n%s", out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_app_with_internal_names_links_static_and_buys),
        HARNESS_TEST(test_app_with_internal_names_links_shared_and_buys),
        cmocka_unit_test(test_static_library_defines_only_exported_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
