/* Harness, replies: typed access to result maps and the expectation checks
 * that fail a test with the server's own error name and message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <string.h>

/* Value of key in map o; fails the test when o is not a map or lacks key. */
static const msgpack_object *need(const msgpack_object *o, const char *key)
{
    if (!o || o->type != MSGPACK_OBJECT_MAP)
        fail_msg("looking up '%s': not a map", key);
    const msgpack_object *v = msg_map_get(o, key);
    if (!v)
        fail_msg("result has no '%s'", key);
    return v;
}

/* The result map of r; fails the test when r is an error. */
static const msgpack_object *result_of(const harness_reply *r, const char *key)
{
    if (r->err != USHER_ERR_OK || !r->result)
        fail_msg("reading '%s' of an error reply: %s: %s", key, r->code,
                 r->message ? r->message : "");
    return r->result;
}

bool harness_has(const harness_reply *r, const char *key)
{
    return r->result && r->result->type == MSGPACK_OBJECT_MAP && msg_map_get(r->result, key) != NULL;
}

uint64_t harness_obj_u64(const msgpack_object *o, const char *key)
{
    const msgpack_object *v = need(o, key);
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        fail_msg("'%s' is not a non-negative integer (msgpack type %d)", key, (int)v->type);
    return v->via.u64;
}

int64_t harness_obj_i64(const msgpack_object *o, const char *key)
{
    const msgpack_object *v = need(o, key);
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return v->via.i64;
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= (uint64_t)INT64_MAX)
        return (int64_t)v->via.u64;
    fail_msg("'%s' is not a 64-bit signed integer (msgpack type %d)", key, (int)v->type);
    return 0;
}

bool harness_obj_str_is(const msgpack_object *o, const char *key, const char *s)
{
    const msgpack_object *v = need(o, key);
    if (v->type != MSGPACK_OBJECT_STR)
        fail_msg("'%s' is not a string (msgpack type %d)", key, (int)v->type);
    return msg_str_eq(v, s);
}

const msgpack_object *harness_obj_array(const msgpack_object *o, const char *key, size_t *n)
{
    const msgpack_object *v = need(o, key);
    if (v->type != MSGPACK_OBJECT_ARRAY)
        fail_msg("'%s' is not an array (msgpack type %d)", key, (int)v->type);
    *n = v->via.array.size;
    return v->via.array.ptr;
}

uint64_t harness_get_u64(const harness_reply *r, const char *key)
{
    return harness_obj_u64(result_of(r, key), key);
}

int64_t harness_get_i64(const harness_reply *r, const char *key)
{
    return harness_obj_i64(result_of(r, key), key);
}

const msgpack_object *harness_get_obj(const harness_reply *r, const char *key)
{
    return need(result_of(r, key), key);
}

const msgpack_object *harness_get_array(const harness_reply *r, const char *key, size_t *n)
{
    return harness_obj_array(result_of(r, key), key, n);
}

const char *harness_get_str(harness_reply *r, const char *key)
{
    const msgpack_object *v = need(result_of(r, key), key);
    if (v->type != MSGPACK_OBJECT_STR)
        fail_msg("'%s' is not a string (msgpack type %d)", key, (int)v->type);
    char *copy = msgpack_zone_malloc(r->zone, v->via.str.size + 1);
    if (!copy)
        fail_msg("out of memory");
    memcpy(copy, v->via.str.ptr, v->via.str.size);
    copy[v->via.str.size] = '\0';
    return copy;
}

void harness_expect_at(const harness_reply *r, usher_err want, const char *file, int line)
{
    if (r->err == want)
        return;
    print_error("%s:%d: expected %s, got %s%s%s\n", file, line, usher_err_name(want),
                r->err == USHER_ERR_OK ? "OK" : r->code,
                r->message ? ": " : "", r->message ? r->message : "");
    _fail(file, line);
}

void harness_expect_message_at(const harness_reply *r, const char *text, const char *file, int line)
{
    if (r->err != USHER_ERR_OK && r->message && strstr(r->message, text))
        return;
    print_error("%s:%d: expected an error message naming '%s', got %s: '%s'\n", file, line, text,
                r->err == USHER_ERR_OK ? "OK" : r->code, r->message ? r->message : "");
    _fail(file, line);
}
