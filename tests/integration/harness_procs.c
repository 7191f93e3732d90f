/* Harness, processes: see harness_procs.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_procs.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_LINE_CAP 4096

pid_t harness_instance_pid(harness_conn *c)
{
    harness_reply r;
    harness_call(c, "sys.hello", NULL, &r);
    harness_expect(&r, OK);
    const char *instance = harness_get_str(&r, "instance");
    const char *colon = strrchr(instance, ':');
    if (!colon)
        fail_msg("instance '%s' is not HOST:PID", instance);
    pid_t pid = (pid_t)strtol(colon + 1, NULL, 10);
    harness_reply_free(&r);
    if (pid <= 0)
        fail_msg("instance without a pid");
    return pid;
}

/* sys.hello's pid on c, or 0 when the connection closed first. */
static pid_t hello_pid_or_closed(harness_conn *c)
{
    uint32_t msgid = harness_send(c, "sys.hello", NULL);
    harness_reply r;
    harness_io io = harness_read_reply(c, &r);
    if (io == HARNESS_IO_CLOSED)
        return 0;
    if (io != HARNESS_IO_OK || r.msgid != msgid)
        fail_msg("sys.hello: no reply (io %d)", io);
    harness_expect(&r, OK);
    const char *colon = strrchr(harness_get_str(&r, "instance"), ':');
    pid_t pid = colon ? (pid_t)strtol(colon + 1, NULL, 10) : 0;
    harness_reply_free(&r);
    if (pid <= 0)
        fail_msg("instance without a pid");
    return pid;
}

harness_conn *harness_fx_connect_other(harness_fixture *fx, uint16_t port, const pid_t *avoid,
                                       size_t n_avoid, int timeout_ms, pid_t *pid)
{
    int64_t deadline = harness_mono_ms() + timeout_ms;
    while (harness_mono_ms() < deadline) {
        harness_conn *c = harness_fx_connect(fx, port);
        pid_t p = hello_pid_or_closed(c);
        bool avoided = p == 0;
        if (p == 0)
            fprintf(stderr, "# %lld: a new connection was closed before sys.hello\n",
                    (long long)harness_now_ms());
        for (size_t i = 0; i < n_avoid; i++)
            avoided |= avoid[i] == p;
        if (!avoided) {
            *pid = p;
            return c;
        }
        harness_conn_disconnect(c);
    }
    return NULL;
}

/* Reads /proc/PID/stat's state and ppid; false when the process is gone. */
static bool proc_stat(pid_t pid, char *state, pid_t *ppid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *paren = strrchr(line, ')');   /* comm may hold spaces and parens */
    int pp;
    if (!paren || sscanf(paren + 1, " %c %d", state, &pp) != 2)
        return false;
    *ppid = (pid_t)pp;
    return true;
}

size_t harness_children(pid_t parent, pid_t *out, size_t cap)
{
    DIR *proc = opendir("/proc");
    size_t n = 0;
    if (!proc)
        return 0;
    struct dirent *e;
    while (n < cap && (e = readdir(proc)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        pid_t pid = (pid_t)atoi(e->d_name), ppid;
        char state;
        if (proc_stat(pid, &state, &ppid) && ppid == parent && state != 'Z' && state != 'X')
            out[n++] = pid;
    }
    closedir(proc);
    return n;
}

char harness_proc_state(pid_t pid)
{
    char state;
    pid_t ppid;
    return proc_stat(pid, &state, &ppid) ? state : 0;
}

size_t harness_log_count(const harness_server *hs, const char *needle)
{
    FILE *f = fopen(hs->log_path, "r");
    size_t n = 0;
    if (!f)
        return 0;
    char line[LOG_LINE_CAP];
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

bool harness_log_wait(const harness_server *hs, const char *needle, int timeout_ms)
{
    int64_t deadline = harness_mono_ms() + timeout_ms;
    for (;;) {
        if (harness_log_count(hs, needle) > 0)
            return true;
        if (harness_mono_ms() > deadline)
            return false;
        harness_sleep_ms(20);
    }
}
