/* End to end over TCP: wire-level errors. Bad frames (one BAD_FRAME reply
 * with msgid 0, then the server hangs up), bad envelopes (BAD_REQUEST, the
 * connection stays usable), unknown methods, and INVALID_ARGUMENT naming the
 * parameter. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL
#define PRICE 30000
#define SEATS 50

/* A msgpack body under construction. */
typedef struct body {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} body;

static void body_init(body *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

/* Sends b as one frame and releases it. */
static void body_send(harness_conn *c, body *b)
{
    harness_send_frame(c, b->sb.data, b->sb.size);
    msgpack_sbuffer_destroy(&b->sb);
}

/* The next reply must be BAD_FRAME with msgid 0, then the server hangs up. */
static void expect_bad_frame_then_close(harness_conn *c, const char *what)
{
    harness_reply r;
    harness_io io = harness_read_reply(c, &r);
    if (io != HARNESS_IO_OK)
        fail_msg("%s: no BAD_FRAME reply (io %d)", what, (int)io);
    if (r.err != USHER_ERR_BAD_FRAME || r.msgid != 0)
        fail_msg("%s: expected BAD_FRAME with msgid 0, got %s msgid %u", what,
                 r.err == USHER_ERR_OK ? "OK" : r.code, r.msgid);
    harness_reply_free(&r);
    if (!harness_conn_closed(c, 2000))
        fail_msg("%s: the server kept the connection open after BAD_FRAME", what);
}

/* The next reply must be BAD_REQUEST with msgid (or 0 when zero_ok), then a
 * sys.ping on the same connection still works. */
static void expect_bad_request_then_usable(harness_conn *c, uint32_t msgid, bool zero_ok,
                                           const char *what)
{
    harness_reply r;
    harness_io io = harness_read_reply(c, &r);
    if (io != HARNESS_IO_OK)
        fail_msg("%s: no BAD_REQUEST reply (io %d)", what, (int)io);
    if (r.err != USHER_ERR_BAD_REQUEST)
        fail_msg("%s: expected BAD_REQUEST, got %s", what, r.err == USHER_ERR_OK ? "OK" : r.code);
    if (r.msgid != msgid && !(zero_ok && r.msgid == 0))
        fail_msg("%s: expected msgid %u echoed, got %u", what, msgid, r.msgid);
    harness_reply_free(&r);
    harness_call(c, "sys.ping", "{}", &r);
    if (r.err != USHER_ERR_OK)
        fail_msg("%s: sys.ping after BAD_REQUEST failed: %s", what, r.code);
    harness_reply_free(&r);
}

static void test_zero_length_frame_gets_bad_frame_then_close(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    static const uint8_t zero[4] = { 0, 0, 0, 0 };
    harness_send_raw(c, zero, sizeof zero);
    expect_bad_frame_then_close(c, "zero length");
}

static void test_frame_longer_than_max_gets_bad_frame_before_its_body(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    uint8_t hdr[4];
    frame_header_put(hdr, FRAME_MAX_DEFAULT + 1);
    harness_send_raw(c, hdr, sizeof hdr); /* no body: the header alone is enough */
    expect_bad_frame_then_close(c, "length max+1");

    harness_conn *c2 = harness_fx_connect(fx, hs->port);
    static const uint8_t huge[4] = { 0xff, 0xff, 0xff, 0xff };
    harness_send_raw(c2, huge, sizeof huge);
    expect_bad_frame_then_close(c2, "length 2^32-1");
}

static void test_frame_of_exactly_max_length_is_accepted(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    body b;
    body_init(&b);
    msg_pack_request_head(&b.pk, 41, "sys.ping");
    msgpack_pack_map(&b.pk, 1);
    msg_pack_cstr(&b.pk, "pad");
    size_t pad = FRAME_MAX_DEFAULT - b.sb.size - 3; /* str16 header is 3 bytes */
    char *text = malloc(pad);
    assert_non_null(text);
    memset(text, 'x', pad);
    msg_pack_strn(&b.pk, text, pad);
    free(text);
    assert_int_equal(b.sb.size, FRAME_MAX_DEFAULT);
    body_send(c, &b);
    harness_reply r;
    assert_int_equal(harness_read_reply(c, &r), HARNESS_IO_OK);
    assert_int_equal(r.msgid, 41);
    assert_int_not_equal(r.err, USHER_ERR_BAD_FRAME);
    harness_reply_free(&r);
    harness_call(c, "sys.ping", "{}", &r);
    harness_expect(&r, OK);
    harness_reply_free(&r);
}

static void test_bytes_that_are_not_one_msgpack_object_get_bad_frame_then_close(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);

    /* 0xc1 is never valid msgpack. */
    harness_conn *c = harness_fx_connect(fx, hs->port);
    static const uint8_t reserved[] = { 0xc1 };
    harness_send_frame(c, reserved, sizeof reserved);
    expect_bad_frame_then_close(c, "reserved byte 0xc1");

    /* An array of 4 with only 2 elements inside the frame. */
    c = harness_fx_connect(fx, hs->port);
    static const uint8_t truncated[] = { 0x94, 0x00, 0x01 };
    harness_send_frame(c, truncated, sizeof truncated);
    expect_bad_frame_then_close(c, "truncated array");

    /* A string claiming 4 GiB inside a 6-byte frame. */
    c = harness_fx_connect(fx, hs->port);
    static const uint8_t liar[] = { 0xdb, 0xff, 0xff, 0xff, 0xff, 'a' };
    harness_send_frame(c, liar, sizeof liar);
    expect_bad_frame_then_close(c, "string longer than the frame");

    /* An array claiming 2^32-1 elements. */
    c = harness_fx_connect(fx, hs->port);
    static const uint8_t big_array[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x00 };
    harness_send_frame(c, big_array, sizeof big_array);
    expect_bad_frame_then_close(c, "array count beyond the frame");

    /* A valid request followed by a trailing byte in the same frame. */
    c = harness_fx_connect(fx, hs->port);
    body b;
    body_init(&b);
    msg_pack_request_head(&b.pk, 3, "sys.ping");
    msgpack_pack_map(&b.pk, 0);
    msgpack_pack_nil(&b.pk);
    body_send(c, &b);
    expect_bad_frame_then_close(c, "trailing bytes");

    /* The server is still fine for everyone else. */
    c = harness_fx_connect(fx, hs->port);
    harness_callf_expect(c, OK, "sys.ping", "{}");
}

