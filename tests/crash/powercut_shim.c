/* Test-only LD_PRELOAD shim for usherd: journals every write to and every
 * sync of the watched files (base name data.mdb) so a test can rebuild them
 * as a power cut at any instant would leave them. The record format and its
 * ordering rules are in powercut_journal.h; the model is argued in
 * docs/DESIGN.md ("Durability, crash and power-loss tests").
 *
 * Rules:
 * - Active only when $USHER_POWERCUT_JOURNAL names a journal; otherwise every
 *   wrapper is a plain pass-through.
 * - A write is journaled before it is made, a sync after it returned, each
 *   under one lock with its timestamp, so journal order is the order of events.
 * - A write on an fd opened O_DSYNC/O_SYNC (LMDB's meta fd) is on disk when
 *   it returns: journaled as WRITE, then DSYNC_DONE.
 * - Files are told apart by inode, so a sync of any fd of a file syncs it.
 * - Unwatched fds (sockets, logs) cost one array lookup per call. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "powercut_journal.h"

#define SHIM_MAX_FDS 4096
#define SHIM_MAX_FILES 16

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef int (*fd_fn)(int);
typedef int (*ftruncate_fn)(int, off_t);
typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef off_t (*lseek_fn)(int, off_t, int);
typedef int (*msync_fn)(void *, size_t, int);
typedef int (*munmap_fn)(void *, size_t);

#define SHIM_MAX_MAPS 16

/* A mapping of a watched file: msync of an address inside it syncs the file. */
typedef struct shim_map {
    uintptr_t start, end;
    int file;                            /* -1: free slot */
} shim_map;

/* The shim's whole state: one per process, set up once (pthread_once). */
typedef struct shim {
    open_fn open, open64;
    openat_fn openat, openat64;
    pwrite_fn pwrite, pwrite64;
    write_fn write;
    writev_fn writev;
    pwritev_fn pwritev, pwritev64;
    fd_fn fsync, fdatasync, close;
    ftruncate_fn ftruncate;
    mmap_fn mmap;
    lseek_fn lseek;
    msync_fn msync;
    munmap_fn munmap;
    pthread_mutex_t mu;
    int journal_fd;                      /* -1: inactive */
    uint64_t next_seq;                   /* under mu */
    int fd_file[SHIM_MAX_FDS];           /* watched file id + 1, 0 = unwatched */
    dev_t file_dev[SHIM_MAX_FILES];      /* under mu */
    ino_t file_ino[SHIM_MAX_FILES];
    unsigned nfiles;
    shim_map maps[SHIM_MAX_MAPS];        /* under mu */
} shim;

/* The one mutable global in the tree, on purpose: an interposed libc call
 * has no caller that could pass a context down. */
static shim the_shim = { .mu = PTHREAD_MUTEX_INITIALIZER, .journal_fd = -1 };
static pthread_once_t shim_once = PTHREAD_ONCE_INIT;

