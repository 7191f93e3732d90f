/* The options that change a concert's waiting room (admin.queue.set), as
 * usher-admin's `queue set` and usher-cli's `admin queue set` take them:
 * --max-active N (0..100000, 0 = usherd's --max-active), --rate PER_MIN
 * (0..1000000, 0 = no limit), --paused true|false. One parser and one
 * packer, so both tools accept and send the same. */
#ifndef USHER_TOOLS_QUEUE_CONTROLS_H
#define USHER_TOOLS_QUEUE_CONTROLS_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUEUE_CONTROLS_MAX_ACTIVE_MAX 100000
#define QUEUE_CONTROLS_RATE_MAX 1000000

typedef struct queue_controls {
    bool has_max_active, has_rate, has_paused;
    int64_t max_active;
    int64_t admit_rate_per_min;
    bool paused;
} queue_controls;

/* Parses argv[0..argc) as the options above (at least one) into *out;
 * false with the reason in err (cap bytes) naming the option. */
bool queue_controls_parse(int argc, char **argv, queue_controls *out, char *err, size_t cap);

/* How many params queue_controls_pack adds. */
uint32_t queue_controls_count(const queue_controls *q);

/* Packs the given controls as params (max_active, admit_rate_per_min, paused). */
void queue_controls_pack(msgpack_packer *pk, const queue_controls *q);

#endif
