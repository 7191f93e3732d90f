/* Shared by the test shims: a shim acts only on LMDB's data.mdb, and only
 * while a trigger file exists, named by an environment variable relative to
 * the directory of that data.mdb (the tests use "../NAME", beside the data
 * dir), so a test decides when the fault begins. Header-only: each shim is
 * one shared object built from one .c file. */
#ifndef USHER_TESTS_SHIM_TRIGGER_H
#define USHER_TESTS_SHIM_TRIGGER_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHIM_DATA_FILE "/data.mdb"

/* True when fd is a data.mdb and the trigger $env_name names beside it exists. */
static inline bool shim_trigger_set(int fd, const char *env_name)
{
    const char *trigger = getenv(env_name);
    if (!trigger) return false;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    size_t tail = strlen(SHIM_DATA_FILE);
    if (n < (ssize_t)tail) return false;
    path[n] = '\0';
    if (strcmp(path + n - tail, SHIM_DATA_FILE) != 0) return false;
    path[n - tail + 1] = '\0';               /* keep the directory's slash */
    if (strlen(path) + strlen(trigger) >= sizeof path) return false;
    strcat(path, trigger);
    return access(path, F_OK) == 0;
}

#endif