static void shim_init(void)
{
    shim *s = &the_shim;
    s->open = (open_fn)dlsym(RTLD_NEXT, "open");
    s->open64 = (open_fn)dlsym(RTLD_NEXT, "open64");
    s->openat = (openat_fn)dlsym(RTLD_NEXT, "openat");
    s->openat64 = (openat_fn)dlsym(RTLD_NEXT, "openat64");
    s->pwrite = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
    s->pwrite64 = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite64");
    s->write = (write_fn)dlsym(RTLD_NEXT, "write");
    s->writev = (writev_fn)dlsym(RTLD_NEXT, "writev");
    s->pwritev = (pwritev_fn)dlsym(RTLD_NEXT, "pwritev");
    s->pwritev64 = (pwritev_fn)dlsym(RTLD_NEXT, "pwritev64");
    s->fsync = (fd_fn)dlsym(RTLD_NEXT, "fsync");
    s->fdatasync = (fd_fn)dlsym(RTLD_NEXT, "fdatasync");
    s->close = (fd_fn)dlsym(RTLD_NEXT, "close");
    s->ftruncate = (ftruncate_fn)dlsym(RTLD_NEXT, "ftruncate");
    s->mmap = (mmap_fn)dlsym(RTLD_NEXT, "mmap");
    s->lseek = (lseek_fn)dlsym(RTLD_NEXT, "lseek");
    s->msync = (msync_fn)dlsym(RTLD_NEXT, "msync");
    s->munmap = (munmap_fn)dlsym(RTLD_NEXT, "munmap");
    for (int i = 0; i < SHIM_MAX_MAPS; i++)
        s->maps[i].file = -1;
    if (!s->open64) s->open64 = s->open;
    if (!s->openat64) s->openat64 = s->openat;
    if (!s->pwrite64) s->pwrite64 = s->pwrite;
    if (!s->pwritev64) s->pwritev64 = s->pwritev;
    const char *path = getenv(POWERCUT_JOURNAL_ENV);
    if (path && *path)
        s->journal_fd = s->open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

static shim *shim_get(void)
{
    pthread_once(&shim_once, shim_init);
    return &the_shim;
}

/* Watched file id of fd, or -1. */
static int watched(const shim *s, int fd)
{
    if (s->journal_fd < 0 || fd < 0 || fd >= SHIM_MAX_FDS)
        return -1;
    return __atomic_load_n(&s->fd_file[fd], __ATOMIC_ACQUIRE) - 1;
}

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Appends one record (header + payload pieces); under mu. Returns its seq. */
static uint64_t journal_append_locked(shim *s, powercut_kind kind, int file, uint64_t offset,
                                      uint64_t ref, const struct iovec *payload, int npayload)
{
    powercut_record rec = {
        .magic = POWERCUT_MAGIC, .kind = (uint32_t)kind, .file = (uint32_t)file,
        .pid = (uint32_t)getpid(), .seq = s->next_seq++, .at_ns = realtime_ns(),
        .offset = offset, .ref = ref,
    };
    for (int i = 0; i < npayload; i++)
        rec.len += payload[i].iov_len;
    struct iovec iov[1 + IOV_MAX];
    iov[0].iov_base = &rec;
    iov[0].iov_len = sizeof rec;
    int n = 1;
    for (int i = 0; i < npayload && n < 1 + IOV_MAX; i++)
        iov[n++] = payload[i];
    /* Records are small next to a pipe's atomic limit only sometimes: loop on
     * short writes so a record is never cut (the journal is a regular file). */
    size_t total = sizeof rec + rec.len, done = 0;
    while (done < total) {
        ssize_t k = s->writev(s->journal_fd, iov, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            abort();    /* a journal with a hole would make the test judge nonsense */
        }
        done += (size_t)k;
        size_t skip = (size_t)k;
        int first = 0;
        while (first < n && skip >= iov[first].iov_len) skip -= iov[first++].iov_len;
        if (first < n) {
            iov[first].iov_base = (char *)iov[first].iov_base + skip;
            iov[first].iov_len -= skip;
        }
        memmove(iov, iov + first, (size_t)(n - first) * sizeof *iov);
        n -= first;
    }
    return rec.seq;
}

static uint64_t journal_append(shim *s, powercut_kind kind, int file, uint64_t offset,
                               uint64_t ref, const struct iovec *payload, int npayload)
{
    int saved = errno;
    pthread_mutex_lock(&s->mu);
    uint64_t seq = journal_append_locked(s, kind, file, offset, ref, payload, npayload);
    pthread_mutex_unlock(&s->mu);
    errno = saved;
    return seq;
}

static bool is_watched_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strcmp(base, POWERCUT_WATCH_NAME) == 0;
}

