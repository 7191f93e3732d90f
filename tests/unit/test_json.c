/* The JSON bridge: text in, msgpack out and back, strict about bad JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "msg.h"

/* JSON -> msgpack -> decoded object -> JSON text (compact), in one call. */
typedef struct json_trip {
    msgpack_sbuffer packed;
    msgpack_zone zone;
    msgpack_object obj;
    msgpack_sbuffer text;
} json_trip;

static usher_err trip_run(json_trip *t, const char *json, bool pretty, size_t *err_at)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(&t->packed);
    msgpack_sbuffer_init(&t->text);
    msgpack_zone_init(&t->zone, 512);
    msgpack_packer_init(&pk, &t->packed, msgpack_sbuffer_write);
    usher_err err = msg_from_json(json, strlen(json), &pk, err_at);
    if (err != USHER_ERR_OK)
        return err;
    msg_limits lim = { 32, MSG_MAX_ELEMS_DEFAULT };
    assert_int_equal(msg_decode((const uint8_t *)t->packed.data, t->packed.size, &lim,
                                &t->zone, &t->obj), USHER_ERR_OK);
    msg_to_json(&t->obj, &t->text, pretty);
    return USHER_ERR_OK;
}

static void trip_free(json_trip *t)
{
    msgpack_sbuffer_destroy(&t->packed);
    msgpack_sbuffer_destroy(&t->text);
    msgpack_zone_destroy(&t->zone);
}

/* Asserts that json reads and writes back (compact) as expect. */
static void assert_round_trip(const char *json, const char *expect)
{
    json_trip t;
    size_t err_at = 99;
    assert_int_equal(trip_run(&t, json, false, &err_at), USHER_ERR_OK);
    assert_string_equal(t.text.data, expect);   /* msg_to_json leaves a NUL after the text */
    assert_int_equal(t.text.size, strlen(expect));
    trip_free(&t);
}

/* Asserts that json is refused with the error at byte offset at. */
static void assert_bad_json(const char *json, size_t at)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t err_at = 12345;
    assert_int_equal(msg_from_json(json, strlen(json), &pk, &err_at), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(err_at, at);
    assert_int_equal(sb.size, 0);   /* nothing packed from bad JSON */
    msgpack_sbuffer_destroy(&sb);
}

static void test_json_round_trips_every_type(void **state)
{
    (void)state;
    assert_round_trip("{\"a\":1,\"b\":[true,false,null],\"c\":\"x\",\"d\":-5,\"e\":{}}",
                      "{\"a\":1,\"b\":[true,false,null],\"c\":\"x\",\"d\":-5,\"e\":{}}");
    assert_round_trip("  [ 1 , 2 ,\n\t3 ]  ", "[1,2,3]");
    assert_round_trip("[]", "[]");
    assert_round_trip("\"only a string\"", "\"only a string\"");
    assert_round_trip("0", "0");
    assert_round_trip("-0", "0");
    assert_round_trip("{\"\":\"\"}", "{\"\":\"\"}");   /* empty strings */
}

