/* Frame reader: any split of the byte stream gives the same frames, lengths
 * outside 1..max_frame kill the stream for good, and the buffer stays bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "frame.h"

/* Writes a frame with body "b0 b1 ..." (bytes i*7+seed) into out; returns its size. */
static size_t make_frame(uint8_t *out, uint32_t body_len, uint8_t seed)
{
    frame_header_put(out, body_len);
    for (uint32_t i = 0; i < body_len; i++)
        out[FRAME_HEADER_BYTES + i] = (uint8_t)(i * 7 + seed);
    return FRAME_HEADER_BYTES + body_len;
}

/* Takes every whole frame out; checks each against the expected frames. */
static size_t drain_and_check(frame_reader *r, const uint8_t *stream, const size_t *offsets,
                              size_t nframes, size_t taken)
{
    const uint8_t *body;
    size_t len;
    for (;;) {
        assert_int_equal(frame_reader_next(r, &body, &len), USHER_ERR_OK);
        if (!body)
            return taken;
        assert_true(taken < nframes);
        const uint8_t *expect = stream + offsets[taken];
        assert_int_equal(len, frame_header_get(expect));
        assert_memory_equal(body, expect + FRAME_HEADER_BYTES, len);
        taken++;
    }
}

static void test_frame_header_round_trips(void **state)
{
    (void)state;
    static const uint32_t values[] = { 0, 1, 255, 256, 65536, 0x01020304u, UINT32_MAX };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        uint8_t hdr[FRAME_HEADER_BYTES];
        frame_header_put(hdr, values[i]);
        assert_int_equal(frame_header_get(hdr), values[i]);
    }
    uint8_t hdr[FRAME_HEADER_BYTES];
    frame_header_put(hdr, 0x01020304u);
    assert_int_equal(hdr[0], 1);   /* big-endian on the wire */
    assert_int_equal(hdr[3], 4);
}

static void test_frame_fed_byte_by_byte_comes_out_whole(void **state)
{
    (void)state;
    uint8_t stream[128];
    size_t offsets[3], n = 0;
    offsets[0] = n; n += make_frame(stream + n, 20, 1);
    offsets[1] = n; n += make_frame(stream + n, 1, 2);
    offsets[2] = n; n += make_frame(stream + n, 33, 3);
    frame_reader r;
    frame_reader_init(&r, 64);
    size_t taken = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(frame_reader_feed(&r, stream + i, 1), USHER_ERR_OK);
        taken = drain_and_check(&r, stream, offsets, 3, taken);
        /* a frame comes out exactly when its last byte arrives */
        size_t whole = 0;
        for (size_t f = 0; f < 3; f++)
            if (offsets[f] + FRAME_HEADER_BYTES + frame_header_get(stream + offsets[f]) <= i + 1)
                whole++;
        assert_int_equal(taken, whole);
    }
    assert_int_equal(taken, 3);
    assert_int_equal(frame_reader_pending(&r), 0);
    frame_reader_free(&r);
}

static void test_frame_every_two_part_split_gives_same_frames(void **state)
{
    (void)state;
    uint8_t stream[128];
    size_t offsets[3], n = 0;
    offsets[0] = n; n += make_frame(stream + n, 1, 1);
    offsets[1] = n; n += make_frame(stream + n, 30, 2);
    offsets[2] = n; n += make_frame(stream + n, 5, 3);
    for (size_t cut = 0; cut <= n; cut++) {
        frame_reader r;
        frame_reader_init(&r, 64);
        assert_int_equal(frame_reader_feed(&r, stream, cut), USHER_ERR_OK);
        size_t taken = drain_and_check(&r, stream, offsets, 3, 0);
        assert_int_equal(frame_reader_feed(&r, stream + cut, n - cut), USHER_ERR_OK);
        taken = drain_and_check(&r, stream, offsets, 3, taken);
        assert_int_equal(taken, 3);
        assert_int_equal(frame_reader_pending(&r), 0);
        frame_reader_free(&r);
    }
}

