/* msg_check refuses anything msgpack-c should not be allowed to allocate for;
 * envelopes parse and pack the shapes of the protocol contract. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "frame.h"
#include "msg.h"

typedef struct packed {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} packed;

static void packed_init(packed *p)
{
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static const uint8_t *bytes(const packed *p)
{
    return (const uint8_t *)p->sb.data;
}

static usher_err check_default(const uint8_t *buf, size_t len)
{
    msg_limits lim = msg_limits_default();
    return msg_check(buf, len, &lim);
}

/* depth nested arrays, the innermost holding one 1. */
static void pack_nested_arrays(packed *p, size_t depth)
{
    for (size_t i = 0; i < depth; i++)
        msgpack_pack_array(&p->pk, 1);
    msgpack_pack_uint8(&p->pk, 1);
}

static void test_msg_limits_default_values(void **state)
{
    (void)state;
    msg_limits lim = msg_limits_default();
    assert_int_equal(lim.max_depth, MSG_MAX_DEPTH_DEFAULT);
    assert_int_equal(lim.max_elems, MSG_MAX_ELEMS_DEFAULT);
}

static void test_msg_check_depth_at_limit_and_one_past(void **state)
{
    (void)state;
    msg_limits lim = { 4, 100 };
    packed at, past;
    packed_init(&at);
    packed_init(&past);
    pack_nested_arrays(&at, 4);
    pack_nested_arrays(&past, 5);
    assert_int_equal(msg_check(bytes(&at), at.sb.size, &lim), USHER_ERR_OK);
    assert_int_equal(msg_check(bytes(&past), past.sb.size, &lim), USHER_ERR_BAD_FRAME);

    /* an empty container still counts as a level */
    msgpack_sbuffer_clear(&past.sb);
    for (int i = 0; i < 4; i++) {
        msgpack_pack_map(&past.pk, 1);
        msgpack_pack_uint8(&past.pk, 0);
    }
    msgpack_pack_map(&past.pk, 0);
    assert_int_equal(msg_check(bytes(&past), past.sb.size, &lim), USHER_ERR_BAD_FRAME);

    /* the default depth */
    msgpack_sbuffer_clear(&at.sb);
    msgpack_sbuffer_clear(&past.sb);
    pack_nested_arrays(&at, MSG_MAX_DEPTH_DEFAULT);
    pack_nested_arrays(&past, MSG_MAX_DEPTH_DEFAULT + 1);
    assert_int_equal(check_default(bytes(&at), at.sb.size), USHER_ERR_OK);
    assert_int_equal(check_default(bytes(&past), past.sb.size), USHER_ERR_BAD_FRAME);
    msgpack_sbuffer_destroy(&at.sb);
    msgpack_sbuffer_destroy(&past.sb);
}

static void test_msg_check_elements_at_limit_and_one_past(void **state)
{
    (void)state;
    msg_limits lim = msg_limits_default();
    packed p;
    packed_init(&p);
    msgpack_pack_array(&p.pk, MSG_MAX_ELEMS_DEFAULT);
    for (unsigned i = 0; i < MSG_MAX_ELEMS_DEFAULT; i++)
        msgpack_pack_nil(&p.pk);
    assert_int_equal(msg_check(bytes(&p), p.sb.size, &lim), USHER_ERR_OK);

    msgpack_sbuffer_clear(&p.sb);
    msgpack_pack_array(&p.pk, MSG_MAX_ELEMS_DEFAULT + 1);
    for (unsigned i = 0; i < MSG_MAX_ELEMS_DEFAULT + 1; i++)
        msgpack_pack_nil(&p.pk);
    assert_int_equal(msg_check(bytes(&p), p.sb.size, &lim), USHER_ERR_BAD_FRAME);

    /* a map's limit counts pairs */
    lim.max_elems = 3;
    msgpack_sbuffer_clear(&p.sb);
    msgpack_pack_map(&p.pk, 3);
    for (int i = 0; i < 6; i++)
        msgpack_pack_uint8(&p.pk, (uint8_t)i);
    assert_int_equal(msg_check(bytes(&p), p.sb.size, &lim), USHER_ERR_OK);
    msgpack_sbuffer_clear(&p.sb);
    msgpack_pack_map(&p.pk, 4);
    for (int i = 0; i < 8; i++)
        msgpack_pack_uint8(&p.pk, (uint8_t)i);
    assert_int_equal(msg_check(bytes(&p), p.sb.size, &lim), USHER_ERR_BAD_FRAME);
    msgpack_sbuffer_destroy(&p.sb);
}

