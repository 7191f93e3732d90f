/* The JSON bridge for shells and tests: msgpack objects out as JSON text, and
 * JSON text in as msgpack packed straight into a packer. The parser is strict
 * (RFC 8259, UTF-8 only), recursive with a nesting cap, and validates the
 * whole text before it packs a byte, so bad JSON leaves the packer untouched. */
#include "msg.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 32u
#define JSON_MAX_NUMBER_CHARS 400u

/* ======================= msgpack -> JSON ======================= */

static void out(msgpack_sbuffer *sb, const char *s, size_t n)
{
    msgpack_sbuffer_write(sb, s, n);
}

static void out_cstr(msgpack_sbuffer *sb, const char *s)
{
    out(sb, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_seq_len(const uint8_t *s, size_t n)
{
    uint8_t b = s[0];
    size_t len;
    uint32_t cp;
    if (b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf) { len = 2; cp = b & 0x1f; }
    else if (b >= 0xe0 && b <= 0xef) { len = 3; cp = b & 0x0f; }
    else if (b >= 0xf0 && b <= 0xf4) { len = 4; cp = b & 0x07; }
    else return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq_len(s + i, n - i);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

static void out_base64(msgpack_sbuffer *sb, const uint8_t *s, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n) v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n) v |= s[i + 2];
        char quad[4] = {
            alphabet[v >> 18 & 63], alphabet[v >> 12 & 63],
            i + 1 < n ? alphabet[v >> 6 & 63] : '=',
            i + 2 < n ? alphabet[v & 63] : '=',
        };
        out(sb, quad, 4);
    }
}

/* A JSON string literal of UTF-8 text; anything else as "base64:...". */
static void out_string(msgpack_sbuffer *sb, const char *ptr, size_t n, bool is_text)
{
    const uint8_t *s = (const uint8_t *)ptr;
    out(sb, "\"", 1);
    if (!is_text || !utf8_valid(s, n)) {
        out_cstr(sb, "base64:");
        out_base64(sb, s, n);
        out(sb, "\"", 1);
        return;
    }
    if (n == 0) {     /* msgpack-c gives empty strings a NULL pointer */
        out(sb, "\"", 1);
        return;
    }
    size_t run = 0;   /* start of bytes that need no escaping */
    for (size_t i = 0; i < n; i++) {
        const char *esc = NULL;
        char hex[7];
        switch (s[i]) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (s[i] < 0x20 || s[i] == 0x7f) {
                snprintf(hex, sizeof hex, "\\u%04x", s[i]);
                esc = hex;
            }
        }
        if (!esc)
            continue;
        out(sb, ptr + run, i - run);
        out_cstr(sb, esc);
        run = i + 1;
    }
    out(sb, ptr + run, n - run);
    out(sb, "\"", 1);
}

/* %.17g in any locale, with ".0" added so the number reads back as a float. */
static void out_double(msgpack_sbuffer *sb, double d)
{
    if (isnan(d) || isinf(d)) {
        out_cstr(sb, "null");   /* JSON has no NaN or infinity */
        return;
    }
    char num[40];
    int n = snprintf(num, sizeof num, "%.17g", d);
    bool has_point = false;
    for (int i = 0; i < n; i++) {
        char c = num[i];
        if (c == 'e' || c == 'E')
            has_point = true;
        else if (!(c >= '0' && c <= '9') && c != '-' && c != '+') {
            num[i] = '.';      /* the locale's decimal point */
            has_point = true;
        }
    }
    out(sb, num, (size_t)n);
    if (!has_point)
        out_cstr(sb, ".0");
}

static void out_newline(msgpack_sbuffer *sb, bool pretty, size_t indent)
{
    if (!pretty)
        return;
    out(sb, "\n", 1);
    for (size_t i = 0; i < indent; i++)
        out(sb, "  ", 2);
}

static void to_json(const msgpack_object *o, msgpack_sbuffer *sb, bool pretty, size_t indent);

