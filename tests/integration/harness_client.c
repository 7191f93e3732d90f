/* Harness, client: a blocking test connection over protocol/ only.
 * Requests are built with msg_pack_request_head and params from JSON
 * (msg_from_json); replies are cut by frame_reader and decoded by msg_decode
 * into a zone the reply owns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

harness_conn *harness_conn_open_host(const char *host, uint16_t port, int *err)
{
    harness_conn *c = calloc(1, sizeof *c);
    if (!c) {
        *err = ENOMEM;
        return NULL;
    }
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        *err = errno;
        free(c);
        return NULL;
    }
    struct timeval tv = { .tv_sec = HARNESS_IO_TIMEOUT_MS / 1000,
                          .tv_usec = (HARNESS_IO_TIMEOUT_MS % 1000) * 1000 };
    int one = 1;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (host && inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        *err = EINVAL;
        close(c->fd);
        free(c);
        return NULL;
    }
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        *err = errno;
        close(c->fd);
        free(c);
        return NULL;
    }
    c->port = port;
    c->next_msgid = 1;
    frame_reader_init(&c->reader, FRAME_MAX_LIMIT);
    *err = 0;
    return c;
}

harness_conn *harness_conn_open(uint16_t port, int *err)
{
    return harness_conn_open_host(NULL, port, err);
}

harness_conn *harness_connect_host(const char *host, uint16_t port)
{
    int err = 0;
    harness_conn *c = harness_conn_open_host(host, port, &err);
    if (!c)
        fail_msg("connect %s:%u: %s", host, (unsigned)port, strerror(err));
    return c;
}

harness_conn *harness_connect(uint16_t port)
{
    int err = 0;
    harness_conn *c = harness_conn_open(port, &err);
    if (!c)
        fail_msg("connect 127.0.0.1:%u: %s", (unsigned)port, strerror(err));
    return c;
}

void harness_conn_disconnect(harness_conn *c)
{
    if (c && c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

void harness_conn_free(harness_conn *c)
{
    if (!c)
        return;
    harness_conn_disconnect(c);
    frame_reader_free(&c->reader);
    free(c);
}

/* Sends all n bytes; 0 or the errno that stopped it. */
/* Sends every byte, within HARNESS_IO_TIMEOUT_MS also on a non-blocking
 * socket (the crash sale's): EAGAIN waits for room until then. */
