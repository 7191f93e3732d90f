/* Framing: a frame is a 4-byte big-endian length N (1 <= N <= max_frame)
 * followed by N bytes holding one msgpack object.
 * The reader does no I/O: feed it any split of bytes, take whole frames out.
 * It owns one buffer, never larger than 4 + max_frame bytes plus slack, and
 * grown to what it is fed (a few bytes fed hold a small buffer, not a
 * max_frame one); frame_reader_trim releases it once it is empty. */
#ifndef USHER_PROTOCOL_FRAME_H
#define USHER_PROTOCOL_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include "errors.h"

#define FRAME_HEADER_BYTES 4
#define FRAME_MAX_DEFAULT 65536u   /* default and floor of --max-frame */
#define FRAME_MAX_LIMIT (16u << 20) /* highest max_frame accepted anywhere */

typedef struct frame_reader {
    uint8_t *buf;       /* owned; bytes [start, end) are unconsumed input */
    size_t start, end, cap;
    size_t max_frame;   /* largest body accepted */
    int failed;         /* sticky: a bad length was seen; the stream is dead */
} frame_reader;

/* Prepares an empty reader accepting bodies of 1..max_frame bytes. */
void frame_reader_init(frame_reader *r, size_t max_frame);

/* Releases the reader's buffer; the struct may be re-initialised. */
void frame_reader_free(frame_reader *r);

/* Copies n bytes of input into the reader. USHER_ERR_INTERNAL on OOM. */
usher_err frame_reader_feed(frame_reader *r, const void *data, size_t n);

/* Zero-copy input: a writable area of at least `want` bytes (or less when the
 * reader cannot grow); after read(2) into it, call frame_reader_commit. */
usher_err frame_reader_space(frame_reader *r, size_t want, uint8_t **area, size_t *avail);
void frame_reader_commit(frame_reader *r, size_t n);

/* Takes the next whole frame. Returns USHER_ERR_OK with *body and *len set (valid
 * until the next call on the reader), USHER_ERR_BAD_FRAME for a length of 0 or
 * above max_frame (sticky), or OK with *body == NULL when more bytes are needed. */
usher_err frame_reader_next(frame_reader *r, const uint8_t **body, size_t *len);

/* The size (header included) of the frame starting at p, of which n bytes are
 * at hand: OK with *frame_bytes = 4 + N once the header is there (0 while
 * n < 4), BAD_FRAME for a length of 0 or above max_frame. */
usher_err frame_measure(const uint8_t *p, size_t n, size_t max_frame, size_t *frame_bytes);

/* Bytes still to feed before the frame at the front is whole: the rest of its
 * header, then the rest of its body; 0 when a whole frame or nothing is
 * buffered. BAD_FRAME (sticky, as frame_reader_next) for a bad length. */
usher_err frame_reader_wanted(frame_reader *r, size_t *wanted);

/* Frees the buffer when nothing is pending (any body returned is then gone). */
void frame_reader_trim(frame_reader *r);

/* Bytes buffered but not yet returned as frames. */
size_t frame_reader_pending(const frame_reader *r);

/* Writes the 4-byte big-endian length header. */
void frame_header_put(uint8_t hdr[FRAME_HEADER_BYTES], uint32_t body_len);

/* Reads a 4-byte big-endian length header. */
uint32_t frame_header_get(const uint8_t hdr[FRAME_HEADER_BYTES]);

#endif
