#include "params.h"
#include <stdarg.h>
#include <stdio.h>
#include "../protocol/msg.h"

usher_err param_fail(call *c, const char *name, const char *detail)
{
    c->bad_param = name;
    c->detail = detail;
    return USHER_ERR_INVALID_ARGUMENT;
}

usher_err call_fail(call *c, usher_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof c->message, fmt, ap);
    va_end(ap);
    return err;
}

/* The value of name, or NULL when absent or nil. */
static const msgpack_object *lookup(call *c, const char *name)
{
    if (!c->params) return NULL;
    const msgpack_object *o = msg_map_get(c->params, name);
    if (o && o->type == MSGPACK_OBJECT_NIL) return NULL;
    return o;
}

/* Reads an integer object into [min, max]. */
static usher_err object_int(call *c, const char *name, const msgpack_object *o,
                            int64_t min, int64_t max, int64_t *out, const char *range_text)
{
    int64_t v;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX) return param_fail(c, name, range_text);
        v = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        v = o->via.i64;
    } else {
        return param_fail(c, name, "must be an integer");
    }
    if (v < min || v > max) return param_fail(c, name, range_text);
    *out = v;
    return USHER_ERR_OK;
}

usher_err param_id_opt(call *c, const char *name, uint64_t *out)
{
    *out = 0;
    const msgpack_object *o = lookup(c, name);
    if (!o) return USHER_ERR_OK;
    int64_t v;
    usher_err e = object_int(c, name, o, 1, PARAM_ID_MAX, &v, "must be a positive integer id");
    if (e == USHER_ERR_OK) *out = (uint64_t)v;
    return e;
}

usher_err param_id(call *c, const char *name, uint64_t *out)
{
    if (!lookup(c, name)) return param_fail(c, name, "is required");
    return param_id_opt(c, name, out);
}

usher_err param_int_opt(call *c, const char *name, int64_t min, int64_t max,
                        int64_t *out, bool *present)
{
    *present = false;
    const msgpack_object *o = lookup(c, name);
    if (!o) return USHER_ERR_OK;
    usher_err e = object_int(c, name, o, min, max, out, "is out of range");
    if (e == USHER_ERR_OK) *present = true;
    return e;
}

usher_err param_int(call *c, const char *name, int64_t min, int64_t max, int64_t *out)
{
    bool present;
    usher_err e = param_int_opt(c, name, min, max, out, &present);
    if (e == USHER_ERR_OK && !present) return param_fail(c, name, "is required");
    return e;
}

usher_err param_str_opt(call *c, const char *name, size_t min, size_t max,
                        const char **s, size_t *len)
{
    *s = NULL;
    *len = 0;
    const msgpack_object *o = lookup(c, name);
    if (!o) return USHER_ERR_OK;
    if (o->type != MSGPACK_OBJECT_STR) return param_fail(c, name, "must be a string");
    if (o->via.str.size < min || o->via.str.size > max)
        return param_fail(c, name, "has a length out of range");
    *s = o->via.str.ptr;
    *len = o->via.str.size;
    return USHER_ERR_OK;
}

usher_err param_str(call *c, const char *name, size_t min, size_t max,
                    const char **s, size_t *len)
{
    if (!lookup(c, name)) return param_fail(c, name, "is required");
    return param_str_opt(c, name, min, max, s, len);
}

usher_err param_user_id(call *c, const char *name, user_id *out)
{
    const char *text;
    size_t len;
    usher_err e = param_str(c, name, 1, 64, &text, &len);
    if (e != USHER_ERR_OK) return e;
    if (!user_id_parse(text, len, out))
        return param_fail(c, name, "must be a lowercase UUID (8-4-4-4-12)");
    return USHER_ERR_OK;
}

usher_err param_id_array(call *c, const char *name, size_t min, size_t max,
                         uint64_t *out, size_t *n)
{
    const msgpack_object *o = lookup(c, name);
    if (!o) return param_fail(c, name, "is required");
    if (o->type != MSGPACK_OBJECT_ARRAY) return param_fail(c, name, "must be an array of ids");
    if (o->via.array.size < min || o->via.array.size > max)
        return param_fail(c, name, "has a number of elements out of range");
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        int64_t v = 0;
        usher_err e = object_int(c, name, &o->via.array.ptr[i], 1, PARAM_ID_MAX, &v,
                                 "must hold positive integer ids");
        if (e != USHER_ERR_OK) return e;
        out[i] = (uint64_t)v;
    }
    *n = o->via.array.size;
    return USHER_ERR_OK;
}

usher_err param_int_array_opt(call *c, const char *name, size_t n, int64_t min, int64_t max,
                              int64_t *out, bool *present)
{
    *present = false;
    const msgpack_object *o = lookup(c, name);
    if (!o) return USHER_ERR_OK;
    if (o->type != MSGPACK_OBJECT_ARRAY) return param_fail(c, name, "must be an array of integers");
    if (o->via.array.size != n) return param_fail(c, name, "must have one element per seat");
    for (uint32_t i = 0; i < n; i++) {
        usher_err e = object_int(c, name, &o->via.array.ptr[i], min, max, &out[i],
                                 "holds a value out of range");
        if (e != USHER_ERR_OK) return e;
    }
    *present = true;
    return USHER_ERR_OK;
}

usher_err param_limit(call *c, size_t dflt, size_t cap, size_t *out)
{
    int64_t v;
    bool present;
    /* Any larger integer is capped, even one beyond int64 (a msgpack uint64). */
    const msgpack_object *o = lookup(c, "limit");
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 > (uint64_t)INT64_MAX) {
        *out = cap;
        return USHER_ERR_OK;
    }
    usher_err e = param_int_opt(c, "limit", 1, INT64_MAX, &v, &present);
    if (e != USHER_ERR_OK) return e;
    if (!present) { *out = dflt; return USHER_ERR_OK; }
    *out = (size_t)v > cap ? cap : (size_t)v;
    return USHER_ERR_OK;
}

bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned char b = *p;
        size_t need;
        uint32_t cp;
        if (b < 0x80) { p++; continue; }
        else if ((b & 0xe0) == 0xc0) { need = 1; cp = b & 0x1f; }
        else if ((b & 0xf0) == 0xe0) { need = 2; cp = b & 0x0f; }
        else if ((b & 0xf8) == 0xf0) { need = 3; cp = b & 0x07; }
        else return false;
        if ((size_t)(end - p) <= need) return false;
        for (size_t i = 1; i <= need; i++) {
            if ((p[i] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += need + 1;
    }
    return true;
}
