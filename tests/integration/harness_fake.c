/* Fake servers for client tests (see harness_fake.h). One thread per server
 * serves one connection at a time; every wait also watches a stop pipe so
 * fake_stop never hangs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_fake.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "frame.h"
#include "msg.h"

#define FAKE_MAX_BATCH 256u

/* Waits for fd to become readable; false when stop was asked for. */
static bool wait_readable(fake_server *fs, int fd)
{
    struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = fs->stop_pipe[0], .events = POLLIN } };
    for (;;) {
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (p[1].revents & POLLIN))
            return false;
        if (p[0].revents)
            return true;
    }
}

static void send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* Sends sb's bytes and empties it. */
static void flush_sb(int fd, msgpack_sbuffer *sb)
{
    send_all(fd, sb->data, sb->size);
    sb->size = 0;
}

/* Appends [1, msgid, nil, {key: value}]. */
static void put_reply(msgpack_sbuffer *sb, uint32_t msgid, const char *key, uint64_t value)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t at = msg_frame_begin(sb);
    msg_pack_response_ok_head(&pk, msgid);
    msgpack_pack_map(&pk, 1);
    msg_pack_cstr(&pk, key);
    msgpack_pack_uint64(&pk, value);
    msg_frame_end(sb, at);
}

static void put_notification(msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t at = msg_frame_begin(sb);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, MSG_TYPE_NOTIFICATION);
    msg_pack_cstr(&pk, "fake.note");
    msgpack_pack_map(&pk, 0);
    msg_frame_end(sb, at);
}

/* The msgid of a request frame body, or 0 when it is not a request. */
static uint32_t request_msgid(const uint8_t *body, size_t len)
{
    msgpack_zone *zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
    msg_limits lim = msg_limits_default();
    msgpack_object o;
    msg_request req;
    bool known = false;
    uint32_t msgid = 0;
    if (zone && msg_decode(body, len, &lim, zone, &o) == USHER_ERR_OK &&
        msg_parse_request(&o, &req, &known) == USHER_ERR_OK)
        msgid = req.msgid;
    if (zone)
        msgpack_zone_free(zone);
    return msgid;
}

/* Answers one request as the mode says; false to hang up. */
static bool answer(fake_server *fs, int fd, uint32_t msgid, uint32_t *batch, unsigned *batched)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    bool keep = true;
    switch (fs->mode) {
    case FAKE_SILENT:
        break;
    case FAKE_CLOSE_AFTER_READ:
        keep = false;
        break;
    case FAKE_STALE_THEN_ANSWER:
        put_reply(&sb, msgid + 1000, "time", 1);
        put_notification(&sb);
        put_reply(&sb, msgid, "time", FAKE_STALE_TIME);
        break;
    case FAKE_GARBAGE: {
        static const uint8_t garbage[] = { 0, 0, 0, 1, 0xc1 };
        msgpack_sbuffer_write(&sb, (const char *)garbage, sizeof garbage);
        break;
    }
    case FAKE_OVERSIZED: {
        uint8_t hdr[FRAME_HEADER_BYTES];
        frame_header_put(hdr, FAKE_OVERSIZED_LEN);
        msgpack_sbuffer_write(&sb, (const char *)hdr, sizeof hdr);
        msgpack_sbuffer_write(&sb, "\x94\x01", 2);
        break;
    }
    case FAKE_FIXED_RESULT: {
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        size_t at = msg_frame_begin(&sb);
        msg_pack_response_ok_head(&pk, msgid);
        msgpack_sbuffer_write(&sb, fs->fixed_result, fs->fixed_result_len);
        msg_frame_end(&sb, at);
        break;
    }
    case FAKE_REVERSED:
        batch[(*batched)++] = msgid;
        if (*batched == fs->batch || *batched == FAKE_MAX_BATCH) {
            while (*batched > 0) {
                uint32_t id = batch[--*batched];
                put_reply(&sb, id, "echo", id);
            }
        }
        break;
    }
    flush_sb(fd, &sb);
    msgpack_sbuffer_destroy(&sb);
    return keep;
}

