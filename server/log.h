/* Logging: one line per request, one per connection open/close, and
 * occasional operator messages, as text or JSON lines on stderr. Request and
 * connection lines are gathered and written together at the end of each
 * loop turn (log_flush), at most LOG_BATCH_BYTES (PIPE_BUF) of whole lines
 * per write(2), so processes sharing stderr never interleave within a line
 * and a busy server makes one write per turn, not one per request. An
 * operator message first writes what is gathered, then itself, at once.
 * A logger is used by one thread. Secrets and tokens are never passed here. */
#ifndef USHER_SERVER_LOG_H
#define USHER_SERVER_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include "config.h"
#include "../protocol/errors.h"

#define LOG_BATCH_BYTES 4096   /* PIPE_BUF on Linux: one write(2) is atomic on a pipe */

typedef struct logger {
    log_level level;
    bool json;
    const char *instance;   /* "host:pid" */
    size_t pending_len;     /* bytes of whole lines gathered in pending */
    char pending[LOG_BATCH_BYTES];
} logger;

/* One request: method (or "-" before it is known), msgid, user ("-" when
 * none), result code and duration in µs. */
void log_request(logger *lg, const char *method, uint32_t msgid,
                 const char *user, usher_err code, int64_t micros);

/* A connection opened or closed ("open"/"close"), with its id and peer. */
void log_conn(logger *lg, const char *event, uint64_t conn_id, const char *peer);

/* A free-form operator message at a level (printf format). */
void log_msg(logger *lg, log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the gathered lines now (the server calls it once per loop turn and
 * before it exits). */
void log_flush(logger *lg);

#endif
