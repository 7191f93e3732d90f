/* usherd tells a service manager it is ready (Type=notify): with
 * $NOTIFY_SOCKET naming a unix datagram socket (a path, or '@' for an
 * abstract name) it sends "READY=1" once it listens, so the port answers at
 * once, and "STOPPING=1" when a SIGTERM makes it begin to stop. Without a
 * reachable socket it serves all the same. usherd is started here by hand
 * (not harness_start, which waits for the port itself). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOTE_TIMEOUT_MS 10000
#define OUT_LOG_CAP 256

typedef struct notify_run {
    char root[64];            /* temp dir: data dir and log */
    char name[108];           /* NOTIFY_SOCKET value */
    int sock;                 /* our bound datagram socket, or -1 */
    pid_t pid;                /* usherd */
    uint16_t port;
} notify_run;

/* A datagram socket bound to name (a path, or @abstract). */
static int bind_notify_socket(const char *name)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(name);
    assert_true(len < sizeof sa.sun_path);
    memcpy(sa.sun_path, name, len);
    socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (name[0] == '@') sa.sun_path[0] = '\0';
    else sa_len++;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (bind(fd, (struct sockaddr *)&sa, sa_len) != 0) fail_msg("bind %s: %s", name, strerror(errno));
    return fd;
}

/* Starts usherd on a new temp dir and free port with NOTIFY_SOCKET=name
 * (NULL: unset); does not wait for anything. */
static void start_usherd(notify_run *r, const char *name)
{
    char bin[512], data[128], log[128], listen_arg[32];
    snprintf(r->root, sizeof r->root, "/tmp/usher-notify-XXXXXX");
    assert_non_null(mkdtemp(r->root));
    snprintf(data, sizeof data, "%s/data", r->root);
    snprintf(log, sizeof log, "%s/usherd.log", r->root);
    harness_program_path("USHERD_BIN", "usherd", bin, sizeof bin);
    r->port = harness_free_port();
    snprintf(listen_arg, sizeof listen_arg, "127.0.0.1:%u", (unsigned)r->port);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* a failed test leaves no usherd behind */
        if (name) setenv("NOTIFY_SOCKET", name, 1);
        else unsetenv("NOTIFY_SOCKET");
        FILE *out = freopen(log, "a", stdout);
        if (out) dup2(fileno(stdout), STDERR_FILENO);
        execl(bin, "usherd", "--listen", listen_arg, "--data", data, (char *)NULL);
        _exit(127);
    }
}

/* The next datagram on r->sock within timeout_ms into buf (NUL-terminated);
 * false on timeout. */
static bool next_note(notify_run *r, char *buf, size_t cap, int timeout_ms)
{
    struct pollfd p = { .fd = r->sock, .events = POLLIN };
    if (poll(&p, 1, timeout_ms) != 1) return false;
    ssize_t n = recv(r->sock, buf, cap - 1, 0);
    if (n < 0) return false;
    buf[n] = '\0';
    return true;
}

/* One sys.ping on a connection opened right now (no retry): the port answers. */
static void assert_port_answers(notify_run *r)
{
    int err = 0;
    harness_conn *c = harness_conn_open(r->port, &err);
    if (c == NULL) fail_msg("port %u refused right after READY=1: %s", (unsigned)r->port, strerror(err));
    harness_reply reply;
    assert_int_equal(harness_call(c, "sys.ping", NULL, &reply), USHER_ERR_OK);
    harness_reply_free(&reply);
    harness_conn_free(c);
}

/* SIGTERM; returns the exit status (the process is reaped). */
static int stop_usherd(notify_run *r)
{
    int status = -1;
    kill(r->pid, SIGTERM);
    for (int i = 0; i < 100 && waitpid(r->pid, &status, WNOHANG) == 0; i++) harness_sleep_ms(50);
    if (waitpid(r->pid, &status, WNOHANG) == 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, &status, 0);
    }
    r->pid = 0;
    return status;
}

static void cleanup(notify_run *r)
{
    char ignored[64];
    if (r->pid > 0) { kill(r->pid, SIGKILL); waitpid(r->pid, NULL, 0); }
    if (r->sock >= 0) close(r->sock);
    if (r->name[0] == '/') unlink(r->name);
    harness_shell(ignored, sizeof ignored, "rm -rf %s", r->root);
}

static void expect_ready_then_stopping(const char *name_fmt)
{
    notify_run r = { .sock = -1 };
    char note[256];
    snprintf(r.name, sizeof r.name, name_fmt, (int)getpid());
    r.sock = bind_notify_socket(r.name);
    start_usherd(&r, r.name);
    if (!next_note(&r, note, sizeof note, NOTE_TIMEOUT_MS)) {
        cleanup(&r);
        fail_msg("no notification on %s within %d ms", r.name, NOTE_TIMEOUT_MS);
    }
    assert_string_equal(note, "READY=1");
    assert_port_answers(&r);
    kill(r.pid, SIGTERM);
    bool got = next_note(&r, note, sizeof note, NOTE_TIMEOUT_MS);
    int status = stop_usherd(&r);
    cleanup(&r);
    assert_true(got);
    assert_string_equal(note, "STOPPING=1");
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_ready_and_stopping_on_a_path_socket(void **state)
{
    (void)state;
    expect_ready_then_stopping("/tmp/usher-notify-%d.sock");
}

static void test_ready_and_stopping_on_an_abstract_socket(void **state)
{
    (void)state;
    expect_ready_then_stopping("@usher-notify-test-%d");
}

/* No manager listening (nobody bound the name), or none at all: usherd serves. */
static void test_serves_without_a_listening_manager(void **state)
{
    (void)state;
    const char *names[] = { "/tmp/usher-notify-nobody.sock", NULL };
    for (size_t i = 0; i < 2; i++) {
        notify_run r = { .sock = -1 };
        start_usherd(&r, names[i]);
        int err = ECONNREFUSED;
        harness_conn *c = NULL;
        for (int tries = 0; tries < 100 && !c; tries++) {
            c = harness_conn_open(r.port, &err);
            if (!c) harness_sleep_ms(50);
        }
        if (!c) { cleanup(&r); fail_msg("usherd did not serve (NOTIFY_SOCKET=%s)", names[i] ? names[i] : "unset"); }
        harness_conn_free(c);
        int status = stop_usherd(&r);
        char log[OUT_LOG_CAP];
        int warned = harness_shell(log, sizeof log, "grep -c 'NOTIFY_SOCKET: cannot send READY=1' %s/usherd.log",
                                   r.root);
        cleanup(&r);
        assert_int_equal(warned == 0, names[i] != NULL);   /* said so only when a socket was named */
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_and_stopping_on_a_path_socket),
        cmocka_unit_test(test_ready_and_stopping_on_an_abstract_socket),
        cmocka_unit_test(test_serves_without_a_listening_manager),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
