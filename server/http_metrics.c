#include "http_metrics.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTP_ACCEPTS_PER_EVENT 16
#define HTTP_LISTEN_BACKLOG 64
#define HTTP_HEAD_MAX 256        /* status line and headers we send */
#define HTTP_ACCEPT_BACKOFF_S 0.1

typedef enum http_state { HTTP_READING, HTTP_WRITING, HTTP_LINGERING } http_state;

typedef struct http_conn {
    http_metrics *owner;
    struct http_conn *prev, *next;
    int fd;
    http_state state;
    ev_io io;
    ev_timer deadline;
    char in[HTTP_REQUEST_MAX];
    size_t in_len;
    char *out;                   /* head + body, malloc'ed */
    size_t out_len, out_off;
} http_conn;

struct http_metrics {
    struct ev_loop *loop;
    int listen_fd;
    ev_io accept_watcher;
    ev_timer accept_backoff;     /* accepting paused after a failed accept */
    http_metrics_body_fn body;
    void *ctx;
    http_conn *conns;
    size_t n_conns;
};

int http_metrics_listen(const char *host, uint16_t port, char *err, size_t err_cap)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(err, err_cap, "bad --metrics address %s", host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, err_cap, "--metrics socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);   /* TIME_WAIT only, not sharing */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, HTTP_LISTEN_BACKLOG) < 0) {
        snprintf(err, err_cap, "cannot listen for --metrics on %s:%u: %s%s", host, port,
                 strerror(errno), errno == EADDRINUSE ?
                 " (each usherd needs its own --metrics port, even on one data dir)" : "");
        close(fd);
        return -1;
    }
    return fd;
}

static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents);
static void on_conn_deadline(struct ev_loop *loop, ev_timer *w, int revents);

static void conn_close(http_conn *c)
{
    http_metrics *h = c->owner;
    ev_io_stop(h->loop, &c->io);
    ev_timer_stop(h->loop, &c->deadline);
    close(c->fd);
    if (c->prev) c->prev->next = c->next; else h->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    bool was_full = h->n_conns-- == HTTP_CONNS_MAX;
    free(c->out);
    free(c);
    if (was_full && h->listen_fd >= 0 && !ev_is_active(&h->accept_backoff)) ev_io_start(h->loop, &h->accept_watcher);
}

/* Watches fd for events (read or write) from now on. */
static void watch(http_conn *c, int events)
{
    ev_io_stop(c->owner->loop, &c->io);
    ev_io_set(&c->io, c->fd, events);
    ev_io_start(c->owner->loop, &c->io);
}

static void start_lingering(http_conn *c)
{
    shutdown(c->fd, SHUT_WR);
    c->state = HTTP_LINGERING;
    ev_timer_stop(c->owner->loop, &c->deadline);
    ev_timer_set(&c->deadline, HTTP_LINGER_S, 0.0);
    ev_timer_start(c->owner->loop, &c->deadline);
    watch(c, EV_READ);
}

static void send_pending(http_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) { c->out_off += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c->state != HTTP_WRITING) { c->state = HTTP_WRITING; watch(c, EV_WRITE); }
            return;
        }
        conn_close(c);   /* the peer went away */
        return;
    }
    start_lingering(c);
}

/* Queues a whole response (head, then body when not NULL) and sends it. */
static void respond(http_conn *c, const char *status, const char *extra_headers,
                    const char *content_type, char *body, size_t body_len)
{
    char head[HTTP_HEAD_MAX];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                      "Connection: close\r\n\r\n", status, content_type, body_len, extra_headers);
    c->out = malloc((size_t)hl + body_len);
    if (!c->out) { free(body); conn_close(c); return; }
    memcpy(c->out, head, (size_t)hl);
    if (body_len) memcpy(c->out + hl, body, body_len);
    free(body);
    c->out_len = (size_t)hl + body_len;
    c->out_off = 0;
    send_pending(c);
}

static void respond_text(http_conn *c, const char *status, const char *extra_headers)
{
    size_t n = strlen(status);
    char *body = malloc(n + 1);
    if (!body) { conn_close(c); return; }
    memcpy(body, status, n);
    body[n] = '\n';
    respond(c, status, extra_headers, "text/plain; charset=utf-8", body, n + 1);
}

