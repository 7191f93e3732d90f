/* The bytes of the attacks. Valid requests are built for every method of protocol/methods.def from its
 * parameter list and the setup's tokens; mutations work on the envelope (types, lengths, missing and
 * extra parameters) and then on the bytes (flips, inserts, deletes, a lying length header). */
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "frame.h"
#include "msg.h"

typedef struct method_row { const char *name, *params; } method_row;

static const method_row METHODS[] = {
#define USHER_METHOD(id, name, summary, params, result) { name, params },
#include "methods.def"
#undef USHER_METHOD
};
#define N_METHODS (sizeof METHODS / sizeof METHODS[0])
#define MAX_PARAMS 8

size_t fuzz_method_count(void) { return N_METHODS; }
const char *fuzz_method_name(size_t i) { return METHODS[i].name; }

typedef struct param_name { char text[32]; } param_name;

/* Splits "{a, b?, c}" into names (the ? dropped); returns their count. */
static size_t param_names(const char *spec, param_name out[MAX_PARAMS])
{
    size_t n = 0;
    const char *p = spec;
    while (*p && n < MAX_PARAMS) {
        while (*p == '{' || *p == ' ' || *p == ',' || *p == '}')
            p++;
        size_t len = strcspn(p, ",?} ");
        if (len == 0)
            break;
        if (len < sizeof out[n].text) {
            memcpy(out[n].text, p, len);
            out[n].text[len] = '\0';
            n++;
        }
        p += len;
        while (*p == '?')
            p++;
    }
    return n;
}

static void pack_str(msgpack_packer *pk, const char *s) { msg_pack_cstr(pk, s); }

/* The valid value of a parameter, by name. */
static void pack_valid_param(msgpack_packer *pk, const fuzz_ctx *ctx, const char *name, fuzz_rng *r)
{
    if (!strcmp(name, "session")) pack_str(pk, ctx->session);
    else if (!strcmp(name, "token")) pack_str(pk, ctx->token[0] ? ctx->token : "x");
    else if (!strcmp(name, "admin")) pack_str(pk, ctx->admin[0] ? ctx->admin : "x");
    else if (!strcmp(name, "user_id")) pack_str(pk, ctx->user_id);
    else if (!strcmp(name, "secret")) pack_str(pk, ctx->secret);
    else if (!strcmp(name, "concert_id")) msgpack_pack_uint64(pk, ctx->concert_id);
    else if (!strcmp(name, "schedule_id")) msgpack_pack_uint64(pk, ctx->schedule_id);
    else if (!strcmp(name, "reservation_id")) msgpack_pack_uint64(pk, ctx->reservation_id);
    else if (!strcmp(name, "reservation_ids")) {
        msgpack_pack_array(pk, 1);
        msgpack_pack_uint64(pk, ctx->reservation_id);
    } else if (!strcmp(name, "seat_no")) msgpack_pack_uint32(pk, 1 + (uint32_t)fuzz_rng_below(r, 50));
    else if (!strcmp(name, "amount")) msgpack_pack_int64(pk, 1 + (int64_t)fuzz_rng_below(r, 100));
    else if (!strcmp(name, "request_id")) {
        char id[24];
        uint64_t v = fuzz_rng_next(r);
        for (size_t i = 0; i < 16; i++)
            id[i] = "0123456789abcdef"[(v >> (i * 4)) & 15];
        id[16] = '\0';
        pack_str(pk, id);
    } else if (!strcmp(name, "title") || !strcmp(name, "venue")) pack_str(pk, "fuzz");
    else if (!strcmp(name, "starts_at")) msgpack_pack_int64(pk, (int64_t)time(NULL) * 1000 + 86400000);
    else if (!strcmp(name, "price")) msgpack_pack_int64(pk, 100);
    else if (!strcmp(name, "seats")) msgpack_pack_uint32(pk, 1 + (uint32_t)fuzz_rng_below(r, 5));
    else if (!strcmp(name, "prices")) {
        msgpack_pack_array(pk, 1);
        msgpack_pack_int64(pk, 100);
    } else if (!strcmp(name, "limit")) msgpack_pack_uint32(pk, 1 + (uint32_t)fuzz_rng_below(r, 10));
    else msgpack_pack_uint64(pk, 1); /* before, after and anything new: an id */
}