static void test_frame_several_frames_in_one_feed(void **state)
{
    (void)state;
    uint8_t stream[256];
    size_t offsets[5], n = 0;
    for (int i = 0; i < 5; i++) {
        offsets[i] = n;
        n += make_frame(stream + n, (uint32_t)(10 + i * 9), (uint8_t)i);
    }
    frame_reader r;
    frame_reader_init(&r, 128);
    assert_int_equal(frame_reader_feed(&r, stream, n - 3), USHER_ERR_OK);
    assert_int_equal(drain_and_check(&r, stream, offsets, 5, 0), 4);
    assert_int_equal(frame_reader_pending(&r), n - 3 - offsets[4]);
    assert_int_equal(frame_reader_feed(&r, stream + n - 3, 3), USHER_ERR_OK);
    assert_int_equal(drain_and_check(&r, stream, offsets, 5, 4), 5);
    frame_reader_free(&r);
}

static void test_frame_zero_copy_space_and_commit(void **state)
{
    (void)state;
    uint8_t stream[512];
    size_t offsets[4], n = 0;
    for (int i = 0; i < 4; i++) {
        offsets[i] = n;
        n += make_frame(stream + n, (uint32_t)(100 + i), (uint8_t)(i + 40));
    }
    frame_reader r;
    frame_reader_init(&r, 256);
    size_t fed = 0, taken = 0;
    while (fed < n) {
        uint8_t *area;
        size_t avail;
        assert_int_equal(frame_reader_space(&r, 37, &area, &avail), USHER_ERR_OK);
        assert_non_null(area);
        assert_true(avail >= 37);
        size_t chunk = n - fed < 37 ? n - fed : 37;   /* like a short read(2) */
        memcpy(area, stream + fed, chunk);
        frame_reader_commit(&r, chunk);
        fed += chunk;
        taken = drain_and_check(&r, stream, offsets, 4, taken);
    }
    assert_int_equal(taken, 4);
    frame_reader_free(&r);
}

/* Feeds header + body and returns what frame_reader_next says. */
static usher_err next_after_header(frame_reader *r, uint32_t body_len, const uint8_t **body)
{
    uint8_t hdr[FRAME_HEADER_BYTES];
    size_t len;
    frame_header_put(hdr, body_len);
    assert_int_equal(frame_reader_feed(r, hdr, sizeof hdr), USHER_ERR_OK);
    return frame_reader_next(r, body, &len);
}

static void test_frame_zero_length_is_bad_frame_and_sticky(void **state)
{
    (void)state;
    frame_reader r;
    frame_reader_init(&r, 64);
    const uint8_t *body;
    size_t len;
    assert_int_equal(next_after_header(&r, 0, &body), USHER_ERR_BAD_FRAME);
    assert_null(body);
    /* A valid frame afterwards changes nothing: the stream is dead. */
    uint8_t good[16];
    size_t n = make_frame(good, 4, 1);
    assert_int_equal(frame_reader_feed(&r, good, n), USHER_ERR_BAD_FRAME);
    assert_int_equal(frame_reader_next(&r, &body, &len), USHER_ERR_BAD_FRAME);
    uint8_t *area;
    size_t avail;
    assert_int_equal(frame_reader_space(&r, 8, &area, &avail), USHER_ERR_BAD_FRAME);
    assert_int_equal(avail, 0);
    assert_int_equal(frame_reader_next(&r, &body, &len), USHER_ERR_BAD_FRAME);
    frame_reader_free(&r);
}

static void test_frame_max_plus_one_is_bad_frame(void **state)
{
    (void)state;
    frame_reader r;
    frame_reader_init(&r, FRAME_MAX_DEFAULT);
    const uint8_t *body;
    size_t len;
    assert_int_equal(next_after_header(&r, FRAME_MAX_DEFAULT + 1, &body), USHER_ERR_BAD_FRAME);
    assert_int_equal(frame_reader_next(&r, &body, &len), USHER_ERR_BAD_FRAME);
    frame_reader_free(&r);

    frame_reader_init(&r, FRAME_MAX_DEFAULT);
    assert_int_equal(next_after_header(&r, UINT32_MAX, &body), USHER_ERR_BAD_FRAME);
    frame_reader_free(&r);
}

