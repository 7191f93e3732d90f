/* The codec of the typed calls: a params-map builder that omits absent
 * optional fields, and result-field readers that accept only the types the
 * protocol promises (a wrong or missing field is a protocol violation). */
#include "usher_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "msg.h"

void pb_init(params_builder *pb)
{
    msgpack_sbuffer_init(&pb->body);
    msgpack_packer_init(&pb->pk, &pb->body, msgpack_sbuffer_write);
    pb->count = 0;
}

static void pb_key(params_builder *pb, const char *key)
{
    msg_pack_cstr(&pb->pk, key);
    pb->count++;
}

void pb_str(params_builder *pb, const char *key, const char *v)
{
    if (!v)
        return;
    pb_key(pb, key);
    msg_pack_cstr(&pb->pk, v);
}

void pb_u64(params_builder *pb, const char *key, uint64_t v)
{
    pb_key(pb, key);
    msgpack_pack_uint64(&pb->pk, v);
}

void pb_u64_opt(params_builder *pb, const char *key, uint64_t v)
{
    if (v != 0)
        pb_u64(pb, key, v);
}

void pb_i64(params_builder *pb, const char *key, int64_t v)
{
    pb_key(pb, key);
    msgpack_pack_int64(&pb->pk, v);
}

void pb_u64_array(params_builder *pb, const char *key, const uint64_t *v, size_t n)
{
    pb_key(pb, key);
    msgpack_pack_array(&pb->pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_uint64(&pb->pk, v[i]);
}

void pb_i64_array(params_builder *pb, const char *key, const int64_t *v, size_t n)
{
    pb_key(pb, key);
    msgpack_pack_array(&pb->pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_int64(&pb->pk, v[i]);
}

usher_status pb_call(params_builder *pb, usher_client *c, const char *method, usher_reply **reply)
{
    msgpack_sbuffer whole;
    msgpack_sbuffer_init(&whole);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &whole, msgpack_sbuffer_write);
    usher_status st;
    if (msgpack_pack_map(&pk, pb->count) != 0 ||
        (pb->body.size > 0 && msgpack_sbuffer_write(&whole, pb->body.data, pb->body.size) != 0))
        st = client_note_failure(c, USHER_ENOMEM, NULL);
    else
        st = usher_call_packed(c, method, whole.data, whole.size, reply);
    msgpack_sbuffer_destroy(&whole);
    msgpack_sbuffer_destroy(&pb->body);
    return st;
}

/* The field, or NULL with bad set (a reader that already failed reads nothing). */
static const msgpack_object *field(fields *f, const msgpack_object *map, const char *key, bool optional)
{
    if (f->bad)
        return NULL;
    const msgpack_object *v = msg_map_get(map, key);
    if (v && v->type == MSGPACK_OBJECT_NIL)
        v = NULL;
    if (!v && !optional)
        f->bad = key;
    return v;
}

static bool as_i64(const msgpack_object *v, int64_t *out)
{
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX) {
        *out = (int64_t)v->via.u64;
        return true;
    }
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = v->via.i64;
        return true;
    }
    return false;
}

uint64_t f_u64_opt(fields *f, const msgpack_object *map, const char *key, uint64_t absent)
{
    const msgpack_object *v = field(f, map, key, true);
    if (!v)
        return absent;
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        f->bad = key;
        return 0;
    }
    return v->via.u64;
}

uint64_t f_u64(fields *f, const msgpack_object *map, const char *key)
{
    if (!field(f, map, key, false))
        return 0;
    return f_u64_opt(f, map, key, 0);
}

int64_t f_i64_opt(fields *f, const msgpack_object *map, const char *key, int64_t absent)
{
    const msgpack_object *v = field(f, map, key, true);
    if (!v)
        return absent;
    int64_t out = 0;
    if (!as_i64(v, &out))
        f->bad = key;
    return out;
}

int64_t f_i64(fields *f, const msgpack_object *map, const char *key)
{
    if (!field(f, map, key, false))
        return 0;
    return f_i64_opt(f, map, key, 0);
}

bool f_bool(fields *f, const msgpack_object *map, const char *key)
{
    const msgpack_object *v = field(f, map, key, false);
    if (!v)
        return false;
    if (v->type != MSGPACK_OBJECT_BOOLEAN) {
        f->bad = key;
        return false;
    }
    return v->via.boolean;
}

char *f_str_opt(fields *f, const msgpack_object *map, const char *key)
{
    const msgpack_object *v = field(f, map, key, true);
    if (!v)
        return NULL;
    char *s = NULL;
    if (v->type == MSGPACK_OBJECT_STR) {
        s = malloc(v->via.str.size + 1);
        if (s) {
            memcpy(s, v->via.str.ptr, v->via.str.size);
            s[v->via.str.size] = '\0';
        }
    } else {
        int64_t n;
        if (!as_i64(v, &n) && v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
            f->bad = key;
            return NULL;
        }
        s = malloc(24);
        if (s && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            snprintf(s, 24, "%" PRIu64, v->via.u64);
        else if (s)
            snprintf(s, 24, "%" PRId64, n);
    }
    if (!s) {
        f->bad = key;
        f->nomem = true;
    }
    return s;
}

char *f_str(fields *f, const msgpack_object *map, const char *key)
{
    if (!field(f, map, key, false))
        return NULL;
    return f_str_opt(f, map, key);
}

const msgpack_object *f_array(fields *f, const msgpack_object *map, const char *key)
{
    const msgpack_object *v = field(f, map, key, false);
    if (v && v->type != MSGPACK_OBJECT_ARRAY) {
        f->bad = key;
        return NULL;
    }
    return v;
}

int f_enum(fields *f, const msgpack_object *map, const char *key, const char *(*name_of)(int), int max)
{
    const msgpack_object *v = field(f, map, key, false);
    if (!v)
        return 0;
    if (v->type != MSGPACK_OBJECT_STR) {
        f->bad = key;
        return 0;
    }
    for (int i = 1; i <= max; i++)
        if (msg_str_eq(v, name_of(i)))
            return i;
    return 0;
}

const msgpack_object *f_elem_map(fields *f, const msgpack_object *array, uint32_t i, const char *what)
{
    if (f->bad)
        return NULL;
    const msgpack_object *e = &array->via.array.ptr[i];
    if (e->type != MSGPACK_OBJECT_MAP) {
        f->bad = what;
        return NULL;
    }
    return e;
}
