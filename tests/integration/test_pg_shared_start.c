/* Several usherd started at once on one fresh PostgreSQL database (hosts of
 * one deployment coming up together): every one comes up (the schema is
 * created once, under the migration's advisory lock, and the others wait
 * for it and find it made), and they share one signing key: exactly one
 * of them created it, every one logs the same key id, and a token signed
 * with the database's key (usher-admin --store) is that key's.
 *
 * Runs only with USHER_TEST_STORE set (make test-postgres); otherwise it
 * prints a skip line and passes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_tokens.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOSTS 4

typedef struct host {
    pid_t pid;
    uint16_t port;
    char log[256];
} host;

/* Starts usherd on url and port, output into log; does not wait. */
static pid_t spawn_usherd(const char *url, uint16_t port, const char *log)
{
    char bin[512], listen[64];
    harness_program_path("USHERD_BIN", "usherd", bin, sizeof bin);
    snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)port);
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork failed");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!freopen(log, "w", stdout) || !freopen(log, "a", stderr)) _exit(127);
        execl(bin, bin, "--listen", listen, "--store", url, "--db-connections", "2", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* The key id in a usherd log's "signing key ... (key id X)" line; *created
 * tells which verb it used. Fails the test when there is no such line. */
static unsigned key_id_of_log(const char *log, bool *created)
{
    char out[512];
    if (harness_shell(out, sizeof out, "grep -o 'signing key [a-z]* in the database (key id [0-9a-f]*)' '%s'",
                      log) != 0)
        fail_msg("%s has no signing key line", log);
    char verb[16];
    unsigned id = 0;
    if (sscanf(out, "signing key %15s in the database (key id %x)", verb, &id) != 2)
        fail_msg("cannot read '%s'", out);
    *created = strcmp(verb, "created") == 0;
    return id;
}

static void test_hosts_started_at_once_share_schema_and_key(void **state)
{
    (void)state;
    if (!getenv("USHER_TEST_STORE") || !*getenv("USHER_TEST_STORE")) {
        printf("skip: test_pg_shared_start needs USHER_TEST_STORE (make test-postgres)\n");
        return;
    }
    char url[512], why[700];
    if (!harness_pg_fresh_database(url, sizeof url, why, sizeof why)) fail_msg("%s", why);
    char root[] = "/tmp/usher-pgstart-XXXXXX";
    assert_non_null(mkdtemp(root));
    host hosts[HOSTS];
    for (int i = 0; i < HOSTS; i++) {
        hosts[i].port = harness_free_port();
        for (int k = 0; k < i; k++)
            if (hosts[k].port == hosts[i].port) { hosts[i].port = harness_free_port(); k = -1; }
        snprintf(hosts[i].log, sizeof hosts[i].log, "%s/usherd-%d.log", root, i);
    }
    for (int i = 0; i < HOSTS; i++) hosts[i].pid = spawn_usherd(url, hosts[i].port, hosts[i].log);

    /* Every one comes up and answers. */
    for (int i = 0; i < HOSTS; i++) {
        harness_conn *c = NULL;
        int64_t deadline = harness_mono_ms() + 15000;
        int err = 0;
        while (!(c = harness_conn_open(hosts[i].port, &err)) && harness_mono_ms() < deadline) {
            int status;
            if (waitpid(hosts[i].pid, &status, WNOHANG) == hosts[i].pid) {
                char out[4096];
                harness_shell(out, sizeof out, "cat '%s'", hosts[i].log);
                fail_msg("usherd %d exited at start:\n%s", i, out);
            }
            harness_sleep_ms(50);
        }
        if (!c) fail_msg("usherd %d did not come up", i);
        harness_reply r;
        assert_int_equal(harness_call(c, "sys.ping", NULL, &r), USHER_ERR_OK);
        harness_reply_free(&r);
        harness_conn_free(c);
    }

    /* One key: one creator, one id, and the database's key signs for it. */
    int creators = 0;
    unsigned id0 = 0;
    for (int i = 0; i < HOSTS; i++) {
        bool created;
        unsigned id = key_id_of_log(hosts[i].log, &created);
        creators += created;
        if (i == 0) id0 = id;
        assert_int_equal(id, id0);
    }
    assert_int_equal(creators, 1);
    char bin[512], tok[HARNESS_TOKEN_CAP];
    harness_program_path("USHER_ADMIN_BIN", "usher-admin", bin, sizeof bin);
    if (harness_shell(tok, sizeof tok, "'%s' --store '%s' token", bin, url) != 0)
        fail_msg("usher-admin --store token failed: %s", tok);
    tok[strcspn(tok, "\n")] = '\0';
    token_claims claims;
    harness_token_claims(url, tok, &claims);
    assert_int_equal(claims.key_id, id0);

    for (int i = 0; i < HOSTS; i++) kill(hosts[i].pid, SIGTERM);
    for (int i = 0; i < HOSTS; i++) {
        int status;
        waitpid(hosts[i].pid, &status, 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    harness_remove_tree(root);
}

/* usher-admin never makes a key: on a database usherd never started on it
 * refuses (exit 1), and the database still holds none afterwards. */
static void test_admin_never_creates_the_key(void **state)
{
    (void)state;
    if (!getenv("USHER_TEST_STORE") || !*getenv("USHER_TEST_STORE")) {
        printf("skip: test_pg_shared_start needs USHER_TEST_STORE (make test-postgres)\n");
        return;
    }
    char url[512], why[700], out[2048], bin[512];
    if (!harness_pg_fresh_database(url, sizeof url, why, sizeof why)) fail_msg("%s", why);
    harness_program_path("USHER_ADMIN_BIN", "usher-admin", bin, sizeof bin);
    assert_int_equal(harness_shell(out, sizeof out, "'%s' --store '%s' token 2>&1", bin, url), 1);
    assert_int_equal(harness_shell(out, sizeof out, "'%s' --store '%s' token 2>&1", bin, url), 1);
    /* --data and --store together: a usage error. */
    assert_int_equal(harness_shell(out, sizeof out, "'%s' --data /tmp --store '%s' token 2>&1", bin, url), 2);
}

/* The command line: --store wants a URL, --data and --store together are
 * a usage error, the pool's size and timeout are bounded. No database needed. */
static void test_store_flags_usage(void **state)
{
    (void)state;
    char bin[512], out[4096];
    harness_program_path("USHERD_BIN", "usherd", bin, sizeof bin);
    const char *url = "postgres://usher@127.0.0.1:1/usher";
    assert_int_equal(harness_shell(out, sizeof out, "'%s' --data /tmp/x --store %s 2>&1", bin, url), 2);
    assert_non_null(strstr(out, "--data and --store both given"));
    assert_int_equal(harness_shell(out, sizeof out, "'%s' --store /tmp/x 2>&1", bin), 2);
    assert_int_equal(harness_shell(out, sizeof out, "'%s' --store %s --db-connections 0 2>&1", bin, url), 2);
    assert_int_equal(harness_shell(out, sizeof out, "'%s' --store %s --db-connections 65 2>&1", bin, url), 2);
    assert_int_equal(harness_shell(out, sizeof out, "'%s' --store %s --db-timeout 5 2>&1", bin, url), 2);
    assert_int_equal(harness_shell(out, sizeof out, "'%s' --store %s --db-timeout 50ms 2>&1", bin, url), 2);
    /* A database that cannot be reached: usherd does not start (exit 1). */
    assert_int_equal(harness_shell(out, sizeof out, "timeout 20 '%s' --listen 127.0.0.1:%u --store %s "
                                   "--db-timeout 1s 2>&1", bin, (unsigned)harness_free_port(), url), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hosts_started_at_once_share_schema_and_key),
        cmocka_unit_test(test_admin_never_creates_the_key),
        cmocka_unit_test(test_store_flags_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
