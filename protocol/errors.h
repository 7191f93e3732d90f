/* Error catalogue shared by server and client.
 * Every function in Usher that can fail returns a usher_err; the rows come
 * from errors.def only, so names, numbers and messages cannot drift. */
#ifndef USHER_PROTOCOL_ERRORS_H
#define USHER_PROTOCOL_ERRORS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum usher_err {
#define USHER_ERROR(name, num, msg) USHER_ERR_##name = num,
#include "errors.def"
#undef USHER_ERROR
    USHER_ERR__COUNT
} usher_err;

/* Wire name of a code ("SEAT_UNAVAILABLE"); "INTERNAL" for out-of-range values. */
const char *usher_err_name(usher_err err);

/* Default human message of a code. */
const char *usher_err_message(usher_err err);

/* Code for a wire name of len bytes; false when the name is not in the catalogue. */
bool usher_err_from_name(const char *name, size_t len, usher_err *out);

#endif
