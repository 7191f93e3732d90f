#include "errmap.h"
#include <stdio.h>

void errmap_message(logger *lg, const call *c, const char *method, usher_err err,
                    char *out, size_t cap)
{
    const char *base = usher_err_message(err);
    if (c && c->message[0] && !c->bad_param)
        snprintf(out, cap, "%s", c->message);
    else if (c && c->bad_param)
        snprintf(out, cap, "%s: %s", c->bad_param, c->detail ? c->detail : "is invalid");
    else if (c && c->detail)
        snprintf(out, cap, "%s: %s", base, c->detail);
    else
        snprintf(out, cap, "%s", base);
    if (err != USHER_ERR_INTERNAL && err != USHER_ERR_OVERLOADED && err != USHER_ERR_STORAGE_FULL &&
        err != USHER_ERR_UNAVAILABLE)
        return;
    /* A full disk or a flood refuses every request alike: one line per
     * method and code per interval, with the count, not one per request. */
    char key[LOG_LIMIT_KEY_MAX];
    snprintf(key, sizeof key, "failed:%s:%s", method ? method : "-", usher_err_name(err));
    log_limited(lg, key, err == USHER_ERR_OVERLOADED ? LOG_WARN : LOG_ERROR, "%s failed: %s (%s)",
                method ? method : "-", usher_err_name(err), out);
}