static void test_bad_envelopes_get_bad_request_and_connection_stays_open(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    body b;

    body_init(&b); /* not an array */
    msg_pack_cstr(&b.pk, "hello");
    body_send(c, &b);
    expect_bad_request_then_usable(c, 0, false, "a string");

    body_init(&b); /* map instead of array */
    msgpack_pack_map(&b.pk, 0);
    body_send(c, &b);
    expect_bad_request_then_usable(c, 0, false, "a map");

    body_init(&b); /* three elements */
    msgpack_pack_array(&b.pk, 3);
    msgpack_pack_uint32(&b.pk, 0);
    msgpack_pack_uint32(&b.pk, 5);
    msg_pack_cstr(&b.pk, "sys.ping");
    body_send(c, &b);
    expect_bad_request_then_usable(c, 5, false, "arity 3");

    body_init(&b); /* five elements */
    msgpack_pack_array(&b.pk, 5);
    msgpack_pack_uint32(&b.pk, 0);
    msgpack_pack_uint32(&b.pk, 6);
    msg_pack_cstr(&b.pk, "sys.ping");
    msgpack_pack_map(&b.pk, 0);
    msgpack_pack_nil(&b.pk);
    body_send(c, &b);
    expect_bad_request_then_usable(c, 6, false, "arity 5");

    body_init(&b); /* type tag 1 (a response) */
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_uint32(&b.pk, 1);
    msgpack_pack_uint32(&b.pk, 7);
    msg_pack_cstr(&b.pk, "sys.ping");
    msgpack_pack_map(&b.pk, 0);
    body_send(c, &b);
    expect_bad_request_then_usable(c, 7, true, "type tag 1");

    body_init(&b); /* type tag 2 (a notification from the client) */
    msgpack_pack_array(&b.pk, 3);
    msgpack_pack_uint32(&b.pk, 2);
    msg_pack_cstr(&b.pk, "sys.ping");
    msgpack_pack_map(&b.pk, 0);
    body_send(c, &b);
    expect_bad_request_then_usable(c, 0, false, "notification");

    body_init(&b); /* negative msgid */
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_uint32(&b.pk, 0);
    msgpack_pack_int64(&b.pk, -1);
    msg_pack_cstr(&b.pk, "sys.ping");
    msgpack_pack_map(&b.pk, 0);
    body_send(c, &b);
    expect_bad_request_then_usable(c, 0, false, "msgid -1");

    body_init(&b); /* msgid above uint32 */
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_uint32(&b.pk, 0);
    msgpack_pack_uint64(&b.pk, 4294967296ull);
    msg_pack_cstr(&b.pk, "sys.ping");
    msgpack_pack_map(&b.pk, 0);
    body_send(c, &b);
    expect_bad_request_then_usable(c, 0, false, "msgid 2^32");

    body_init(&b); /* msgid a float */
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_uint32(&b.pk, 0);
    msgpack_pack_double(&b.pk, 8.0);
    msg_pack_cstr(&b.pk, "sys.ping");
    msgpack_pack_map(&b.pk, 0);
    body_send(c, &b);
    expect_bad_request_then_usable(c, 0, false, "msgid 8.0");

    body_init(&b); /* method not a string */
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_uint32(&b.pk, 0);
    msgpack_pack_uint32(&b.pk, 9);
    msgpack_pack_uint32(&b.pk, 42);
    msgpack_pack_map(&b.pk, 0);
    body_send(c, &b);
    expect_bad_request_then_usable(c, 9, false, "method 42");

    body_init(&b); /* params an array */
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_uint32(&b.pk, 0);
    msgpack_pack_uint32(&b.pk, 10);
    msg_pack_cstr(&b.pk, "sys.ping");
    msgpack_pack_array(&b.pk, 1);
    msgpack_pack_uint32(&b.pk, 1);
    body_send(c, &b);
    expect_bad_request_then_usable(c, 10, false, "params array");

    body_init(&b); /* params a string */
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_uint32(&b.pk, 0);
    msgpack_pack_uint32(&b.pk, 11);
    msg_pack_cstr(&b.pk, "sys.ping");
    msg_pack_cstr(&b.pk, "x");
    body_send(c, &b);
    expect_bad_request_then_usable(c, 11, false, "params string");

    body_init(&b); /* a params key that is not a string */
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_uint32(&b.pk, 0);
    msgpack_pack_uint32(&b.pk, 12);
    msg_pack_cstr(&b.pk, "sys.ping");
    msgpack_pack_map(&b.pk, 1);
    msgpack_pack_uint32(&b.pk, 1);
    msgpack_pack_uint32(&b.pk, 2);
    body_send(c, &b);
    expect_bad_request_then_usable(c, 12, false, "integer key");

    /* nil params mean {}: a valid request. */
    body_init(&b);
    msg_pack_request_head(&b.pk, 13, "sys.ping");
    msgpack_pack_nil(&b.pk);
    body_send(c, &b);
    harness_reply r;
    assert_int_equal(harness_read_reply(c, &r), HARNESS_IO_OK);
    assert_int_equal(r.msgid, 13);
    harness_expect(&r, OK);
    harness_reply_free(&r);
}

