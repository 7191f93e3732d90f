/* --demo: a concert with three future performances of 50 seats, created
 * only when the store has no concert yet (checked inside the write
 * transaction, so several processes starting together create it once). */
#ifndef USHER_SERVER_DEMO_H
#define USHER_SERVER_DEMO_H

#include <stdbool.h>
#include <stdint.h>
#include "store.h"

#define DEMO_SEATS 50

/* Seeds the demo concert when the store is empty; *created tells whether it did. */
usher_err demo_seed(store *st, int64_t now_ms, bool *created);

#endif
