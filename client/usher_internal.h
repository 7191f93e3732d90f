/* libusher internals shared by the files of client/ only (never installed).
 * Layers: conn.c (sockets), request.c (request frames), reader.c (replies),
 * then sync.c / typed.c and async.c on top. Nothing here keeps global state. */
#ifndef USHER_CLIENT_INTERNAL_H
#define USHER_CLIENT_INTERNAL_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "usher.h"
#include "errors.h"

#define USHER_DETAIL_MAX 256  /* bytes of a transport detail message */
#define USHER_READ_CHUNK 65536u

/* ---- status.c ---- */

/* The catalogue code as a usher_status (same number). */
usher_status status_from_err(usher_err err);

/* ---- conn.c: blocking sockets with deadlines (sync client) and non-blocking connect (async) ---- */

/* Monotonic clock in ms. */
int64_t conn_now_ms(void);

/* Deadline for a timeout from now (timeout_ms <= 0: -1, no deadline). */
int64_t conn_deadline(int timeout_ms);

/* Resolves host:port and connects, each attempt bounded by deadline (-1: none).
 * *fd is a connected, non-blocking, close-on-exec TCP socket. EARG, EIO or ETIMEOUT, with detail filled. */
usher_status conn_open(const char *host, int port, int64_t deadline, int *fd, char *detail, size_t detail_len);

/* Resolves host:port and starts a non-blocking connect: *fd set, *in_progress when it has to be waited for
 * (writable, then conn_connect_result). EARG or EIO with detail filled. */
usher_status conn_start(const char *host, int port, int *fd, bool *in_progress, char *detail, size_t detail_len);

/* Outcome of a non-blocking connect that became writable: OK or EIO (detail filled). */
usher_status conn_connect_result(int fd, char *detail, size_t detail_len);

/* Sends all len bytes before deadline (MSG_NOSIGNAL, poll on EAGAIN). OK, EIO, ECLOSED or ETIMEOUT. */
usher_status conn_send_all(int fd, const void *buf, size_t len, int64_t deadline, char *detail, size_t detail_len);

/* Waits until readable, then reads up to cap bytes into buf (*got > 0). OK, EIO, ECLOSED (peer closed) or ETIMEOUT. */
usher_status conn_recv_some(int fd, void *buf, size_t cap, int64_t deadline, size_t *got,
                            char *detail, size_t detail_len);

/* ---- request.c: request frames ---- */

/* Packs params into a msgpack map in sb: from an object (NULL: empty map), checking it is a map with string keys.
 * EARG when it is not. */
usher_status request_params_from_object(msgpack_sbuffer *sb, const msgpack_object *params);

/* Checks that len bytes are one msgpack map (string keys) or nil. OK or EARG. */
usher_status request_params_check(const void *params, size_t len);

/* Packs JSON text (NULL or "" for {}) as a msgpack map into sb. EARG (detail names the offset) when it is not one. */
usher_status request_params_from_json(msgpack_sbuffer *sb, const char *json, char *detail, size_t detail_len);

/* Appends one whole request frame [0, msgid, method, params] to sb; params are checked, packed bytes (NULL: {}).
 * EARG for a NULL or empty method or a frame above FRAME_MAX_LIMIT, ENOMEM. */
usher_status request_frame_append(msgpack_sbuffer *sb, uint32_t msgid, const char *method,
                                  const void *params, size_t params_len);

/* Fills id with a random request_id (32 hex digits) from getrandom. OK or EIO. */
usher_status request_id_make(char id[USHER_REQUEST_ID_MAX + 1]);

/* Next msgid after *counter: never 0. */
uint32_t request_next_msgid(uint32_t *counter);

/* ---- sync.c: state shared with typed.c ---- */

/* Records a failure of a call on c without touching the connection (EARG, ENOMEM); returns st. */
usher_status client_note_failure(usher_client *c, usher_status st, const char *detail);

/* A reply whose result broke the protocol (missing or mistyped field): the connection is dropped
 * as for any EPROTO; returns USHER_EPROTO. */
usher_status client_fail_proto(usher_client *c, const char *detail);

/* ---- sync.c ---- */

/* The notification callback installed now (for one that is put in front of it for a while). */
void client_notify_get(const usher_client *c, usher_notify_cb **cb, void **privdata);

/* ---- typed_codec.c: params of typed calls out, result fields in ---- */

/* Params map under construction: entries are counted as they are packed, so absent optional ones are omitted. */
typedef struct params_builder {
    msgpack_sbuffer body;   /* the packed key/value pairs */
    msgpack_packer pk;
    uint32_t count;
} params_builder;

void pb_init(params_builder *pb);
/* Adds key: a string (omitted when v is NULL). */
void pb_str(params_builder *pb, const char *key, const char *v);
/* Adds key: an unsigned integer, always / omitted when v is 0. */
void pb_u64(params_builder *pb, const char *key, uint64_t v);
void pb_u64_opt(params_builder *pb, const char *key, uint64_t v);
/* Adds key: a signed integer. */
void pb_i64(params_builder *pb, const char *key, int64_t v);
/* Adds key: an array of n integers. */
void pb_u64_array(params_builder *pb, const char *key, const uint64_t *v, size_t n);
void pb_i64_array(params_builder *pb, const char *key, const int64_t *v, size_t n);
/* Sends method with the built params on c and frees the builder. usher_call_packed's results. */
usher_status pb_call(params_builder *pb, usher_client *c, const char *method, usher_reply **reply);

/* Reads fields of a result map; the first missing or mistyped field is remembered in bad
 * and later reads return zero values, so a decoder checks once at its end. */
typedef struct fields {
    const char *bad;  /* name of the first bad field, or NULL */
    bool nomem;       /* bad because a copy could not be allocated */
} fields;

uint64_t f_u64(fields *f, const msgpack_object *map, const char *key);
int64_t f_i64(fields *f, const msgpack_object *map, const char *key);
/* Optional: absent or nil gives the value absent. */
uint64_t f_u64_opt(fields *f, const msgpack_object *map, const char *key, uint64_t absent);
int64_t f_i64_opt(fields *f, const msgpack_object *map, const char *key, int64_t absent);
bool f_bool(fields *f, const msgpack_object *map, const char *key);
/* A malloc'd copy of a string field (an integer is accepted and written in decimal). */
char *f_str(fields *f, const msgpack_object *map, const char *key);
/* As f_str; NULL when absent or nil. */
char *f_str_opt(fields *f, const msgpack_object *map, const char *key);
/* An array field (its elements via ->via.array). NULL and bad set when missing. */
const msgpack_object *f_array(fields *f, const msgpack_object *map, const char *key);
/* A string field mapped through name_of(1..max); 0 (UNKNOWN) for names not in the list. */
int f_enum(fields *f, const msgpack_object *map, const char *key, const char *(*name_of)(int), int max);
/* Element i of an array as a map (bad set otherwise). */
const msgpack_object *f_elem_map(fields *f, const msgpack_object *array, uint32_t i, const char *what);

/* ---- reader.c ---- */

/* The reader's effective max frame for a requested one (0: default; clamped to [MIN, FRAME_MAX_LIMIT]). */
size_t reader_clamp_max_frame(size_t max_frame);

#endif
