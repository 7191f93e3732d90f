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
#include "shim_trigger.h"

#define META_AREA_BYTES (2 * 4096)   /* LMDB's two meta pages at the default page size */

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    pwrite_fn real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
    if (off < META_AREA_BYTES && n < META_AREA_BYTES && shim_trigger_set(fd, "USHER_FAIL_META_WRITE")) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, n, off);
}
