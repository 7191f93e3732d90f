/* Token signing and verification, and user ids.
 * Wire form: "u1." + base64url-no-padding(claims || signature), where claims
 * is a fixed 46-byte big-endian layout and signature is Ed25519
 * (crypto_sign_detached) over those 46 bytes:
 *   off  0  version      1 byte (TOKEN_VERSION)
 *   off  1  kind         1 byte (token_kind)
 *   off  2  key_id       4 bytes
 *   off  6  user        16 bytes
 *   off 22  expires_at   8 bytes, signed
 *   off 30  concert_id   8 bytes
 *   off 38  seq          8 bytes
 * Every token therefore has exactly one length (TOKEN_WIRE_LEN). The
 * signature is checked before any claim is read. Keys are read-only here, so
 * any thread may call these functions. */
#include "token.h"

#include <sodium.h>
#include <string.h>

#define TOKEN_VERSION 1u
#define TOKEN_PREFIX "u1."
#define TOKEN_PREFIX_LEN (sizeof TOKEN_PREFIX - 1)
#define TOKEN_CLAIMS_LEN 46u
#define TOKEN_BIN_LEN (TOKEN_CLAIMS_LEN + crypto_sign_BYTES)
#define TOKEN_B64_LEN ((TOKEN_BIN_LEN * 4u + 2u) / 3u) /* unpadded */
#define TOKEN_WIRE_LEN (TOKEN_PREFIX_LEN + TOKEN_B64_LEN)
#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

_Static_assert(TOKEN_WIRE_LEN <= TOKEN_MAX_LEN, "a token must fit TOKEN_MAX_LEN");

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static bool kind_is_valid(unsigned kind)
{
    return kind >= TOKEN_SESSION && kind <= TOKEN_ADMIN;
}

static void claims_encode(const token_claims *c, uint32_t key_id, uint8_t out[TOKEN_CLAIMS_LEN])
{
    out[0] = TOKEN_VERSION;
    out[1] = (uint8_t)c->kind;
    put_be32(out + 2, key_id);
    memcpy(out + 6, c->user.bytes, sizeof c->user.bytes);
    put_be64(out + 22, (uint64_t)c->expires_at_ms);
    put_be64(out + 30, c->concert_id);
    put_be64(out + 38, c->seq);
}

/* Only called on bytes whose signature has been verified. */
static bool claims_decode(const uint8_t in[TOKEN_CLAIMS_LEN], token_claims *out)
{
    if (in[0] != TOKEN_VERSION || !kind_is_valid(in[1]))
        return false;
    out->kind = (token_kind)in[1];
    out->key_id = get_be32(in + 2);
    memcpy(out->user.bytes, in + 6, sizeof out->user.bytes);
    out->expires_at_ms = (int64_t)get_be64(in + 22);
    out->concert_id = get_be64(in + 30);
    out->seq = get_be64(in + 38);
    return true;
}

usher_err token_sign(const token_keys *keys, const token_claims *claims,
                     char *out, size_t cap, size_t *len)
{
    uint8_t bin[TOKEN_BIN_LEN];

    if (!kind_is_valid((unsigned)claims->kind) || cap < TOKEN_WIRE_LEN + 1)
        return USHER_ERR_INTERNAL;
    claims_encode(claims, keys->key_id, bin);
    if (crypto_sign_detached(bin + TOKEN_CLAIMS_LEN, NULL, bin, TOKEN_CLAIMS_LEN,
                             keys->secret_key) != 0)
        return USHER_ERR_INTERNAL;
    memcpy(out, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
    sodium_bin2base64(out + TOKEN_PREFIX_LEN, cap - TOKEN_PREFIX_LEN, bin, sizeof bin, B64_VARIANT);
    if (len)
        *len = TOKEN_WIRE_LEN;
    return USHER_ERR_OK;
}

size_t token_length(void)
{
    return TOKEN_WIRE_LEN;
}

/* Decodes the base64 part into bin, accepting only the one canonical
 * encoding: libsodium already refuses stray characters and non-zero padding
 * bits, and re-encoding makes that independent of the libsodium version. */
static bool decode_canonical(const char *b64, uint8_t bin[TOKEN_BIN_LEN])
{
    char again[TOKEN_B64_LEN + 1];
    size_t bin_len = 0;

    if (sodium_base642bin(bin, TOKEN_BIN_LEN, b64, TOKEN_B64_LEN, NULL, &bin_len, NULL,
                          B64_VARIANT) != 0 || bin_len != TOKEN_BIN_LEN)
        return false;
    sodium_bin2base64(again, sizeof again, bin, TOKEN_BIN_LEN, B64_VARIANT);
    return memcmp(again, b64, TOKEN_B64_LEN) == 0;
}

/* The token's bytes, canonical and of the one valid length, into bin. */
static bool token_parse(const char *tok, size_t len, uint8_t bin[TOKEN_BIN_LEN])
{
    return tok != NULL && len == TOKEN_WIRE_LEN && memcmp(tok, TOKEN_PREFIX, TOKEN_PREFIX_LEN) == 0
        && decode_canonical(tok + TOKEN_PREFIX_LEN, bin);
}

/* The claims of a parsed token, when they are well-formed and name keys. */
static bool token_claims_of(const token_keys *keys, const uint8_t bin[TOKEN_CLAIMS_LEN], token_claims *out)
{
    token_claims claims;
    if (!claims_decode(bin, &claims) || claims.key_id != keys->key_id)
        return false;
    if (out)
        *out = claims;
    return true;
}

bool token_verify(const token_keys *keys, const char *tok, size_t len, token_claims *out)
{
    uint8_t bin[TOKEN_BIN_LEN];

    if (!token_parse(tok, len, bin))
        return false;
    if (crypto_sign_verify_detached(bin + TOKEN_CLAIMS_LEN, bin, TOKEN_CLAIMS_LEN,
                                    keys->public_key) != 0)
        return false;
    return token_claims_of(keys, bin, out);
}

/* The value of one base64url character, or -1. */
static int b64url_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '-') return 62;
    if (ch == '_') return 63;
    return -1;
}

