/* Test-only LD_PRELOAD shim: makes LMDB's meta page write fail with EIO,
 * the write that a failing disk or a full copy-on-write file system refuses
 * and after which LMDB marks the environment fatal (MDB_PANIC).
 *
 * It acts only while a trigger file exists: $USHER_FAIL_META_WRITE names
 * it, relative to the directory of the data.mdb being written (the tests
 * use "../fail-meta-write", beside the data dir). Then every pwrite() to
 * data.mdb that lands in its two meta pages fails; all else passes through. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define META_AREA_BYTES (2 * 4096)   /* LMDB's two meta pages at the default page size */
#define DATA_FILE "/data.mdb"

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

/* True when fd is a data.mdb and the trigger beside it exists. */
static bool trigger_set(int fd)
{
    const char *trigger = getenv("USHER_FAIL_META_WRITE");
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

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    pwrite_fn real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
    if (off < META_AREA_BYTES && n < META_AREA_BYTES && trigger_set(fd)) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, n, off);
}
