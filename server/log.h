/* Logging: one line per request, one per connection open/close, and
 * occasional operator messages, as text or JSON lines on stderr. Each line
 * is written with a single write(2) so processes sharing stderr never
 * interleave within a line. Secrets and tokens are never passed here. */
#ifndef USHER_SERVER_LOG_H
#define USHER_SERVER_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include "config.h"
#include "../protocol/errors.h"

typedef struct logger {
    log_level level;
    bool json;
    const char *instance;   /* "host:pid" */
} logger;

/* One request: method (or "-" before it is known), msgid, user ("-" when
 * none), result code and duration in µs. */
void log_request(const logger *lg, const char *method, uint32_t msgid,
                 const char *user, usher_err code, int64_t micros);

/* A connection opened or closed ("open"/"close"), with its id and peer. */
void log_conn(const logger *lg, const char *event, uint64_t conn_id, const char *peer);

/* A free-form operator message at a level (printf format). */
void log_msg(const logger *lg, log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
