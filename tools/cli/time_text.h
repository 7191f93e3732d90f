/* Times for people: the protocol's epoch milliseconds as local wall-clock
 * text ("2026-12-02 11:09:13 KST"), in the zone of TZ (localtime_r), and
 * which result keys hold such times. */
#ifndef USHER_CLI_TIME_TEXT_H
#define USHER_CLI_TIME_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIME_TEXT_CAP 48

/* Writes epoch_ms as "YYYY-MM-DD HH:MM:SS ZONE" in local time; false when it
 * cannot be shown (out of range). */
bool time_text_local(int64_t epoch_ms, char *buf, size_t cap);

/* True when a result key holds epoch milliseconds: starts_at, expires_at,
 * active_until, paid_at, at, session_expires_at, time. */
bool time_text_is_time_key(const char *key, size_t len);

/* A json_pretty note (see json_pretty.h): the local time of a time key's
 * integer value. */
bool time_text_note(const char *key, size_t key_len, const char *value, size_t value_len,
                    char *note, size_t cap);

#endif
