/* The fuzzer's blocking client: one request, one reply, on a socket with send/receive timeouts. Used by
 * setup and the polite client, never by the attack loop. Also the seeded generator and the clock. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "frame.h"
#include "msg.h"

void fuzz_rng_seed(fuzz_rng *r, uint64_t seed)
{
    r->state = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (r->state == 0)
        r->state = 1;
}

uint64_t fuzz_rng_next(fuzz_rng *r)
{
    uint64_t x = r->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

uint64_t fuzz_rng_below(fuzz_rng *r, uint64_t n)
{
    return n ? fuzz_rng_next(r) % n : 0;
}

int64_t fuzz_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fuzz_wire_connect(const char *host, uint16_t port, int timeout_ms)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = recv(fd, b, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Reads one frame into a fresh zone; -1 on transport or decoding failure. */
static int read_message(int fd, fuzz_reply *out, msgpack_object *obj)
{
    uint8_t hdr[FRAME_HEADER_BYTES];
    if (read_all(fd, hdr, sizeof hdr) != 0)
        return -1;
    uint32_t n = frame_header_get(hdr);
    if (n == 0 || n > FRAME_MAX_LIMIT)
        return -1;
    out->body = malloc(n);
    if (!out->body || read_all(fd, out->body, n) != 0)
        goto fail;
    msgpack_zone_init(&out->zone, 4096);
    msg_limits lim = msg_limits_default();
    if (msg_decode(out->body, n, &lim, &out->zone, obj) != USHER_ERR_OK) {
        msgpack_zone_destroy(&out->zone);
        goto fail;
    }
    return 0;
fail:
    free(out->body);
    out->body = NULL;
    return -1;
}

int fuzz_wire_call(int fd, uint32_t msgid, const char *method, const char *params_json, fuzz_reply *out)
{
    memset(out, 0, sizeof *out);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t at = msg_frame_begin(&sb), err_at = 0;
    msg_pack_request_head(&pk, msgid, method);
    if (msg_from_json(params_json, strlen(params_json), &pk, &err_at) != USHER_ERR_OK) {
        msgpack_sbuffer_destroy(&sb);
        return -1;
    }
    msg_frame_end(&sb, at);
    int rc = write_all(fd, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0)
        return -1;
    for (;;) {
        msgpack_object obj;
        if (read_message(fd, out, &obj) != 0)
            return -1;
        int type = 0;
        msg_response resp;
        msg_notification note;
        if (msg_parse_reply(&obj, &type, &resp, &note) != USHER_ERR_OK ||
            (type == MSG_TYPE_RESPONSE && resp.msgid != msgid)) {
            fuzz_reply_free(out);
            return -1;
        }
        if (type == MSG_TYPE_RESPONSE) {
            out->err = resp.err;
            out->result = resp.result;
            return 0;
        }
        fuzz_reply_free(out); /* a notification: not ours */
    }
}

void fuzz_reply_free(fuzz_reply *r)
{
    if (r->body) {
        msgpack_zone_destroy(&r->zone);
        free(r->body);
    }
    memset(r, 0, sizeof *r);
}

bool fuzz_reply_str(const fuzz_reply *r, const char *key, char *out, size_t cap)
{
    const msgpack_object *v = r->result ? msg_map_get(r->result, key) : NULL;
    if (!v || v->type != MSGPACK_OBJECT_STR || v->via.str.size >= cap)
        return false;
    memcpy(out, v->via.str.ptr, v->via.str.size);
    out[v->via.str.size] = '\0';
    return true;
}

bool fuzz_reply_u64(const fuzz_reply *r, const char *key, uint64_t *out)
{
    const msgpack_object *v = r->result ? msg_map_get(r->result, key) : NULL;
    if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *out = v->via.u64;
    return true;
}
