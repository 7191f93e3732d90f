/* usher-cli's interactive shell driven through a pseudo-terminal, as a
 * person would use it: Ctrl-C (\x03) clears the line at the prompt and stops
 * `stats -i` without ending the shell, Ctrl-D (\x04) leaves, and
 * ~/.usher_history (HOME pointed at a temporary folder) keeps no secret,
 * and typed UTF-8 reaches a command whole.
 * The server is a fake answering every request with one fixed map. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_fake.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define OUT_CAP 262144
#define WAIT_MS 10000 /* generous: the machine is shared */

typedef struct pty_shell {
    pid_t pid;
    int master;
    char out[OUT_CAP];
    size_t len;
    size_t mark;     /* output before this is matched already */
} pty_shell;

static const char stats_json[] =
    "{\"instance\": \"fake-pty\", \"version\": \"1\", \"uptime_s\": 5, \"processes\": 1,"
    " \"connections\": {\"open\": 1, \"accepted\": 1, \"refused\": 0}, \"requests\": [], \"latency\": [],"
    " \"commits\": {\"count\": 0, \"writes\": 0, \"fsync_us\": 0}, \"queues\": [], \"holds_live\": 0,"
    " \"seats_sold\": 0, \"storage\": {\"used_bytes\": 0, \"map_bytes\": 1048576}}";

static int start_fake(void **state)
{
    *state = fake_start_fixed_json(stats_json);
    return 0;
}

/* A fake whose every answer is a new user with a WAITING queue entry
 * (register, enter, then watch). */
static int start_fake_waiting(void **state)
{
    *state = fake_start_fixed_json("{\"user_id\": \"U1\", \"secret\": \"S1\", \"session\": \"SS\", \"session_expires_at\": 1,"
                                   " \"token\": \"QT\", \"status\": \"WAITING\", \"position\": 3, \"eta_s\": 30}");
    return 0;
}