/* Characters that carry the claims: whole 4-character groups, 48 bytes. */
#define CLAIMS_B64_CHARS (((TOKEN_CLAIMS_LEN + 2u) / 3u) * 4u)
_Static_assert(CLAIMS_B64_CHARS <= TOKEN_B64_LEN, "the claims are a prefix of the base64 part");

bool token_claims_trusted(const token_keys *keys, const char *tok, size_t len, token_claims *out)
{
    /* The string was verified in full before, so it is canonical: decode
     * just the claims, without libsodium's constant-time decoder and the
     * re-encoding that proves canonical form. */
    uint8_t bin[CLAIMS_B64_CHARS / 4u * 3u];
    if (tok == NULL || len != TOKEN_WIRE_LEN || memcmp(tok, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
        return false;
    const char *b64 = tok + TOKEN_PREFIX_LEN;
    for (size_t i = 0; i < CLAIMS_B64_CHARS; i += 4) {
        int a = b64url_value(b64[i]), b = b64url_value(b64[i + 1]);
        int c = b64url_value(b64[i + 2]), d = b64url_value(b64[i + 3]);
        if ((a | b | c | d) < 0)
            return false;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        bin[i / 4 * 3] = (uint8_t)(v >> 16);
        bin[i / 4 * 3 + 1] = (uint8_t)(v >> 8);
        bin[i / 4 * 3 + 2] = (uint8_t)v;
    }
    return token_claims_of(keys, bin, out);
}

/* ---- user ids ---- */

static const char hex_digits[] = "0123456789abcdef";

static bool is_dash_position(size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

void user_id_format(const user_id *user, char out[37])
{
    size_t o = 0;
    for (size_t i = 0; i < sizeof user->bytes; i++) {
        if (is_dash_position(o))
            out[o++] = '-';
        out[o++] = hex_digits[user->bytes[i] >> 4];
        out[o++] = hex_digits[user->bytes[i] & 0x0f];
    }
    out[o] = '\0';
}

static int lower_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool user_id_parse(const char *s, size_t len, user_id *out)
{
    user_id parsed;
    size_t n = 0;

    if (s == NULL || len != 36)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (is_dash_position(i)) {
            if (s[i] != '-')
                return false;
            continue;
        }
        int hi = lower_hex_value(s[i]);
        int lo = i + 1 < len ? lower_hex_value(s[i + 1]) : -1;
        if (hi < 0 || lo < 0 || is_dash_position(i + 1))
            return false;
        parsed.bytes[n++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    if (n != sizeof parsed.bytes)
        return false;
    if (out)
        *out = parsed;
    return true;
}

void user_id_random(user_id *out)
{
    randombytes_buf(out->bytes, sizeof out->bytes);
    out->bytes[6] = (uint8_t)((out->bytes[6] & 0x0f) | 0x40); /* version 4 */
    out->bytes[8] = (uint8_t)((out->bytes[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}
