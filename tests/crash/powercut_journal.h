/* The power-cut journal: what tests/crash/powercut_shim.c (LD_PRELOADed into
 * usherd) records about the files it watches, and what the crash tests read
 * back to rebuild those files as a power cut at any record would leave them.
 *
 * Rules:
 * - The journal is a sequence of records, each a powercut_record header
 *   followed by `len` payload bytes (a WRITE's bytes, an OPEN's path).
 * - Records are appended under one lock, and each takes its CLOCK_REALTIME
 *   timestamp inside that lock, so journal order is time order.
 * - A WRITE is journaled BEFORE the write is made; a SYNC and a DSYNC_DONE
 *   AFTER the call returned success. So a record k says "this was at most
 *   in the page cache" (WRITE) or "this had reached the disk" (SYNC, DSYNC_DONE)
 *   by the time at_ns. */
#ifndef USHER_TESTS_POWERCUT_JOURNAL_H
#define USHER_TESTS_POWERCUT_JOURNAL_H

#include <stdint.h>

#define POWERCUT_JOURNAL_ENV "USHER_POWERCUT_JOURNAL"  /* path of the journal to append to */
#define POWERCUT_WATCH_NAME "data.mdb"                  /* files of this base name are watched */
#define POWERCUT_MAGIC 0x50435554u                      /* "PCUT" */

typedef enum powercut_kind {
    POWERCUT_OPEN = 1,        /* a watched file was opened: file id, path as payload */
    POWERCUT_WRITE = 2,       /* about to write len bytes at offset (payload: the bytes) */
    POWERCUT_DSYNC_DONE = 3,  /* the WRITE with seq `ref` (an O_DSYNC/O_SYNC fd) returned: on disk */
    POWERCUT_SYNC = 4,        /* fsync/fdatasync of any fd of the file returned 0: all of it on disk */
    POWERCUT_TRUNCATE = 5,    /* about to ftruncate to offset */
    POWERCUT_SHARED_MAP = 6   /* a writable shared mapping: writes through it are invisible here */
} powercut_kind;

typedef struct powercut_record {
    uint32_t magic;           /* POWERCUT_MAGIC */
    uint32_t kind;            /* powercut_kind */
    uint32_t file;            /* watched file id, 0.. in order of first open (by inode) */
    uint32_t pid;             /* process that made the call */
    uint64_t seq;             /* 0, 1, 2, ... in journal order */
    int64_t at_ns;            /* CLOCK_REALTIME */
    uint64_t offset;          /* WRITE: file offset; TRUNCATE: new size */
    uint64_t ref;             /* DSYNC_DONE: seq of its WRITE */
    uint64_t len;             /* payload bytes that follow */
    uint64_t reserved;        /* 0 */
} powercut_record;

_Static_assert(sizeof(powercut_record) == 64, "journal record header is 64 bytes");

#endif
