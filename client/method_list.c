/* The protocol's method list for applications (help, completion), generated
 * from methods.def like the rest of Usher's copies of it. */
#include "usher_internal.h"

static const usher_method_info method_rows[] = {
#define USHER_METHOD(id, name, summary, params, result) { name, summary, params, result },
#include "methods.def"
#undef USHER_METHOD
};

size_t usher_method_count(void)
{
    return sizeof method_rows / sizeof method_rows[0];
}

const usher_method_info *usher_method_at(size_t i)
{
    return i < usher_method_count() ? &method_rows[i] : NULL;
}
