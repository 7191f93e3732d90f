/* Notifications ([2, method, params]) read from a harness connection, for
 * the queue.watch tests. A connection used with harness_read_note should
 * make no calls while notes are expected: a response read here fails the
 * test (harness_read_reply, for its part, skips notifications). Include
 * <cmocka.h> first. */
#ifndef USHER_TESTS_HARNESS_NOTIFY_H
#define USHER_TESTS_HARNESS_NOTIFY_H

#include "harness.h"

typedef struct harness_note {
    char method[40];              /* "queue.update", ... */
    const msgpack_object *params; /* the params map */
    int64_t at_ms;                /* monotonic ms when it was read */
    msgpack_zone *zone;
    uint8_t *body;
} harness_note;

/* Waits up to timeout_ms for the next notification on c. HARNESS_IO_OK with
 * *out filled (free with harness_note_free), or TIMEOUT / CLOSED / ERROR. */
harness_io harness_read_note(harness_conn *c, int timeout_ms, harness_note *out);

/* harness_read_note that skips responses instead of failing (a connection
 * that pipelined requests and reads their replies only now). */
harness_io harness_read_note_skipping(harness_conn *c, int timeout_ms, harness_note *out);

/* Reads notifications until one of method arrives (others are dropped)
 * within timeout_ms; fails the test otherwise. */
void harness_expect_note(harness_conn *c, const char *method, int timeout_ms, harness_note *out);

/* True when the note's params have key "token" equal to token. */
bool harness_note_token_is(const harness_note *n, const char *token);

void harness_note_free(harness_note *n);

#endif
