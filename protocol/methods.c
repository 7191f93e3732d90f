#include "methods.h"
#include <string.h>

const usher_method_doc usher_method_docs[USHER_METHOD__COUNT] = {
#define USHER_METHOD(id, name, summary, params, result) \
    [USHER_METHOD_##id] = { name, summary, params, result },
#include "methods.def"
#undef USHER_METHOD
};

const usher_method_doc *usher_method_find(const char *name, size_t len)
{
    for (size_t i = 0; i < USHER_METHOD__COUNT; i++) {
        const char *n = usher_method_docs[i].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return &usher_method_docs[i];
    }
    return NULL;
}