/* A value of a random type and size. */
static void pack_random_value(msgpack_packer *pk, fuzz_rng *r, int depth)
{
    static const int64_t EDGES[] = { 0, -1, 1, INT64_MIN, INT64_MAX, 4294967295ll, 4294967296ll, 1000000000001ll,
                                     10000001, -128, 65535 };
    char buf[700];
    size_t len;
    switch (fuzz_rng_below(r, depth > 2 ? 9 : 11)) {
    case 0: msgpack_pack_nil(pk); break;
    case 1: msgpack_pack_true(pk); break;
    case 2: msgpack_pack_int64(pk, EDGES[fuzz_rng_below(r, sizeof EDGES / sizeof EDGES[0])]); break;
    case 3: msgpack_pack_uint64(pk, UINT64_MAX - fuzz_rng_below(r, 3)); break;
    case 4: msgpack_pack_double(pk, (double)(int64_t)fuzz_rng_next(r) / 3.0); break;
    case 5: case 6:
        len = (size_t)fuzz_rng_below(r, sizeof buf);
        for (size_t i = 0; i < len; i++)
            buf[i] = (char)fuzz_rng_below(r, 256);
        msgpack_pack_str(pk, len);
        msgpack_pack_str_body(pk, buf, len);
        break;
    case 7:
        len = (size_t)fuzz_rng_below(r, 64);
        memset(buf, 0xAB, len);
        msgpack_pack_bin(pk, len);
        msgpack_pack_bin_body(pk, buf, len);
        break;
    case 8:
        msgpack_pack_ext(pk, 3, (int8_t)fuzz_rng_below(r, 256));
        msgpack_pack_ext_body(pk, "abc", 3);
        break;
    case 9: {
        size_t n = (size_t)fuzz_rng_below(r, 4);
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++)
            pack_random_value(pk, r, depth + 1);
        break;
    }
    default: {
        size_t n = (size_t)fuzz_rng_below(r, 3);
        msgpack_pack_map(pk, n);
        for (size_t i = 0; i < n; i++) {
            pack_str(pk, "k");
            pack_random_value(pk, r, depth + 1);
        }
        break;
    }
    }
}

/* The params map of method i: each parameter valid, or (with odds 1 in mutate_one_in) dropped, renamed
 * or of a random type; sometimes one extra key. mutate_one_in 0 means all valid. */
static void pack_params(msgpack_packer *pk, const fuzz_ctx *ctx, size_t i, fuzz_rng *r, uint64_t mutate_one_in)
{
    param_name names[MAX_PARAMS];
    size_t n = param_names(METHODS[i].params, names);
    bool keep[MAX_PARAMS];
    size_t kept = 0;
    for (size_t k = 0; k < n; k++) {
        keep[k] = !(mutate_one_in && fuzz_rng_below(r, mutate_one_in * 2) == 0);
        kept += keep[k];
    }
    bool extra = mutate_one_in && fuzz_rng_below(r, mutate_one_in) == 0;
    msgpack_pack_map(pk, kept + extra);
    for (size_t k = 0; k < n; k++) {
        if (!keep[k])
            continue;
        if (mutate_one_in && fuzz_rng_below(r, mutate_one_in * 3) == 0)
            names[k].text[0] ^= 0x20; /* SESSION for session: an unknown key */
        pack_str(pk, names[k].text);
        if (mutate_one_in && fuzz_rng_below(r, mutate_one_in) == 0)
            pack_random_value(pk, r, 1);
        else if (!strcmp(names[k].text, "user_id") && !strcmp(METHODS[i].name, "admin.session.revoke"))
            pack_str(pk, ctx->bystander_id);
        else
            pack_valid_param(pk, ctx, names[k].text, r);
    }
    if (extra) {
        pack_str(pk, "extra");
        pack_random_value(pk, r, 1);
    }
}

void fuzz_pack_valid(msgpack_sbuffer *sb, const fuzz_ctx *ctx, size_t i, uint32_t msgid)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    fuzz_rng r;
    fuzz_rng_seed(&r, msgid);
    size_t at = msg_frame_begin(sb);
    msg_pack_request_head(&pk, msgid, METHODS[i].name);
    pack_params(&pk, ctx, i, &r, 0);
    msg_frame_end(sb, at);
}