/* Starts usher-cli on a new pty with HOME=home and TZ=UTC. */
static void pty_spawn(pty_shell *ps, const char *home, uint16_t port, const char *admin)
{
    memset(ps, 0, sizeof *ps);
    char bin[512], port_text[16];
    harness_program_path("USHER_CLI_BIN", "usher-cli", bin, sizeof bin);
    snprintf(port_text, sizeof port_text, "%u", (unsigned)port);
    ps->master = posix_openpt(O_RDWR | O_NOCTTY);
    if (ps->master < 0 || grantpt(ps->master) < 0 || unlockpt(ps->master) < 0)
        fail_msg("posix_openpt: %s", strerror(errno));
    struct winsize ws = { .ws_row = 40, .ws_col = 120 };
    ioctl(ps->master, TIOCSWINSZ, &ws);
    const char *slave_name = ptsname(ps->master);
    ps->pid = fork();
    if (ps->pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (ps->pid == 0) {
        setsid();
        int slave = open(slave_name, O_RDWR); /* the session's controlling terminal */
        if (slave < 0)
            _exit(126);
        dup2(slave, 0);
        dup2(slave, 1);
        dup2(slave, 2);
        if (slave > 2)
            close(slave);
        close(ps->master);
        setenv("HOME", home, 1);
        setenv("TZ", "UTC", 1);
        setenv("TERM", "xterm", 1);
        setenv("LC_ALL", "C.UTF-8", 1);
        unsetenv("USHER_ADMIN");
        if (admin)
            execl(bin, bin, "--port", port_text, "--admin", admin, (char *)NULL);
        else
            execl(bin, bin, "--port", port_text, (char *)NULL);
        _exit(127);
    }
}

/* Reads what the shell printed for up to ms; false at end of output. */
static bool pty_read_some(pty_shell *ps, int ms)
{
    struct pollfd p = { .fd = ps->master, .events = POLLIN };
    if (poll(&p, 1, ms) <= 0)
        return true;
    if (ps->len + 1 >= OUT_CAP)
        fail_msg("the shell printed more than %d bytes", OUT_CAP);
    ssize_t n = read(ps->master, ps->out + ps->len, OUT_CAP - 1 - ps->len);
    if (n <= 0)
        return false; /* EIO: the slave side is closed */
    ps->len += (size_t)n;
    ps->out[ps->len] = '\0';
    return true;
}

/* Waits until needle shows up after the mark, then moves the mark past it. */
static void pty_expect(pty_shell *ps, const char *needle)
{
    int64_t deadline = harness_mono_ms() + WAIT_MS;
    for (;;) {
        const char *at = strstr(ps->out + ps->mark, needle);
        if (at) {
            ps->mark = (size_t)(at - ps->out) + strlen(needle);
            return;
        }
        if (harness_mono_ms() > deadline || !pty_read_some(ps, 100))
            fail_msg("the shell never printed '%s'; it printed:\n%s", needle, ps->out);
    }
}

/* Waits for the prompt, then for libedit to take the terminal out of line
 * mode: it prints the prompt first, and a key sent before the switch would
 * meet the kernel's line editing instead (a Ctrl-D there is lost). */
static void pty_expect_prompt(pty_shell *ps)
{
    pty_expect(ps, "usher> ");
    int64_t deadline = harness_mono_ms() + WAIT_MS;
    struct termios tio;
    while (tcgetattr(ps->master, &tio) == 0 && (tio.c_lflag & ICANON)) {
        if (harness_mono_ms() > deadline)
            fail_msg("the terminal never left line mode; the shell printed:\n%s", ps->out);
        pty_read_some(ps, 10);
    }
}

static void pty_send(pty_shell *ps, const char *bytes)
{
    size_t n = strlen(bytes);
    if (write(ps->master, bytes, n) != (ssize_t)n)
        fail_msg("write to the pty: %s", strerror(errno));
}

/* Waits for the shell to exit (draining its output); its exit status. */
static int pty_wait_exit(pty_shell *ps)
{
    int64_t deadline = harness_mono_ms() + WAIT_MS;
    int status;
    while (waitpid(ps->pid, &status, WNOHANG) == 0) {
        if (harness_mono_ms() > deadline) {
            kill(ps->pid, SIGKILL);
            waitpid(ps->pid, &status, 0);
            close(ps->master);
            fail_msg("the shell did not exit; it printed at the end:\n%s", ps->out + (ps->len > 1500 ? ps->len - 1500 : 0));
        }
        pty_read_some(ps, 50);
    }
    close(ps->master);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_cli_pty_ctrl_c_clears_the_line_and_ctrl_d_leaves(void **state)
{
    fake_server *fs = *state;
    pty_shell ps;
    pty_spawn(&ps, "/nonexistent", fs->port, NULL);
    pty_expect_prompt(&ps);
    pty_send(&ps, "frob");
    pty_expect(&ps, "frob");
    pty_send(&ps, "\x03");
    pty_expect(&ps, "^C");
    pty_expect_prompt(&ps);
    /* the shell is alive, and "frob" was dropped: this runs "help" alone */
    pty_send(&ps, "help\r");
    pty_expect(&ps, "commands:");
    pty_expect_prompt(&ps);
    assert_null(strstr(ps.out, "unknown command"));
    /* typed UTF-8 reaches the command whole */
    pty_send(&ps, "help \xea\xb3\xb5\xec\x97\xb0\r");
    pty_expect(&ps, "help: no command '\xea\xb3\xb5\xec\x97\xb0'");
    pty_expect_prompt(&ps);
    pty_send(&ps, "\x04");
    assert_int_equal(pty_wait_exit(&ps), 1); /* the help above failed */
}

static void test_cli_pty_ctrl_c_stops_stats_and_keeps_the_shell(void **state)
{
    fake_server *fs = *state;
    pty_shell ps;
    pty_spawn(&ps, "/nonexistent", fs->port, "ADM");
    pty_expect_prompt(&ps);
    pty_send(&ps, "stats -i 0.05\r");
    pty_expect(&ps, "usherd fake-pty");
    pty_expect(&ps, "usherd fake-pty"); /* redrawn */
    pty_send(&ps, "\x03");
    pty_expect(&ps, "stats stopped");
    pty_expect_prompt(&ps);
    unsigned after_stop = __atomic_load_n(&fs->requests, __ATOMIC_RELAXED);
    /* the same shell goes on: one more `stats`, one more request */
    pty_send(&ps, "stats\r");
    pty_expect(&ps, "usherd fake-pty");
    pty_expect_prompt(&ps);
    assert_int_equal(__atomic_load_n(&fs->requests, __ATOMIC_RELAXED), after_stop + 1);
    pty_send(&ps, "\x04");
    assert_int_equal(pty_wait_exit(&ps), 0);
}

static void test_cli_pty_ctrl_c_stops_watch_and_keeps_the_shell(void **state)
{
    fake_server *fs = *state;
    pty_shell ps;
    pty_spawn(&ps, "/nonexistent", fs->port, "ADM");
    pty_expect_prompt(&ps);
    pty_send(&ps, "register\r");
    pty_expect_prompt(&ps);
    pty_send(&ps, "enter 1\r");
    pty_expect_prompt(&ps);
    pty_send(&ps, "watch\r");
    pty_expect(&ps, "position 3  eta 3");   /* 30 s counting down */
    pty_send(&ps, "\x03");
    pty_expect(&ps, "watch stopped");
    pty_expect_prompt(&ps);
    pty_send(&ps, "ping\r");   /* the shell goes on (the fake answers anything) */
    pty_expect_prompt(&ps);
    pty_send(&ps, "\x04");
    assert_int_equal(pty_wait_exit(&ps), 1);   /* a watch stopped before ACTIVE counts as failed */
}

/* Contents of a libedit history file with its \ooo escapes decoded (caller frees). */
static char *read_history_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("no history file %s", path);
    char *text = calloc(1, OUT_CAP);
    size_t n = fread(text, 1, OUT_CAP - 1, f);
    fclose(f);
    text[n] = '\0';
    char *w = text;
    for (const char *r = text; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return text;
}

static void test_cli_pty_history_keeps_no_secrets(void **state)
{
    fake_server *fs = *state;
    char home[] = "/tmp/usher-cli-home-XXXXXX";
    if (!mkdtemp(home))
        fail_msg("mkdtemp: %s", strerror(errno));
    pty_shell ps;
    pty_spawn(&ps, home, fs->port, NULL);
    const char *typed[] = {
        "login alice hunter2secret",
        "charge 5; login bob \"pw2 secret\"",
        "call auth.login {\"user_id\": \"a\", \"secret\": \"jsonsecret9\"}",
        "admin token admtok123",
        "help u1.AQHsessionlookingword",
        "call sys.ping {}",
        "ping",
    };
    pty_expect_prompt(&ps);
    for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++) {
        pty_send(&ps, typed[i]);
        pty_send(&ps, "\r");
        pty_expect_prompt(&ps);
    }
    pty_send(&ps, "\x04");
    pty_wait_exit(&ps);

    char path[256];
    snprintf(path, sizeof path, "%s/.usher_history", home);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *text = read_history_text(path);
    const char *secrets[] = { "hunter2secret", "pw2", "jsonsecret9", "admtok123", "AQHsessionlookingword" };
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strstr(text, secrets[i]))
            fail_msg("history keeps '%s':\n%s", secrets[i], text);
    const char *kept[] = { "login alice ***\n", "charge 5; login bob ***\n", "admin token ***\n", "help ***\n",
                           "call sys.ping {}\n", "ping\n" };
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        if (!strstr(text, kept[i]))
            fail_msg("history lacks '%s':\n%s", kept[i], text);
    assert_null(strstr(text, "auth.login")); /* that line is not kept at all */
    free(text);
    unlink(path);
    rmdir(home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cli_pty_ctrl_c_clears_the_line_and_ctrl_d_leaves, start_fake,
                                        fake_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cli_pty_ctrl_c_stops_stats_and_keeps_the_shell, start_fake,
                                        fake_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cli_pty_history_keeps_no_secrets, start_fake, fake_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cli_pty_ctrl_c_stops_watch_and_keeps_the_shell, start_fake_waiting,
                                        fake_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