static void test_frame_exactly_max_is_accepted(void **state)
{
    (void)state;
    static uint8_t stream[FRAME_HEADER_BYTES + FRAME_MAX_DEFAULT];
    size_t n = make_frame(stream, FRAME_MAX_DEFAULT, 9);
    frame_reader r;
    frame_reader_init(&r, FRAME_MAX_DEFAULT);
    for (size_t off = 0; off < n; off += 4096) {
        size_t chunk = n - off < 4096 ? n - off : 4096;
        assert_int_equal(frame_reader_feed(&r, stream + off, chunk), USHER_ERR_OK);
    }
    const uint8_t *body;
    size_t len;
    assert_int_equal(frame_reader_next(&r, &body, &len), USHER_ERR_OK);
    assert_non_null(body);
    assert_int_equal(len, FRAME_MAX_DEFAULT);
    assert_memory_equal(body, stream + FRAME_HEADER_BYTES, len);
    frame_reader_free(&r);
}

static void test_frame_buffer_stays_bounded_under_huge_input(void **state)
{
    (void)state;
    const size_t max = 1024;
    frame_reader r;
    frame_reader_init(&r, max);
    /* A frame of exactly max followed by an endless stream that never drains:
     * the reader refuses input instead of growing. */
    uint8_t hdr[FRAME_HEADER_BYTES];
    frame_header_put(hdr, (uint32_t)max);
    assert_int_equal(frame_reader_feed(&r, hdr, sizeof hdr), USHER_ERR_OK);
    uint8_t chunk[1000];
    memset(chunk, 0xab, sizeof chunk);
    size_t refused = 0;
    for (int i = 0; i < 1000; i++) {
        if (frame_reader_feed(&r, chunk, sizeof chunk) == USHER_ERR_OVERLOADED)
            refused++;
        assert_true(r.cap <= FRAME_HEADER_BYTES + max + 16384);
        assert_true(frame_reader_pending(&r) <= r.cap);
    }
    assert_true(refused > 900);
    /* Zero-copy never offers more room than the bound either. */
    uint8_t *area;
    size_t avail;
    usher_err err = frame_reader_space(&r, 1u << 20, &area, &avail);
    assert_true(err == USHER_ERR_OK || err == USHER_ERR_OVERLOADED);
    assert_true(r.end + avail <= FRAME_HEADER_BYTES + max + 16384);
    frame_reader_free(&r);

    /* A huge declared length is refused as soon as its header is read. */
    frame_reader_init(&r, max);
    const uint8_t *body;
    size_t len;
    frame_header_put(hdr, 0x7fffffffu);
    assert_int_equal(frame_reader_feed(&r, hdr, sizeof hdr), USHER_ERR_OK);
    assert_int_equal(frame_reader_next(&r, &body, &len), USHER_ERR_BAD_FRAME);
    assert_int_equal(frame_reader_feed(&r, chunk, sizeof chunk), USHER_ERR_BAD_FRAME);
    assert_true(r.cap <= FRAME_HEADER_BYTES + max + 16384);
    frame_reader_free(&r);
}

static void test_frame_drained_reader_accepts_next_chunk(void **state)
{
    (void)state;
    /* A frame one byte short of complete, then a 16 KiB feed: fits after compaction. */
    const size_t max = 4096;
    static uint8_t stream[3 * (FRAME_HEADER_BYTES + 4096) + 16384];
    size_t offsets[8], n = 0, k = 0;
    while (n + FRAME_HEADER_BYTES + max <= sizeof stream) {
        offsets[k++] = n;
        n += make_frame(stream + n, (uint32_t)max, (uint8_t)k);
    }
    frame_reader r;
    frame_reader_init(&r, max);
    size_t fed = 0, taken = 0;
    while (fed < n) {
        size_t chunk = n - fed < 5000 ? n - fed : 5000;
        assert_int_equal(frame_reader_feed(&r, stream + fed, chunk), USHER_ERR_OK);
        fed += chunk;
        taken = drain_and_check(&r, stream, offsets, k, taken);
    }
    assert_int_equal(taken, k);
    frame_reader_free(&r);
}

/* A few bytes fed hold a small buffer (not one for the announced length);
 * wanted counts the header's rest, then the body's; trim frees it empty. */
