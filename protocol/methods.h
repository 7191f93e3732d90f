/* The list of protocol methods, shared by server, client and tools.
 * Rows come from methods.def only. */
#ifndef USHER_PROTOCOL_METHODS_H
#define USHER_PROTOCOL_METHODS_H

#include <stddef.h>

typedef enum usher_method_id {
#define USHER_METHOD(id, name, summary, params, result) USHER_METHOD_##id,
#include "methods.def"
#undef USHER_METHOD
    USHER_METHOD__COUNT
} usher_method_id;

typedef struct usher_method_doc {
    const char *name;     /* wire name, "seat.reserve" */
    const char *summary;  /* one line */
    const char *params;   /* "{token, schedule_id, seat_no}" */
    const char *result;   /* "{reservation_id, ...}" */
} usher_method_doc;

/* All methods, in methods.def order; USHER_METHOD__COUNT rows. */
extern const usher_method_doc usher_method_docs[USHER_METHOD__COUNT];

/* Row for a wire name of len bytes, or NULL. */
const usher_method_doc *usher_method_find(const char *name, size_t len);

#endif
