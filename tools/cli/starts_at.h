/* STARTS_AT as typed by an operator: epoch milliseconds ("1767225600000") or
 * a time relative to now ("+2d", "+3h", "+90m", "+30s", "+500ms").
 * Header-only because both usher-cli and usher-admin use it and usher-admin
 * links no usher-cli objects. */
#ifndef USHER_CLI_STARTS_AT_H
#define USHER_CLI_STARTS_AT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Parses text into epoch ms given the current time now_ms; false when it is
 * neither form (or overflows). */
static inline bool starts_at_parse(const char *text, int64_t now_ms, int64_t *out)
{
    static const struct { const char *suffix; int64_t ms; } units[] = {
        { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
    };
    bool relative = text[0] == '+';
    const char *digits = text + relative;
    if (*digits < '0' || *digits > '9')
        return false;
    char *end;
    errno = 0;
    long long value = strtoll(digits, &end, 10);
    if (errno)
        return false;
    if (!relative) {
        if (*end)
            return false;
        *out = value;
        return true;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (value > (INT64_MAX - now_ms) / units[i].ms)
                return false;
            *out = now_ms + value * units[i].ms;
            return true;
        }
    }
    return false;
}

#endif
