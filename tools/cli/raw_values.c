/* --raw leaves (see raw_values.h). */
#include "raw_values.h"

void raw_values_print(FILE *out, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < o->via.map.size; i++)
            raw_values_print(out, &o->via.map.ptr[i].val);
        return;
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++)
            raw_values_print(out, &o->via.array.ptr[i]);
        return;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        fprintf(out, "%llu\n", (unsigned long long)o->via.u64);
        return;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        fprintf(out, "%lld\n", (long long)o->via.i64);
        return;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        fprintf(out, "%g\n", o->via.f64);
        return;
    case MSGPACK_OBJECT_BOOLEAN:
        fputs(o->via.boolean ? "true\n" : "false\n", out);
        return;
    case MSGPACK_OBJECT_STR:
        fwrite(o->via.str.ptr, 1, o->via.str.size, out);
        fputc('\n', out);
        return;
    case MSGPACK_OBJECT_BIN:
        for (uint32_t i = 0; i < o->via.bin.size; i++)
            fprintf(out, "%02x", (unsigned char)o->via.bin.ptr[i]);
        fputc('\n', out);
        return;
    default: /* nil and extensions */
        fputc('\n', out);
        return;
    }
}
