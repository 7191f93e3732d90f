/* Parameter decoders shared by every handler and filter: each reads one
 * named parameter of c->params, checks its type and range, and on failure
 * returns INVALID_ARGUMENT with c->bad_param and c->detail set, so the error
 * mapper can say which parameter was wrong and why. */
#ifndef USHER_SERVER_PARAMS_H
#define USHER_SERVER_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "method.h"

/* Largest integer id accepted anywhere (ids are positive int64). */
#define PARAM_ID_MAX INT64_MAX

/* A required positive integer id (1..INT64_MAX). */
usher_err param_id(call *c, const char *name, uint64_t *out);

/* An optional positive integer id; *out = 0 when absent or nil. */
usher_err param_id_opt(call *c, const char *name, uint64_t *out);

/* A required integer in [min, max]. */
usher_err param_int(call *c, const char *name, int64_t min, int64_t max, int64_t *out);

/* An optional integer in [min, max]; *present tells whether it was given. */
usher_err param_int_opt(call *c, const char *name, int64_t min, int64_t max,
                        int64_t *out, bool *present);

/* A required string of min..max bytes (not NUL-terminated). */
usher_err param_str(call *c, const char *name, size_t min, size_t max,
                    const char **s, size_t *len);

/* An optional string; *s = NULL and *len = 0 when absent or nil. */
usher_err param_str_opt(call *c, const char *name, size_t min, size_t max,
                        const char **s, size_t *len);

/* A required user id: a lowercase UUID string (8-4-4-4-12). */
usher_err param_user_id(call *c, const char *name, user_id *out);

/* A required array of min..max positive ids, copied into out. */
usher_err param_id_array(call *c, const char *name, size_t min, size_t max,
                         uint64_t *out, size_t *n);

/* An optional array of exactly n integers in [min, max]; *present set. */
usher_err param_int_array_opt(call *c, const char *name, size_t n, int64_t min, int64_t max,
                              int64_t *out, bool *present);

/* The paging parameter `limit`: default when absent, capped at cap, 0 or
 * less INVALID_ARGUMENT. */
usher_err param_limit(call *c, size_t dflt, size_t cap, size_t *out);

/* True when s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
bool utf8_valid(const char *s, size_t len);

/* Sets c->bad_param/c->detail and returns INVALID_ARGUMENT. */
usher_err param_fail(call *c, const char *name, const char *detail);

/* Formats the whole reply message of a refusal into c->message (the
 * catalogue text is replaced: "concert 99 not found") and returns err. */
usher_err call_fail(call *c, usher_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