/* The request head is whole: answer it from its request line. */
static void answer(http_conn *c)
{
    char *eol = memchr(c->in, '\n', c->in_len);
    size_t line_len = (size_t)(eol - c->in);
    if (line_len > 0 && c->in[line_len - 1] == '\r') line_len--;
    c->in[line_len] = '\0';
    char *method = c->in, *sp1 = strchr(method, ' ');
    char *target = sp1 ? sp1 + 1 : NULL, *sp2 = target ? strchr(target, ' ') : NULL;
    if (!sp1 || !sp2 || sp1 == method || sp2 == target || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        respond_text(c, "400 Bad Request", "");
        return;
    }
    *sp1 = *sp2 = '\0';
    if (strcmp(method, "GET") != 0) {
        respond_text(c, "405 Method Not Allowed", "Allow: GET\r\n");
        return;
    }
    size_t path_len = strcspn(target, "?");
    if (path_len != strlen("/metrics") || strncmp(target, "/metrics", path_len) != 0) {
        respond_text(c, "404 Not Found", "");
        return;
    }
    char *body = NULL;
    size_t body_len = 0;
    if (!c->owner->body(c->owner->ctx, &body, &body_len)) {
        free(body);
        respond_text(c, "500 Internal Server Error", "");
        return;
    }
    respond(c, "200 OK", "", "text/plain; version=0.0.4; charset=utf-8", body, body_len);
}

/* True when the blank line ending the head is in the bytes, looking from
 * `from` (a few bytes before the newest ones: each byte is looked at O(1)
 * times however the head is split). */
static bool head_complete(const http_conn *c, size_t from)
{
    for (size_t i = from > 3 ? from - 3 : 1; i < c->in_len; i++)
        if (c->in[i] == '\n' && (c->in[i - 1] == '\n' ||
                                 (i >= 2 && c->in[i - 1] == '\r' && c->in[i - 2] == '\n')))
            return true;
    return false;
}

static void read_request(http_conn *c)
{
    for (;;) {
        if (c->in_len == sizeof c->in) {
            respond_text(c, "431 Request Header Fields Too Large", "");
            return;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
        if (n > 0) {
            size_t before = c->in_len;
            c->in_len += (size_t)n;
            if (head_complete(c, before)) { answer(c); return; }
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        conn_close(c);   /* EOF or reset before a whole request */
        return;
    }
}

static void drain_input(http_conn *c)
{
    char sink[1024];
    for (;;) {
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        conn_close(c);
        return;
    }
}

static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop; (void)revents;
    http_conn *c = w->data;
    switch (c->state) {
    case HTTP_READING:   read_request(c); break;
    case HTTP_WRITING:   send_pending(c); break;
    case HTTP_LINGERING: drain_input(c); break;
    }
}

static void on_conn_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop; (void)revents;
    conn_close(w->data);
}

static void adopt(http_metrics *h, int fd)
{
    http_conn *c = calloc(1, sizeof *c);
    if (!c) { close(fd); return; }
    c->owner = h;
    c->fd = fd;
    c->state = HTTP_READING;
    ev_io_init(&c->io, on_conn_io, fd, EV_READ);
    ev_timer_init(&c->deadline, on_conn_deadline, HTTP_TIMEOUT_S, 0.0);
    c->io.data = c->deadline.data = c;
    c->next = h->conns;
    if (h->conns) h->conns->prev = c;
    h->conns = c;
    if (++h->n_conns == HTTP_CONNS_MAX) ev_io_stop(h->loop, &h->accept_watcher);
    ev_io_start(h->loop, &c->io);
    ev_timer_start(h->loop, &c->deadline);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop; (void)revents;
    http_metrics *h = w->data;
    for (int i = 0; i < HTTP_ACCEPTS_PER_EVENT && h->n_conns < HTTP_CONNS_MAX; i++) {
        int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) { adopt(h, fd); continue; }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            /* Out of descriptors: the socket stays readable, so pause or the loop spins. */
            ev_io_stop(h->loop, &h->accept_watcher);
            ev_timer_start(h->loop, &h->accept_backoff);
        }
        return;   /* EAGAIN: another worker took it, or none left */
    }
}

static void on_accept_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    http_metrics *h = w->data;
    if (h->n_conns < HTTP_CONNS_MAX) ev_io_start(loop, &h->accept_watcher);
}

http_metrics *http_metrics_start(struct ev_loop *loop, int listen_fd, http_metrics_body_fn body,
                                 void *ctx)
{
    http_metrics *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->loop = loop;
    h->listen_fd = listen_fd;
    h->body = body;
    h->ctx = ctx;
    ev_io_init(&h->accept_watcher, on_accept, listen_fd, EV_READ);
    ev_timer_init(&h->accept_backoff, on_accept_backoff, HTTP_ACCEPT_BACKOFF_S, 0.0);
    h->accept_watcher.data = h->accept_backoff.data = h;
    ev_io_start(loop, &h->accept_watcher);
    return h;
}

void http_metrics_stop(http_metrics *h)
{
    if (!h) return;
    ev_io_stop(h->loop, &h->accept_watcher);
    ev_timer_stop(h->loop, &h->accept_backoff);
    h->listen_fd = -1;
    while (h->conns) conn_close(h->conns);
    free(h);
}
