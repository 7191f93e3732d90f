/* Fake servers for client tests: a 127.0.0.1 listener on a free port that
 * misbehaves on purpose (never answers, hangs up mid-call, sends stale
 * replies, garbage, oversized frames, or answers a batch in reverse order).
 * Each runs on its own thread and is built on protocol/ only. Use
 * fake_fixture_teardown as the cmocka teardown with the server in *state, so
 * a failed test still stops it. */
#ifndef USHER_TESTS_HARNESS_FAKE_H
#define USHER_TESTS_HARNESS_FAKE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum fake_mode {
    FAKE_SILENT,            /* never accepts: the kernel completes connects, nothing is ever answered */
    FAKE_CLOSE_AFTER_READ,  /* accepts, reads one request frame, hangs up */
    FAKE_STALE_THEN_ANSWER, /* per request: a reply to another msgid, a notification, then {"time": 1234} */
    FAKE_GARBAGE,           /* per request: a frame whose body is not msgpack */
    FAKE_OVERSIZED,         /* per request: a header announcing FAKE_OVERSIZED_LEN bytes */
    FAKE_REVERSED,          /* reads `batch` requests, then answers them last first with {"echo": msgid} */
    FAKE_FIXED_RESULT       /* per request: [1, msgid, nil, result] with the result given to fake_start_fixed */
} fake_mode;

#define FAKE_STALE_TIME 1234
#define FAKE_OVERSIZED_LEN 65537u
#define FAKE_LAST_REQUEST_CAP 4096u

typedef struct fake_server {
    int listen_fd;
    uint16_t port;
    fake_mode mode;
    unsigned batch;             /* FAKE_REVERSED */
    int stop_pipe[2];
    pthread_t thread;
    bool has_thread;
    unsigned connections;       /* accepted so far (read after fake_stop) */
    unsigned requests;          /* whole request frames read so far (read after fake_stop) */
    char *fixed_result;         /* FAKE_FIXED_RESULT: one packed msgpack object (owned) */
    size_t fixed_result_len;
    pthread_mutex_t last_lock;  /* guards last_request: see fake_last_request_has */
    uint8_t last_request[FAKE_LAST_REQUEST_CAP]; /* body of the last request, cut at the cap */
    size_t last_request_len;
} fake_server;

/* Starts a fake server; fails the running cmocka test when it cannot. */
fake_server *fake_start(fake_mode mode, unsigned batch);

/* Starts a FAKE_FIXED_RESULT server: every request is answered with the
 * msgpack object packed in result[0..len) (copied), whatever its method. */
fake_server *fake_start_fixed(const void *result, size_t len);

/* fake_start_fixed with the result given as JSON text (a test fails when
 * it is not JSON). */
fake_server *fake_start_fixed_json(const char *json);

/* True when the body of the last request read holds text byte for byte
 * (msgpack keeps method names and string values verbatim). Any time. */
bool fake_last_request_has(fake_server *fs, const char *text);

/* Stops the thread, closes every socket, frees. NULL is a no-op. */
void fake_stop(fake_server *fs);

/* cmocka teardown: fake_stop(*state). */
int fake_fixture_teardown(void **state);

#endif
