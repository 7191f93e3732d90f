/* Logging: one line per request, one per connection open/close, and
 * occasional operator messages, as text or JSON lines on stderr. Request and
 * connection lines are gathered and written together at the end of each
 * loop turn (log_flush), at most LOG_BATCH_BYTES (PIPE_BUF) of whole lines
 * per write(2), so processes sharing stderr never interleave within a line
 * and a busy server makes one write per turn, not one per request. An
 * operator message first writes what is gathered, then itself, at once.
 * Repeated operator messages go through log_limited: one line per key per
 * LOG_LIMIT_INTERVAL_MS, the rest counted and reported in one later line.
 * A logger is used by one thread; a thread without one (the store's error
 * helper, under its own lock) writes whole lines in the same format with
 * log_line_write. Every line carries a timestamp; under --log-json each is
 * one JSON object with at least "ts", "instance", "level", "event" and "msg".
 * Secrets and tokens are never passed here. */
#ifndef USHER_SERVER_LOG_H
#define USHER_SERVER_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include "config.h"
#include "../protocol/errors.h"

#define LOG_BATCH_BYTES 4096   /* PIPE_BUF on Linux: one write(2) is atomic on a pipe */
#define LOG_TEXT_MAX 700       /* bytes of one operator message's text */

/* ---- the limiter: repeated messages become one line per interval ----
 * Pure bookkeeping (no I/O, no clock, no lock): the caller passes the time
 * and writes what it is told to, so the logger (one thread) and the store's
 * stderr helper (two threads, under its own mutex) share it.
 * Each occurrence of a key is either written as its own line or counted in
 * exactly one later line's "(N more like this in the last X s)". */
#define LOG_LIMIT_INTERVAL_MS 1000
#define LOG_LIMIT_KEYS 32        /* distinct keys tracked; the stalest idle one is reused */
#define LOG_LIMIT_KEY_MAX 64

typedef struct log_limit_slot {
    char key[LOG_LIMIT_KEY_MAX];  /* "" when free */
    int64_t written_ms;           /* when its last line was written */
    uint64_t unwritten;           /* occurrences since then, not written */
    log_level level;              /* of the latest unwritten one */
    char latest[LOG_TEXT_MAX];    /* text of the latest unwritten one */
} log_limit_slot;

typedef struct log_limits {
    log_limit_slot slot[LOG_LIMIT_KEYS];
    unsigned slots_unwritten;     /* slots with unwritten > 0: 0 makes a sweep free */
    uint64_t other_unwritten;     /* occurrences of keys that found every slot busy */
    int64_t other_since_ms;
} log_limits;

/* One occurrence of key (with its text and level) at now_ms (monotonic).
 * Returns true when the caller writes it now; *more then gets how many
 * occurrences of key went unwritten before it (0: none; the line carries
 * "(N more like this in the last X s)" with X = *span_ms / 1000). Returns
 * false when it was counted instead. */
bool log_limits_note(log_limits *l, const char *key, log_level level, const char *text,
                     int64_t now_ms, uint64_t *more, int64_t *span_ms);

/* The lines owed for keys whose interval has passed with occurrences
 * unwritten: calls write_line(ctx, level, latest text, more, span_ms) for
 * each (more counts the others; 0 when the latest was the only one) and
 * clears them. Occurrences counted without a slot are reported with text
 * NULL and more = their count. */
typedef void log_limits_writer(void *ctx, log_level level, const char *text, uint64_t more,
                               int64_t span_ms);
void log_limits_sweep(log_limits *l, int64_t now_ms, log_limits_writer *write_line, void *ctx);

/* Formats the suffix " (N more like this in the last X s)" into out (empty
 * when more is 0); returns its length. Every limited line uses it. */
size_t log_limits_suffix(char *out, size_t cap, uint64_t more, int64_t span_ms);

/* How lines look: what a thread with no logger needs to write them. */
typedef struct log_format {
    bool json;
    const char *instance;   /* "host:pid" */
} log_format;

/* Writes one operator message line of text at level now, with one write(2)
 * (whole lines: processes and threads sharing stderr never interleave within
 * one). Any thread; the caller filters by level. */
void log_line_write(const log_format *f, log_level level, const char *text);

typedef struct logger {
    log_level level;
    bool json;
    const char *instance;   /* "host:pid" */
    size_t pending_len;     /* bytes of whole lines gathered in pending */
    char pending[LOG_BATCH_BYTES];
    log_limits limits;      /* for log_limited */
} logger;

/* One request on connection conn_id (as its open and close lines say):
 * method (or "-" before it is known), msgid, user ("-" when none), result
 * code and duration in µs. */
void log_request(logger *lg, uint64_t conn_id, const char *method, uint32_t msgid,
                 const char *user, usher_err code, int64_t micros);

/* True when --log-level debug: callers test it before gathering figures
 * for a debug line, so a quieter server does no work for them. */
static inline bool log_debug_on(const logger *lg) { return lg->level >= LOG_DEBUG; }

/* A connection opened or closed ("open"/"close"), with its id and peer. */
void log_conn(logger *lg, const char *event, uint64_t conn_id, const char *peer);

/* A free-form operator message at a level (printf format). */
void log_msg(logger *lg, log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* log_msg for a message that may repeat without bound (a failed accept, a
 * refused request): the first occurrence of key in an interval is written,
 * later ones are counted and reported by the next line of key written after
 * the interval, or by log_flush once it has passed. key names the kind
 * ("accept:EMFILE", "failed:seat.reserve:STORAGE_FULL"), not the instance:
 * a detail that varies belongs in the text, not the key. */
void log_limited(logger *lg, const char *key, log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes the gathered lines now, and the counts log_limited owes for
 * intervals that have passed (the server calls it once per loop turn, which
 * its timers make at least once a second, and before it exits). */
void log_flush(logger *lg);

#endif
