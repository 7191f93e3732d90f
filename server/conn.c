#include "conn.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "dispatch.h"

#define READ_CHUNK 65536

static void on_readable(struct ev_loop *loop, ev_io *w, int revents);
static void on_writable(struct ev_loop *loop, ev_io *w, int revents);
static void on_linger_timeout(struct ev_loop *loop, ev_timer *w, int revents);

static void list_remove(conn *c)
{
    server *srv = c->srv;
    if (c->prev) c->prev->next = c->next; else srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    srv->n_conns--;
}

static void conn_free(conn *c)
{
    frame_reader_free(&c->in);
    free(c->out);
    free(c);
}

conn *conn_open(server *srv, int fd, const char *peer)
{
    conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->srv = srv;
    c->fd = fd;
    c->id = ++srv->next_conn_id;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    frame_reader_init(&c->in, srv->cfg.max_frame);
    ev_io_init(&c->read_watcher, on_readable, fd, EV_READ);
    ev_io_init(&c->write_watcher, on_writable, fd, EV_WRITE);
    ev_timer_init(&c->linger_timer, on_linger_timeout, CONN_LINGER_S, 0.0);
    c->read_watcher.data = c->write_watcher.data = c->linger_timer.data = c;
    c->next = srv->conns;
    if (srv->conns) srv->conns->prev = c;
    srv->conns = c;
    srv->n_conns++;
    ev_io_start(srv->loop, &c->read_watcher);
    log_conn(&srv->log, "open", c->id, c->peer);
    return c;
}

static size_t out_pending(const conn *c) { return c->out_len - c->out_off; }

/* Closes once DRAINING has nothing left to do. */
static void on_linger_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop; (void)revents;
    conn_close(w->data);
}

static void maybe_finish_drain(conn *c)
{
    if (c->state != CONN_DRAINING || out_pending(c) != 0 || c->refs != 0) return;
    c->state = CONN_LINGERING;
    shutdown(c->fd, SHUT_WR);
    ev_timer_start(c->srv->loop, &c->linger_timer);
    ev_io_start(c->srv->loop, &c->read_watcher);
}

/* Sends what the socket takes now; keeps the write watcher on only while
 * output is pending; resumes reading once the backlog halves. */
static void flush_output(conn *c)
{
    server *srv = c->srv;
    while (out_pending(c) > 0) {
        ssize_t n = send(c->fd, c->out + c->out_off, out_pending(c), MSG_NOSIGNAL);
        if (n > 0) { c->out_off += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        conn_close(c);   /* peer gone: output cannot be delivered */
        return;
    }
    if (out_pending(c) == 0) {
        c->out_off = c->out_len = 0;
        ev_io_stop(srv->loop, &c->write_watcher);
    } else {
        ev_io_start(srv->loop, &c->write_watcher);
    }
    if (c->read_paused && c->state == CONN_OPEN && out_pending(c) <= srv->cfg.out_buf_cap / 2) {
        c->read_paused = false;
        ev_io_start(srv->loop, &c->read_watcher);
    }
    maybe_finish_drain(c);
}

void conn_send(conn *c, const void *data, size_t n)
{
    if (c->state == CONN_CLOSED) return;
    if (c->out_off > 0 && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        if (c->out_off > 0) {   /* compact first */
            memmove(c->out, c->out + c->out_off, out_pending(c));
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n) cap *= 2;
        uint8_t *grown = realloc(c->out, cap);
        if (!grown) { conn_close(c); return; }
        c->out = grown;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, n);
    c->out_len += n;
    if (out_pending(c) > c->srv->cfg.out_buf_cap && !c->read_paused) {
        c->read_paused = true;   /* backpressure: stop reading until the client reads */
        ev_io_stop(c->srv->loop, &c->read_watcher);
    }
    if (!ev_is_active(&c->write_watcher)) flush_output(c);
}

void conn_drain(conn *c)
{
    if (c->state != CONN_OPEN) return;
    c->state = CONN_DRAINING;
    ev_io_stop(c->srv->loop, &c->read_watcher);
    maybe_finish_drain(c);
}

void conn_close(conn *c)
{
    server *srv = c->srv;
    if (c->state == CONN_CLOSED) return;
    c->state = CONN_CLOSED;
    ev_timer_stop(srv->loop, &c->linger_timer);
    ev_io_stop(srv->loop, &c->read_watcher);
    ev_io_stop(srv->loop, &c->write_watcher);
    close(c->fd);
    c->fd = -1;
    list_remove(c);
    log_conn(&srv->log, "close", c->id, c->peer);
    if (c->refs == 0) conn_free(c);
    server_maybe_finish(srv);
}

void conn_hold(conn *c)
{
    c->refs++;
}

void conn_release(conn *c)
{
    c->refs--;
    if (c->state == CONN_CLOSED) {
        if (c->refs == 0) conn_free(c);
        return;
    }
    maybe_finish_drain(c);
}

/* Takes every whole frame out of the reader and dispatches it. */
static void process_frames(conn *c)
{
    for (;;) {
        const uint8_t *body;
        size_t len;
        usher_err e = frame_reader_next(&c->in, &body, &len);
        if (e != USHER_ERR_OK) {
            dispatch_send_error(c->srv, c, 0, USHER_ERR_BAD_FRAME);
            conn_drain(c);
            return;
        }
        if (!body) return;
        if (!dispatch_frame(c->srv, c, body, len)) { conn_drain(c); return; }
        if (c->state != CONN_OPEN) return;
    }
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop; (void)revents;
    conn *c = w->data;
    uint8_t *area;
    size_t avail;
    if (c->state == CONN_LINGERING) {   /* discard until the peer closes */
        uint8_t sink[4096];
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            conn_close(c);
        return;
    }
    if (frame_reader_space(&c->in, READ_CHUNK, &area, &avail) != USHER_ERR_OK || avail == 0) {
        conn_close(c);
        return;
    }
    ssize_t n = recv(c->fd, area, avail, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) {   /* peer closed, or reset: in-flight writes still commit */
        conn_close(c);
        return;
    }
    frame_reader_commit(&c->in, (size_t)n);
    conn_hold(c);   /* replies sent while dispatching may close the socket */
    process_frames(c);
    conn_release(c);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop; (void)revents;
    flush_output(w->data);
}
