/* Process supervision for --workers N: the parent never opens the store (an
 * LMDB environment must not cross fork); it forks N workers that each run
 * server_run and listen on the same port with SO_REUSEPORT, forwards
 * SIGINT/SIGTERM to them, and exits when they have all stopped (stopping
 * the rest if one dies abnormally, so a supervisor sees the failure). */
#ifndef USHER_SERVER_WORKERS_H
#define USHER_SERVER_WORKERS_H

#include "config.h"

/* Holds a lock on the listen address for the life of the process (and its
 * workers), so a second, unrelated usherd cannot silently share the port
 * through SO_REUSEPORT. Returns the lock fd, or -1 with a message naming the
 * holder's pid on stderr. */
int workers_lock_port(const usher_config *cfg);

/* Runs cfg->workers processes (or serves in-process when 1). Returns the exit status. */
int workers_run(const usher_config *cfg);

#endif
