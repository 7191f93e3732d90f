/* libusher's reply reader (client/reader.c): bytes in, replies out, no I/O.
 * Frames are built with the protocol's own packers, as usherd builds them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include "../../client/usher.h"
#include "frame.h"
#include "msg.h"

/* ---- frame builders ---- */

/* [1, msgid, nil, {"seat_no": seat_no, "note": note}] as one frame appended to sb. */
static void put_ok(msgpack_sbuffer *sb, uint32_t msgid, uint64_t seat_no, const char *note)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t at = msg_frame_begin(sb);
    msg_pack_response_ok_head(&pk, msgid);
    msgpack_pack_map(&pk, 2);
    msg_pack_cstr(&pk, "seat_no");
    msgpack_pack_uint64(&pk, seat_no);
    msg_pack_cstr(&pk, "note");
    msg_pack_cstr(&pk, note);
    msg_frame_end(sb, at);
}

static void put_error(msgpack_sbuffer *sb, uint32_t msgid, usher_err err, const char *message)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t at = msg_frame_begin(sb);
    msg_pack_response_error(&pk, msgid, err, message);
    msg_frame_end(sb, at);
}

/* A frame holding body bytes as given (no check that they are msgpack). */
static void put_raw_body(msgpack_sbuffer *sb, const void *body, uint32_t len)
{
    uint8_t hdr[FRAME_HEADER_BYTES];
    frame_header_put(hdr, len);
    msgpack_sbuffer_write(sb, (const char *)hdr, sizeof hdr);
    msgpack_sbuffer_write(sb, body, len);
}

static const msgpack_object *result_field(const usher_reply *r, const char *key)
{
    return msg_map_get(&r->result, key);
}

static void assert_ok_reply(usher_reply *r, uint32_t msgid, uint64_t seat_no, const char *note)
{
    assert_non_null(r);
    assert_int_equal(r->kind, USHER_REPLY_RESPONSE);
    assert_int_equal(r->msgid, msgid);
    assert_int_equal(r->status, USHER_OK);
    assert_null(r->error_name);
    assert_null(r->message);
    assert_int_equal(r->result.type, MSGPACK_OBJECT_MAP);
    const msgpack_object *seat = result_field(r, "seat_no");
    assert_non_null(seat);
    assert_int_equal(seat->via.u64, seat_no);
    assert_true(msg_str_eq(result_field(r, "note"), note));
}

/* Takes the next reply, asserting the call itself succeeded. */
static usher_reply *next_reply(usher_reader *rd)
{
    usher_reply *r = (usher_reply *)1;
    assert_int_equal(usher_reader_next(rd, &r), USHER_OK);
    return r;
}

/* ---- splits ---- */

static void test_reader_reply_fed_byte_by_byte(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    put_ok(&sb, 7, 17, "byte by byte");
    usher_reader *rd = usher_reader_new(0);
    assert_non_null(rd);
    for (size_t i = 0; i < sb.size; i++) {
        assert_null(next_reply(rd));
        assert_int_equal(usher_reader_feed(rd, sb.data + i, 1), USHER_OK);
    }
    usher_reply *r = next_reply(rd);
    assert_ok_reply(r, 7, 17, "byte by byte");
    usher_reply_free(r);
    assert_null(next_reply(rd));
    usher_reader_free(rd);
    msgpack_sbuffer_destroy(&sb);
}

static void test_reader_reply_split_in_two_anywhere(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    put_ok(&sb, 42, 3, "two parts");
    for (size_t cut = 0; cut <= sb.size; cut++) {
        usher_reader *rd = usher_reader_new(0);
        assert_int_equal(usher_reader_feed(rd, sb.data, cut), USHER_OK);
        usher_reply *r = next_reply(rd);
        if (cut < sb.size) {
            assert_null(r);
            assert_int_equal(usher_reader_feed(rd, sb.data + cut, sb.size - cut), USHER_OK);
            r = next_reply(rd);
        }
        assert_ok_reply(r, 42, 3, "two parts");
        usher_reply_free(r);
        assert_null(next_reply(rd));
        usher_reader_free(rd);
    }
    msgpack_sbuffer_destroy(&sb);
}

