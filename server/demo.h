/* --demo: a concert with three future performances of 50 seats, created
 * only when the store has no concert yet (checked inside the write
 * transaction, so several processes starting together create it once).
 * On a data dir whose demo performances have all passed (the demo concert
 * is concert 1, by its title and venue), three new future ones are added
 * the same way, so `usherd --demo` always has a sale to serve. */
#ifndef USHER_SERVER_DEMO_H
#define USHER_SERVER_DEMO_H

#include <stdbool.h>
#include <stdint.h>
#include "store.h"

#define DEMO_SEATS 50
#define DEMO_DATES 3

typedef struct demo_outcome {
    enum { DEMO_UNCHANGED, DEMO_CREATED, DEMO_RENEWED } what;
    uint64_t concert_id;                 /* CREATED / RENEWED */
    uint64_t schedule_ids[DEMO_DATES];   /* the performances added */
    int64_t first_starts_at_ms;          /* the earliest of them */
} demo_outcome;

/* Seeds the demo concert when the store is empty, or adds performances to
 * it when all of its own have passed; *out tells what it did. */
usher_err demo_seed(store *st, int64_t now_ms, demo_outcome *out);

#endif
