#include "errmap.h"
#include <stdio.h>

void errmap_message(logger *lg, const call *c, const char *method, usher_err err,
                    char *out, size_t cap)
{
    const char *base = usher_err_message(err);
    if (c && c->bad_param)
        snprintf(out, cap, "%s: %s", c->bad_param, c->detail ? c->detail : "is invalid");
    else if (c && c->detail)
        snprintf(out, cap, "%s: %s", base, c->detail);
    else
        snprintf(out, cap, "%s", base);
    if (err == USHER_ERR_INTERNAL || err == USHER_ERR_OVERLOADED || err == USHER_ERR_STORAGE_FULL)
        log_msg(lg, err == USHER_ERR_OVERLOADED ? LOG_WARN : LOG_ERROR, "%s failed: %s (%s)",
                method ? method : "-", usher_err_name(err), out);
}