static void test_unknown_method_is_reported_with_its_msgid(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_reply r;
    uint32_t id = harness_send(c, "no.such.method", "{}");
    harness_recv(c, id, &r);
    harness_expect(&r, UNKNOWN_METHOD);
    harness_reply_free(&r);
    harness_callf_expect(c, UNKNOWN_METHOD, "", "{}");
    harness_callf_expect(c, UNKNOWN_METHOD, "SYS.PING", "{}");
    harness_callf_expect(c, OK, "sys.ping", "{}");
}

/* One call that must be INVALID_ARGUMENT naming param. */
#define EXPECT_INVALID(c, param, method, ...) do { \
        harness_reply r_; \
        harness_callf((c), &r_, (method), __VA_ARGS__); \
        harness_expect(&r_, INVALID_ARGUMENT); \
        harness_expect_message(&r_, (param)); \
        harness_reply_free(&r_); \
    } while (0)

static void test_invalid_wallet_arguments_name_the_parameter_and_change_nothing(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    harness_charge(c, u.session, 1000);
    const char *s = u.session;

    EXPECT_INVALID(c, "amount", "wallet.charge", "{\"session\":\"%s\"}", s);
    EXPECT_INVALID(c, "amount", "wallet.charge", "{\"session\":\"%s\",\"amount\":\"100\"}", s);
    EXPECT_INVALID(c, "amount", "wallet.charge", "{\"session\":\"%s\",\"amount\":1.5}", s);
    EXPECT_INVALID(c, "amount", "wallet.charge", "{\"session\":\"%s\",\"amount\":0}", s);
    EXPECT_INVALID(c, "amount", "wallet.charge", "{\"session\":\"%s\",\"amount\":-5}", s);
    EXPECT_INVALID(c, "amount", "wallet.charge", "{\"session\":\"%s\",\"amount\":null}", s);
    EXPECT_INVALID(c, "amount", "wallet.charge",
                   "{\"session\":\"%s\",\"amount\":-9223372036854775808}", s);
    char long_id[80];
    memset(long_id, 'r', 65);
    long_id[65] = '\0';
    EXPECT_INVALID(c, "request_id", "wallet.charge",
                   "{\"session\":\"%s\",\"amount\":5,\"request_id\":\"%s\"}", s, long_id);
    EXPECT_INVALID(c, "request_id", "wallet.charge",
                   "{\"session\":\"%s\",\"amount\":5,\"request_id\":17}", s);

    /* 2^63 and 2^64-1 are integers beyond any charge: refused either as
     * INVALID_ARGUMENT or AMOUNT_LIMIT, never charged. */
    static const char *const huge[] = { "9223372036854775808", "18446744073709551615" };
    for (size_t i = 0; i < 2; i++) {
        harness_reply r;
        harness_callf(c, &r, "wallet.charge", "{\"session\":\"%s\",\"amount\":%s}", s, huge[i]);
        if (r.err != USHER_ERR_INVALID_ARGUMENT && r.err != USHER_ERR_AMOUNT_LIMIT)
            fail_msg("charge %s: expected INVALID_ARGUMENT or AMOUNT_LIMIT, got %s", huge[i],
                     r.err == USHER_ERR_OK ? "OK" : r.code);
        harness_reply_free(&r);
    }

    EXPECT_INVALID(c, "limit", "wallet.history", "{\"session\":\"%s\",\"limit\":0}", s);
    EXPECT_INVALID(c, "limit", "wallet.history", "{\"session\":\"%s\",\"limit\":-1}", s);
    EXPECT_INVALID(c, "limit", "wallet.history", "{\"session\":\"%s\",\"limit\":\"10\"}", s);
    EXPECT_INVALID(c, "before", "wallet.history", "{\"session\":\"%s\",\"before\":-1}", s);
    EXPECT_INVALID(c, "limit", "reservation.list", "{\"session\":\"%s\",\"limit\":0}", s);
    EXPECT_INVALID(c, "limit", "payment.list", "{\"session\":\"%s\",\"limit\":0}", s);
    EXPECT_INVALID(c, "limit", "concert.list", "{\"limit\":0}");
    EXPECT_INVALID(c, "after", "concert.list", "{\"after\":-2}");

    /* A limit above 500 is capped, not refused, however large: even 2^63
     * and 2^64-1, which do not fit an int64 (PROTOCOL.md, paging). */
    harness_callf_expect(c, OK, "wallet.history", "{\"session\":\"%s\",\"limit\":100000}", s);
    harness_callf_expect(c, OK, "wallet.history", "{\"session\":\"%s\",\"limit\":9223372036854775808}", s);
    harness_callf_expect(c, OK, "wallet.history", "{\"session\":\"%s\",\"limit\":18446744073709551615}", s);
    harness_callf_expect(c, OK, "reservation.list", "{\"session\":\"%s\",\"limit\":18446744073709551615}", s);
    harness_callf_expect(c, OK, "payment.list", "{\"session\":\"%s\",\"limit\":18446744073709551615}", s);
    harness_callf_expect(c, OK, "concert.list", "{\"limit\":18446744073709551615}");

    assert_int_equal(harness_balance(c, s), 1000);
    harness_reply r;
    harness_callf(c, &r, "wallet.history", "{\"session\":\"%s\"}", s);
    harness_expect(&r, OK);
    size_t n;
    harness_get_array(&r, "entries", &n);
    assert_int_equal(n, 1);
    harness_reply_free(&r);
}

