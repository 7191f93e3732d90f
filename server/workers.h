/* Process supervision for --workers N: the parent never opens the store (an
 * LMDB environment must not cross fork); it forks N workers that each run
 * server_run and listen on the same port with SO_REUSEPORT, and supervises
 * them: a worker that dies (any exit but status 0) while the pool is not
 * stopping is replaced after a backoff, so one crash never ends the sale;
 * repeated fast deaths (a crash loop) make the parent give up, stop the
 * others and exit 1 so an outer supervisor sees the failure. SIGINT/SIGTERM
 * to the parent stop every worker gracefully; nothing is replaced then.
 * The parent's only state is its slot table; it reacts to signals through
 * sigtimedwait, never in a handler. */
#ifndef USHER_SERVER_WORKERS_H
#define USHER_SERVER_WORKERS_H

#include <stdbool.h>
#include <stdint.h>
#include "config.h"

#define WORKER_SLOTS_MAX 64            /* the ceiling of --workers */
#define WORKER_FAST_DEATH_MS 10000     /* a worker dying younger than this died "fast" */
#define WORKER_RESTART_FIRST_MS 100    /* delay before replacing after a first fast death */
#define WORKER_RESTART_MAX_MS 3200     /* the delay doubles per fast death in a row, up to this */
#define WORKER_GIVE_UP_DEATHS 5        /* this many fast deaths ... */
#define WORKER_GIVE_UP_WINDOW_MS 60000 /* ... within this window end the pool */

/* Recent fast deaths across the pool (a ring of their times). */
typedef struct worker_deaths {
    int64_t at_ms[WORKER_GIVE_UP_DEATHS];
    unsigned count, next;
} worker_deaths;

/* Delay before replacing a worker whose slot has died fast `fast_in_a_row`
 * times in a row (0 after a worker that lived past WORKER_FAST_DEATH_MS:
 * replaced at once). */
int64_t worker_restart_delay_ms(unsigned fast_in_a_row);

/* Records the death, at now_ms (monotonic), of a worker that lived lived_ms.
 * Returns true when it is the WORKER_GIVE_UP_DEATHS-th fast death within
 * WORKER_GIVE_UP_WINDOW_MS: the pool must give up. */
bool worker_deaths_note(worker_deaths *d, int64_t lived_ms, int64_t now_ms);

/* Holds a lock on the listen address for the life of the process (and its
 * workers), so a second, unrelated usherd cannot silently share the port
 * through SO_REUSEPORT. Returns the lock fd, or -1 with a message naming the
 * holder's pid on stderr. */
int workers_lock_port(const usher_config *cfg);

/* Runs cfg->workers processes (or serves in-process when 1). Returns the
 * exit status: 0 after a graceful stop, 1 when the pool gave up (or the
 * single process failed). */
int workers_run(const usher_config *cfg);

#endif