static void test_reader_several_replies_in_one_feed_out_of_order(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    put_ok(&sb, 3, 30, "third");
    put_error(&sb, 1, USHER_ERR_SEAT_UNAVAILABLE, "seat 10 is taken");
    put_ok(&sb, 2, 20, "second");
    usher_reader *rd = usher_reader_new(0);
    assert_int_equal(usher_reader_feed(rd, sb.data, sb.size), USHER_OK);

    usher_reply *r = next_reply(rd);
    assert_ok_reply(r, 3, 30, "third");
    usher_reply_free(r);
    r = next_reply(rd);
    assert_non_null(r);
    assert_int_equal(r->msgid, 1);
    assert_int_equal(r->status, USHER_SEAT_UNAVAILABLE);
    assert_string_equal(r->message, "seat 10 is taken");
    assert_int_equal(r->result.type, MSGPACK_OBJECT_NIL);
    usher_reply_free(r);
    r = next_reply(rd);
    assert_ok_reply(r, 2, 20, "second");
    usher_reply_free(r);
    assert_null(next_reply(rd));
    usher_reader_free(rd);
    msgpack_sbuffer_destroy(&sb);
}

static void test_reader_reply_outlives_reader_and_later_feeds(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    put_ok(&sb, 9, 1, "kept");
    put_ok(&sb, 10, 2, "next");
    usher_reader *rd = usher_reader_new(0);
    assert_int_equal(usher_reader_feed(rd, sb.data, sb.size), USHER_OK);
    usher_reply *kept = next_reply(rd);
    usher_reply *next = next_reply(rd);
    assert_int_equal(usher_reader_feed(rd, sb.data, sb.size), USHER_OK);
    usher_reader_free(rd);
    memset(sb.data, 0xee, sb.size);  /* the replies must not point into the input */
    assert_ok_reply(kept, 9, 1, "kept");
    assert_ok_reply(next, 10, 2, "next");
    usher_reply_free(kept);
    usher_reply_free(next);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- limits and garbage ---- */

/* One response frame whose body is exactly body_len bytes (a padding string fills it). */
static void put_ok_of_size(msgpack_sbuffer *sb, uint32_t msgid, size_t body_len)
{
    /* [1, msgid(u32: 5 bytes), nil, {"p": str32}]: 1 + 1 + 5 + 1 + 1 + 2 + 5 = 16 bytes before the padding. */
    size_t overhead = 16;
    size_t pad = body_len - overhead;
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t at = msg_frame_begin(sb);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, 1);
    msgpack_pack_fix_uint32(&pk, msgid);
    msgpack_pack_nil(&pk);
    msgpack_pack_map(&pk, 1);
    msg_pack_cstr(&pk, "p");
    char *padding = malloc(pad);
    memset(padding, 'x', pad);
    /* force the str32 header so the overhead is fixed */
    unsigned char str32[5] = { 0xdb, (unsigned char)(pad >> 24), (unsigned char)(pad >> 16),
                               (unsigned char)(pad >> 8), (unsigned char)pad };
    msgpack_sbuffer_write(sb, (const char *)str32, sizeof str32);
    msgpack_sbuffer_write(sb, padding, pad);
    free(padding);
    assert_int_equal(msg_frame_end(sb, at), body_len);
}

static void test_reader_frame_at_max_frame_is_accepted(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    put_ok_of_size(&sb, 5, USHER_MAX_FRAME_MIN);
    usher_reader *rd = usher_reader_new(USHER_MAX_FRAME_MIN);
    assert_int_equal(usher_reader_feed(rd, sb.data, sb.size), USHER_OK);
    usher_reply *r = next_reply(rd);
    assert_non_null(r);
    assert_int_equal(r->msgid, 5);
    const msgpack_object *p = msg_map_get(&r->result, "p");
    assert_non_null(p);
    assert_int_equal(p->via.str.size, USHER_MAX_FRAME_MIN - 16);
    usher_reply_free(r);
    usher_reader_free(rd);
    msgpack_sbuffer_destroy(&sb);
}

static void test_reader_frame_one_past_max_frame_is_eproto(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    put_ok_of_size(&sb, 5, USHER_MAX_FRAME_MIN + 1);
    usher_reader *rd = usher_reader_new(USHER_MAX_FRAME_MIN);
    usher_reply *r = NULL;
    assert_int_equal(usher_reader_feed(rd, sb.data, 4), USHER_OK);  /* the header alone condemns it */
    assert_int_equal(usher_reader_next(rd, &r), USHER_EPROTO);
    assert_null(r);
    assert_int_equal(usher_reader_feed(rd, sb.data + 4, 10), USHER_EPROTO);
    assert_int_equal(usher_reader_next(rd, &r), USHER_EPROTO);
    usher_reader_free(rd);
    msgpack_sbuffer_destroy(&sb);
}

