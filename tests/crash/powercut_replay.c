/* Power-cut replay: see powercut_replay.h. */
#include "powercut_replay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "crash_sale.h"

bool powercut_journal_load(const char *path, powercut_journal *out)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "powercut: %s: %s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
        return false;
    }
    out->nbytes = (size_t)st.st_size;
    out->bytes = malloc(out->nbytes ? out->nbytes : 1);
    size_t got = 0;
    while (out->bytes && got < out->nbytes) {
        ssize_t k = read(fd, out->bytes + got, out->nbytes - got);
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    if (!out->bytes || got != out->nbytes) {
        fprintf(stderr, "powercut: %s: short read\n", path);
        powercut_journal_free(out);
        return false;
    }
    size_t cap = 0;
    for (size_t at = 0; at < out->nbytes;) {
        powercut_record rec;
        if (out->nbytes - at < sizeof rec) {
            fprintf(stderr, "powercut: %s: a cut record header at byte %zu\n", path, at);
            goto fail;
        }
        memcpy(&rec, out->bytes + at, sizeof rec);
        if (rec.magic != POWERCUT_MAGIC || rec.len > out->nbytes - at - sizeof rec ||
            rec.seq != out->n || rec.kind < POWERCUT_OPEN || rec.kind > POWERCUT_SHARED_MAP) {
            fprintf(stderr, "powercut: %s: a bad record %zu at byte %zu\n", path, out->n, at);
            goto fail;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 4096;
            powercut_entry *e = realloc(out->entries, cap * sizeof *e);
            if (!e) goto fail;
            out->entries = e;
        }
        powercut_entry *e = &out->entries[out->n++];
        e->rec = rec;
        e->payload = out->bytes + at + sizeof rec;
        e->synced_at = SIZE_MAX;
        if (rec.file + 1 > out->nfiles && rec.kind == POWERCUT_OPEN)
            out->nfiles = rec.file + 1;
        if (rec.kind == POWERCUT_SHARED_MAP)
            out->shared_maps++;
        if (rec.kind == POWERCUT_DSYNC_DONE) {
            if (rec.ref >= out->n || out->entries[rec.ref].rec.kind != POWERCUT_WRITE) {
                fprintf(stderr, "powercut: %s: DSYNC_DONE %zu names no write\n", path, out->n - 1);
                goto fail;
            }
            out->entries[rec.ref].synced_at = out->n - 1;
        }
        at += sizeof rec + rec.len;
    }
    return true;
fail:
    powercut_journal_free(out);
    return false;
}

void powercut_journal_free(powercut_journal *j)
{
    free(j->bytes);
    free(j->entries);
    memset(j, 0, sizeof *j);
}

void powercut_rebuild_init(powercut_rebuild *b, const powercut_journal *j, uint32_t file)
{
    memset(b, 0, sizeof *b);
    b->j = j;
    b->file = file;
}

void powercut_rebuild_free(powercut_rebuild *b)
{
    free(b->synced);
    free(b->image);
    memset(b, 0, sizeof *b);
}

static void reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 1 << 20;
    while (n < need)
        n *= 2;
    uint8_t *p = realloc(*buf, n);
    if (!p)
        abort();
    memset(p + *cap, 0, n - *cap);
    *buf = p;
    *cap = n;
}

/* Applies bytes [from, from+n) of a write at file offset off+from. */
static void put(uint8_t **buf, size_t *len, size_t *cap, uint64_t off, const uint8_t *bytes, size_t n)
{
    reserve(buf, cap, (size_t)off + n);
    memcpy(*buf + off, bytes, n);
    if ((size_t)off + n > *len)
        *len = (size_t)off + n;
}

static void truncate_to(uint8_t **buf, size_t *len, size_t *cap, uint64_t size)
{
    reserve(buf, cap, (size_t)size);
    if ((size_t)size < *len)
        memset(*buf + size, 0, *len - (size_t)size);
    *len = (size_t)size;
}

/* Applies entry e in full to a buffer. */
static void apply_whole(uint8_t **buf, size_t *len, size_t *cap, const powercut_entry *e)
{
    if (e->rec.kind == POWERCUT_WRITE)
        put(buf, len, cap, e->rec.offset, e->payload, (size_t)e->rec.len);
    else if (e->rec.kind == POWERCUT_TRUNCATE)
        truncate_to(buf, len, cap, e->rec.offset);
}

void powercut_rebuild_cut(powercut_rebuild *b, size_t k, uint64_t *rng, bool torn,
                          powercut_cut_stats *stats)
{
    const powercut_journal *j = b->j;
    if (k > j->n)
        k = j->n;
    memset(stats, 0, sizeof *stats);
    size_t last_sync = SIZE_MAX;
    bool skip = b->forget_last_sync;
    for (size_t i = k; i-- > b->synced_upto;)
        if (j->entries[i].rec.kind == POWERCUT_SYNC && j->entries[i].rec.file == b->file) {
            if (skip) { skip = false; continue; }
            last_sync = i;
            break;
        }
    if (last_sync != SIZE_MAX) {
        for (size_t i = b->synced_upto; i < last_sync; i++)
            if (j->entries[i].rec.file == b->file)
                apply_whole(&b->synced, &b->synced_len, &b->synced_cap, &j->entries[i]);
        b->synced_upto = last_sync;
    }
    stats->last_sync = b->synced_upto ? b->synced_upto : last_sync;
    reserve(&b->image, &b->image_cap, b->synced_len);
    memcpy(b->image, b->synced, b->synced_len);
    if (b->image_cap > b->synced_len)
        memset(b->image + b->synced_len, 0, b->image_cap - b->synced_len);
    b->image_len = b->synced_len;
    for (size_t i = b->synced_upto; i < k; i++) {
        const powercut_entry *e = &j->entries[i];
        if (e->rec.file != b->file || (e->rec.kind != POWERCUT_WRITE && e->rec.kind != POWERCUT_TRUNCATE))
            continue;
        stats->tail_writes++;
        if (e->rec.kind == POWERCUT_WRITE && e->synced_at < k && !b->ignore_dsync) {
            apply_whole(&b->image, &b->image_len, &b->image_cap, e);
            stats->tail_dsynced++;
            continue;
        }
        if (crash_rand(rng) & 1)
            continue;           /* never reached the disk */
        if (torn && e->rec.kind == POWERCUT_WRITE && (crash_rand(rng) & 3) == 0) {
            /* torn: each page of the file the write touches, or not */
            uint64_t off = e->rec.offset, end = off + e->rec.len;
            for (uint64_t p = off; p < end;) {
                uint64_t next = (p / POWERCUT_PAGE + 1) * POWERCUT_PAGE;
                if (next > end) next = end;
                if (crash_rand(rng) & 1)
                    put(&b->image, &b->image_len, &b->image_cap, p, e->payload + (p - off), (size_t)(next - p));
                p = next;
            }
            stats->tail_torn++;
            continue;
        }
        apply_whole(&b->image, &b->image_len, &b->image_cap, e);
        stats->tail_applied++;
    }
}

bool powercut_rebuild_write(const powercut_rebuild *b, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    size_t done = 0;
    while (done < b->image_len) {
        ssize_t k = write(fd, b->image + done, b->image_len - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            close(fd);
            return false;
        }
        done += (size_t)k;
    }
    return close(fd) == 0;
}
