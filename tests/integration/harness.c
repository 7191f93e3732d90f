/* Harness, processes: starting, signalling, restarting and stopping usherd,
 * temp data dirs, and the admin token from usher-admin.
 * Every child runs in its own process group and dies with the test process. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libpq-fe.h>

#define HARNESS_MAX_ARGS 64

int64_t harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t harness_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

uint16_t harness_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail_msg("socket: %s", strerror(errno));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        int e = errno;
        close(fd);
        fail_msg("cannot find a free port: %s", strerror(e));
    }
    close(fd);
    return ntohs(sa.sin_port);
}

/* Program path: $env_name, else $USHER_BUILD/name, else NAME beside the
 * build folder holding this test binary (BUILD/tests/test_x -> BUILD/name),
 * else build/name. */
void harness_program_path(const char *env_name, const char *name, char *out, size_t cap)
{
    const char *explicit_path = getenv(env_name);
    const char *build = getenv("USHER_BUILD");
    if (explicit_path && *explicit_path) {
        snprintf(out, cap, "%s", explicit_path);
        return;
    }
    if (build && *build) {
        snprintf(out, cap, "%s/%s", build, name);
        return;
    }
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            slash = strrchr(exe, '/');
        }
        if (slash) {
            *slash = '\0';
            int len = snprintf(out, cap, "%s/%s", exe, name);
            if (len > 0 && (size_t)len < cap && access(out, X_OK) == 0)
                return;
        }
    }
    snprintf(out, cap, "build/%s", name);
}

void harness_shim_path(const char *name, char *out, size_t cap)
{
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    assert_non_null(slash);
    *slash = '\0';
    snprintf(out, cap, "%s/shims/%s.so", exe, name);
    if (access(out, R_OK) != 0) fail_msg("%s is missing: make builds it", out);
}

void harness_print_log_tail(const harness_server *hs, int lines)
{
    FILE *f = fopen(hs->log_path, "r");
    if (!f) {
        fprintf(stderr, "  (no log at %s)\n", hs->log_path);
        return;
    }
    /* Keep the last 64 KiB; enough for any tail we print. */
    static const long keep = 65536;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > keep ? size - keep : 0;
    fseek(f, from, SEEK_SET);
    char *buf = malloc((size_t)(size - from) + 1);
    if (!buf) {
        fclose(f);
        return;
    }
    size_t n = fread(buf, 1, (size_t)(size - from), f);
    fclose(f);
    buf[n] = '\0';
    size_t start = n;
    int seen = 0;
    while (start > 0) {
        if (buf[start - 1] == '\n' && start != n && ++seen >= lines)
            break;
        start--;
    }
    fprintf(stderr, "---- tail of %s ----\n%s%s---- end of log ----\n", hs->log_path,
            buf + start, (n > 0 && buf[n - 1] != '\n') ? "\n" : "");
    free(buf);
}

/* fork+exec usherd for hs (pid set); false with a reason in why when it
 * cannot be started. The child never returns. */
static bool spawn(harness_server *hs, char *why, size_t why_cap)
{
    char bin[512];
    harness_program_path("USHERD_BIN", "usherd", bin, sizeof bin);
    if (access(bin, X_OK) != 0) {
        snprintf(why, why_cap, "usherd not found at %s (build it with make, or set USHERD_BIN / USHER_BUILD)", bin);
        return false;
    }

    char listen[64], words[sizeof hs->extra_args];
    snprintf(listen, sizeof listen, "%s:%u", hs->host[0] ? hs->host : "127.0.0.1", (unsigned)hs->port);
    snprintf(words, sizeof words, "%s", hs->extra_args);
    char *argv[HARNESS_MAX_ARGS + 8];
    int argc = 0;
    argv[argc++] = bin;
    argv[argc++] = "--listen";
    argv[argc++] = listen;
    argv[argc++] = harness_store_is_url(hs->data_dir) ? "--store" : "--data";
    argv[argc++] = hs->data_dir;
    char *save = NULL;
    for (char *w = strtok_r(words, " \t", &save); w && argc < HARNESS_MAX_ARGS;
         w = strtok_r(NULL, " \t", &save))
        argv[argc++] = w;
    argv[argc] = NULL;

    int log_fd = open(hs->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        snprintf(why, why_cap, "cannot open %s: %s", hs->log_path, strerror(errno));
        return false;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_cap, "fork: %s", strerror(errno));
        close(log_fd);
        return false;
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd >= 0)
            dup2(null_fd, 0);
        dup2(log_fd, 1);
        dup2(log_fd, 2);
        execv(bin, argv);
        dprintf(2, "harness: exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    close(log_fd);
    hs->pid = pid;
    return true;
}

