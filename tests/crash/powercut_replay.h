/* Power-cut replay: reads a journal written by powercut_shim.so and rebuilds
 * a watched file as a power cut at any record would have left it on disk.
 *
 * The model (argued in docs/DESIGN.md): a cut at record k means records
 * [0, k) happened and nothing after. On disk then are
 * - every write journaled before the file's last SYNC before k, in order;
 * - every write whose DSYNC_DONE came before k (an O_DSYNC write returned);
 * - of the other writes before k, a random subset, each whole or, when
 *   tearing is on, page by page (4096 bytes of the file) at random.
 * Cuts must be taken in increasing k: the synced part is kept and grown. */
#ifndef USHER_TESTS_POWERCUT_REPLAY_H
#define USHER_TESTS_POWERCUT_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "powercut_journal.h"

#define POWERCUT_PAGE 4096

typedef struct powercut_entry {
    powercut_record rec;
    const uint8_t *payload;     /* rec.len bytes inside the loaded journal */
    size_t synced_at;           /* WRITE: index of its DSYNC_DONE, or SIZE_MAX */
} powercut_entry;

typedef struct powercut_journal {
    uint8_t *bytes;
    size_t nbytes;
    powercut_entry *entries;
    size_t n;
    unsigned nfiles;            /* watched files seen */
    size_t shared_maps;         /* POWERCUT_SHARED_MAP records (writes the journal cannot show) */
} powercut_journal;

/* Loads the journal at path; false (with a message on stderr) when it is
 * missing or malformed. */
bool powercut_journal_load(const char *path, powercut_journal *out);

void powercut_journal_free(powercut_journal *j);

/* Rebuilds file `file` as of cuts in increasing order. */
typedef struct powercut_rebuild {
    const powercut_journal *j;
    uint32_t file;
    uint8_t *synced;            /* the image up to synced_upto */
    size_t synced_len, synced_cap, synced_upto;
    uint8_t *image;             /* the last cut's image */
    size_t image_len, image_cap;
    bool ignore_dsync;          /* control runs: treat O_DSYNC writes as unsynced */
    bool forget_last_sync;      /* control runs: as if the file's last sync before a cut did nothing */
} powercut_rebuild;

void powercut_rebuild_init(powercut_rebuild *b, const powercut_journal *j, uint32_t file);

void powercut_rebuild_free(powercut_rebuild *b);

/* What one cut kept of the writes after the last sync. */
typedef struct powercut_cut_stats {
    size_t last_sync;           /* index of the file's last SYNC before the cut, or SIZE_MAX */
    size_t tail_writes, tail_applied, tail_torn, tail_dsynced;
} powercut_cut_stats;

/* Builds the image of a cut at record k (k >= the previous call's k) into
 * b->image, choosing the unsynced writes with *rng; torn: tear some of them
 * at page granularity. */
void powercut_rebuild_cut(powercut_rebuild *b, size_t k, uint64_t *rng, bool torn,
                          powercut_cut_stats *stats);

/* Writes b->image to path (created or truncated); false on an I/O error. */
bool powercut_rebuild_write(const powercut_rebuild *b, const char *path);

#endif