static void test_invalid_ids_and_seats_name_the_parameter(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    uint64_t concert_id, schedule_id;
    harness_make_concert(c, harness_admin_token(hs), SEATS, PRICE, harness_now_ms() + DAY_MS,
                         &concert_id, &schedule_id);
    harness_shopper sh;
    harness_shopper_new(c, concert_id, 100000, &sh);
    const char *t = sh.token;
    unsigned long long sid = schedule_id;

    EXPECT_INVALID(c, "concert_id", "queue.enter", "{\"session\":\"%s\",\"concert_id\":-3}", sh.user.session);
    EXPECT_INVALID(c, "concert_id", "queue.enter", "{\"session\":\"%s\",\"concert_id\":\"1\"}", sh.user.session);
    EXPECT_INVALID(c, "concert_id", "queue.enter", "{\"session\":\"%s\"}", sh.user.session);
    EXPECT_INVALID(c, "concert_id", "concert.dates", "{\"token\":\"%s\"}", t);
    EXPECT_INVALID(c, "schedule_id", "concert.seats", "{\"token\":\"%s\",\"schedule_id\":-1}", t);
    EXPECT_INVALID(c, "schedule_id", "concert.seats", "{\"token\":\"%s\"}", t);

    EXPECT_INVALID(c, "seat_no", "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":0}", t, sid);
    EXPECT_INVALID(c, "seat_no", "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%d}", t, sid, SEATS + 1);
    EXPECT_INVALID(c, "seat_no", "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":-1}", t, sid);
    EXPECT_INVALID(c, "seat_no", "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":9223372036854775808}", t, sid);
    EXPECT_INVALID(c, "seat_no", "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":4294967297}", t, sid);
    EXPECT_INVALID(c, "seat_no", "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":\"7\"}", t, sid);
    EXPECT_INVALID(c, "seat_no", "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":2.5}", t, sid);
    EXPECT_INVALID(c, "seat_no", "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu}", t, sid);
    EXPECT_INVALID(c, "schedule_id", "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":-7,\"seat_no\":1}", t);

    EXPECT_INVALID(c, "reservation_ids", "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[]}", t);
    EXPECT_INVALID(c, "reservation_ids", "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":5}", t);
    EXPECT_INVALID(c, "reservation_ids", "payment.pay", "{\"token\":\"%s\"}", t);
    EXPECT_INVALID(c, "reservation_ids", "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[-1]}", t);
    EXPECT_INVALID(c, "reservation_ids", "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[\"1\"]}", t);
    /* More ids than --max-holds (4 by default). */
    EXPECT_INVALID(c, "reservation_ids", "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[1,2,3,4,5]}", t);

    EXPECT_INVALID(c, "reservation_id", "reservation.cancel", "{\"session\":\"%s\",\"reservation_id\":-1}", sh.user.session);
    EXPECT_INVALID(c, "reservation_id", "reservation.cancel", "{\"session\":\"%s\"}", sh.user.session);

    /* None of it reserved anything. */
    harness_reply r;
    harness_callf(c, &r, "reservation.list", "{\"session\":\"%s\"}", sh.user.session);
    harness_expect(&r, OK);
    size_t n;
    harness_get_array(&r, "reservations", &n);
    assert_int_equal(n, 0);
    harness_reply_free(&r);
}

