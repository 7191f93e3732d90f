/* The one error mapper: turns a failed call into the reply's message text
 * and logs what an operator must see (INTERNAL, OVERLOADED, STORAGE_FULL; at
 * most one line per method and code a second, with a count: log_limited). Every error
 * reply of usherd is shaped here and packed by msg_pack_response_error. */
#ifndef USHER_SERVER_ERRMAP_H
#define USHER_SERVER_ERRMAP_H

#include <stddef.h>
#include "log.h"
#include "method.h"

/* Writes the message for err into out: "<param>: <why>" for parameter
 * errors, c->message when a handler formatted one (call_fail: "concert 99
 * not found"), the catalogue text otherwise (plus c->detail when set). c may
 * be NULL (errors before a method was known). */
void errmap_message(logger *lg, const call *c, const char *method, usher_err err,
                    char *out, size_t cap);

#endif
