/* Sockets for libusher: name resolution, connect (bounded by a deadline, or
 * started non-blocking for the async client), and blocking send/receive built
 * on poll(2) over non-blocking sockets so every wait honours the deadline.
 * Sends use MSG_NOSIGNAL: the application's SIGPIPE handling is its own. */
#include "usher_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t conn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t conn_deadline(int timeout_ms)
{
    return timeout_ms > 0 ? conn_now_ms() + timeout_ms : -1;
}

/* poll(2) timeout left before deadline: -1 for none, 0 when past. */
static int wait_ms_left(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - conn_now_ms();
    if (left <= 0)
        return 0;
    return left > 1000000000 ? 1000000000 : (int)left;
}

/* Waits for events on fd until deadline. OK, ETIMEOUT or EIO. */
static usher_status wait_fd(int fd, short events, int64_t deadline, char *detail, size_t detail_len)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, wait_ms_left(deadline));
        if (n > 0)
            return USHER_OK;
        if (n == 0) {
            snprintf(detail, detail_len, "timed out");
            return USHER_ETIMEOUT;
        }
        if (errno != EINTR) {
            snprintf(detail, detail_len, "poll: %s", strerror(errno));
            return USHER_EIO;
        }
    }
}

static usher_status resolve(const char *host, int port, struct addrinfo **list, char *detail, size_t detail_len)
{
    if (!host || !*host || port <= 0 || port > 65535) {
        snprintf(detail, detail_len, "bad host or port");
        return USHER_EARG;
    }
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    int rc = getaddrinfo(host, service, &hints, list);
    if (rc != 0) {
        snprintf(detail, detail_len, "resolve %s: %s", host, gai_strerror(rc));
        return USHER_EIO;
    }
    return USHER_OK;
}

/* A non-blocking socket for ai with TCP_NODELAY (requests are small and latency matters); -1 on error. */
static int socket_for(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

usher_status conn_connect_result(int fd, char *detail, size_t detail_len)
{
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr != 0) {
        snprintf(detail, detail_len, "connect: %s", strerror(soerr));
        return USHER_EIO;
    }
    return USHER_OK;
}

/* One address: connect and wait for it until deadline. */
static usher_status connect_one(const struct addrinfo *ai, int64_t deadline, int *out_fd,
                                char *detail, size_t detail_len)
{
    int fd = socket_for(ai);
    if (fd < 0) {
        snprintf(detail, detail_len, "socket: %s", strerror(errno));
        return USHER_EIO;
    }
    usher_status st = USHER_OK;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS && errno != EINTR) {
            snprintf(detail, detail_len, "connect: %s", strerror(errno));
            st = USHER_EIO;
        } else {
            st = wait_fd(fd, POLLOUT, deadline, detail, detail_len);
            if (st == USHER_OK)
                st = conn_connect_result(fd, detail, detail_len);
        }
    }
    if (st != USHER_OK) {
        close(fd);
        return st;
    }
    *out_fd = fd;
    return USHER_OK;
}

usher_status conn_open(const char *host, int port, int64_t deadline, int *fd, char *detail, size_t detail_len)
{
    *fd = -1;
    struct addrinfo *list = NULL;
    usher_status st = resolve(host, port, &list, detail, detail_len);
    if (st != USHER_OK)
        return st;
    st = USHER_EIO;
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        st = connect_one(ai, deadline, fd, detail, detail_len);
        if (st == USHER_OK || st == USHER_ETIMEOUT)
            break;
    }
    freeaddrinfo(list);
    return st;
}

usher_status conn_start(const char *host, int port, int *fd, bool *in_progress, char *detail, size_t detail_len)
{
    *fd = -1;
    *in_progress = false;
    struct addrinfo *list = NULL;
    usher_status st = resolve(host, port, &list, detail, detail_len);
    if (st != USHER_OK)
        return st;
    st = USHER_EIO;
    snprintf(detail, detail_len, "no address for %s", host);
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        int s = socket_for(ai);
        if (s < 0) {
            snprintf(detail, detail_len, "socket: %s", strerror(errno));
            continue;
        }
        int rc = connect(s, ai->ai_addr, ai->ai_addrlen);
        if (rc == 0 || errno == EINPROGRESS || errno == EINTR) {
            *in_progress = rc != 0;
            *fd = s;
            st = USHER_OK;
            break;
        }
        snprintf(detail, detail_len, "connect: %s", strerror(errno));
        close(s);
    }
    freeaddrinfo(list);
    return st;
}

usher_status conn_send_all(int fd, const void *buf, size_t len, int64_t deadline, char *detail, size_t detail_len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            usher_status st = wait_fd(fd, POLLOUT, deadline, detail, detail_len);
            if (st != USHER_OK)
                return st;
            continue;
        }
        snprintf(detail, detail_len, "send: %s", strerror(errno));
        return errno == EPIPE || errno == ECONNRESET ? USHER_ECLOSED : USHER_EIO;
    }
    return USHER_OK;
}

usher_status conn_recv_some(int fd, void *buf, size_t cap, int64_t deadline, size_t *got,
                            char *detail, size_t detail_len)
{
    *got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, cap, 0);
        if (n > 0) {
            *got = (size_t)n;
            return USHER_OK;
        }
        if (n == 0) {
            snprintf(detail, detail_len, "connection closed by the server");
            return USHER_ECLOSED;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            usher_status st = wait_fd(fd, POLLIN, deadline, detail, detail_len);
            if (st != USHER_OK)
                return st;
            continue;
        }
        snprintf(detail, detail_len, "recv: %s", strerror(errno));
        return errno == ECONNRESET ? USHER_ECLOSED : USHER_EIO;
    }
}