/* After a successful open of path as fd: watch it when its name says so. */
static void after_open(shim *s, int fd, const char *path)
{
    if (s->journal_fd < 0 || fd < 0 || fd >= SHIM_MAX_FDS || !is_watched_name(path))
        return;
    struct stat st;
    int saved = errno;
    if (fstat(fd, &st) != 0) {
        errno = saved;
        return;
    }
    pthread_mutex_lock(&s->mu);
    unsigned id = 0;
    while (id < s->nfiles && !(s->file_dev[id] == st.st_dev && s->file_ino[id] == st.st_ino))
        id++;
    bool is_new = id == s->nfiles;
    if (is_new && s->nfiles < SHIM_MAX_FILES) {
        s->file_dev[id] = st.st_dev;
        s->file_ino[id] = st.st_ino;
        s->nfiles++;
    }
    if (id < s->nfiles) {
        __atomic_store_n(&s->fd_file[fd], (int)id + 1, __ATOMIC_RELEASE);
        struct iovec p = { .iov_base = (void *)path, .iov_len = strlen(path) };
        journal_append_locked(s, POWERCUT_OPEN, (int)id, 0, 0, &p, 1);
    }
    pthread_mutex_unlock(&s->mu);
    errno = saved;
}

static bool fd_is_dsync(const shim *s, int fd)
{
    (void)s;
    int saved = errno;
    int fl = fcntl(fd, F_GETFL);
    errno = saved;
    return fl >= 0 && (fl & O_DSYNC) == O_DSYNC;
}

/* Journals a write of iov at offset on watched file `file` (before it is
 * made); returns its seq for DSYNC_DONE. */
static uint64_t before_write(shim *s, int file, const struct iovec *iov, int iovcnt, off_t offset)
{
    return journal_append(s, POWERCUT_WRITE, file, (uint64_t)offset, 0, iov, iovcnt);
}

static void after_write(shim *s, int fd, int file, uint64_t seq, ssize_t rc)
{
    if (rc >= 0 && fd_is_dsync(s, fd))
        journal_append(s, POWERCUT_DSYNC_DONE, file, 0, seq, NULL, 0);
}

/* ---- opens ---- */

static mode_t open_mode(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
    shim *s = shim_get();
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    int fd = s->open(path, flags, mode);
    after_open(s, fd, path);
    return fd;
}

int open64(const char *path, int flags, ...)
{
    shim *s = shim_get();
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    int fd = s->open64(path, flags, mode);
    after_open(s, fd, path);
    return fd;
}

int openat(int dirfd, const char *path, int flags, ...)
{
    shim *s = shim_get();
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    int fd = s->openat(dirfd, path, flags, mode);
    after_open(s, fd, path);
    return fd;
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    shim *s = shim_get();
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    int fd = s->openat64(dirfd, path, flags, mode);
    after_open(s, fd, path);
    return fd;
}

int close(int fd)
{
    shim *s = shim_get();
    if (fd >= 0 && fd < SHIM_MAX_FDS)
        __atomic_store_n(&s->fd_file[fd], 0, __ATOMIC_RELEASE);
    return s->close(fd);
}

/* ---- writes ---- */

static ssize_t shim_pwrite(pwrite_fn real, int fd, const void *buf, size_t n, off_t offset)
{
    shim *s = shim_get();
    int file = watched(s, fd);
    if (file < 0)
        return real(fd, buf, n, offset);
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };
    uint64_t seq = before_write(s, file, &iov, 1, offset);
    ssize_t rc = real(fd, buf, n, offset);
    after_write(s, fd, file, seq, rc);
    return rc;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t offset)
{
    return shim_pwrite(shim_get()->pwrite, fd, buf, n, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t offset)
{
    return shim_pwrite(shim_get()->pwrite64, fd, buf, n, offset);
}

static ssize_t shim_pwritev(pwritev_fn real, int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
    shim *s = shim_get();
    int file = watched(s, fd);
    if (file < 0)
        return real(fd, iov, iovcnt, offset);
    uint64_t seq = before_write(s, file, iov, iovcnt, offset);
    ssize_t rc = real(fd, iov, iovcnt, offset);
    after_write(s, fd, file, seq, rc);
    return rc;
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
    return shim_pwritev(shim_get()->pwritev, fd, iov, iovcnt, offset);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
    return shim_pwritev(shim_get()->pwritev64, fd, iov, iovcnt, offset);
}

/* write/writev write at the fd's position (LMDB 0.9 flushes pages with
 * lseek + writev): the position is read before the write is made. */
ssize_t write(int fd, const void *buf, size_t n)
{
    shim *s = shim_get();
    int file = watched(s, fd);
    if (file < 0)
        return s->write(fd, buf, n);
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };
    off_t at = (fcntl(fd, F_GETFL) & O_APPEND) ? s->lseek(fd, 0, SEEK_END) : s->lseek(fd, 0, SEEK_CUR);
    uint64_t seq = before_write(s, file, &iov, 1, at);
    ssize_t rc = s->write(fd, buf, n);
    after_write(s, fd, file, seq, rc);
    return rc;
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    shim *s = shim_get();
    int file = watched(s, fd);
    if (file < 0)
        return s->writev(fd, iov, iovcnt);
    off_t at = (fcntl(fd, F_GETFL) & O_APPEND) ? s->lseek(fd, 0, SEEK_END) : s->lseek(fd, 0, SEEK_CUR);
    uint64_t seq = before_write(s, file, iov, iovcnt, at);
    ssize_t rc = s->writev(fd, iov, iovcnt);
    after_write(s, fd, file, seq, rc);
    return rc;
}

