/* Frame reader: cuts a byte stream into length-prefixed frames without I/O.
 * The buffer is bounded: it never grows past 4 + max_frame + FRAME_READER_SLACK
 * bytes. Input that would not fit is refused (OVERLOADED), so a caller takes
 * frames out between feeds; after draining, a feed of up to
 * FRAME_READER_SLACK bytes always fits. */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

#define FRAME_READER_SLACK 16384u  /* room for the start of the next frame */
#define FRAME_READER_FIRST_CAP 64u   /* a first feed of a few bytes stays small */

static size_t reader_bound(const frame_reader *r)
{
    return FRAME_HEADER_BYTES + r->max_frame + FRAME_READER_SLACK;
}

void frame_reader_init(frame_reader *r, size_t max_frame)
{
    if (max_frame == 0)
        max_frame = FRAME_MAX_DEFAULT;
    if (max_frame > FRAME_MAX_LIMIT)
        max_frame = FRAME_MAX_LIMIT;
    r->buf = NULL;
    r->start = r->end = r->cap = 0;
    r->max_frame = max_frame;
    r->failed = 0;
}

void frame_reader_free(frame_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->start = r->end = r->cap = 0;
}

/* Marks the stream dead and drops what it held: nothing after a bad length
 * can be trusted to be a frame boundary. */
static void reader_fail(frame_reader *r)
{
    r->failed = 1;
    frame_reader_free(r);
}

/* Makes at least `want` free bytes after r->end when the bound allows, moving
 * unconsumed bytes to the front first and growing the buffer second. */
static usher_err reader_make_room(frame_reader *r, size_t want)
{
    if (r->start > 0 && (r->start == r->end || r->cap - r->end < want)) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->cap - r->end >= want)
        return USHER_ERR_OK;

    size_t bound = reader_bound(r);
    size_t new_cap = r->cap ? r->cap * 2 : FRAME_READER_FIRST_CAP;
    if (want <= bound - r->end && new_cap < r->end + want)
        new_cap = r->end + want;
    if (new_cap > bound)
        new_cap = bound;
    if (new_cap <= r->cap)
        return USHER_ERR_OK;   /* at the bound: the caller gets what is left */
    uint8_t *grown = realloc(r->buf, new_cap);
    if (!grown)
        return USHER_ERR_INTERNAL;
    r->buf = grown;
    r->cap = new_cap;
    return USHER_ERR_OK;
}

/* All or nothing: BAD_FRAME once the stream has failed, OVERLOADED when the
 * bytes would take the buffer past its bound, INTERNAL on OOM. */
usher_err frame_reader_feed(frame_reader *r, const void *data, size_t n)
{
    if (r->failed)
        return USHER_ERR_BAD_FRAME;
    if (n == 0)
        return USHER_ERR_OK;
    usher_err err = reader_make_room(r, n);
    if (err != USHER_ERR_OK)
        return err;
    if (r->cap - r->end < n)
        return USHER_ERR_OVERLOADED;
    memcpy(r->buf + r->end, data, n);
    r->end += n;
    return USHER_ERR_OK;
}

/* OVERLOADED when no byte fits (take frames out first); BAD_FRAME once failed. */
usher_err frame_reader_space(frame_reader *r, size_t want, uint8_t **area, size_t *avail)
{
    *area = NULL;
    *avail = 0;
    if (r->failed)
        return USHER_ERR_BAD_FRAME;
    if (want == 0)
        want = 1;
    usher_err err = reader_make_room(r, want);
    if (err != USHER_ERR_OK)
        return err;
    if (r->cap == r->end)
        return USHER_ERR_OVERLOADED;
    *area = r->buf + r->end;
    *avail = r->cap - r->end;
    return USHER_ERR_OK;
}

/* n must not exceed the avail of the last frame_reader_space call. */
void frame_reader_commit(frame_reader *r, size_t n)
{
    if (r->failed || n > r->cap - r->end)
        return;
    r->end += n;
}

usher_err frame_reader_next(frame_reader *r, const uint8_t **body, size_t *len)
{
    *body = NULL;
    *len = 0;
    if (r->failed)
        return USHER_ERR_BAD_FRAME;
    size_t have = r->end - r->start;
    if (have < FRAME_HEADER_BYTES)
        return USHER_ERR_OK;
    size_t whole;
    if (frame_measure(r->buf + r->start, have, r->max_frame, &whole) != USHER_ERR_OK) {
        reader_fail(r);
        return USHER_ERR_BAD_FRAME;
    }
    if (have < whole)
        return USHER_ERR_OK;
    size_t body_len = whole - FRAME_HEADER_BYTES;
    *body = r->buf + r->start + FRAME_HEADER_BYTES;
    *len = body_len;
    r->start += FRAME_HEADER_BYTES + body_len;  /* the body stays in place until the next call */
    return USHER_ERR_OK;
}

usher_err frame_measure(const uint8_t *p, size_t n, size_t max_frame, size_t *frame_bytes)
{
    *frame_bytes = 0;
    if (n < FRAME_HEADER_BYTES)
        return USHER_ERR_OK;
    uint32_t body_len = frame_header_get(p);
    if (body_len == 0 || body_len > max_frame)
        return USHER_ERR_BAD_FRAME;
    *frame_bytes = FRAME_HEADER_BYTES + (size_t)body_len;
    return USHER_ERR_OK;
}

usher_err frame_reader_wanted(frame_reader *r, size_t *wanted)
{
    *wanted = 0;
    if (r->failed)
        return USHER_ERR_BAD_FRAME;
    size_t have = r->end - r->start, whole;
    if (have == 0)
        return USHER_ERR_OK;
    if (have < FRAME_HEADER_BYTES) {
        *wanted = FRAME_HEADER_BYTES - have;
        return USHER_ERR_OK;
    }
    if (frame_measure(r->buf + r->start, have, r->max_frame, &whole) != USHER_ERR_OK) {
        reader_fail(r);
        return USHER_ERR_BAD_FRAME;
    }
    *wanted = have < whole ? whole - have : 0;
    return USHER_ERR_OK;
}

void frame_reader_trim(frame_reader *r)
{
    if (r->start == r->end)
        frame_reader_free(r);
}

size_t frame_reader_pending(const frame_reader *r)
{
    return r->end - r->start;
}

void frame_header_put(uint8_t hdr[FRAME_HEADER_BYTES], uint32_t body_len)
{
    hdr[0] = (uint8_t)(body_len >> 24);
    hdr[1] = (uint8_t)(body_len >> 16);
    hdr[2] = (uint8_t)(body_len >> 8);
    hdr[3] = (uint8_t)body_len;
}

uint32_t frame_header_get(const uint8_t hdr[FRAME_HEADER_BYTES])
{
    return (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
           (uint32_t)hdr[2] << 8 | (uint32_t)hdr[3];
}