static void test_reader_max_frame_below_floor_is_raised(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    put_ok_of_size(&sb, 6, USHER_MAX_FRAME_MIN);
    usher_reader *rd = usher_reader_new(100);
    assert_int_equal(usher_reader_feed(rd, sb.data, sb.size), USHER_OK);
    usher_reply *r = next_reply(rd);
    assert_non_null(r);
    usher_reply_free(r);
    usher_reader_free(rd);
    msgpack_sbuffer_destroy(&sb);
}

static void test_reader_default_max_frame_refuses_a_huge_length(void **state)
{
    (void)state;
    const uint8_t huge[] = { 0x7f, 0xff, 0xff, 0xff, 0x93 };
    usher_reader *rd = usher_reader_new(0);
    usher_reply *r = NULL;
    assert_int_equal(usher_reader_feed(rd, huge, sizeof huge), USHER_OK);
    assert_int_equal(usher_reader_next(rd, &r), USHER_EPROTO);
    usher_reader_free(rd);
}

/* Feeds one frame with the given body to a fresh reader; returns what next says. */
static usher_status status_of_body(const void *body, uint32_t len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    put_raw_body(&sb, body, len);
    usher_reader *rd = usher_reader_new(0);
    usher_reply *r = NULL;
    assert_int_equal(usher_reader_feed(rd, sb.data, sb.size), USHER_OK);
    usher_status st = usher_reader_next(rd, &r);
    assert_true(st == USHER_OK || r == NULL);
    usher_reply_free(r);
    usher_reader_free(rd);
    msgpack_sbuffer_destroy(&sb);
    return st;
}

static void test_reader_garbage_is_eproto(void **state)
{
    (void)state;
    const uint8_t reserved[] = { 0xc1 };
    const uint8_t truncated_array[] = { 0x94, 0x01, 0x05 };
    const uint8_t trailing[] = { 0x94, 0x01, 0x01, 0xc0, 0x80, 0x00 };
    const uint8_t huge_count[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };  /* array32 of 4 billion */
    const uint8_t not_array[] = { 0xa3, 'a', 'b', 'c' };
    const uint8_t bad_type_tag[] = { 0x94, 0x05, 0x01, 0xc0, 0x80 };
    const uint8_t request[] = { 0x94, 0x00, 0x01, 0xa1, 'x', 0x80 };
    const uint8_t ok_without_map[] = { 0x94, 0x01, 0x01, 0xc0, 0x01 };
    const uint8_t msgid_negative[] = { 0x94, 0x01, 0xff, 0xc0, 0x80 };
    const uint8_t error_not_map[] = { 0x94, 0x01, 0x01, 0x07, 0xc0 };
    const uint8_t error_without_code[] = { 0x94, 0x01, 0x01, 0x81, 0xa1, 'm', 0xa1, 'x', 0xc0 };
    assert_int_equal(status_of_body(reserved, sizeof reserved), USHER_EPROTO);
    assert_int_equal(status_of_body(truncated_array, sizeof truncated_array), USHER_EPROTO);
    assert_int_equal(status_of_body(trailing, sizeof trailing), USHER_EPROTO);
    assert_int_equal(status_of_body(huge_count, sizeof huge_count), USHER_EPROTO);
    assert_int_equal(status_of_body(not_array, sizeof not_array), USHER_EPROTO);
    assert_int_equal(status_of_body(bad_type_tag, sizeof bad_type_tag), USHER_EPROTO);
    assert_int_equal(status_of_body(request, sizeof request), USHER_EPROTO);
    assert_int_equal(status_of_body(ok_without_map, sizeof ok_without_map), USHER_EPROTO);
    assert_int_equal(status_of_body(msgid_negative, sizeof msgid_negative), USHER_EPROTO);
    assert_int_equal(status_of_body(error_not_map, sizeof error_not_map), USHER_EPROTO);
    assert_int_equal(status_of_body(error_without_code, sizeof error_without_code), USHER_EPROTO);
    /* and the same shape done right is accepted, so the cases above fail for their fault */
    const uint8_t good[] = { 0x94, 0x01, 0x01, 0xc0, 0x80 };
    assert_int_equal(status_of_body(good, sizeof good), USHER_OK);
}

