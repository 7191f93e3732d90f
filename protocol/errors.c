#include "errors.h"
#include <string.h>

static const struct { const char *name; const char *message; } catalogue[] = {
#define USHER_ERROR(name, num, msg) [num] = { #name, msg },
#include "errors.def"
#undef USHER_ERROR
};

static bool in_catalogue(usher_err err)
{
    return (int)err >= 0 && err < USHER_ERR__COUNT && catalogue[err].name != NULL;
}

const char *usher_err_name(usher_err err)
{
    return in_catalogue(err) ? catalogue[err].name : catalogue[USHER_ERR_INTERNAL].name;
}

const char *usher_err_message(usher_err err)
{
    return in_catalogue(err) ? catalogue[err].message : catalogue[USHER_ERR_INTERNAL].message;
}

bool usher_err_from_name(const char *name, size_t len, usher_err *out)
{
    for (int i = 0; i < USHER_ERR__COUNT; i++) {
        const char *n = catalogue[i].name;
        if (n && strlen(n) == len && memcmp(n, name, len) == 0) {
            *out = (usher_err)i;
            return true;
        }
    }
    return false;
}