/* A map key that is not a string becomes the string of its JSON text. */
static void out_key(const msgpack_object *key, msgpack_sbuffer *sb)
{
    if (key->type == MSGPACK_OBJECT_STR) {
        out_string(sb, key->via.str.ptr, key->via.str.size, true);
        return;
    }
    msgpack_sbuffer text;
    msgpack_sbuffer_init(&text);
    to_json(key, &text, false, 0);
    out_string(sb, text.data ? text.data : "", text.size, true);
    msgpack_sbuffer_destroy(&text);
}

/* Arrays and maps: members one per line when pretty, closing bracket
 * back at the container's own indent. */
static void out_container(const msgpack_object *o, msgpack_sbuffer *sb, bool pretty, size_t indent)
{
    bool is_map = o->type == MSGPACK_OBJECT_MAP;
    uint32_t n = is_map ? o->via.map.size : o->via.array.size;
    out(sb, is_map ? "{" : "[", 1);
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0)
            out(sb, ",", 1);
        out_newline(sb, pretty, indent + 1);
        if (is_map) {
            out_key(&o->via.map.ptr[i].key, sb);
            out_cstr(sb, pretty ? ": " : ":");
        }
        to_json(is_map ? &o->via.map.ptr[i].val : &o->via.array.ptr[i], sb, pretty, indent + 1);
    }
    if (n > 0)
        out_newline(sb, pretty, indent);
    out(sb, is_map ? "}" : "]", 1);
}