int ftruncate(int fd, off_t length)
{
    shim *s = shim_get();
    int file = watched(s, fd);
    if (file >= 0)
        journal_append(s, POWERCUT_TRUNCATE, file, (uint64_t)length, 0, NULL, 0);
    return s->ftruncate(fd, length);
}

/* ---- syncs ---- */

static int shim_sync(fd_fn real, int fd)
{
    shim *s = shim_get();
    int rc = real(fd);
    int file = watched(s, fd);
    if (rc == 0 && file >= 0)
        journal_append(s, POWERCUT_SYNC, file, 0, 0, NULL, 0);
    return rc;
}

int fsync(int fd)
{
    return shim_sync(shim_get()->fsync, fd);
}

int fdatasync(int fd)
{
    return shim_sync(shim_get()->fdatasync, fd);
}

/* ---- maps ---- */

/* Writes through a writable shared map of a watched file never pass through
 * a wrapper, so the journal could not show them: say so, and the test fails
 * instead of judging an incomplete journal (MDB_WRITEMAP would do this).
 * Maps of watched files are remembered so an msync inside one counts as a
 * sync of that file. */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    shim *s = shim_get();
    int file = watched(s, fd);
    if (file >= 0 && (prot & PROT_WRITE) && (flags & MAP_SHARED))
        journal_append(s, POWERCUT_SHARED_MAP, file, (uint64_t)offset, 0, NULL, 0);
    void *p = s->mmap(addr, len, prot, flags, fd, offset);
    if (file >= 0 && p != MAP_FAILED) {
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < SHIM_MAX_MAPS; i++) {
            if (s->maps[i].file < 0) {
                s->maps[i] = (shim_map){ (uintptr_t)p, (uintptr_t)p + len, file };
                break;
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
    return p;
}

int munmap(void *addr, size_t len)
{
    shim *s = shim_get();
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < SHIM_MAX_MAPS; i++)
        if (s->maps[i].file >= 0 && s->maps[i].start == (uintptr_t)addr)
            s->maps[i].file = -1;
    pthread_mutex_unlock(&s->mu);
    return s->munmap(addr, len);
}

int msync(void *addr, size_t len, int flags)
{
    shim *s = shim_get();
    int rc = s->msync(addr, len, flags);
    if (rc != 0 || !(flags & MS_SYNC))
        return rc;
    int file = -1;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < SHIM_MAX_MAPS && file < 0; i++)
        if (s->maps[i].file >= 0 && (uintptr_t)addr >= s->maps[i].start &&
            (uintptr_t)addr < s->maps[i].end)
            file = s->maps[i].file;
    pthread_mutex_unlock(&s->mu);
    if (file >= 0)
        journal_append(s, POWERCUT_SYNC, file, 0, 0, NULL, 0);
    return rc;
}
