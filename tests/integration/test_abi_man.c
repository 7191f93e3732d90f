/* The man pages stay true: every --flag a program's --help prints is in its
 * page docs/man/PROGRAM.1 and every --flag the page names is one --help
 * prints, and groff renders each page without a warning. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <string.h>

#define OUT_CAP 16384

/* The man page of a program, beside the sources (tests run from the repo root). */
static void page_path(const char *program, char *out, size_t cap)
{
    snprintf(out, cap, "docs/man/%s.1", program);
}

/* Sorted --flags of `program --help` into path. Asserts there are some. */
static void help_flags(const char *env_name, const char *program, const char *path)
{
    char bin[512], out[OUT_CAP];
    harness_program_path(env_name, program, bin, sizeof bin);
    int rc = harness_shell(out, OUT_CAP, "%s --help > %s.help 2>&1 && grep -o -- '--[a-z][a-z-]*[a-z]' %s.help "
                           "| sort -u > %s; rc=$?; rm -f %s.help; exit $rc", bin, path, path, path, path);
    if (rc != 0) fail_msg("%s --help gave no flags (%d)", program, rc);
}

/* Sorted --flags of the page's source (roff writes a dash as \-) into path. */
static void page_flags(const char *program, const char *path)
{
    char page[128], out[OUT_CAP];
    page_path(program, page, sizeof page);
    int rc = harness_shell(out, OUT_CAP, "sed 's/\\\\-/-/g' %s | grep -o -- '--[a-z][a-z-]*[a-z]' | sort -u > %s",
                           page, path);
    if (rc != 0) fail_msg("%s has no flags (%d)", page, rc);
}

static void assert_page_matches_help(const char *env_name, const char *program)
{
    char dir[] = "/tmp/usher-man-XXXXXX", help[64], page[64], out[OUT_CAP], ignored[64];
    assert_non_null(mkdtemp(dir));
    snprintf(help, sizeof help, "%s/help.txt", dir);
    snprintf(page, sizeof page, "%s/page.txt", dir);
    help_flags(env_name, program, help);
    page_flags(program, page);
    int rc = harness_shell(out, OUT_CAP, "diff %s %s 2>&1", help, page);
    harness_shell(ignored, sizeof ignored, "rm -rf %s", dir);
    if (rc != 0) fail_msg("--flags of %s --help (<) and of docs/man/%s.1 (>) differ:\n%s", program, program, out);
}

static void test_usherd_page_names_every_help_flag(void **state)
{
    (void)state;
    assert_page_matches_help("USHERD_BIN", "usherd");
}

static void test_usher_cli_page_names_every_help_flag(void **state)
{
    (void)state;
    assert_page_matches_help("USHER_CLI_BIN", "usher-cli");
}

static void test_usher_admin_page_names_every_help_flag(void **state)
{
    (void)state;
    assert_page_matches_help("USHER_ADMIN_BIN", "usher-admin");
}

static void test_usher_check_page_names_every_help_flag(void **state)
{
    (void)state;
    assert_page_matches_help("USHER_CHECK_BIN", "usher-check");
}

/* groff -ww turns on every warning; -z discards the output. Any line on
 * stderr is a warning. man -l renders the page as a reader sees it. */
static void test_pages_render_without_warnings(void **state)
{
    (void)state;
    const char *programs[] = { "usherd", "usher-cli", "usher-admin", "usher-check" };
    for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++) {
        char page[128], out[OUT_CAP];
        page_path(programs[i], page, sizeof page);
        int rc = harness_shell(out, OUT_CAP, "groff -man -ww -z %s 2>&1", page);
        if (rc != 0 || out[0] != '\0') fail_msg("groff warns on %s (%d):\n%s", page, rc, out);
        rc = harness_shell(out, OUT_CAP, "MANWIDTH=80 man -l %s 2>&1 >/dev/null", page);
        if (rc != 0 || out[0] != '\0') fail_msg("man -l %s (%d):\n%s", page, rc, out);
        rc = harness_shell(out, OUT_CAP, "MANWIDTH=80 man -l %s 2>/dev/null | head -8", page);
        assert_int_equal(rc, 0);
        if (strstr(out, "NAME") == NULL) fail_msg("man -l %s shows no NAME section:\n%s", page, out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usherd_page_names_every_help_flag),
        cmocka_unit_test(test_usher_cli_page_names_every_help_flag),
        cmocka_unit_test(test_usher_admin_page_names_every_help_flag),
        cmocka_unit_test(test_usher_check_page_names_every_help_flag),
        cmocka_unit_test(test_pages_render_without_warnings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