static void to_json(const msgpack_object *o, msgpack_sbuffer *sb, bool pretty, size_t indent)
{
    char num[32];
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        out_cstr(sb, "null");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        out_cstr(sb, o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(num, sizeof num, "%" PRIu64, o->via.u64);
        out_cstr(sb, num);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(num, sizeof num, "%" PRId64, o->via.i64);
        out_cstr(sb, num);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        out_double(sb, o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        out_string(sb, o->via.str.ptr, o->via.str.size, true);
        break;
    case MSGPACK_OBJECT_BIN:
        out_string(sb, o->via.bin.ptr, o->via.bin.size, false);
        break;
    case MSGPACK_OBJECT_EXT:
        snprintf(num, sizeof num, "%d", (int)o->via.ext.type);
        out_cstr(sb, pretty ? "{\"ext\": " : "{\"ext\":");
        out_cstr(sb, num);
        out_cstr(sb, pretty ? ", \"data\": " : ",\"data\":");
        out_string(sb, o->via.ext.ptr, o->via.ext.size, false);
        out_cstr(sb, "}");
        break;
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP:
        out_container(o, sb, pretty, indent);
        break;
    default:
        out_cstr(sb, "null");
    }
}

/* The text is followed by a NUL that sb->size does not count, so sb->data
 * can be printed as a C string until the next write. */
void msg_to_json(const msgpack_object *o, msgpack_sbuffer *sb, bool pretty)
{
    to_json(o, sb, pretty, 0);
    if (msgpack_sbuffer_write(sb, "", 1) == 0)
        sb->size--;
}

/* ======================= JSON -> msgpack ======================= */

typedef struct json_parser {
    const char *s;
    size_t len, pos;
    msgpack_packer *pk;   /* NULL while validating or counting */
} json_parser;

static void skip_space(json_parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static bool literal(json_parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return false;
    p->pos += n;
    return true;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at p->pos; false (pos at the bad digit) otherwise. */
static bool read_hex4(json_parser *p, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int d = p->pos < p->len ? hex_digit(p->s[p->pos]) : -1;
        if (d < 0)
            return false;
        *v = *v << 4 | (uint32_t)d;
        p->pos++;
    }
    return true;
}

static size_t utf8_encode(uint32_t cp, uint8_t out8[4])
{
    if (cp < 0x80) { out8[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) {
        out8[0] = (uint8_t)(0xc0 | cp >> 6);
        out8[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out8[0] = (uint8_t)(0xe0 | cp >> 12);
        out8[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        out8[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out8[0] = (uint8_t)(0xf0 | cp >> 18);
    out8[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
    out8[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    out8[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* The code point of a \u escape (pos just after "\u"), joining a surrogate
 * pair; lone surrogates are refused. */
static bool read_escape_u(json_parser *p, uint32_t *cp)
{
    if (!read_hex4(p, cp))
        return false;
    if (*cp >= 0xdc00 && *cp <= 0xdfff) {
        p->pos -= 4;
        return false;
    }
    if (*cp < 0xd800 || *cp > 0xdbff)
        return true;
    uint32_t low;
    if (!literal(p, "\\u"))
        return false;
    if (!read_hex4(p, &low))
        return false;
    if (low < 0xdc00 || low > 0xdfff) {
        p->pos -= 4;
        return false;
    }
    *cp = 0x10000 + ((*cp - 0xd800) << 10) + (low - 0xdc00);
    return true;
}

/* Walks a string literal (pos at the opening quote) and, when emit is set,
 * appends its decoded bytes with msgpack_pack_str_body. *decoded_len gets the
 * decoded length. On failure pos is the offending byte. */
static bool walk_string(json_parser *p, bool emit, size_t *decoded_len)
{
    size_t n = 0;
    p->pos++;   /* opening quote */
    for (;;) {
        if (p->pos >= p->len)
            return false;
        const uint8_t *c = (const uint8_t *)p->s + p->pos;
        if (*c == '"') {
            p->pos++;
            *decoded_len = n;
            return true;
        }
        if (*c < 0x20)
            return false;
        uint8_t bytes[4];
        size_t len;
        if (*c == '\\') {
            p->pos++;
            if (p->pos >= p->len)
                return false;
            char e = p->s[p->pos++];
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e != '\0' && simple) {
                static const char decoded[] = "\"\\/\b\f\n\r\t";
                bytes[0] = (uint8_t)decoded[simple - "\"\\/bfnrt"];
                len = 1;
            } else if (e == 'u') {
                uint32_t cp;
                if (!read_escape_u(p, &cp))
                    return false;
                len = utf8_encode(cp, bytes);
            } else {
                p->pos--;
                return false;
            }
            if (emit)
                msgpack_pack_str_body(p->pk, bytes, len);
        } else {
            len = utf8_seq_len(c, p->len - p->pos);
            if (len == 0)
                return false;
            if (emit)
                msgpack_pack_str_body(p->pk, c, len);
            p->pos += len;
        }
        n += len;
    }
}

static bool parse_string(json_parser *p)
{
    size_t start = p->pos, n;
    if (!walk_string(p, false, &n))
        return false;
    if (p->pk) {
        p->pos = start;
        msgpack_pack_str(p->pk, n);
        walk_string(p, true, &n);
    }
    return true;
}

static bool scan_digits(json_parser *p)
{
    size_t start = p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
        p->pos++;
    return p->pos > start;
}

/* Converts the number text in num (NUL-terminated) and packs it. */
static void pack_number(msgpack_packer *pk, char *num, bool is_integer)
{
    if (is_integer) {
        errno = 0;
        if (num[0] == '-') {
            long long v = strtoll(num, NULL, 10);
            if (errno == 0) {
                msgpack_pack_int64(pk, v);
                return;
            }
        } else {
            unsigned long long v = strtoull(num, NULL, 10);
            if (errno == 0) {
                msgpack_pack_uint64(pk, v);
                return;
            }
        }
    }
    const char *point = localeconv()->decimal_point;
    if (point && point[0] && point[0] != '.' && point[1] == '\0') {
        char *dot = strchr(num, '.');
        if (dot)
            *dot = point[0];
    }
    msgpack_pack_double(pk, strtod(num, NULL));
}

static bool parse_number(json_parser *p)
{
    size_t start = p->pos;
    bool is_integer = true;
    if (p->s[p->pos] == '-')
        p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '0')
        p->pos++;
    else if (!scan_digits(p))
        return false;
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        is_integer = false;
        if (!scan_digits(p))
            return false;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        is_integer = false;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        if (!scan_digits(p))
            return false;
    }
    size_t n = p->pos - start;
    if (n > JSON_MAX_NUMBER_CHARS) {
        p->pos = start;
        return false;
    }
    if (p->pk) {
        char num[JSON_MAX_NUMBER_CHARS + 1];
        memcpy(num, p->s + start, n);
        num[n] = '\0';
        pack_number(p->pk, num, is_integer);
    }
    return true;
}

static bool parse_value(json_parser *p, size_t depth);

/* Arrays and objects. Packing runs only over text already validated, so the
 * members of a level can be counted with a plain skip before its header. */
static bool parse_container(json_parser *p, size_t depth, bool is_object)
{
    if (depth >= JSON_MAX_DEPTH)
        return false;
    const char close = is_object ? '}' : ']';
    msgpack_packer *pk = p->pk;
    uint32_t count = 0;

    p->pos++;   /* opening bracket */
    skip_space(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        if (pk)
            is_object ? msgpack_pack_map(pk, 0) : msgpack_pack_array(pk, 0);
        return true;
    }
    if (pk) {
        /* count the members of this level only */
        json_parser counter = { p->s, p->len, p->pos, NULL };
        for (;;) {
            skip_space(&counter);
            if (is_object) {
                parse_string(&counter);
                skip_space(&counter);
                counter.pos++;   /* ':' */
            }
            parse_value(&counter, depth + 1);
            count++;
            skip_space(&counter);
            if (counter.s[counter.pos++] == close)
                break;
        }
        is_object ? msgpack_pack_map(pk, count) : msgpack_pack_array(pk, count);
    }
    for (;;) {
        skip_space(p);
        if (is_object) {
            if (p->pos >= p->len || p->s[p->pos] != '"' || !parse_string(p))
                return false;
            skip_space(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return false;
            p->pos++;
        }
        if (!parse_value(p, depth + 1))
            return false;
        skip_space(p);
        if (p->pos >= p->len)
            return false;
        char c = p->s[p->pos];
        if (c == close) {
            p->pos++;
            return true;
        }
        if (c != ',')
            return false;
        p->pos++;
    }
}

static bool parse_value(json_parser *p, size_t depth)
{
    skip_space(p);
    if (p->pos >= p->len)
        return false;
    char c = p->s[p->pos];
    switch (c) {
    case '{': return parse_container(p, depth, true);
    case '[': return parse_container(p, depth, false);
    case '"': return parse_string(p);
    case 't':
        if (!literal(p, "true")) return false;
        if (p->pk) msgpack_pack_true(p->pk);
        return true;
    case 'f':
        if (!literal(p, "false")) return false;
        if (p->pk) msgpack_pack_false(p->pk);
        return true;
    case 'n':
        if (!literal(p, "null")) return false;
        if (p->pk) msgpack_pack_nil(p->pk);
        return true;
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return parse_number(p);
        return false;
    }
}

/* One JSON value, whitespace around it allowed, nothing else. */
static bool parse_document(json_parser *p)
{
    if (!parse_value(p, 0))
        return false;
    skip_space(p);
    return p->pos == p->len;
}

usher_err msg_from_json(const char *json, size_t len, msgpack_packer *pk, size_t *err_at)
{
    json_parser check = { json, len, 0, NULL };
    if (err_at)
        *err_at = 0;
    if (!json || !parse_document(&check)) {
        if (err_at)
            *err_at = check.pos;
        return USHER_ERR_INVALID_ARGUMENT;
    }
    json_parser packer = { json, len, 0, pk };
    parse_document(&packer);
    return USHER_ERR_OK;
}