static void test_msg_check_string_length_exact_and_one_past(void **state)
{
    (void)state;
    /* str8, str16, str32, bin8 and ext8 whose declared length is exactly the bytes left */
    static const uint8_t str8[] = { 0xd9, 3, 'a', 'b', 'c' };
    static const uint8_t str16[] = { 0xda, 0, 2, 'a', 'b' };
    static const uint8_t str32[] = { 0xdb, 0, 0, 0, 1, 'a' };
    static const uint8_t bin8[] = { 0xc4, 2, 0, 1 };
    static const uint8_t ext8[] = { 0xc7, 2, 5, 0, 1 };
    static const uint8_t fixstr[] = { 0xa2, 'h', 'i' };
    const uint8_t *ok[] = { str8, str16, str32, bin8, ext8, fixstr };
    const size_t ok_len[] = { sizeof str8, sizeof str16, sizeof str32, sizeof bin8,
                              sizeof ext8, sizeof fixstr };
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(check_default(ok[i], ok_len[i]), USHER_ERR_OK);
        /* one byte missing: the declared length is one past the bytes left */
        assert_int_equal(check_default(ok[i], ok_len[i] - 1), USHER_ERR_BAD_FRAME);
    }
}

static void test_msg_check_truncated_objects_are_refused(void **state)
{
    (void)state;
    packed p;
    packed_init(&p);
    msg_pack_request_head(&p.pk, 7, "seat.reserve");
    msgpack_pack_map(&p.pk, 2);
    msg_pack_cstr(&p.pk, "seat_no");
    msgpack_pack_uint32(&p.pk, 100000);
    msg_pack_cstr(&p.pk, "price");
    msgpack_pack_double(&p.pk, 1.5);
    assert_int_equal(check_default(bytes(&p), p.sb.size), USHER_ERR_OK);
    for (size_t cut = 0; cut < p.sb.size; cut++)
        assert_int_equal(check_default(bytes(&p), cut), USHER_ERR_BAD_FRAME);
    msgpack_sbuffer_destroy(&p.sb);
}

static void test_msg_check_trailing_bytes_are_refused(void **state)
{
    (void)state;
    static const uint8_t two_objects[] = { 0x01, 0x02 };
    static const uint8_t array_then_nil[] = { 0x91, 0x01, 0xc0 };
    assert_int_equal(check_default(two_objects, 1), USHER_ERR_OK);
    assert_int_equal(check_default(two_objects, 2), USHER_ERR_BAD_FRAME);
    assert_int_equal(check_default(array_then_nil, 3), USHER_ERR_BAD_FRAME);
    assert_int_equal(check_default(two_objects, 0), USHER_ERR_BAD_FRAME);
}

static void test_msg_check_reserved_byte_c1_is_refused(void **state)
{
    (void)state;
    static const uint8_t alone[] = { 0xc1 };
    static const uint8_t inside[] = { 0x92, 0x01, 0xc1 };
    assert_int_equal(check_default(alone, 1), USHER_ERR_BAD_FRAME);
    assert_int_equal(check_default(inside, 3), USHER_ERR_BAD_FRAME);
}

