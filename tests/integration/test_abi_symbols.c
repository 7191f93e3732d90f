/* libusher.so's exported names are exactly the functions usher.h declares:
 * nothing internal leaks out (an application could collide with it) and
 * nothing declared is missing (an application could not link). The header's
 * declarations come from the compiler itself (gcc -aux-info), not a regex. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_CAP 16384

/* Writes the sorted function names declared in client/usher.h to path. */
static void header_functions(const char *path)
{
    char out[OUT_CAP];
    int rc = harness_shell(out, OUT_CAP,
        "echo '#include \"usher.h\"' | cc -Iclient -Iprotocol -x c -fsyntax-only -aux-info %s.aux - 2>&1 && "
        "grep '^/\\* client/usher.h:' %s.aux | sed 's|^/\\*[^*]*\\*/ ||' | "
        "sed -n 's/^[^(]*[ *]\\(usher_[a-z0-9_]*\\) (.*/\\1/p' | sort -u > %s; rc=$?; rm -f %s.aux; exit $rc",
        path, path, path, path);
    if (rc != 0) fail_msg("listing usher.h's functions failed:\n%s", out);
    rc = harness_shell(out, OUT_CAP, "wc -l < %s", path);
    assert_int_equal(rc, 0);
    if (atoi(out) < 40) fail_msg("only %d functions found in usher.h: the listing is broken", atoi(out));
}

static void test_shared_library_exports_exactly_the_header_functions(void **state)
{
    (void)state;
    char dir[] = "/tmp/usher-abi-XXXXXX", hdr[64], so[512], out[OUT_CAP];
    assert_non_null(mkdtemp(dir));
    snprintf(hdr, sizeof hdr, "%s/header.txt", dir);
    header_functions(hdr);
    harness_program_path("USHER_LIB_SHARED", "libusher.so", so, sizeof so);
    /* defined dynamic symbols, version suffixes (name@@VER) dropped */
    int rc = harness_shell(out, OUT_CAP, "nm -D --defined-only %s | awk 'NF == 3 { sub(/@.*/, \"\", $3); print $3 }' "
                           "| sort -u > %s/exported.txt && cd %s && diff header.txt exported.txt 2>&1",
                           so, dir, dir);
    char ignored[64];
    harness_shell(ignored, sizeof ignored, "rm -rf %s", dir);
    if (rc != 0) fail_msg("usher.h (<) and libusher.so's exports (>) differ:\n%s", out);
}

/* The version script lists the same names (it is what makes the .so and the
 * .a agree: the Makefile keeps exactly these global in libusher.a). */
static void test_version_script_lists_exactly_the_header_functions(void **state)
{
    (void)state;
    char dir[] = "/tmp/usher-abi-XXXXXX", hdr[64], out[OUT_CAP];
    assert_non_null(mkdtemp(dir));
    snprintf(hdr, sizeof hdr, "%s/header.txt", dir);
    header_functions(hdr);
    int rc = harness_shell(out, OUT_CAP, "sed -n 's/^ *\\(usher_[a-z0-9_]*\\);.*/\\1/p' client/libusher.map | sort "
                           "| diff %s - 2>&1", hdr);
    char ignored[64];
    harness_shell(ignored, sizeof ignored, "rm -rf %s", dir);
    if (rc != 0) fail_msg("usher.h (<) and client/libusher.map (>) differ:\n%s", out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_library_exports_exactly_the_header_functions),
        cmocka_unit_test(test_version_script_lists_exactly_the_header_functions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