/* True when something accepts on host (NULL or "": 127.0.0.1):port right now. */
static bool port_accepts(const char *host, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (host && host[0] && inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        close(fd);
        return false;
    }
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* Waits until hs accepts; on failure kills it and returns false. */
static bool wait_until_up(harness_server *hs, char *why, size_t why_cap)
{
    int64_t deadline = harness_mono_ms() + HARNESS_IO_TIMEOUT_MS;
    for (;;) {
        int status;
        pid_t r = waitpid(hs->pid, &status, WNOHANG);
        if (r == hs->pid) {
            hs->pid = 0;
            if (WIFEXITED(status))
                snprintf(why, why_cap, "usherd exited with status %d", WEXITSTATUS(status));
            else
                snprintf(why, why_cap, "usherd died of signal %d", WTERMSIG(status));
            return false;
        }
        if (port_accepts(hs->host, hs->port))
            return true;
        if (harness_mono_ms() > deadline) {
            snprintf(why, why_cap, "usherd did not accept on 127.0.0.1:%u within %d ms",
                     (unsigned)hs->port, HARNESS_IO_TIMEOUT_MS);
            harness_signal_wait(hs, SIGKILL, 1000);
            return false;
        }
        harness_sleep_ms(20);
    }
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *root)
{
    if (root[0])
        nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Fills the paths of hs for its port and starts it; frees hs and fails the
 * test when it does not come up. */
static harness_server *launch(harness_server *hs)
{
    snprintf(hs->log_path, sizeof hs->log_path, "%s/usherd-%u.log", hs->root, (unsigned)hs->port);
    char why[700];
    if (!spawn(hs, why, sizeof why) || !wait_until_up(hs, why, sizeof why)) {
        harness_print_log_tail(hs, 30);
        if (hs->owns_root)
            remove_tree(hs->root);
        free(hs);
        fail_msg("%s", why);
        return NULL;
    }
    return hs;
}

static harness_server *server_new(const char *extra_args)
{
    harness_server *hs = calloc(1, sizeof *hs);
    if (!hs)
        fail_msg("out of memory");
    if (extra_args && strlen(extra_args) >= sizeof hs->extra_args) {
        free(hs);
        fail_msg("extra args too long");
        return NULL;
    }
    snprintf(hs->extra_args, sizeof hs->extra_args, "%s", extra_args ? extra_args : "");
    hs->port = harness_free_port();
    return hs;
}

bool harness_store_is_url(const char *spec)
{
    return strncmp(spec, "postgres://", 11) == 0 || strncmp(spec, "postgresql://", 13) == 0;
}

/* Runs one statement on the database of url; false with why filled. */
static bool pg_exec_on(const char *url, const char *sql, char *why, size_t why_cap)
{
    PGconn *pg = PQconnectdb(url);
    bool ok = PQstatus(pg) == CONNECTION_OK;
    if (ok) {
        PGresult *res = PQexec(pg, sql);
        ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
    }
    if (!ok) snprintf(why, why_cap, "%s: %s: %s", url, sql, PQerrorMessage(pg));
    PQfinish(pg);
    return ok;
}

/* url with its database (the last path word) replaced by name. */
static void url_with_database(const char *url, const char *name, char *out, size_t cap)
{
    const char *auth = strstr(url, "://");
    const char *slash = auth ? strchr(auth + 3, '/') : NULL;
    size_t keep = slash ? (size_t)(slash - url) : strlen(url);
    const char *query = slash ? strchr(slash, '?') : NULL;
    snprintf(out, cap, "%.*s/%s%s", (int)keep, url, name, query ? query : "");
}

bool harness_pg_fresh_database(char *out, size_t cap, char *why, size_t why_cap)
{
    const char *base = getenv("USHER_TEST_STORE");
    if (!base || !*base) {
        snprintf(why, why_cap, "USHER_TEST_STORE is not set");
        return false;
    }
    static unsigned counter;
    char name[64], sql[128];
    snprintf(name, sizeof name, "usher_it_%d_%u_%08x", (int)getpid(), counter++,
             (unsigned)((uint32_t)time(NULL) * 2654435761u ^ (uint32_t)clock()));
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (!pg_exec_on(base, sql, why, why_cap)) return false;
    url_with_database(base, name, out, cap);
    return true;
}

/* Best effort: the server's fresh database goes with it. */
static void pg_drop_database(const char *url)
{
    const char *base = getenv("USHER_TEST_STORE");
    const char *slash = strrchr(url, '/');
    if (!base || !slash) return;
    char name[64], sql[160], why[512];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(slash + 1, "?"), slash + 1);
    if (strncmp(name, "usher_it_", 9) != 0) return;
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    if (!pg_exec_on(base, sql, why, sizeof why))
        fprintf(stderr, "harness: %s\n", why);
}

harness_server *harness_start(const char *extra_args)
{
    harness_server *hs = server_new(extra_args);
    snprintf(hs->root, sizeof hs->root, "/tmp/usher-it-XXXXXX");
    if (!mkdtemp(hs->root)) {
        free(hs);
        fail_msg("mkdtemp: %s", strerror(errno));
        return NULL;
    }
    hs->owns_root = true;
    if (getenv("USHER_TEST_STORE") && *getenv("USHER_TEST_STORE")) {
        /* PostgreSQL: a fresh database stands for the data dir. */
        char why[700];
        if (!harness_pg_fresh_database(hs->data_dir, sizeof hs->data_dir, why, sizeof why)) {
            remove_tree(hs->root);
            free(hs);
            fail_msg("fresh database: %s", why);
            return NULL;
        }
        return launch(hs);
    }
    snprintf(hs->data_dir, sizeof hs->data_dir, "%s/data", hs->root);
    if (mkdir(hs->data_dir, 0700) != 0) {
        remove_tree(hs->root);
        free(hs);
        fail_msg("mkdir data dir: %s", strerror(errno));
        return NULL;
    }
    return launch(hs);
}

harness_server *harness_start_shared(const harness_server *first, const char *extra_args)
{
    harness_server *hs = server_new(extra_args);
    while (hs->port == first->port)
        hs->port = harness_free_port();
    snprintf(hs->root, sizeof hs->root, "%s", first->root);
    snprintf(hs->data_dir, sizeof hs->data_dir, "%s", first->data_dir);
    hs->owns_root = false;
    return launch(hs);
}

harness_server *harness_start_shared_on(const harness_server *first, const char *host,
                                        const char *extra_args)
{
    harness_server *hs = server_new(extra_args);
    snprintf(hs->host, sizeof hs->host, "%s", host);
    snprintf(hs->root, sizeof hs->root, "%s", first->root);
    snprintf(hs->data_dir, sizeof hs->data_dir, "%s", first->data_dir);
    hs->owns_root = false;
    return launch(hs);
}

bool harness_alive(harness_server *hs)
{
    if (!hs || hs->pid <= 0)
        return false;
    int status;
    if (waitpid(hs->pid, &status, WNOHANG) == hs->pid) {
        kill(-hs->pid, SIGKILL);
        hs->pid = 0;
        return false;
    }
    return true;
}

/* True when a process of group pgid is alive (zombies do not count: an
 * orphaned worker's zombie may wait for a PID 1 that never reaps). */
static bool group_has_live_member(pid_t pgid)
{
    if (kill(-pgid, 0) != 0)
        return false;
    DIR *proc = opendir("/proc");
    if (!proc)
        return true;
    bool live = false;
    struct dirent *e;
    while (!live && (e = readdir(proc)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char path[300], line[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[n] = '\0';
        /* pid (comm) state ppid pgrp ...; comm may hold spaces and parens. */
        const char *close_paren = strrchr(line, ')');
        char state;
        int ppid, pgrp;
        if (close_paren && sscanf(close_paren + 1, " %c %d %d", &state, &ppid, &pgrp) == 3)
            live = pgrp == pgid && state != 'Z' && state != 'X';
    }
    closedir(proc);
    return live;
}

int harness_signal_wait(harness_server *hs, int sig, int timeout_ms)
{
    if (!hs || hs->pid <= 0)
        return -1;
    pid_t pid = hs->pid;
    kill(sig == SIGKILL ? -pid : pid, sig);
    int64_t deadline = harness_mono_ms() + timeout_ms;
    int status = -1;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            status = st;
            break;
        }
        if (r < 0 && errno != EINTR)
            break;
        if (harness_mono_ms() > deadline) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            status = -1;
            break;
        }
        harness_sleep_ms(5);
    }
    /* Workers of --workers N are in the group: give them a moment, then make
     * sure none outlives the master. */
    for (int i = 0; i < 100 && group_has_live_member(pid); i++)
        harness_sleep_ms(10);
    if (group_has_live_member(pid)) {
        fprintf(stderr, "harness: processes of usherd group %d outlived it; killing them\n", (int)pid);
        kill(-pid, SIGKILL);
    }
    hs->pid = 0;
    return status;
}

