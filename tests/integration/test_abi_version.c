/* One version everywhere: usher.h's macros, usher_version() at run time, the
 * Makefile's VERSION (read from the macros: it names libusher.so.VERSION),
 * what usherd, usher-admin, usher-cli and usher-check print for --version, and the man
 * pages' title lines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"
#include "../../client/usher.h"

#define OUT_CAP 1024

static void test_runtime_version_matches_header_macros(void **state)
{
    (void)state;
    char parts[64];
    snprintf(parts, sizeof parts, "%d.%d.%d", USHER_VERSION_MAJOR, USHER_VERSION_MINOR, USHER_VERSION_PATCH);
    assert_string_equal(USHER_VERSION, parts);
    assert_non_null(usher_version());
    assert_string_equal(usher_version(), USHER_VERSION);
}

static void test_built_library_is_named_for_the_header_version(void **state)
{
    (void)state;
    char path[600], name[64];
    snprintf(name, sizeof name, "libusher.so.%s", USHER_VERSION);
    harness_program_path("USHER_LIB_VERSIONED", name, path, sizeof path);
    if (access(path, R_OK) != 0) fail_msg("%s is missing: the Makefile's VERSION is not usher.h's", path);
    char out[OUT_CAP];
    int rc = harness_shell(out, OUT_CAP, "readelf -d %s | grep -q 'SONAME.*\\[libusher.so.%d\\]'", path,
                           USHER_VERSION_MAJOR);
    if (rc != 0) fail_msg("the soname of %s is not libusher.so.%d", path, USHER_VERSION_MAJOR);
}

static void assert_program_prints_version(const char *env_name, const char *program)
{
    char bin[512], out[OUT_CAP], want[128];
    harness_program_path(env_name, program, bin, sizeof bin);
    int rc = harness_shell(out, OUT_CAP, "%s --version 2>&1", bin);
    if (rc != 0) fail_msg("%s --version exit %d:\n%s", program, rc, out);
    snprintf(want, sizeof want, "%s %s", program, USHER_VERSION);
    size_t n = strlen(want);   /* then " (protocol 1)" or the end of the line */
    if (strncmp(out, want, n) != 0 || (out[n] != ' ' && out[n] != '\n')) fail_msg("%s --version says '%s', usher.h says %s", program, out, USHER_VERSION);
}

static void test_programs_print_the_header_version(void **state)
{
    (void)state;
    assert_program_prints_version("USHERD_BIN", "usherd");
    assert_program_prints_version("USHER_ADMIN_BIN", "usher-admin");
    assert_program_prints_version("USHER_CLI_BIN", "usher-cli");
    assert_program_prints_version("USHER_CHECK_BIN", "usher-check");
}

/* Each man page's title line carries the version ("Usher 1.0.0"). */
static void test_man_pages_carry_the_header_version(void **state)
{
    (void)state;
    const char *programs[] = { "usherd", "usher-cli", "usher-admin", "usher-check" };
    for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++) {
        char out[OUT_CAP];
        int rc = harness_shell(out, OUT_CAP, "grep '^\\.TH ' docs/man/%s.1", programs[i]);
        if (rc != 0) fail_msg("docs/man/%s.1 has no .TH line", programs[i]);
        char want[64];
        snprintf(want, sizeof want, "\"Usher %s\"", USHER_VERSION);
        if (strstr(out, want) == NULL) fail_msg("docs/man/%s.1 says %s, usher.h %s", programs[i], out, USHER_VERSION);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runtime_version_matches_header_macros),
        cmocka_unit_test(test_built_library_is_named_for_the_header_version),
        cmocka_unit_test(test_programs_print_the_header_version),
        cmocka_unit_test(test_man_pages_carry_the_header_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