/* The envelope with one of its fields changed, or whole. */
static void pack_envelope_mutated(msgpack_packer *pk, const fuzz_ctx *ctx, size_t i, fuzz_rng *r)
{
    uint32_t msgid = (uint32_t)fuzz_rng_next(r);
    switch (fuzz_rng_below(r, 8)) {
    case 0: { /* wrong arity: 0..6 elements of [0, msgid, method, params, nil, nil], never 4 */
        size_t n = (size_t)fuzz_rng_below(r, 6);
        n += n >= 4;
        msgpack_pack_array(pk, n);
        if (n > 0) msgpack_pack_uint8(pk, 0);
        if (n > 1) msgpack_pack_uint32(pk, msgid);
        if (n > 2) pack_str(pk, METHODS[i].name);
        if (n > 3) pack_params(pk, ctx, i, r, 4);
        for (size_t k = 4; k < n; k++)
            msgpack_pack_nil(pk);
        return;
    }
    case 1: /* type tag, msgid or method of another type */
        msgpack_pack_array(pk, 4);
        pack_random_value(pk, r, 2);
        pack_random_value(pk, r, 2);
        pack_random_value(pk, r, 2);
        pack_params(pk, ctx, i, r, 4);
        return;
    case 2: /* params of another type */
        msg_pack_request_head(pk, msgid, METHODS[i].name);
        pack_random_value(pk, r, 0);
        return;
    case 3: { /* a method name off by one byte */
        char name[64];
        size_t len = strlen(METHODS[i].name);
        memcpy(name, METHODS[i].name, len);
        name[fuzz_rng_below(r, len)] ^= (char)(1 + fuzz_rng_below(r, 255));
        msgpack_pack_array(pk, 4);
        msgpack_pack_uint8(pk, 0);
        msgpack_pack_uint32(pk, msgid);
        msgpack_pack_str(pk, len);
        msgpack_pack_str_body(pk, name, len);
        pack_params(pk, ctx, i, r, 0);
        return;
    }
    default: /* the usual: valid envelope, params mutated */
        msg_pack_request_head(pk, msgid, METHODS[i].name);
        pack_params(pk, ctx, i, r, 3);
        return;
    }
}

/* Byte-level changes to body[0..*len) (capacity cap). */
static void mutate_bytes(uint8_t *body, size_t *len, size_t cap, fuzz_rng *r)
{
    static const uint8_t INTERESTING[] = { 0xc1, 0xc0, 0xdc, 0xdd, 0xde, 0xdf, 0xd9, 0xda, 0xdb, 0xc4, 0xc6,
                                           0xc9, 0xd8, 0xcf, 0xd3, 0x9f, 0x8f, 0xbf, 0xff, 0x00, 0x7f, 0x80, 0x90 };
    size_t rounds = 1 + (size_t)fuzz_rng_below(r, 4);
    for (size_t k = 0; k < rounds && *len > 0; k++) {
        size_t at = (size_t)fuzz_rng_below(r, *len);
        switch (fuzz_rng_below(r, 5)) {
        case 0: body[at] ^= (uint8_t)(1u << fuzz_rng_below(r, 8)); break;
        case 1: body[at] = INTERESTING[fuzz_rng_below(r, sizeof INTERESTING)]; break;
        case 2: /* insert */
            if (*len < cap) {
                memmove(body + at + 1, body + at, *len - at);
                body[at] = (uint8_t)fuzz_rng_next(r);
                (*len)++;
            }
            break;
        case 3: { /* delete a run */
            size_t n = 1 + (size_t)fuzz_rng_below(r, 8);
            if (n > *len - at)
                n = *len - at;
            memmove(body + at, body + at + n, *len - at - n);
            *len -= n;
            break;
        }
        default: body[at] = (uint8_t)fuzz_rng_next(r); break;
        }
    }
}

void fuzz_pack_mutated(msgpack_sbuffer *sb, const fuzz_ctx *ctx, fuzz_rng *r)
{
    size_t i = (size_t)fuzz_rng_below(r, N_METHODS);
    msgpack_sbuffer body;
    msgpack_sbuffer_init(&body);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
    pack_envelope_mutated(&pk, ctx, i, r);
    size_t len = body.size, cap = body.size + 16;
    uint8_t *bytes = malloc(cap);
    if (!bytes) {
        msgpack_sbuffer_destroy(&body);
        return;
    }
    memcpy(bytes, body.data, len);
    msgpack_sbuffer_destroy(&body);
    if (fuzz_rng_below(r, 2) == 0)
        mutate_bytes(bytes, &len, cap, r);
    uint32_t declared = (uint32_t)len;
    if (fuzz_rng_below(r, 16) == 0) /* a header that lies a little */
        declared = (uint32_t)((int64_t)len + (int64_t)fuzz_rng_below(r, 9) - 4);
    uint8_t hdr[FRAME_HEADER_BYTES];
    frame_header_put(hdr, declared);
    msgpack_sbuffer_write(sb, (const char *)hdr, sizeof hdr);
    msgpack_sbuffer_write(sb, (const char *)bytes, len);
    free(bytes);
}