static int send_all(harness_conn *c, const void *bytes, size_t n)
{
    const uint8_t *p = bytes;
    if (c->fd < 0)
        return EBADF;
    int64_t deadline = harness_mono_ms() + HARNESS_IO_TIMEOUT_MS;
    while (n > 0) {
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && harness_mono_ms() < deadline) {
                struct pollfd pf = { .fd = c->fd, .events = POLLOUT };
                poll(&pf, 1, 10);
                continue;
            }
            return errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

void harness_send_raw(harness_conn *c, const void *bytes, size_t n)
{
    int e = send_all(c, bytes, n);
    if (e != 0 && e != EPIPE && e != ECONNRESET)
        fail_msg("send to 127.0.0.1:%u: %s", (unsigned)c->port, strerror(e));
}

void harness_send_frame(harness_conn *c, const void *body, size_t n)
{
    uint8_t hdr[FRAME_HEADER_BYTES];
    frame_header_put(hdr, (uint32_t)n);
    harness_send_raw(c, hdr, sizeof hdr);
    harness_send_raw(c, body, n);
}

int harness_conn_request(harness_conn *c, const char *method, const char *params_json,
                         uint32_t *msgid)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    *msgid = c->next_msgid++;
    size_t at = msg_frame_begin(&sb);
    msg_pack_request_head(&pk, *msgid, method);
    const char *json = params_json && *params_json ? params_json : "{}";
    size_t err_at = 0;
    if (msg_from_json(json, strlen(json), &pk, &err_at) != USHER_ERR_OK) {
        msgpack_sbuffer_destroy(&sb);
        return EINVAL;
    }
    msg_frame_end(&sb, at);
    int e = send_all(c, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return e;
}

uint32_t harness_send(harness_conn *c, const char *method, const char *params_json)
{
    uint32_t msgid = 0;
    int e = harness_conn_request(c, method, params_json, &msgid);
    if (e == EINVAL)
        fail_msg("bad JSON params for %s: %s", method, params_json);
    if (e != 0)
        fail_msg("sending %s to 127.0.0.1:%u: %s", method, (unsigned)c->port, strerror(e));
    return msgid;
}

/* vsnprintf into a malloc'd string; fails the test on OOM. */
static char *format_params(const char *fmt, va_list ap)
{
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        fail_msg("out of memory");
    return text;
}

uint32_t harness_sendf(harness_conn *c, const char *method, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *json = format_params(fmt, ap);
    va_end(ap);
    uint32_t msgid = harness_send(c, method, json);
    free(json);
    return msgid;
}

void harness_reply_free(harness_reply *r)
{
    if (!r)
        return;
    if (r->zone)
        msgpack_zone_free(r->zone);
    free(r->body);
    free(r->message);
    memset(r, 0, sizeof *r);
}

/* Decodes one frame body into *out: 1 for a response, 0 for a notification
 * (skipped), -1 when it is not a valid server message. */
static int decode_reply(const uint8_t *body, size_t len, harness_reply *out)
{
    memset(out, 0, sizeof *out);
    out->body = malloc(len);
    out->zone = msgpack_zone_new(8192);
    if (!out->body || !out->zone)
        goto fail;
    memcpy(out->body, body, len);
    out->body_len = len;
    msgpack_object *root = msgpack_zone_malloc(out->zone, sizeof *root);
    msg_limits lim = msg_limits_default();
    if (!root || msg_decode(out->body, len, &lim, out->zone, root) != USHER_ERR_OK)
        goto fail;
    int type = -1;
    msg_response resp;
    msg_notification note;
    if (msg_parse_reply(root, &type, &resp, &note) != USHER_ERR_OK)
        goto fail;
    if (type != MSG_TYPE_RESPONSE) {
        harness_reply_free(out);
        return 0;
    }
    out->msgid = resp.msgid;
    out->err = resp.err;
    out->result = resp.result;
    if (resp.err != USHER_ERR_OK) {
        size_t n = resp.err_name_len < sizeof out->code - 1 ? resp.err_name_len : sizeof out->code - 1;
        if (resp.err_name)
            memcpy(out->code, resp.err_name, n);
        out->code[n] = '\0';
        out->message = calloc(1, resp.err_message_len + 1);
        if (!out->message)
            goto fail;
        if (resp.err_message)
            memcpy(out->message, resp.err_message, resp.err_message_len);
    }
    return 1;
fail:
    harness_reply_free(out);
    return -1;
}

harness_io harness_read_reply(harness_conn *c, harness_reply *out)
{
    for (;;) {
        const uint8_t *body = NULL;
        size_t len = 0;
        if (frame_reader_next(&c->reader, &body, &len) != USHER_ERR_OK)
            return HARNESS_IO_ERROR;
        if (body) {
            int kind = decode_reply(body, len, out);
            if (kind < 0)
                return HARNESS_IO_ERROR;
            if (kind == 1)
                return HARNESS_IO_OK;
            continue;
        }
        if (c->fd < 0)
            return HARNESS_IO_CLOSED;
        uint8_t *area = NULL;
        size_t avail = 0;
        if (frame_reader_space(&c->reader, 65536, &area, &avail) != USHER_ERR_OK || avail == 0)
            return HARNESS_IO_ERROR;
        ssize_t n = recv(c->fd, area, avail, 0);
        if (n > 0) {
            frame_reader_commit(&c->reader, (size_t)n);
            continue;
        }
        if (n == 0)
            return HARNESS_IO_CLOSED;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return HARNESS_IO_TIMEOUT;
        if (errno == ECONNRESET)
            return HARNESS_IO_CLOSED;
        return HARNESS_IO_ERROR;
    }
}

static const char *io_name(harness_io io)
{
    switch (io) {
    case HARNESS_IO_OK: return "ok";
    case HARNESS_IO_CLOSED: return "connection closed by the server";
    case HARNESS_IO_TIMEOUT: return "timed out";
    default: return "bad frame or envelope from the server";
    }
}

usher_err harness_recv(harness_conn *c, uint32_t msgid, harness_reply *out)
{
    harness_io io = harness_read_reply(c, out);
    if (io != HARNESS_IO_OK)
        fail_msg("no reply to msgid %u on port %u: %s", msgid, (unsigned)c->port, io_name(io));
    if (out->msgid != msgid) {
        uint32_t got = out->msgid;
        harness_reply_free(out);
        fail_msg("expected the reply to msgid %u, got msgid %u", msgid, got);
    }
    return out->err;
}

usher_err harness_call(harness_conn *c, const char *method, const char *params_json,
                       harness_reply *out)
{
    uint32_t msgid = harness_send(c, method, params_json);
    return harness_recv(c, msgid, out);
}

usher_err harness_callf(harness_conn *c, harness_reply *out, const char *method,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *json = format_params(fmt, ap);
    va_end(ap);
    uint32_t msgid = harness_send(c, method, json);
    free(json);
    return harness_recv(c, msgid, out);
}

bool harness_conn_closed(harness_conn *c, int timeout_ms)
{
    if (c->fd < 0)
        return true;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (spent >= timeout_ms)
            return false;
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        int r = poll(&p, 1, (int)(timeout_ms - spent));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        uint8_t scratch[4096];
        ssize_t n = recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (n == 0)
            return true;
        if (n < 0 && (errno == ECONNRESET || errno == EPIPE))
            return true;
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return false;
    }
}