static void test_json_numbers_ints_and_floats(void **state)
{
    (void)state;
    assert_round_trip("[1.5,-0.25,1e3,2E-2,1.0]", "[1.5,-0.25,1000.0,0.02,1.0]");
    assert_round_trip("0.1", "0.10000000000000001");   /* %.17g */

    /* integers keep their type; a fraction or exponent makes a float64 */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const char *json = "[7,-7,7.0,7e0]";
    assert_int_equal(msg_from_json(json, strlen(json), &pk, NULL), USHER_ERR_OK);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 256);
    msgpack_object o;
    msg_limits lim = msg_limits_default();
    assert_int_equal(msg_decode((const uint8_t *)sb.data, sb.size, &lim, &zone, &o), USHER_ERR_OK);
    assert_int_equal(o.via.array.ptr[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(o.via.array.ptr[1].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    assert_int_equal(o.via.array.ptr[2].type, MSGPACK_OBJECT_FLOAT64);
    assert_int_equal(o.via.array.ptr[3].type, MSGPACK_OBJECT_FLOAT64);
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&sb);
}

static void test_json_big_integers(void **state)
{
    (void)state;
    assert_round_trip("18446744073709551615", "18446744073709551615");      /* UINT64_MAX */
    assert_round_trip("-9223372036854775808", "-9223372036854775808");      /* INT64_MIN */
    assert_round_trip("9223372036854775808", "9223372036854775808");        /* past INT64_MAX */
    /* past the 64-bit range: a float */
    assert_round_trip("18446744073709551616", "1.8446744073709552e+19");
    assert_round_trip("-9223372036854775809", "-9.2233720368547758e+18");
}

static void test_json_string_escapes(void **state)
{
    (void)state;
    assert_round_trip("\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\"", "\"q\\\" b\\\\ s/ \\b\\f\\n\\r\\t\"");
    assert_round_trip("\"\\u0001\\u001f\\u007f\"", "\"\\u0001\\u001f\\u007f\"");
    assert_round_trip("\"nul\\u0000inside\"", "\"nul\\u0000inside\"");
}

static void test_json_unicode_and_surrogate_pairs(void **state)
{
    (void)state;
    /* escapes become UTF-8; raw UTF-8 passes through */
    assert_round_trip("\"\\u00e9\\u4e2d\"", "\"\xc3\xa9\xe4\xb8\xad\"");
    assert_round_trip("\"\\ud83c\\udfb5\"", "\"\xf0\x9f\x8e\xb5\"");   /* U+1F3B5 */
    assert_round_trip("\"\xf0\x9f\x8e\xb5 \xea\xb3\xb5\xec\x97\xb0\"",
                      "\"\xf0\x9f\x8e\xb5 \xea\xb3\xb5\xec\x97\xb0\"");
    /* lone or reversed surrogates and invalid UTF-8 are refused */
    assert_bad_json("\"\\ud83c\"", 7);
    assert_bad_json("\"\\udfb5\\ud83c\"", 3);
    assert_bad_json("\"\\ud83c\\u0041\"", 9);
    assert_bad_json("\"\xc3\x28\"", 1);
    assert_bad_json("\"\xed\xa0\x80\"", 1);        /* encoded surrogate */
    assert_bad_json("\"\xc0\xaf\"", 1);            /* overlong */
}

/* Decodes the msgpack in sb and writes it as compact JSON into text. */
static void json_of_packed(const msgpack_sbuffer *sb, msgpack_sbuffer *text)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 256);
    msgpack_object o;
    msg_limits lim = msg_limits_default();
    assert_int_equal(msg_decode((const uint8_t *)sb->data, sb->size, &lim, &zone, &o), USHER_ERR_OK);
    msg_to_json(&o, text, false);
    msgpack_zone_destroy(&zone);
}

static void test_json_binary_and_non_utf8_as_base64(void **state)
{
    (void)state;
    msgpack_sbuffer sb, text;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&text);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_bin(&pk, 4);
    msgpack_pack_bin_body(&pk, "\x00\x01\x02\xff", 4);
    msgpack_pack_str(&pk, 2);
    msgpack_pack_str_body(&pk, "\xff\xfe", 2);
    msgpack_pack_bin(&pk, 0);
    json_of_packed(&sb, &text);
    assert_string_equal(text.data, "[\"base64:AAEC/w==\",\"base64://4=\",\"base64:\"]");
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&text);
}

static void test_json_non_string_map_keys_become_strings(void **state)
{
    (void)state;
    msgpack_sbuffer sb, text;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&text);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_uint8(&pk, 17);
    msgpack_pack_true(&pk);
    msgpack_pack_array(&pk, 1);
    msg_pack_cstr(&pk, "k");
    msgpack_pack_nil(&pk);
    json_of_packed(&sb, &text);
    assert_string_equal(text.data, "{\"17\":true,\"[\\\"k\\\"]\":null}");
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&text);
}