static void test_frame_partial_frame_holds_what_it_was_fed(void **state)
{
    (void)state;
    frame_reader r;
    frame_reader_init(&r, 65536);
    static const uint8_t six[] = { 0, 0, 0, 100, 0x94, 0x00 };
    size_t wanted = 99;
    assert_int_equal(frame_reader_wanted(&r, &wanted), USHER_ERR_OK);
    assert_int_equal(wanted, 0);
    assert_int_equal(frame_reader_feed(&r, six, 3), USHER_ERR_OK);
    assert_int_equal(frame_reader_wanted(&r, &wanted), USHER_ERR_OK);
    assert_int_equal(wanted, 1);
    assert_int_equal(frame_reader_feed(&r, six + 3, 3), USHER_ERR_OK);
    assert_int_equal(frame_reader_wanted(&r, &wanted), USHER_ERR_OK);
    assert_int_equal(wanted, 98);
    assert_true(r.cap <= 64);
    frame_reader_trim(&r);   /* not empty: kept */
    assert_int_equal(frame_reader_pending(&r), 6);
    uint8_t rest[98];
    memset(rest, 0xc0, sizeof rest);
    assert_int_equal(frame_reader_feed(&r, rest, sizeof rest), USHER_ERR_OK);
    assert_true(r.cap < 4 + 100 + 100);
    assert_int_equal(frame_reader_wanted(&r, &wanted), USHER_ERR_OK);
    assert_int_equal(wanted, 0);
    const uint8_t *body;
    size_t len;
    assert_int_equal(frame_reader_next(&r, &body, &len), USHER_ERR_OK);
    assert_non_null(body);
    assert_int_equal(len, 100);
    frame_reader_trim(&r);
    assert_null(r.buf);
    assert_int_equal(r.cap, 0);
    frame_reader_free(&r);
}

/* frame_measure: nothing known under 4 bytes, 4 + N after, BAD_FRAME for 0
 * and for max + 1 (max itself is fine); wanted reports the same. */
static void test_frame_measure_at_and_past_the_limit(void **state)
{
    (void)state;
    uint8_t hdr[4] = { 0, 0, 0, 0 };
    size_t whole = 7;
    assert_int_equal(frame_measure(hdr, 3, 64, &whole), USHER_ERR_OK);
    assert_int_equal(whole, 0);
    frame_header_put(hdr, 64);
    assert_int_equal(frame_measure(hdr, 4, 64, &whole), USHER_ERR_OK);
    assert_int_equal(whole, 68);
    frame_header_put(hdr, 65);
    assert_int_equal(frame_measure(hdr, 4, 64, &whole), USHER_ERR_BAD_FRAME);
    frame_header_put(hdr, 0);
    assert_int_equal(frame_measure(hdr, 4, 64, &whole), USHER_ERR_BAD_FRAME);
    frame_reader r;
    frame_reader_init(&r, 65536);
    frame_header_put(hdr, 65537);
    assert_int_equal(frame_reader_feed(&r, hdr, 4), USHER_ERR_OK);
    size_t wanted;
    assert_int_equal(frame_reader_wanted(&r, &wanted), USHER_ERR_BAD_FRAME);
    assert_int_equal(frame_reader_feed(&r, hdr, 1), USHER_ERR_BAD_FRAME);   /* sticky */
    frame_reader_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_header_round_trips),
        cmocka_unit_test(test_frame_fed_byte_by_byte_comes_out_whole),
        cmocka_unit_test(test_frame_every_two_part_split_gives_same_frames),
        cmocka_unit_test(test_frame_several_frames_in_one_feed),
        cmocka_unit_test(test_frame_zero_copy_space_and_commit),
        cmocka_unit_test(test_frame_zero_length_is_bad_frame_and_sticky),
        cmocka_unit_test(test_frame_max_plus_one_is_bad_frame),
        cmocka_unit_test(test_frame_exactly_max_is_accepted),
        cmocka_unit_test(test_frame_buffer_stays_bounded_under_huge_input),
        cmocka_unit_test(test_frame_drained_reader_accepts_next_chunk),
        cmocka_unit_test(test_frame_partial_frame_holds_what_it_was_fed),
        cmocka_unit_test(test_frame_measure_at_and_past_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
