#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "harness_notify.h"
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void harness_note_free(harness_note *n)
{
    if (n->zone) msgpack_zone_free(n->zone);
    free(n->body);
    memset(n, 0, sizeof *n);
}

/* 1: a notification decoded into out; 0: a response (fails the caller); -1: bad. */
static int decode_note(const uint8_t *body, size_t len, harness_note *out)
{
    memset(out, 0, sizeof *out);
    out->body = malloc(len);
    out->zone = msgpack_zone_new(8192);
    if (!out->body || !out->zone) goto fail;
    memcpy(out->body, body, len);
    msgpack_object *root = msgpack_zone_malloc(out->zone, sizeof *root);
    msg_limits lim = msg_limits_default();
    if (!root || msg_decode(out->body, len, &lim, out->zone, root) != USHER_ERR_OK) goto fail;
    int type = -1;
    msg_response resp;
    msg_notification note;
    if (msg_parse_reply(root, &type, &resp, &note) != USHER_ERR_OK) goto fail;
    if (type != MSG_TYPE_NOTIFICATION) { harness_note_free(out); return 0; }
    size_t n = note.method_len < sizeof out->method - 1 ? note.method_len : sizeof out->method - 1;
    memcpy(out->method, note.method, n);
    out->method[n] = '\0';
    out->params = note.params;
    out->at_ms = harness_mono_ms();
    return out->params ? 1 : -1;
fail:
    harness_note_free(out);
    return -1;
}

static harness_io read_note(harness_conn *c, int timeout_ms, harness_note *out, bool skip_responses)
{
    int64_t deadline = harness_mono_ms() + timeout_ms;
    for (;;) {
        const uint8_t *body = NULL;
        size_t len = 0;
        if (frame_reader_next(&c->reader, &body, &len) != USHER_ERR_OK) return HARNESS_IO_ERROR;
        if (body) {
            int kind = decode_note(body, len, out);
            if (kind == 1) return HARNESS_IO_OK;
            if (kind == 0 && skip_responses) continue;
            fail_msg("expected a notification, got %s", kind == 0 ? "a response" : "a bad frame");
        }
        if (c->fd < 0) return HARNESS_IO_CLOSED;
        int64_t left = deadline - harness_mono_ms();
        if (left <= 0) return HARNESS_IO_TIMEOUT;
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return r == 0 ? HARNESS_IO_TIMEOUT : HARNESS_IO_ERROR;
        uint8_t *area = NULL;
        size_t avail = 0;
        if (frame_reader_space(&c->reader, 65536, &area, &avail) != USHER_ERR_OK || avail == 0)
            return HARNESS_IO_ERROR;
        ssize_t n = recv(c->fd, area, avail, 0);
        if (n > 0) { frame_reader_commit(&c->reader, (size_t)n); continue; }
        if (n == 0 || errno == ECONNRESET) return HARNESS_IO_CLOSED;
        if (errno != EINTR && errno != EAGAIN) return HARNESS_IO_ERROR;
    }
}

harness_io harness_read_note(harness_conn *c, int timeout_ms, harness_note *out)
{
    return read_note(c, timeout_ms, out, false);
}

harness_io harness_read_note_skipping(harness_conn *c, int timeout_ms, harness_note *out)
{
    return read_note(c, timeout_ms, out, true);
}

void harness_expect_note(harness_conn *c, const char *method, int timeout_ms, harness_note *out)
{
    int64_t deadline = harness_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - harness_mono_ms();
        harness_io io = left > 0 ? harness_read_note(c, (int)left, out) : HARNESS_IO_TIMEOUT;
        if (io != HARNESS_IO_OK) fail_msg("no %s notification within %d ms (io %d)", method, timeout_ms, io);
        if (strcmp(out->method, method) == 0) return;
        harness_note_free(out);
    }
}

bool harness_note_token_is(const harness_note *n, const char *token)
{
    return harness_obj_str_is(n->params, "token", token);
}
