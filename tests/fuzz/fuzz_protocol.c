/* libFuzzer target for the protocol layer: arbitrary bytes go through a frame
 * reader (max_frame 65536) and every frame through msg_decode with the default
 * limits, msg_parse_request and msg_parse_reply, as a connection's input does.
 * The input is fed twice, whole and in small chunks (size from its first
 * byte), and both ways must give the same frames: the reader may not depend
 * on how the bytes were split. Build (see the report / Makefile "fuzz"):
 *   clang -fsanitize=fuzzer,address -std=c11 -D_GNU_SOURCE -Iprotocol
 *         tests/fuzz/fuzz_protocol.c protocol/[all .c files] -lmsgpackc */
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct run_result {
    size_t frames;
    size_t body_bytes;
    bool failed;      /* the reader saw a bad length */
    bool refused;     /* a feed did not fit; the runs are not comparable */
} run_result;

static void handle_frame(const uint8_t *body, size_t len, const msg_limits *lim)
{
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 1024))
        return;
    msgpack_object obj;
    if (msg_decode(body, len, lim, &zone, &obj) == USHER_ERR_OK) {
        msg_request req;
        bool msgid_known;
        msg_parse_request(&obj, &req, &msgid_known);
        int type;
        msg_response resp;
        msg_notification note;
        msg_parse_reply(&obj, &type, &resp, &note);
    }
    msgpack_zone_destroy(&zone);
}

static bool drain(frame_reader *r, run_result *res, const msg_limits *lim, bool decode)
{
    const uint8_t *body;
    size_t len;
    usher_err err;
    while ((err = frame_reader_next(r, &body, &len)) == USHER_ERR_OK && body) {
        res->frames++;
        res->body_bytes += len;
        if (decode)
            handle_frame(body, len, lim);
    }
    if (err == USHER_ERR_BAD_FRAME)
        res->failed = true;
    return err == USHER_ERR_OK;
}

static run_result feed_in_chunks(const uint8_t *data, size_t size, size_t chunk,
                                 const msg_limits *lim, bool decode)
{
    run_result res = { 0, 0, false, false };
    frame_reader r;
    frame_reader_init(&r, FRAME_MAX_DEFAULT);
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        usher_err err = frame_reader_feed(&r, data + off, n);
        if (err == USHER_ERR_BAD_FRAME) {
            res.failed = true;
            break;
        }
        if (err != USHER_ERR_OK) {
            res.refused = true;
            break;
        }
        if (!drain(&r, &res, lim, decode))
            break;
    }
    frame_reader_free(&r);
    return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    msg_limits lim = msg_limits_default();
    run_result whole = feed_in_chunks(data, size, size, &lim, true);
    run_result split = feed_in_chunks(data, size, (size_t)(data[0] % 17) + 1, &lim, false);
    if (!whole.refused && !split.refused &&
        (whole.frames != split.frames || whole.body_bytes != split.body_bytes ||
         whole.failed != split.failed))
        __builtin_trap();
    return 0;
}
