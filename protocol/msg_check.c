/* Bounded msgpack walking and decoding.
 * msg_check walks the bytes once, with no allocation and no recursion, before
 * msgpack-c's unpacker is allowed to allocate from the counts it reads: every
 * count and length must be backed by bytes actually present in the frame. */
#include "msg.h"

/* msgpack-c's unpacker refuses nesting deeper than its fixed stack
 * (MSGPACK_EMBED_STACK_SIZE, 32), so deeper limits would only fail later. */
#define MSG_CHECK_DEPTH_CAP 32u

msg_limits msg_limits_default(void)
{
    msg_limits lim = { MSG_MAX_DEPTH_DEFAULT, MSG_MAX_ELEMS_DEFAULT };
    return lim;
}

static uint32_t read_be(const uint8_t *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* What one object header says comes next. */
typedef struct obj_head {
    size_t head_len;    /* bytes of the type byte and its length/count fields */
    size_t payload;     /* bytes of inline payload (scalars, str, bin, ext) */
    size_t items;       /* objects that follow inside (array n, map 2n) */
    uint32_t count;     /* declared elements, or pairs for a map */
    bool container;
} obj_head;

/* Fixed-size part of a type byte: bytes of length field and fixed payload.
 * Returns false for the reserved byte 0xc1. */
static bool head_shape(uint8_t b, obj_head *h, size_t *len_field, size_t *ext_type)
{
    *len_field = 0;
    *ext_type = 0;
    h->head_len = 1;
    h->payload = 0;
    h->items = 0;
    h->count = 0;
    h->container = false;

    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return true;
    if (b >= 0x80 && b <= 0x8f) {
        h->container = true;
        h->count = b & 0x0f;
        h->items = 2u * h->count;
        return true;
    }
    if (b >= 0x90 && b <= 0x9f) {
        h->container = true;
        h->count = b & 0x0f;
        h->items = h->count;
        return true;
    }
    if (b >= 0xa0 && b <= 0xbf) {
        h->payload = b & 0x1f;
        return true;
    }
    switch (b) {
    case 0xc4: case 0xd9: *len_field = 1; return true;   /* bin8, str8 */
    case 0xc5: case 0xda: *len_field = 2; return true;   /* bin16, str16 */
    case 0xc6: case 0xdb: *len_field = 4; return true;   /* bin32, str32 */
    case 0xc7: *len_field = 1; *ext_type = 1; return true; /* ext8 */
    case 0xc8: *len_field = 2; *ext_type = 1; return true; /* ext16 */
    case 0xc9: *len_field = 4; *ext_type = 1; return true; /* ext32 */
    case 0xca: h->payload = 4; return true;              /* float32 */
    case 0xcb: h->payload = 8; return true;              /* float64 */
    case 0xcc: case 0xd0: h->payload = 1; return true;
    case 0xcd: case 0xd1: h->payload = 2; return true;
    case 0xce: case 0xd2: h->payload = 4; return true;
    case 0xcf: case 0xd3: h->payload = 8; return true;
    case 0xd4: h->payload = 2; return true;              /* fixext1: type + 1 */
    case 0xd5: h->payload = 3; return true;
    case 0xd6: h->payload = 5; return true;
    case 0xd7: h->payload = 9; return true;
    case 0xd8: h->payload = 17; return true;
    case 0xdc: *len_field = 2; h->container = true; return true; /* array16 */
    case 0xdd: *len_field = 4; h->container = true; return true; /* array32 */
    case 0xde: *len_field = 2; h->container = true; return true; /* map16 */
    case 0xdf: *len_field = 4; h->container = true; return true; /* map32 */
    default: return false;                               /* 0xc1 */
    }
}

/* Reads the header at buf[0..left) and checks that everything it declares
 * fits in the bytes left and in lim. */
static bool read_head(const uint8_t *buf, size_t left, const msg_limits *lim, obj_head *h)
{
    size_t len_field, ext_type;
    uint8_t b = buf[0];
    if (!head_shape(b, h, &len_field, &ext_type))
        return false;
    if (len_field) {
        if (left - 1 < len_field)
            return false;
        uint32_t n = read_be(buf + 1, len_field);
        h->head_len += len_field;
        if (h->container) {
            h->count = n;
            h->items = (b == 0xde || b == 0xdf) ? 2u * (size_t)n : n;
        } else {
            h->payload = (size_t)n + ext_type;
        }
    }
    if (h->container) {
        if (h->count > lim->max_elems)
            return false;
        if (h->items > left - h->head_len)   /* each element needs a byte */
            return false;
    } else if (h->payload > left - h->head_len) {
        return false;
    }
    return true;
}

usher_err msg_check(const uint8_t *buf, size_t len, const msg_limits *lim)
{
    size_t remaining[MSG_CHECK_DEPTH_CAP]; /* objects still due in each open container */
    size_t max_depth = lim->max_depth < MSG_CHECK_DEPTH_CAP ? lim->max_depth : MSG_CHECK_DEPTH_CAP;
    size_t depth = 0, pos = 0;

    for (;;) {
        obj_head h;
        if (pos >= len || !read_head(buf + pos, len - pos, lim, &h))
            return USHER_ERR_BAD_FRAME;
        pos += h.head_len + h.payload;
        if (h.container) {
            if (depth >= max_depth)
                return USHER_ERR_BAD_FRAME;
            if (h.items > 0) {
                remaining[depth++] = h.items;
                continue;
            }
        }
        /* One object is complete; close every container it completes. */
        for (;;) {
            if (depth == 0)
                return pos == len ? USHER_ERR_OK : USHER_ERR_BAD_FRAME;
            if (--remaining[depth - 1] > 0)
                break;
            depth--;
        }
    }
}

usher_err msg_decode(const uint8_t *buf, size_t len, const msg_limits *lim,
                     msgpack_zone *zone, msgpack_object *out)
{
    usher_err err = msg_check(buf, len, lim);
    if (err != USHER_ERR_OK)
        return err;
    size_t off = 0;
    msgpack_unpack_return ret = msgpack_unpack((const char *)buf, len, &off, zone, out);
    if (ret != MSGPACK_UNPACK_SUCCESS || off != len)
        return USHER_ERR_BAD_FRAME;
    return USHER_ERR_OK;
}