static void test_reader_zero_length_frame_is_eproto(void **state)
{
    (void)state;
    const uint8_t zero[] = { 0, 0, 0, 0 };
    usher_reader *rd = usher_reader_new(0);
    usher_reply *r = NULL;
    assert_int_equal(usher_reader_feed(rd, zero, sizeof zero), USHER_OK);
    assert_int_equal(usher_reader_next(rd, &r), USHER_EPROTO);
    usher_reader_free(rd);
}

static void test_reader_replies_before_garbage_still_come_out(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    put_ok(&sb, 1, 11, "first");
    const uint8_t reserved[] = { 0xc1 };
    put_raw_body(&sb, reserved, 1);
    put_ok(&sb, 2, 12, "after the garbage");
    usher_reader *rd = usher_reader_new(0);
    assert_int_equal(usher_reader_feed(rd, sb.data, sb.size), USHER_OK);
    usher_reply *r = next_reply(rd);
    assert_ok_reply(r, 1, 11, "first");
    usher_reply_free(r);
    r = NULL;
    assert_int_equal(usher_reader_next(rd, &r), USHER_EPROTO);
    assert_null(r);
    assert_int_equal(usher_reader_next(rd, &r), USHER_EPROTO);
    usher_reader_free(rd);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- error codes and notifications ---- */

static void test_reader_error_reply_maps_every_catalogue_code(void **state)
{
    (void)state;
    static const struct { usher_err err; usher_status status; const char *name; } rows[] = {
#define USHER_ERROR(name, num, msg) { USHER_ERR_##name, USHER_##name, #name },
#include "errors.def"
#undef USHER_ERROR
    };
    size_t checked = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (rows[i].err == USHER_ERR_OK)
            continue;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        put_error(&sb, (uint32_t)(100 + i), rows[i].err, NULL);
        usher_reader *rd = usher_reader_new(0);
        assert_int_equal(usher_reader_feed(rd, sb.data, sb.size), USHER_OK);
        usher_reply *r = next_reply(rd);
        assert_non_null(r);
        assert_int_equal(r->msgid, 100 + i);
        assert_int_equal(r->status, rows[i].status);
        assert_int_equal((int)r->status, (int)rows[i].err);
        assert_string_equal(r->error_name, rows[i].name);
        assert_string_equal(usher_status_name(r->status), rows[i].name);
        assert_string_equal(r->message, usher_err_message(rows[i].err));
        assert_string_equal(usher_errstr(r->status), usher_err_message(rows[i].err));
        assert_int_equal(r->result.type, MSGPACK_OBJECT_NIL);
        usher_reply_free(r);
        usher_reader_free(rd);
        msgpack_sbuffer_destroy(&sb);
        checked++;
    }
    assert_int_equal(checked, USHER_ERR__COUNT - 1);
    assert_int_equal(USHER_SEAT_UNAVAILABLE, 11);
}

static void test_reader_unknown_error_name_reads_as_internal(void **state)
{
    (void)state;
    /* [1, 4, {"code": "NEW_CODE", "message": "m"}, nil] */
    const uint8_t body[] = { 0x94, 0x01, 0x04, 0x82, 0xa4, 'c', 'o', 'd', 'e', 0xa8, 'N', 'E', 'W', '_', 'C', 'O',
                             'D', 'E', 0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0xa1, 'm', 0xc0 };
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    put_raw_body(&sb, body, sizeof body);
    usher_reader *rd = usher_reader_new(0);
    assert_int_equal(usher_reader_feed(rd, sb.data, sb.size), USHER_OK);
    usher_reply *r = next_reply(rd);
    assert_non_null(r);
    assert_int_equal(r->status, USHER_INTERNAL);
    assert_string_equal(r->error_name, "NEW_CODE");
    assert_string_equal(r->message, "m");
    usher_reply_free(r);
    usher_reader_free(rd);
    msgpack_sbuffer_destroy(&sb);
}