static void test_msg_check_hostile_counts_refused_without_allocating(void **state)
{
    (void)state;
    static const uint8_t array32[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
    static const uint8_t map32[] = { 0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0 };
    static const uint8_t str32[] = { 0xdb, 0xff, 0xff, 0xff, 0xff, 'x' };
    static const uint8_t bin32[] = { 0xc6, 0x80, 0x00, 0x00, 0x00 };
    static const uint8_t ext32[] = { 0xc9, 0xff, 0xff, 0xff, 0xff, 1 };
    /* a map of 2 pairs needs at least 4 bytes after its header */
    static const uint8_t map_short[] = { 0x82, 0x01, 0x02, 0x03 };
    msg_limits generous = { 16, UINT32_MAX };
    assert_int_equal(msg_check(array32, sizeof array32, &generous), USHER_ERR_BAD_FRAME);
    assert_int_equal(msg_check(map32, sizeof map32, &generous), USHER_ERR_BAD_FRAME);
    assert_int_equal(msg_check(str32, sizeof str32, &generous), USHER_ERR_BAD_FRAME);
    assert_int_equal(msg_check(bin32, sizeof bin32, &generous), USHER_ERR_BAD_FRAME);
    assert_int_equal(msg_check(ext32, sizeof ext32, &generous), USHER_ERR_BAD_FRAME);
    assert_int_equal(msg_check(map_short, sizeof map_short, &generous), USHER_ERR_BAD_FRAME);

    /* msg_decode refuses them before msgpack-c sees the counts: the zone stays empty. */
    msgpack_zone zone;
    msgpack_zone_init(&zone, 256);
    msgpack_object obj;
    msg_limits lim = msg_limits_default();
    assert_int_equal(msg_decode(array32, sizeof array32, &lim, &zone, &obj), USHER_ERR_BAD_FRAME);
    assert_int_equal(msg_decode(map32, sizeof map32, &lim, &zone, &obj), USHER_ERR_BAD_FRAME);
    assert_true(msgpack_zone_is_empty(&zone));
    msgpack_zone_destroy(&zone);
}

static void test_msg_decode_round_trips(void **state)
{
    (void)state;
    packed p;
    packed_init(&p);
    msgpack_pack_map(&p.pk, 5);
    msg_pack_cstr(&p.pk, "int");
    msgpack_pack_int64(&p.pk, -42);
    msg_pack_cstr(&p.pk, "big");
    msgpack_pack_uint64(&p.pk, UINT64_MAX);
    msg_pack_cstr(&p.pk, "list");
    msgpack_pack_array(&p.pk, 2);
    msgpack_pack_true(&p.pk);
    msgpack_pack_nil(&p.pk);
    msg_pack_cstr(&p.pk, "text");
    msg_pack_strn(&p.pk, "a\0b", 3);
    msg_pack_cstr(&p.pk, "float");
    msgpack_pack_double(&p.pk, 0.25);

    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object o;
    msg_limits lim = msg_limits_default();
    assert_int_equal(msg_decode(bytes(&p), p.sb.size, &lim, &zone, &o), USHER_ERR_OK);
    assert_int_equal(o.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(msg_map_get(&o, "int")->via.i64, -42);
    assert_true(msg_map_get(&o, "big")->via.u64 == UINT64_MAX);
    assert_int_equal(msg_map_get(&o, "list")->via.array.size, 2);
    const msgpack_object *text = msg_map_get(&o, "text");
    assert_int_equal(text->via.str.size, 3);
    assert_memory_equal(text->via.str.ptr, "a\0b", 3);
    assert_true(msg_map_get(&o, "float")->via.f64 == 0.25);
    assert_null(msg_map_get(&o, "missing"));
    assert_null(msg_map_get(msg_map_get(&o, "list"), "int"));  /* not a map */

    /* repacking the decoded object gives the same bytes */
    packed again;
    packed_init(&again);
    msgpack_pack_object(&again.pk, o);
    assert_int_equal(again.sb.size, p.sb.size);
    assert_memory_equal(again.sb.data, p.sb.data, p.sb.size);
    msgpack_sbuffer_destroy(&again.sb);
    msgpack_sbuffer_destroy(&p.sb);
    msgpack_zone_destroy(&zone);
}

static void test_msg_str_eq_compares_whole_strings(void **state)
{
    (void)state;
    msgpack_object o = { .type = MSGPACK_OBJECT_STR };
    o.via.str.ptr = "seat";
    o.via.str.size = 4;
    assert_true(msg_str_eq(&o, "seat"));
    assert_false(msg_str_eq(&o, "sea"));
    assert_false(msg_str_eq(&o, "seats"));
    assert_false(msg_str_eq(NULL, "seat"));
    msgpack_object n = { .type = MSGPACK_OBJECT_NIL };
    assert_false(msg_str_eq(&n, ""));
}

/* ---- requests ---- */

typedef struct decoded {
    packed p;
    msgpack_zone zone;
    msgpack_object obj;
} decoded;

static void decoded_init(decoded *d)
{
    packed_init(&d->p);
    msgpack_zone_init(&d->zone, 512);
}

static void decoded_finish(decoded *d)
{
    msg_limits lim = msg_limits_default();
    assert_int_equal(msg_decode(bytes(&d->p), d->p.sb.size, &lim, &d->zone, &d->obj),
                     USHER_ERR_OK);
}

static void decoded_free(decoded *d)
{
    msgpack_sbuffer_destroy(&d->p.sb);
    msgpack_zone_destroy(&d->zone);
}

static void test_msg_parse_request_accepts_good_request(void **state)
{
    (void)state;
    decoded d;
    decoded_init(&d);
    msg_pack_request_head(&d.p.pk, UINT32_MAX, "seat.reserve");
    msgpack_pack_map(&d.p.pk, 1);
    msg_pack_cstr(&d.p.pk, "seat_no");
    msgpack_pack_uint8(&d.p.pk, 17);
    decoded_finish(&d);
    msg_request req;
    bool known;
    assert_int_equal(msg_parse_request(&d.obj, &req, &known), USHER_ERR_OK);
    assert_true(known);
    assert_true(req.msgid == UINT32_MAX);
    assert_int_equal(req.method_len, strlen("seat.reserve"));
    assert_memory_equal(req.method, "seat.reserve", req.method_len);
    assert_non_null(req.params);
    assert_int_equal(msg_map_get(req.params, "seat_no")->via.u64, 17);
    decoded_free(&d);

    /* nil params read as NULL */
    decoded_init(&d);
    msg_pack_request_head(&d.p.pk, 0, "sys.ping");
    msgpack_pack_nil(&d.p.pk);
    decoded_finish(&d);
    assert_int_equal(msg_parse_request(&d.obj, &req, &known), USHER_ERR_OK);
    assert_true(known);
    assert_int_equal(req.msgid, 0);
    assert_null(req.params);
    decoded_free(&d);
}

/* The bad shapes: each packs one object and says whether its msgid is readable. */
enum bad_shape {
    BAD_NOT_ARRAY, BAD_ARITY_3, BAD_ARITY_5, BAD_TYPE_1, BAD_TYPE_NEG, BAD_TYPE_STR,
    BAD_MSGID_NEG, BAD_MSGID_BIG, BAD_MSGID_STR, BAD_METHOD_INT, BAD_METHOD_BIN,
    BAD_PARAMS_ARRAY, BAD_PARAMS_STR, BAD_PARAMS_INT_KEY, BAD_EMPTY_ARRAY, BAD__COUNT
};

static bool pack_bad_request(msgpack_packer *pk, enum bad_shape shape)
{
    switch (shape) {
    case BAD_NOT_ARRAY:
        msgpack_pack_map(pk, 0);
        return false;
    case BAD_EMPTY_ARRAY:
        msgpack_pack_array(pk, 0);
        return false;
    case BAD_ARITY_3:
        msgpack_pack_array(pk, 3);
        msgpack_pack_uint8(pk, 0); msgpack_pack_uint8(pk, 9); msg_pack_cstr(pk, "sys.ping");
        return true;
    case BAD_ARITY_5:
        msgpack_pack_array(pk, 5);
        msgpack_pack_uint8(pk, 0); msgpack_pack_uint8(pk, 9);
        msg_pack_cstr(pk, "sys.ping"); msgpack_pack_nil(pk); msgpack_pack_nil(pk);
        return true;
    case BAD_TYPE_1:
        msgpack_pack_array(pk, 4);
        msgpack_pack_uint8(pk, 1); msgpack_pack_uint8(pk, 9);
        msg_pack_cstr(pk, "sys.ping"); msgpack_pack_nil(pk);
        return true;
    case BAD_TYPE_NEG:
        msgpack_pack_array(pk, 4);
        msgpack_pack_int8(pk, -1); msgpack_pack_uint8(pk, 9);
        msg_pack_cstr(pk, "sys.ping"); msgpack_pack_nil(pk);
        return true;
    case BAD_TYPE_STR:
        msgpack_pack_array(pk, 4);
        msg_pack_cstr(pk, "0"); msgpack_pack_uint8(pk, 9);
        msg_pack_cstr(pk, "sys.ping"); msgpack_pack_nil(pk);
        return true;
    case BAD_MSGID_NEG:
        msgpack_pack_array(pk, 4);
        msgpack_pack_uint8(pk, 0); msgpack_pack_int8(pk, -9);
        msg_pack_cstr(pk, "sys.ping"); msgpack_pack_nil(pk);
        return false;
    case BAD_MSGID_BIG:
        msgpack_pack_array(pk, 4);
        msgpack_pack_uint8(pk, 0); msgpack_pack_uint64(pk, (uint64_t)UINT32_MAX + 1);
        msg_pack_cstr(pk, "sys.ping"); msgpack_pack_nil(pk);
        return false;
    case BAD_MSGID_STR:
        msgpack_pack_array(pk, 4);
        msgpack_pack_uint8(pk, 0); msg_pack_cstr(pk, "9");
        msg_pack_cstr(pk, "sys.ping"); msgpack_pack_nil(pk);
        return false;
    case BAD_METHOD_INT:
        msgpack_pack_array(pk, 4);
        msgpack_pack_uint8(pk, 0); msgpack_pack_uint8(pk, 9);
        msgpack_pack_uint8(pk, 1); msgpack_pack_nil(pk);
        return true;
    case BAD_METHOD_BIN:
        msgpack_pack_array(pk, 4);
        msgpack_pack_uint8(pk, 0); msgpack_pack_uint8(pk, 9);
        msgpack_pack_bin(pk, 8); msgpack_pack_bin_body(pk, "sys.ping", 8);
        msgpack_pack_nil(pk);
        return true;
    case BAD_PARAMS_ARRAY:
        msg_pack_request_head(pk, 9, "sys.ping");
        msgpack_pack_array(pk, 0);
        return true;
    case BAD_PARAMS_STR:
        msg_pack_request_head(pk, 9, "sys.ping");
        msg_pack_cstr(pk, "{}");
        return true;
    case BAD_PARAMS_INT_KEY:
        msg_pack_request_head(pk, 9, "sys.ping");
        msgpack_pack_map(pk, 2);
        msg_pack_cstr(pk, "a"); msgpack_pack_uint8(pk, 1);
        msgpack_pack_uint8(pk, 2); msgpack_pack_uint8(pk, 3);
        return true;
    default:
        fail();
        return false;
    }
}

static void test_msg_parse_request_refuses_every_bad_shape(void **state)
{
    (void)state;
    for (int shape = 0; shape < BAD__COUNT; shape++) {
        decoded d;
        decoded_init(&d);
        bool expect_known = pack_bad_request(&d.p.pk, (enum bad_shape)shape);
        decoded_finish(&d);
        msg_request req;
        bool known = !expect_known;
        assert_int_equal(msg_parse_request(&d.obj, &req, &known), USHER_ERR_BAD_REQUEST);
        assert_int_equal(known, expect_known);
        if (known)
            assert_int_equal(req.msgid, 9);
        decoded_free(&d);
    }
}

/* ---- replies ---- */

static void test_msg_parse_reply_ok_response(void **state)
{
    (void)state;
    decoded d;
    decoded_init(&d);
    msg_pack_response_ok_head(&d.p.pk, 77);
    msgpack_pack_map(&d.p.pk, 1);
    msg_pack_cstr(&d.p.pk, "time");
    msgpack_pack_uint64(&d.p.pk, 1700000000000ull);
    decoded_finish(&d);
    int type;
    msg_response resp;
    msg_notification note;
    assert_int_equal(msg_parse_reply(&d.obj, &type, &resp, &note), USHER_ERR_OK);
    assert_int_equal(type, MSG_TYPE_RESPONSE);
    assert_int_equal(resp.msgid, 77);
    assert_int_equal(resp.err, USHER_ERR_OK);
    assert_null(resp.err_name);
    assert_non_null(resp.result);
    assert_true(msg_map_get(resp.result, "time")->via.u64 == 1700000000000ull);
    decoded_free(&d);

    /* success with a non-map result is not a valid reply */
    decoded_init(&d);
    msg_pack_response_ok_head(&d.p.pk, 77);
    msgpack_pack_nil(&d.p.pk);
    decoded_finish(&d);
    assert_int_equal(msg_parse_reply(&d.obj, &type, &resp, &note), USHER_ERR_BAD_REQUEST);
    decoded_free(&d);
}

static void test_msg_pack_response_error_has_code_message_num(void **state)
{
    (void)state;
    decoded d;
    decoded_init(&d);
    msg_pack_response_error(&d.p.pk, 5, USHER_ERR_SEAT_UNAVAILABLE, NULL);
    decoded_finish(&d);
    assert_int_equal(d.obj.via.array.size, 4);
    const msgpack_object *e = &d.obj.via.array.ptr[2];
    assert_true(msg_str_eq(msg_map_get(e, "code"), "SEAT_UNAVAILABLE"));
    assert_true(msg_str_eq(msg_map_get(e, "message"), usher_err_message(USHER_ERR_SEAT_UNAVAILABLE)));
    assert_int_equal(msg_map_get(e, "num")->via.u64, 11);
    assert_int_equal(d.obj.via.array.ptr[3].type, MSGPACK_OBJECT_NIL);

    int type;
    msg_response resp;
    msg_notification note;
    assert_int_equal(msg_parse_reply(&d.obj, &type, &resp, &note), USHER_ERR_OK);
    assert_int_equal(type, MSG_TYPE_RESPONSE);
    assert_int_equal(resp.msgid, 5);
    assert_int_equal(resp.err, USHER_ERR_SEAT_UNAVAILABLE);
    assert_int_equal(resp.err_name_len, strlen("SEAT_UNAVAILABLE"));
    assert_memory_equal(resp.err_name, "SEAT_UNAVAILABLE", resp.err_name_len);
    assert_non_null(resp.err_message);
    assert_null(resp.result);
    decoded_free(&d);

    /* a custom message, and an out-of-range code going out as INTERNAL */
    decoded_init(&d);
    msg_pack_response_error(&d.p.pk, 6, (usher_err)999, "seat_no out of range");
    decoded_finish(&d);
    e = &d.obj.via.array.ptr[2];
    assert_true(msg_str_eq(msg_map_get(e, "code"), "INTERNAL"));
    assert_int_equal(msg_map_get(e, "num")->via.u64, USHER_ERR_INTERNAL);
    assert_true(msg_str_eq(msg_map_get(e, "message"), "seat_no out of range"));
    decoded_free(&d);
}

static void pack_error_reply(msgpack_packer *pk, const char *code, bool with_message)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint8(pk, 3);
    msgpack_pack_map(pk, with_message ? 2 : 1);
    msg_pack_cstr(pk, "code");
    msg_pack_cstr(pk, code);
    if (with_message) {
        msg_pack_cstr(pk, "message");
        msg_pack_cstr(pk, "hello");
    }
    msgpack_pack_nil(pk);
}

static void test_msg_parse_reply_unknown_code_is_internal(void **state)
{
    (void)state;
    static const char *codes[] = { "NO_SUCH_CODE", "OK", "" };
    for (size_t i = 0; i < 3; i++) {
        decoded d;
        decoded_init(&d);
        pack_error_reply(&d.p.pk, codes[i], false);
        decoded_finish(&d);
        int type;
        msg_response resp;
        msg_notification note;
        assert_int_equal(msg_parse_reply(&d.obj, &type, &resp, &note), USHER_ERR_OK);
        assert_int_equal(resp.err, USHER_ERR_INTERNAL);
        assert_int_equal(resp.err_name_len, strlen(codes[i]));
        assert_null(resp.err_message);
        decoded_free(&d);
    }
    decoded d;
    decoded_init(&d);
    pack_error_reply(&d.p.pk, "HOLD_EXPIRED", true);
    decoded_finish(&d);
    int type;
    msg_response resp;
    msg_notification note;
    assert_int_equal(msg_parse_reply(&d.obj, &type, &resp, &note), USHER_ERR_OK);
    assert_int_equal(resp.err, USHER_ERR_HOLD_EXPIRED);
    assert_int_equal(resp.err_message_len, 5);
    assert_memory_equal(resp.err_message, "hello", 5);
    decoded_free(&d);
}

static void test_msg_parse_reply_notification_and_bad_shapes(void **state)
{
    (void)state;
    decoded d;
    decoded_init(&d);
    msgpack_pack_array(&d.p.pk, 3);
    msgpack_pack_uint8(&d.p.pk, 2);
    msg_pack_cstr(&d.p.pk, "queue.admitted");
    msgpack_pack_map(&d.p.pk, 0);
    decoded_finish(&d);
    int type;
    msg_response resp;
    msg_notification note;
    assert_int_equal(msg_parse_reply(&d.obj, &type, &resp, &note), USHER_ERR_OK);
    assert_int_equal(type, MSG_TYPE_NOTIFICATION);
    assert_int_equal(note.method_len, strlen("queue.admitted"));
    assert_memory_equal(note.method, "queue.admitted", note.method_len);
    assert_non_null(note.params);
    decoded_free(&d);

    /* a request is not a reply; an error map without a code is not either */
    decoded_init(&d);
    msg_pack_request_head(&d.p.pk, 1, "sys.ping");
    msgpack_pack_nil(&d.p.pk);
    decoded_finish(&d);
    assert_int_equal(msg_parse_reply(&d.obj, &type, &resp, &note), USHER_ERR_BAD_REQUEST);
    decoded_free(&d);

    decoded_init(&d);
    msgpack_pack_array(&d.p.pk, 4);
    msgpack_pack_uint8(&d.p.pk, 1);
    msgpack_pack_uint8(&d.p.pk, 1);
    msgpack_pack_map(&d.p.pk, 1);
    msg_pack_cstr(&d.p.pk, "message");
    msg_pack_cstr(&d.p.pk, "x");
    msgpack_pack_nil(&d.p.pk);
    decoded_finish(&d);
    assert_int_equal(msg_parse_reply(&d.obj, &type, &resp, &note), USHER_ERR_BAD_REQUEST);
    decoded_free(&d);
}

/* ---- frames ---- */

static void test_msg_frames_built_in_one_buffer_decode_back(void **state)
{
    (void)state;
    packed p;
    packed_init(&p);
    for (uint32_t id = 1; id <= 3; id++) {
        size_t off = msg_frame_begin(&p.sb);
        msg_pack_request_head(&p.pk, id, "wallet.charge");
        msgpack_pack_map(&p.pk, 1);
        msg_pack_cstr(&p.pk, "amount");
        msgpack_pack_uint32(&p.pk, id * 1000);
        size_t body = msg_frame_end(&p.sb, off);
        assert_int_equal(body, p.sb.size - off - FRAME_HEADER_BYTES);
    }
    frame_reader r;
    frame_reader_init(&r, FRAME_MAX_DEFAULT);
    assert_int_equal(frame_reader_feed(&r, p.sb.data, p.sb.size), USHER_ERR_OK);
    msg_limits lim = msg_limits_default();
    for (uint32_t id = 1; id <= 3; id++) {
        const uint8_t *body;
        size_t len;
        assert_int_equal(frame_reader_next(&r, &body, &len), USHER_ERR_OK);
        assert_non_null(body);
        msgpack_zone zone;
        msgpack_zone_init(&zone, 256);
        msgpack_object o;
        assert_int_equal(msg_decode(body, len, &lim, &zone, &o), USHER_ERR_OK);
        msg_request req;
        bool known;
        assert_int_equal(msg_parse_request(&o, &req, &known), USHER_ERR_OK);
        assert_int_equal(req.msgid, id);
        assert_int_equal(msg_map_get(req.params, "amount")->via.u64, id * 1000);
        msgpack_zone_destroy(&zone);
    }
    frame_reader_free(&r);
    msgpack_sbuffer_destroy(&p.sb);
}

static void test_msg_pack_cstr_null_is_nil(void **state)
{
    (void)state;
    packed p;
    packed_init(&p);
    msg_pack_cstr(&p.pk, NULL);
    msg_pack_strn(&p.pk, "abc", 2);
    assert_int_equal(p.sb.size, 4);
    assert_int_equal((uint8_t)p.sb.data[0], 0xc0);
    assert_int_equal((uint8_t)p.sb.data[1], 0xa2);
    assert_memory_equal(p.sb.data + 2, "ab", 2);
    msgpack_sbuffer_destroy(&p.sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_limits_default_values),
        cmocka_unit_test(test_msg_check_depth_at_limit_and_one_past),
        cmocka_unit_test(test_msg_check_elements_at_limit_and_one_past),
        cmocka_unit_test(test_msg_check_string_length_exact_and_one_past),
        cmocka_unit_test(test_msg_check_truncated_objects_are_refused),
        cmocka_unit_test(test_msg_check_trailing_bytes_are_refused),
        cmocka_unit_test(test_msg_check_reserved_byte_c1_is_refused),
        cmocka_unit_test(test_msg_check_hostile_counts_refused_without_allocating),
        cmocka_unit_test(test_msg_decode_round_trips),
        cmocka_unit_test(test_msg_str_eq_compares_whole_strings),
        cmocka_unit_test(test_msg_parse_request_accepts_good_request),
        cmocka_unit_test(test_msg_parse_request_refuses_every_bad_shape),
        cmocka_unit_test(test_msg_parse_reply_ok_response),
        cmocka_unit_test(test_msg_pack_response_error_has_code_message_num),
        cmocka_unit_test(test_msg_parse_reply_unknown_code_is_internal),
        cmocka_unit_test(test_msg_parse_reply_notification_and_bad_shapes),
        cmocka_unit_test(test_msg_frames_built_in_one_buffer_decode_back),
        cmocka_unit_test(test_msg_pack_cstr_null_is_nil),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