int harness_kill(harness_server *hs, int sig)
{
    return harness_signal_wait(hs, sig, HARNESS_IO_TIMEOUT_MS);
}

void harness_restart(harness_server *hs)
{
    if (hs->pid > 0)
        fail_msg("harness_restart: usherd %d is still running", (int)hs->pid);
    char why[700];
    if (!spawn(hs, why, sizeof why) || !wait_until_up(hs, why, sizeof why)) {
        harness_print_log_tail(hs, 30);
        fail_msg("restart: %s", why);
    }
}

void harness_stop(harness_server *hs)
{
    if (!hs)
        return;
    if (hs->pid > 0)
        harness_signal_wait(hs, SIGTERM, HARNESS_IO_TIMEOUT_MS);
    if (hs->owns_root)
        remove_tree(hs->root);
    if (hs->owns_root && harness_store_is_url(hs->data_dir))
        pg_drop_database(hs->data_dir);
    free(hs);
}

/* Runs argv with stdout into out[cap] (NUL-terminated, trailing space
 * trimmed); returns the exit status or -1. Waits at most 10 s. */
static int run_capture(char *const argv[], char *out, size_t cap)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pipefd[1], 1);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t len = 0;
    int64_t deadline = harness_mono_ms() + 10000;
    for (;;) {
        struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
        int64_t left = deadline - harness_mono_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t n = read(pipefd[0], out + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == cap - 1)
            break;
    }
    close(pipefd[0]);
    out[len] = '\0';
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r' || out[len - 1] == ' '))
        out[--len] = '\0';
    int status;
    if (harness_mono_ms() > deadline)
        kill(pid, SIGKILL);
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const char *harness_admin_token(harness_server *hs)
{
    if (hs->admin_token[0])
        return hs->admin_token;
    char bin[512];
    harness_program_path("USHER_ADMIN_BIN", "usher-admin", bin, sizeof bin);
    if (access(bin, X_OK) != 0)
        fail_msg("usher-admin not found at %s (build it, or set USHER_ADMIN_BIN / USHER_BUILD)", bin);
    char *flag = harness_store_is_url(hs->data_dir) ? "--store" : "--data";
    char *argv[] = { bin, flag, hs->data_dir, "token", NULL };
    char out[sizeof hs->admin_token];
    int rc = run_capture(argv, out, sizeof out);
    if (rc != 0 || !out[0])
        fail_msg("%s %s %s token: exit %d, output '%s'", bin, flag, hs->data_dir, rc, out);
    /* The token is the last line (a tool may print a heading first). */
    const char *last = strrchr(out, '\n');
    snprintf(hs->admin_token, sizeof hs->admin_token, "%s", last ? last + 1 : out);
    return hs->admin_token;
}