static void test_invalid_admin_arguments_name_the_parameter(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    const char *a = harness_admin_token(hs);
    uint64_t concert_id, schedule_id;
    harness_make_concert(c, a, SEATS, PRICE, harness_now_ms() + DAY_MS, &concert_id, &schedule_id);
    unsigned long long cid = concert_id;
    long long at = harness_now_ms() + DAY_MS;

    EXPECT_INVALID(c, "title", "admin.concert.create", "{\"admin\":\"%s\"}", a);
    EXPECT_INVALID(c, "title", "admin.concert.create", "{\"admin\":\"%s\",\"title\":\"\"}", a);
    EXPECT_INVALID(c, "title", "admin.concert.create", "{\"admin\":\"%s\",\"title\":7}", a);
    char long_title[300];
    memset(long_title, 't', 257);
    long_title[257] = '\0';
    EXPECT_INVALID(c, "title", "admin.concert.create", "{\"admin\":\"%s\",\"title\":\"%s\"}", a, long_title);
    long_title[256] = '\0'; /* exactly 256 bytes is fine */
    harness_callf_expect(c, OK, "admin.concert.create", "{\"admin\":\"%s\",\"title\":\"%s\"}", a, long_title);

    EXPECT_INVALID(c, "seats", "admin.schedule.create",
                   "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld,\"price\":1,\"seats\":0}", a, cid, at);
    EXPECT_INVALID(c, "seats", "admin.schedule.create",
                   "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld,\"price\":1,\"seats\":1001}", a, cid, at);
    EXPECT_INVALID(c, "price", "admin.schedule.create",
                   "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld,\"price\":-1}", a, cid, at);
    EXPECT_INVALID(c, "price", "admin.schedule.create",
                   "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld}", a, cid, at);
    EXPECT_INVALID(c, "starts_at", "admin.schedule.create",
                   "{\"admin\":\"%s\",\"concert_id\":%llu,\"price\":1}", a, cid);
    EXPECT_INVALID(c, "concert_id", "admin.schedule.create",
                   "{\"admin\":\"%s\",\"concert_id\":-1,\"starts_at\":%lld,\"price\":1}", a, at);
    /* 1000 seats is the limit and works. */
    harness_callf_expect(c, OK, "admin.schedule.create",
                         "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld,\"price\":1,\"seats\":1000}",
                         a, cid, at);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_zero_length_frame_gets_bad_frame_then_close),
        HARNESS_TEST(test_frame_longer_than_max_gets_bad_frame_before_its_body),
        HARNESS_TEST(test_frame_of_exactly_max_length_is_accepted),
        HARNESS_TEST(test_bytes_that_are_not_one_msgpack_object_get_bad_frame_then_close),
        HARNESS_TEST(test_bad_envelopes_get_bad_request_and_connection_stays_open),
        HARNESS_TEST(test_unknown_method_is_reported_with_its_msgid),
        HARNESS_TEST(test_invalid_wallet_arguments_name_the_parameter_and_change_nothing),
        HARNESS_TEST(test_invalid_ids_and_seats_name_the_parameter),
        HARNESS_TEST(test_invalid_admin_arguments_name_the_parameter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
