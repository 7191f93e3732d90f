/* dist/usherd.service, as `make install` writes it, is a unit systemd
 * accepts without a complaint (`systemd-analyze verify`, which prints
 * warnings but still exits 0, so its output must be empty), and it asks for
 * readiness notification and the hardening we rely on. A broken copy must
 * draw a complaint: that proves the verifier really runs here. Without
 * systemd-analyze on the machine the verify test is reported SKIPPED. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_CAP 8192

/* systemd-analyze verify on unit (man pages looked up under prefix); output in out. */
static int verify(const char *prefix, const char *unit, char *out)
{
    return harness_shell(out, OUT_CAP, "cd %s && MANPATH=%s/share/man SYSTEMD_LOG_COLOR=0 "
                         "timeout 60 systemd-analyze verify %s 2>&1", prefix, prefix, unit);
}

static void test_installed_unit_passes_systemd_analyze_verify(void **state)
{
    (void)state;
    char out[OUT_CAP], prefix[64], unit[128], broken[128];
    if (harness_shell(out, OUT_CAP, "command -v systemd-analyze") != 0) {
        fprintf(stderr, "systemd-analyze is not installed: cannot verify dist/usherd.service\n");
        skip();
    }
    harness_install_into_temp(prefix, sizeof prefix);
    snprintf(unit, sizeof unit, "%s/lib/systemd/system/usherd.service", prefix);
    int rc = harness_shell(out, OUT_CAP, "grep '^ExecStart=' %s", unit);
    assert_int_equal(rc, 0);
    char want[128];
    snprintf(want, sizeof want, "ExecStart=%s/bin/usherd ", prefix);
    if (strncmp(out, want, strlen(want)) != 0) fail_msg("ExecStart does not run PREFIX/bin/usherd: %s", out);
    rc = verify(prefix, unit, out);
    if (rc != 0 || out[0] != '\0') {
        harness_remove_tree(prefix);
        fail_msg("systemd-analyze verify complains (%d):\n%s", rc, out);
    }
    /* The control: one bad value must be reported, or the verifier proves nothing. */
    snprintf(broken, sizeof broken, "%s/lib/systemd/system/usherd-broken.service", prefix);
    rc = harness_shell(out, OUT_CAP, "sed 's/^Type=notify$/Type=notify-broken/' %s > %s", unit, broken);
    assert_int_equal(rc, 0);
    verify(prefix, broken, out);
    harness_remove_tree(prefix);
    if (strstr(out, "notify-broken") == NULL)
        fail_msg("systemd-analyze verify took a broken Type= silently:\n%s", out);
}

/* The settings the unit exists for, each present exactly as written. */
static void test_unit_asks_for_notify_and_hardening(void **state)
{
    (void)state;
    const char *lines[] = {
        "Type=notify", "NotifyAccess=all", "Restart=on-failure", "NoNewPrivileges=yes",
        "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "DynamicUser=yes",
        "StateDirectory=usherd", "CapabilityBoundingSet=", "LimitNOFILE=65536",
        "ExecStart=/usr/local/bin/usherd --data ${STATE_DIRECTORY}",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char out[OUT_CAP];
        int rc = harness_shell(out, OUT_CAP, "grep -qxF '%s' dist/usherd.service", lines[i]);
        if (rc != 0) fail_msg("dist/usherd.service lacks the line %s", lines[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_installed_unit_passes_systemd_analyze_verify),
        cmocka_unit_test(test_unit_asks_for_notify_and_hardening),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