void harness_usher_check(const char *data_dir, const char *extra_args)
{
    char bin[512];
    harness_program_path("USHER_CHECK_BIN", "usher-check", bin, sizeof bin);
    if (access(bin, X_OK) != 0)
        fail_msg("usher-check not found at %s (build it, or set USHER_CHECK_BIN / USHER_BUILD)", bin);
    static char out[65536];
    const char *flag = harness_store_is_url(data_dir) ? "--store" : "--data";
    int rc = harness_shell(out, sizeof out, "'%s' %s '%s' %s 2>&1", bin, flag, data_dir,
                           extra_args ? extra_args : "");
    if (rc != 0)
        fail_msg("usher-check %s %s %s: exit %d\n%s", flag, data_dir, extra_args ? extra_args : "",
                 rc, out);
}

void harness_install_into_temp(char *prefix, size_t cap)
{
    if (getenv("USHER_SANITIZED")) skip();
    const char *build = getenv("USHER_BUILD");
    char out[8192];
    snprintf(prefix, cap, "/tmp/usher-install-XXXXXX");
    assert_non_null(mkdtemp(prefix));
    int rc = harness_shell(out, sizeof out, "make -s BUILD=%s install PREFIX=%s 2>&1",
                           build && *build ? build : "build", prefix);
    if (rc != 0) fail_msg("make install failed (%d):\n%s", rc, out);
}

void harness_remove_tree(const char *path)
{
    char out[64];
    harness_shell(out, sizeof out, "rm -rf '%s'", path);
}

int harness_shell(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (!p) fail_msg("popen failed for: %s", cmd);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
