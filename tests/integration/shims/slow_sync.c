/* Test-only LD_PRELOAD shim: makes LMDB's data syncs slow, as a busy or
 * failing disk would, so the commit latency usherd measures rises.
 *
 * It acts only while a trigger file exists: $USHER_SLOW_SYNC names it,
 * relative to the directory of the data.mdb being synced (the tests use
 * "../slow-sync", beside the data dir). Then every fsync() and fdatasync()
 * of data.mdb first sleeps $USHER_SLOW_SYNC_MS milliseconds (default 100). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DATA_FILE "/data.mdb"

typedef int (*sync_fn)(int);

/* True when fd is a data.mdb and the trigger beside it exists. */
static bool trigger_set(int fd)
{
    const char *trigger = getenv("USHER_SLOW_SYNC");
    if (!trigger) return false;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    size_t tail = strlen(DATA_FILE);
    if (n < (ssize_t)tail) return false;
    path[n] = '\0';
    if (strcmp(path + n - tail, DATA_FILE) != 0) return false;
    path[n - tail + 1] = '\0';               /* keep the directory's slash */
    if (strlen(path) + strlen(trigger) >= sizeof path) return false;
    strcat(path, trigger);
    return access(path, F_OK) == 0;
}

static void delay_if_triggered(int fd)
{
    if (!trigger_set(fd)) return;
    const char *text = getenv("USHER_SLOW_SYNC_MS");
    long ms = text ? strtol(text, NULL, 10) : 100;
    if (ms <= 0) return;
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {}
}

int fdatasync(int fd)
{
    sync_fn real = (sync_fn)dlsym(RTLD_NEXT, "fdatasync");
    delay_if_triggered(fd);
    return real(fd);
}

int fsync(int fd)
{
    sync_fn real = (sync_fn)dlsym(RTLD_NEXT, "fsync");
    delay_if_triggered(fd);
    return real(fd);
}
