/* Tokens in replies: a write's token is packed as a placeholder and signed
 * later on the loop thread; the finished reply holds a valid token with the
 * claims the handler gave, in the place the handler packed it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <msgpack.h>
#include <sodium.h>
#include "../../server/token_reply.h"

typedef struct fixture {
    token_keys keys;
    call_env env;
    msgpack_sbuffer buf;
    msgpack_packer pk;
    call c;
} fixture;

static const method_def plain_write = { USHER_METHOD_QUEUE_ENTER, NULL, METHOD_WRITE, NULL };
static const method_def idempotent = { USHER_METHOD_WALLET_CHARGE, NULL, METHOD_WRITE | METHOD_IDEMPOTENT, NULL };

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof f);
    if (sodium_init() < 0) return -1;
    crypto_sign_keypair(f.keys.public_key, f.keys.secret_key);
    f.keys.key_id = 0x01020304u;
    f.env.keys = &f.keys;
    msgpack_sbuffer_init(&f.buf);
    msgpack_packer_init(&f.pk, &f.buf, msgpack_sbuffer_write);
    f.c.env = &f.env;
    f.c.out = &f.pk;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    msgpack_sbuffer_destroy(&f->buf);
    return 0;
}

static token_claims claims_for(uint64_t seq)
{
    token_claims c = { .kind = TOKEN_QUEUE, .concert_id = 7, .seq = seq, .expires_at_ms = 1234567 };
    c.user.bytes[0] = 9;
    return c;
}

/* The string under key in the packed map (a copy in out), or false. */
static bool packed_str(const msgpack_sbuffer *buf, const char *key, char *out, size_t cap)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    bool found = false;
    if (msgpack_unpack_next(&u, buf->data, buf->size, NULL) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < u.data.via.map.size; i++) {
            msgpack_object_kv *kv = &u.data.via.map.ptr[i];
            if (kv->key.via.str.size == strlen(key) && memcmp(kv->key.via.str.ptr, key, strlen(key)) == 0 &&
                kv->val.type == MSGPACK_OBJECT_STR && kv->val.via.str.size < cap) {
                memcpy(out, kv->val.via.str.ptr, kv->val.via.str.size);
                out[kv->val.via.str.size] = '\0';
                found = true;
            }
        }
    }
    msgpack_unpacked_destroy(&u);
    return found;
}

static void test_write_token_is_signed_at_finish_in_its_place(void **state)
{
    fixture *f = *state;
    f->c.method = &plain_write;
    token_claims in = claims_for(42), out;
    msgpack_pack_map(&f->pk, 2);
    assert_int_equal(token_reply_pack(&f->c, "token", &in), USHER_ERR_OK);
    msgpack_pack_str_with_body(&f->pk, "after", 5);
    msgpack_pack_int(&f->pk, 1);
    assert_true(f->c.token_pending);

    char tok[TOKEN_MAX_LEN + 1];
    assert_true(packed_str(&f->buf, "token", tok, sizeof tok));
    assert_int_equal(strlen(tok), token_length());
    assert_false(token_verify(&f->keys, tok, strlen(tok), NULL));   /* only a placeholder yet */

    token_cache *cache = token_cache_new(64);
    assert_non_null(cache);
    assert_int_equal(token_reply_finish(&f->c, &f->buf, cache), USHER_ERR_OK);
    assert_false(f->c.token_pending);
    assert_true(packed_str(&f->buf, "token", tok, sizeof tok));
    assert_true(token_verify(&f->keys, tok, strlen(tok), &out));
    /* Remembered as signed: its first use is a hit, with no signature check. */
    token_keys verify_nothing = f->keys;
    memset(verify_nothing.public_key, 0, sizeof verify_nothing.public_key);
    assert_true(token_verify_cached(&verify_nothing, cache, tok, strlen(tok), &out));
    assert_int_equal(token_cache_stats_get(cache).misses, 0);
    token_cache_free(cache);
    assert_int_equal(out.seq, 42);
    assert_int_equal(out.concert_id, 7);
    assert_int_equal(out.kind, TOKEN_QUEUE);
    assert_int_equal(out.expires_at_ms, 1234567);
    assert_memory_equal(out.user.bytes, in.user.bytes, 16);
    char after[8];
    assert_false(packed_str(&f->buf, "after", after, sizeof after));   /* an int, untouched */
    assert_int_equal(token_reply_finish(&f->c, &f->buf, NULL), USHER_ERR_OK); /* nothing left */
}

/* An idempotent write's result is stored before the reply: signed at once.
 * So is a second token in one call. */
static void test_idempotent_or_second_token_is_signed_at_once(void **state)
{
    fixture *f = *state;
    char tok[TOKEN_MAX_LEN + 1];
    token_claims a = claims_for(1), b = claims_for(2), out;

    f->c.method = &idempotent;
    msgpack_pack_map(&f->pk, 1);
    assert_int_equal(token_reply_pack(&f->c, "token", &a), USHER_ERR_OK);
    assert_false(f->c.token_pending);
    assert_true(packed_str(&f->buf, "token", tok, sizeof tok));
    assert_true(token_verify(&f->keys, tok, strlen(tok), &out));
    assert_int_equal(out.seq, 1);

    msgpack_sbuffer_clear(&f->buf);
    f->c.method = &plain_write;
    msgpack_pack_map(&f->pk, 2);
    assert_int_equal(token_reply_pack(&f->c, "first", &a), USHER_ERR_OK);
    assert_int_equal(token_reply_pack(&f->c, "second", &b), USHER_ERR_OK);
    assert_true(packed_str(&f->buf, "second", tok, sizeof tok));
    assert_true(token_verify(&f->keys, tok, strlen(tok), &out));
    assert_int_equal(out.seq, 2);
    assert_int_equal(token_reply_finish(&f->c, &f->buf, NULL), USHER_ERR_OK);
    assert_true(packed_str(&f->buf, "first", tok, sizeof tok));
    assert_true(token_verify(&f->keys, tok, strlen(tok), &out));
    assert_int_equal(out.seq, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_token_is_signed_at_finish_in_its_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_or_second_token_is_signed_at_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
