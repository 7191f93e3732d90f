/* The one clock: wall-clock milliseconds since the Unix epoch, the same for
 * every process on the host, so stored expiry times mean the same to all. */
#ifndef USHER_SERVER_CLOCK_H
#define USHER_SERVER_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Wall-clock ms (CLOCK_REALTIME): what is stored and compared. */
static inline int64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic µs: for measuring how long a request took, never stored. */
static inline int64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