/* Serves one connection until the peer leaves, the mode hangs up, or stop. */
static void serve(fake_server *fs, int fd)
{
    frame_reader rd;
    frame_reader_init(&rd, FRAME_MAX_LIMIT);
    uint32_t batch[FAKE_MAX_BATCH];
    unsigned batched = 0;
    uint8_t buf[4096];
    bool keep = true;
    while (keep && wait_readable(fs, fd)) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0 || frame_reader_feed(&rd, buf, (size_t)n) != USHER_ERR_OK)
            break;
        const uint8_t *body;
        size_t len;
        while (keep && frame_reader_next(&rd, &body, &len) == USHER_ERR_OK && body) {
            __atomic_add_fetch(&fs->requests, 1, __ATOMIC_RELAXED);
            pthread_mutex_lock(&fs->last_lock);
            fs->last_request_len = len < FAKE_LAST_REQUEST_CAP ? len : FAKE_LAST_REQUEST_CAP;
            memcpy(fs->last_request, body, fs->last_request_len);
            pthread_mutex_unlock(&fs->last_lock);
            keep = answer(fs, fd, request_msgid(body, len), batch, &batched);
        }
    }
    frame_reader_free(&rd);
    close(fd);
}

static void *fake_main(void *arg)
{
    fake_server *fs = arg;
    while (wait_readable(fs, fs->listen_fd)) {
        int fd = accept(fs->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        __atomic_add_fetch(&fs->connections, 1, __ATOMIC_RELAXED);
        serve(fs, fd);
    }
    return NULL;
}

/* Starts a server of mode; fixed (len bytes, copied) is the result of
 * FAKE_FIXED_RESULT, set before the thread starts. */
static fake_server *start_server(fake_mode mode, unsigned batch, const void *fixed, size_t len)
{
    fake_server *fs = calloc(1, sizeof *fs);
    if (!fs)
        fail_msg("out of memory");
    fs->mode = mode;
    fs->batch = batch;
    pthread_mutex_init(&fs->last_lock, NULL);
    if (fixed) {
        fs->fixed_result = malloc(len ? len : 1);
        if (!fs->fixed_result)
            fail_msg("out of memory");
        memcpy(fs->fixed_result, fixed, len);
        fs->fixed_result_len = len;
    }
    fs->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof addr;
    if (fs->listen_fd < 0 || bind(fs->listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(fs->listen_fd, 16) < 0 || getsockname(fs->listen_fd, (struct sockaddr *)&addr, &alen) < 0 ||
        pipe(fs->stop_pipe) < 0)
        fail_msg("fake server: %s", strerror(errno));
    fs->port = ntohs(addr.sin_port);
    if (mode != FAKE_SILENT) {
        if (pthread_create(&fs->thread, NULL, fake_main, fs) != 0)
            fail_msg("fake server: cannot start its thread");
        fs->has_thread = true;
    }
    return fs;
}

fake_server *fake_start_fixed_json(const char *json)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t err_at = 0;
    if (msg_from_json(json, strlen(json), &pk, &err_at) != USHER_ERR_OK)
        fail_msg("fake server: the fixed result is not JSON (byte %zu)", err_at);
    fake_server *fs = fake_start_fixed(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return fs;
}

bool fake_last_request_has(fake_server *fs, const char *text)
{
    pthread_mutex_lock(&fs->last_lock);
    bool has = memmem(fs->last_request, fs->last_request_len, text, strlen(text)) != NULL;
    pthread_mutex_unlock(&fs->last_lock);
    return has;
}

fake_server *fake_start(fake_mode mode, unsigned batch)
{
    return start_server(mode, batch, NULL, 0);
}

fake_server *fake_start_fixed(const void *result, size_t len)
{
    return start_server(FAKE_FIXED_RESULT, 0, result, len);
}

void fake_stop(fake_server *fs)
{
    if (!fs)
        return;
    if (fs->has_thread) {
        while (write(fs->stop_pipe[1], "x", 1) < 0 && errno == EINTR)
            continue;
        pthread_join(fs->thread, NULL);
    }
    close(fs->stop_pipe[0]);
    close(fs->stop_pipe[1]);
    close(fs->listen_fd);
    pthread_mutex_destroy(&fs->last_lock);
    free(fs->fixed_result);
    free(fs);
}

int fake_fixture_teardown(void **state)
{
    fake_stop(*state);
    *state = NULL;
    return 0;
}
