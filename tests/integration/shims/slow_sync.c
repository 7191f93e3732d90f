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
#include "shim_trigger.h"


typedef int (*sync_fn)(int);

static void delay_if_triggered(int fd)
{
    if (!shim_trigger_set(fd, "USHER_SLOW_SYNC")) return;
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
