/* Bounded msgpack decoding, envelopes, and helpers to read and write them.
 * msgpack-c allocates straight from counts on the wire, so nothing reaches
 * its unpacker before msg_check has walked the bytes: every declared string
 * length and container count is checked against the bytes left in the frame
 * and against the limits below, with no allocation. */
#ifndef USHER_PROTOCOL_MSG_H
#define USHER_PROTOCOL_MSG_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "errors.h"

#define MSG_MAX_DEPTH_DEFAULT 16u     /* nesting of arrays and maps */
#define MSG_MAX_ELEMS_DEFAULT 4096u   /* elements of one array, or pairs of one map */

typedef struct msg_limits {
    size_t max_depth;   /* containers nested deeper than this are refused */
    size_t max_elems;   /* one container with more elements is refused */
} msg_limits;

/* Default limits (MSG_MAX_*_DEFAULT). */
msg_limits msg_limits_default(void);

/* OK when buf[0..len) is exactly one well-formed msgpack object within lim;
 * BAD_FRAME otherwise (truncated, trailing bytes, reserved byte 0xc1, a count
 * or length beyond the bytes left, too deep, too many elements). No allocation. */
usher_err msg_check(const uint8_t *buf, size_t len, const msg_limits *lim);

/* msg_check, then unpacks into zone (caller owns it). BAD_FRAME or OK. */
usher_err msg_decode(const uint8_t *buf, size_t len, const msg_limits *lim,
                     msgpack_zone *zone, msgpack_object *out);

/* ---- reading objects ---- */

/* Value of key in a map object (string keys); NULL when absent or not a map. */
const msgpack_object *msg_map_get(const msgpack_object *map, const char *key);

/* True when o is valid request params: nil, or a map whose keys are all strings. */
bool msg_params_valid(const msgpack_object *o);

/* True when o is a string equal to s. */
bool msg_str_eq(const msgpack_object *o, const char *s);

/* ---- envelopes ----
 * request      [0, msgid, method, params]
 * response     [1, msgid, error, result]
 * notification [2, method, params] */
enum { MSG_TYPE_REQUEST = 0, MSG_TYPE_RESPONSE = 1, MSG_TYPE_NOTIFICATION = 2 };

typedef struct msg_request {
    uint32_t msgid;
    const char *method;           /* not NUL-terminated */
    size_t method_len;
    const msgpack_object *params; /* a map, or NULL for nil */
} msg_request;

/* Parses a request envelope. BAD_REQUEST when o is not one (wrong arity, type
 * tag, msgid not a uint32, method not a string, params neither map nor nil, or
 * a non-string key in params). *msgid_known tells whether out->msgid is valid
 * even on failure. */
usher_err msg_parse_request(const msgpack_object *o, msg_request *out, bool *msgid_known);

typedef struct msg_response {
    uint32_t msgid;
    usher_err err;                 /* OK on success; catalogue code otherwise
                                      (INTERNAL when the name is unknown) */
    const char *err_name; size_t err_name_len;       /* wire name, or NULL */
    const char *err_message; size_t err_message_len; /* or NULL */
    const msgpack_object *result;  /* the result map on success, else NULL */
} msg_response;

typedef struct msg_notification {
    const char *method; size_t method_len;
    const msgpack_object *params;  /* map or NULL */
} msg_notification;

/* Parses a server-to-client message: sets *type to RESPONSE or NOTIFICATION
 * and fills the matching struct. BAD_REQUEST when o is neither. */
usher_err msg_parse_reply(const msgpack_object *o, int *type,
                          msg_response *resp, msg_notification *note);

/* ---- writing frames ----
 * A frame is built in a msgpack_sbuffer: msg_frame_begin reserves the 4 header
 * bytes, the caller packs one object, msg_frame_end patches the length.
 * Several frames may follow one another in one sbuffer. */

/* Reserves a header; returns the offset to pass to msg_frame_end. */
size_t msg_frame_begin(msgpack_sbuffer *sb);

/* Patches the header at offset; returns the body length. */
size_t msg_frame_end(msgpack_sbuffer *sb, size_t offset);

/* Packs [0, msgid, method, ...]; the caller then packs params (a map or nil). */
void msg_pack_request_head(msgpack_packer *pk, uint32_t msgid, const char *method);

/* Packs [1, msgid, nil, ...]; the caller then packs the result map. */
void msg_pack_response_ok_head(msgpack_packer *pk, uint32_t msgid);

/* Packs a whole error response [1, msgid, {"code","message","num"}, nil].
 * message NULL means the catalogue's default message. */
void msg_pack_response_error(msgpack_packer *pk, uint32_t msgid, usher_err err,
                             const char *message);

/* Packs a NUL-terminated string (or nil when s is NULL). */
void msg_pack_cstr(msgpack_packer *pk, const char *s);

/* Packs a string of n bytes. */
void msg_pack_strn(msgpack_packer *pk, const char *s, size_t n);

/* ---- JSON bridge (for shells and tests) ---- */

/* Writes o as JSON text into sb (binary strings as "base64:..." text). */
void msg_to_json(const msgpack_object *o, msgpack_sbuffer *sb, bool pretty);

/* Packs JSON text as msgpack (objects -> maps, integers -> ints, other
 * numbers -> float64). INVALID_ARGUMENT on bad JSON (*err_at = byte offset). */
usher_err msg_from_json(const char *json, size_t len, msgpack_packer *pk, size_t *err_at);

#endif