static void test_json_pretty_uses_two_space_indent(void **state)
{
    (void)state;
    json_trip t;
    assert_int_equal(trip_run(&t, "{\"a\":[1,{}],\"b\":[]}", true, NULL), USHER_ERR_OK);
    assert_string_equal(t.text.data,
                        "{\n"
                        "  \"a\": [\n"
                        "    1,\n"
                        "    {}\n"
                        "  ],\n"
                        "  \"b\": []\n"
                        "}");
    trip_free(&t);
}

/* n nested arrays around 0: "[[...[0]...]]" */
static char *nested_arrays(size_t n)
{
    char *s = malloc(2 * n + 2);
    assert_non_null(s);
    memset(s, '[', n);
    s[n] = '0';
    memset(s + n + 1, ']', n);
    s[2 * n + 1] = '\0';
    return s;
}

static void test_json_nesting_cap_is_32(void **state)
{
    (void)state;
    char *at = nested_arrays(32), *past = nested_arrays(33);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(msg_from_json(at, strlen(at), &pk, NULL), USHER_ERR_OK);
    assert_true(sb.size > 32);
    msgpack_sbuffer_destroy(&sb);
    assert_bad_json(past, 32);   /* the 33rd bracket */
    free(at);
    free(past);

    char *deep = nested_arrays(100000);   /* no stack overflow on hostile input */
    assert_bad_json(deep, 32);
    free(deep);
}

static void test_json_bad_text_reports_offset(void **state)
{
    (void)state;
    assert_bad_json("", 0);
    assert_bad_json("   ", 3);
    assert_bad_json("{\"a\":1,}", 7);
    assert_bad_json("[1,]", 3);
    assert_bad_json("[1 2]", 3);
    assert_bad_json("{\"a\" 1}", 5);
    assert_bad_json("{a:1}", 1);
    assert_bad_json("[01]", 2);
    assert_bad_json("-", 1);
    assert_bad_json("1.", 2);
    assert_bad_json("1e+", 3);
    assert_bad_json("tru", 0);
    assert_bad_json("nul", 0);
    assert_bad_json("\"abc", 4);
    assert_bad_json("\"a\nb\"", 2);        /* raw control character */
    assert_bad_json("\"\\x\"", 2);
    assert_bad_json("\"\\u12g4\"", 5);
    assert_bad_json("{} x", 3);
    assert_bad_json("[1]]", 3);
    assert_bad_json("'a'", 0);
    assert_bad_json("+1", 0);
    assert_bad_json("NaN", 0);
}

static void test_json_length_bounds_the_text(void **state)
{
    (void)state;
    /* the text need not be NUL-terminated: only len bytes are read */
    const char text[] = { '[', '1', ',', '2', ']', '9', '9' };
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(msg_from_json(text, 5, &pk, NULL), USHER_ERR_OK);
    assert_int_equal(sb.size, 3);   /* 0x92 0x01 0x02 */
    size_t err_at;
    assert_int_equal(msg_from_json("12", 1, &pk, &err_at), USHER_ERR_OK);
    assert_int_equal(sb.size, 4);
    assert_int_equal((uint8_t)sb.data[3], 1);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_round_trips_every_type),
        cmocka_unit_test(test_json_numbers_ints_and_floats),
        cmocka_unit_test(test_json_big_integers),
        cmocka_unit_test(test_json_string_escapes),
        cmocka_unit_test(test_json_unicode_and_surrogate_pairs),
        cmocka_unit_test(test_json_binary_and_non_utf8_as_base64),
        cmocka_unit_test(test_json_non_string_map_keys_become_strings),
        cmocka_unit_test(test_json_pretty_uses_two_space_indent),
        cmocka_unit_test(test_json_nesting_cap_is_32),
        cmocka_unit_test(test_json_bad_text_reports_offset),
        cmocka_unit_test(test_json_length_bounds_the_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