static void test_reader_notification_recognized(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t at = msg_frame_begin(&sb);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, 2);
    msg_pack_cstr(&pk, "queue.admitted");
    msgpack_pack_map(&pk, 1);
    msg_pack_cstr(&pk, "position");
    msgpack_pack_uint8(&pk, 0);
    msg_frame_end(&sb, at);
    put_ok(&sb, 8, 1, "after");

    usher_reader *rd = usher_reader_new(0);
    assert_int_equal(usher_reader_feed(rd, sb.data, sb.size), USHER_OK);
    usher_reply *r = next_reply(rd);
    assert_non_null(r);
    assert_int_equal(r->kind, USHER_REPLY_NOTIFICATION);
    assert_string_equal(r->method, "queue.admitted");
    assert_int_equal(r->status, USHER_OK);
    const msgpack_object *pos = msg_map_get(&r->result, "position");
    assert_non_null(pos);
    assert_int_equal(pos->via.u64, 0);
    usher_reply_free(r);
    r = next_reply(rd);
    assert_ok_reply(r, 8, 1, "after");
    assert_null(r->method);
    usher_reply_free(r);
    usher_reader_free(rd);
    msgpack_sbuffer_destroy(&sb);
}

static void test_reply_json_renders_the_result(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    put_ok(&sb, 1, 17, "hi");
    usher_reader *rd = usher_reader_new(0);
    assert_int_equal(usher_reader_feed(rd, sb.data, sb.size), USHER_OK);
    usher_reply *r = next_reply(rd);
    char *json = usher_reply_json(r, 0);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"seat_no\""));
    assert_non_null(strstr(json, "17"));
    assert_non_null(strstr(json, "\"hi\""));
    usher_free(json);
    usher_reply_free(r);
    usher_reader_free(rd);
    msgpack_sbuffer_destroy(&sb);
}

static void test_status_names_cover_transport_codes(void **state)
{
    (void)state;
    assert_int_equal(USHER_OK, 0);
    assert_int_equal(USHER_EIO, 100);
    assert_string_equal(usher_status_name(USHER_UNAVAILABLE), "UNAVAILABLE");
    assert_int_equal(USHER_UNAVAILABLE, 20);
    assert_string_equal(usher_status_name(USHER_EIO), "EIO");
    assert_string_equal(usher_status_name(USHER_ETIMEOUT), "ETIMEOUT");
    assert_string_equal(usher_status_name(USHER_EPROTO), "EPROTO");
    assert_string_equal(usher_status_name(USHER_ECLOSED), "ECLOSED");
    assert_string_equal(usher_status_name(USHER_ENOMEM), "ENOMEM");
    assert_string_equal(usher_status_name(USHER_EARG), "EARG");
    assert_string_equal(usher_status_name((usher_status)99), "UNKNOWN");
    assert_string_equal(usher_status_name((usher_status)106), "UNKNOWN");
    assert_string_equal(usher_errstr((usher_status)-1), "unknown status");
    assert_string_equal(usher_errstr(USHER_OK), "ok");
}

static void test_method_list_matches_methods_def(void **state)
{
    (void)state;
    assert_int_equal(usher_method_count(), 26);
    assert_string_equal(usher_method_at(0)->name, "sys.ping");
    assert_string_equal(usher_method_at(usher_method_count() - 1)->name, "admin.session.revoke");
    assert_null(usher_method_at(usher_method_count()));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_reply_fed_byte_by_byte),
        cmocka_unit_test(test_reader_reply_split_in_two_anywhere),
        cmocka_unit_test(test_reader_several_replies_in_one_feed_out_of_order),
        cmocka_unit_test(test_reader_reply_outlives_reader_and_later_feeds),
        cmocka_unit_test(test_reader_frame_at_max_frame_is_accepted),
        cmocka_unit_test(test_reader_frame_one_past_max_frame_is_eproto),
        cmocka_unit_test(test_reader_max_frame_below_floor_is_raised),
        cmocka_unit_test(test_reader_default_max_frame_refuses_a_huge_length),
        cmocka_unit_test(test_reader_garbage_is_eproto),
        cmocka_unit_test(test_reader_zero_length_frame_is_eproto),
        cmocka_unit_test(test_reader_replies_before_garbage_still_come_out),
        cmocka_unit_test(test_reader_error_reply_maps_every_catalogue_code),
        cmocka_unit_test(test_reader_unknown_error_name_reads_as_internal),
        cmocka_unit_test(test_reader_notification_recognized),
        cmocka_unit_test(test_reply_json_renders_the_result),
        cmocka_unit_test(test_status_names_cover_transport_codes),
        cmocka_unit_test(test_method_list_matches_methods_def),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