void fuzz_pack_garbage(msgpack_sbuffer *sb, fuzz_rng *r)
{
    size_t n = 1 + (size_t)fuzz_rng_below(r, 2048);
    for (size_t k = 0; k < n; k++) {
        char b = (char)fuzz_rng_next(r);
        msgpack_sbuffer_write(sb, &b, 1);
    }
}

void fuzz_pack_truncated(msgpack_sbuffer *sb, const fuzz_ctx *ctx, fuzz_rng *r)
{
    msgpack_sbuffer whole;
    msgpack_sbuffer_init(&whole);
    fuzz_pack_valid(&whole, ctx, (size_t)fuzz_rng_below(r, N_METHODS), (uint32_t)fuzz_rng_next(r));
    size_t keep = 1 + (size_t)fuzz_rng_below(r, whole.size - 1);
    msgpack_sbuffer_write(sb, whole.data, keep);
    msgpack_sbuffer_destroy(&whole);
}

void fuzz_pack_oversized(msgpack_sbuffer *sb, fuzz_rng *r)
{
    static const uint32_t LENGTHS[] = { 0, FRAME_MAX_DEFAULT + 1, FRAME_MAX_LIMIT, FRAME_MAX_LIMIT + 1,
                                        0x7fffffffu, 0xffffffffu };
    uint32_t n = LENGTHS[fuzz_rng_below(r, sizeof LENGTHS / sizeof LENGTHS[0])];
    if (n == FRAME_MAX_DEFAULT + 1)
        n += (uint32_t)fuzz_rng_below(r, 1u << 20);
    uint8_t hdr[FRAME_HEADER_BYTES];
    frame_header_put(hdr, n);
    msgpack_sbuffer_write(sb, (const char *)hdr, sizeof hdr);
    for (size_t k = fuzz_rng_below(r, 64); k > 0; k--)
        msgpack_sbuffer_write(sb, "\x94", 1);
}

void fuzz_pack_bomb(msgpack_sbuffer *sb, fuzz_rng *r)
{
    size_t at = msg_frame_begin(sb);
    static const char *const HUGE_HEADS[] = {
        "\xdd\xff\xff\xff\xff", "\xdf\xff\xff\xff\xff", "\xdb\xff\xff\xff\xff", "\xc6\xff\xff\xff\xff",
        "\xc9\xff\xff\xff\xff\x01", "\xdc\xff\xff", "\xde\xff\xff", "\xdd\x00\x00\x10\x01", "\xdf\x00\x00\x10\x01",
    };
    switch (fuzz_rng_below(r, 4)) {
    case 0: { /* deep nesting of arrays or maps, bare or as params */
        size_t depth = 17 + (size_t)fuzz_rng_below(r, 30000);
        bool maps = fuzz_rng_below(r, 2);
        for (size_t k = 0; k < depth; k++)
            msgpack_sbuffer_write(sb, maps ? "\x81\xa1k" : "\x91", maps ? 3 : 1);
        msgpack_sbuffer_write(sb, "\xc0", 1);
        break;
    }
    case 1: { /* a huge declared count or length, as the request's params */
        msgpack_packer pk;
        msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
        msg_pack_request_head(&pk, 7, "sys.ping");
        const char *h = HUGE_HEADS[fuzz_rng_below(r, sizeof HUGE_HEADS / sizeof HUGE_HEADS[0])];
        size_t hl = h[0] == '\xdc' || h[0] == '\xde' ? 3 : h[0] == '\xc9' ? 6 : 5;
        msgpack_sbuffer_write(sb, h, hl);
        for (size_t k = fuzz_rng_below(r, 200); k > 0; k--)
            msgpack_sbuffer_write(sb, "\xc0", 1);
        break;
    }
    case 2: { /* one element past the per-container limit, honestly encoded */
        size_t n = MSG_MAX_ELEMS_DEFAULT + 1;
        msgpack_packer pk;
        msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, n);
        for (size_t k = 0; k < n; k++)
            msgpack_pack_nil(&pk);
        break;
    }
    default: /* many small containers: wide and just within the depth limit */
        for (size_t k = 0; k < 16; k++)
            msgpack_sbuffer_write(sb, "\xdc\x0f\xff", 3);
        for (size_t k = 0; k < 4000; k++)
            msgpack_sbuffer_write(sb, "\x90", 1);
        break;
    }
    msg_frame_end(sb, at);
}
