/* Small msgpack and clock helpers the bench's calls share. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

void pack_key_str(msgpack_packer *pk, const char *key, const char *value)
{
    msg_pack_cstr(pk, key);
    msg_pack_cstr(pk, value);
}

void pack_key_u64(msgpack_packer *pk, const char *key, uint64_t value)
{
    msg_pack_cstr(pk, key);
    msgpack_pack_uint64(pk, value);
}

void pack_key_i64(msgpack_packer *pk, const char *key, int64_t value)
{
    msg_pack_cstr(pk, key);
    msgpack_pack_int64(pk, value);
}

char *reply_strdup(const usher_reply *r, const char *key)
{
    const msgpack_object *v = r ? msg_map_get(&r->result, key) : NULL;
    if (!v || v->type != MSGPACK_OBJECT_STR)
        return NULL;
    char *s = malloc(v->via.str.size + 1);
    if (s) {
        memcpy(s, v->via.str.ptr, v->via.str.size);
        s[v->via.str.size] = 0;
    }
    return s;
}

uint64_t obj_u64(const msgpack_object *o, const char *key)
{
    const msgpack_object *v = msg_map_get(o, key);
    return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : 0;
}

bool obj_str_is(const msgpack_object *o, const char *key, const char *s)
{
    return msg_str_eq(msg_map_get(o, key), s);
}

uint64_t bench_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t bench_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t bench_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}
