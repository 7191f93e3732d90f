/* Status codes: names and texts of usher_status, and the wire names of the
 * result enums. The catalogue part comes from errors.def only. */
#include "usher_internal.h"

#include <stdlib.h>

typedef struct status_row {
    const char *name;
    const char *text;
} status_row;

static const status_row catalogue_rows[] = {
#define USHER_ERROR(name, num, msg) [num] = { #name, msg },
#include "errors.def"
#undef USHER_ERROR
};

static const status_row transport_rows[] = {
    [USHER_EIO - USHER_EIO] = { "EIO", "input/output error on the connection" },
    [USHER_ETIMEOUT - USHER_EIO] = { "ETIMEOUT", "timed out" },
    [USHER_EPROTO - USHER_EIO] = { "EPROTO", "protocol violation by the peer" },
    [USHER_ECLOSED - USHER_EIO] = { "ECLOSED", "connection closed" },
    [USHER_ENOMEM - USHER_EIO] = { "ENOMEM", "out of memory" },
    [USHER_EARG - USHER_EIO] = { "EARG", "bad argument to a libusher function" },
};

static const status_row *status_find(usher_status status)
{
    size_t n_catalogue = sizeof catalogue_rows / sizeof catalogue_rows[0];
    size_t n_transport = sizeof transport_rows / sizeof transport_rows[0];
    if ((int)status >= 0 && (size_t)status < n_catalogue && catalogue_rows[status].name)
        return &catalogue_rows[status];
    if (status >= USHER_EIO && (size_t)(status - USHER_EIO) < n_transport)
        return &transport_rows[status - USHER_EIO];
    return NULL;
}

const char *usher_errstr(usher_status status)
{
    const status_row *row = status_find(status);
    return row ? row->text : "unknown status";
}

const char *usher_status_name(usher_status status)
{
    const status_row *row = status_find(status);
    return row ? row->name : "UNKNOWN";
}

usher_status status_from_err(usher_err err)
{
    return (usher_status)err;  /* both enums come from errors.def, same numbers */
}

void usher_free(void *ptr)
{
    free(ptr);
}

static const char *name_at(const char *const *names, size_t count, int value)
{
    if (value <= 0 || (size_t)value >= count)
        return "UNKNOWN";
    return names[value];
}

static const char *const queue_state_names[] = { "UNKNOWN", "WAITING", "ACTIVE", "EXPIRED" };
static const char *const reservation_state_names[] = { "UNKNOWN", "HELD", "CONFIRMED", "EXPIRED", "CANCELLED" };
static const char *const entry_kind_names[] = { "UNKNOWN", "CHARGE", "PAYMENT" };

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *usher_queue_state_name(int state)
{
    return name_at(queue_state_names, COUNT_OF(queue_state_names), state);
}

const char *usher_reservation_state_name(int state)
{
    return name_at(reservation_state_names, COUNT_OF(reservation_state_names), state);
}

const char *usher_entry_kind_name(int kind)
{
    return name_at(entry_kind_names, COUNT_OF(entry_kind_names), kind);
}
