#include "conn.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "dispatch.h"
#include "metrics.h"
#include "watch.h"

#define READ_CHUNK 65536   /* one recv: on the loop thread's stack, shared by every connection */
#define OUT_FIRST_CAP 256u

static void on_readable(struct ev_loop *loop, ev_io *w, int revents);
static void on_writable(struct ev_loop *loop, ev_io *w, int revents);
static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents);

static void list_remove(conn *c)
{
    server *srv = c->srv;
    if (c->prev) c->prev->next = c->next; else srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    srv->n_conns--;
    metrics_note_conn_open(srv->metrics, srv->n_conns);
}

static void free_buffers(conn *c)
{
    frame_reader_free(&c->in);
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
}

static void conn_free(conn *c)
{
    free_buffers(c);
    free(c);
}

static double ms_to_s(int64_t ms) { return (double)ms / 1000.0; }

/* Makes the timer fire within `secs` (sooner when it already will). */
static void deadline_within(conn *c, double secs)
{
    struct ev_loop *loop = c->srv->loop;
    if (ev_is_active(&c->timer) && ev_timer_remaining(loop, &c->timer) <= secs) return;
    c->timer.repeat = secs > 0 ? secs : 0.001;
    ev_timer_again(loop, &c->timer);
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
    ev_init(&c->timer, on_deadline);
    c->read_watcher.data = c->write_watcher.data = c->timer.data = c;
    c->last_input = ev_now(srv->loop);
    c->next = srv->conns;
    if (srv->conns) srv->conns->prev = c;
    srv->conns = c;
    srv->n_conns++;
    metrics_note_conn_open(srv->metrics, srv->n_conns);
    ev_io_start(srv->loop, &c->read_watcher);
    deadline_within(c, ms_to_s(srv->cfg.idle_timeout_ms));
    log_conn(&srv->log, "open", c->id, c->peer);
    log_msg(&srv->log, LOG_DEBUG, "conn %llu from %s: fd %d, %zu open of --max-conns %zu, "
            "--max-frame %zu, --max-inflight %zu, --idle-timeout %lld ms",
            (unsigned long long)c->id, c->peer, fd, srv->n_conns, srv->cfg.max_conns,
            srv->cfg.max_frame, srv->cfg.max_inflight, (long long)srv->cfg.idle_timeout_ms);
    return c;
}

static size_t out_pending(const conn *c) { return c->out_len - c->out_off; }

size_t conn_unsent(const conn *c) { return out_pending(c); }

unsigned conn_writes_in_flight(const conn *c) { return c->refs - c->handlers; }

static bool reading(const conn *c)
{
    return c->state == CONN_LINGERING ||
           (c->state == CONN_OPEN && !c->paused_output && !c->paused_writes);
}

static void update_reading(conn *c)
{
    if (reading(c)) ev_io_start(c->srv->loop, &c->read_watcher);
    else ev_io_stop(c->srv->loop, &c->read_watcher);
}

/* The earliest deadline that applies now, and what passing it means. */
typedef enum deadline_kind { DEADLINE_NONE, DEADLINE_IDLE, DEADLINE_FRAME, DEADLINE_OUTPUT } deadline_kind;

static deadline_kind next_deadline(const conn *c, ev_tstamp *due)
{
    const usher_config *cfg = &c->srv->cfg;
    deadline_kind kind = DEADLINE_NONE;
    *due = 0;
    if (out_pending(c) > cfg->out_buf_cap) {
        *due = c->stall_since + ms_to_s(cfg->frame_timeout_ms);
        kind = DEADLINE_OUTPUT;
    }
    bool partial = frame_reader_pending(&c->in) > 0;
    if (partial && reading(c)) {
        ev_tstamp t = c->frame_since + ms_to_s(cfg->frame_timeout_ms);
        if (kind == DEADLINE_NONE || t < *due) { *due = t; kind = DEADLINE_FRAME; }
    }
    if (!partial && conn_writes_in_flight(c) == 0 && c->n_watches == 0) {
        ev_tstamp t = c->last_input + ms_to_s(cfg->idle_timeout_ms);
        if (kind == DEADLINE_NONE || t < *due) { *due = t; kind = DEADLINE_IDLE; }
    }
    return kind;
}

/* Fires at the latest at the next deadline; when one has passed, acts on it,
 * else re-arms for the one now next (never further than --idle-timeout). */
static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    conn *c = w->data;
    server *srv = c->srv;
    if (c->state == CONN_LINGERING) { conn_close(c); return; }
    ev_tstamp now = ev_now(loop), due;
    deadline_kind kind = next_deadline(c, &due);
    double idle_s = ms_to_s(srv->cfg.idle_timeout_ms);
    if (kind == DEADLINE_NONE || due > now) {
        double wait = kind == DEADLINE_NONE ? idle_s : due - now;
        w->repeat = wait < idle_s ? wait : idle_s;
        ev_timer_again(loop, w);
        return;
    }
    conn_hold(c);   /* a reply sent here may close the socket */
    switch (kind) {
    case DEADLINE_IDLE:
        log_conn(&srv->log, "idle_timeout", c->id, c->peer);
        conn_close(c);
        break;
    case DEADLINE_FRAME:   /* the timer repeats: DRAINING stays bounded */
        log_conn(&srv->log, "frame_timeout", c->id, c->peer);
        dispatch_send_error(srv, c, 0, USHER_ERR_BAD_FRAME);
        conn_drain(c);
        break;
    case DEADLINE_OUTPUT:
        log_conn(&srv->log, "output_unread", c->id, c->peer);
        conn_close(c);
        break;
    case DEADLINE_NONE:
        break;
    }
    conn_release(c);
}

static void maybe_finish_drain(conn *c)
{
    if (c->state != CONN_DRAINING || out_pending(c) != 0 || c->refs != 0) return;
    c->state = CONN_LINGERING;
    shutdown(c->fd, SHUT_WR);
    c->timer.repeat = CONN_LINGER_S;
    ev_timer_again(c->srv->loop, &c->timer);
    update_reading(c);
}

/* Sends what the socket takes now; keeps the write watcher on only while
 * output is pending, frees the buffer once it is sent; resumes reading once
 * the backlog halves. False when the connection closed. */
static bool flush_output(conn *c)
{
    server *srv = c->srv;
    while (out_pending(c) > 0) {
        ssize_t n = send(c->fd, c->out + c->out_off, out_pending(c), MSG_NOSIGNAL);
        if (n > 0) { c->out_off += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        conn_close(c);   /* peer gone: output cannot be delivered */
        return false;
    }
    if (out_pending(c) == 0) {
        free(c->out);
        c->out = NULL;
        c->out_off = c->out_len = c->out_cap = 0;
        ev_io_stop(srv->loop, &c->write_watcher);
    } else {
        ev_io_start(srv->loop, &c->write_watcher);
    }
    if (c->paused_output && out_pending(c) <= srv->cfg.out_buf_cap / 2) {
        c->paused_output = false;
        c->frame_since = ev_now(srv->loop);
        update_reading(c);
    }
    maybe_finish_drain(c);
    return true;
}

/* Appends to the unsent output, growing it to what it must hold. */
static bool out_append(conn *c, const uint8_t *data, size_t n)
{
    if (c->out_off > 0 && c->out_len + n > c->out_cap) {   /* compact first */
        memmove(c->out, c->out + c->out_off, out_pending(c));
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : OUT_FIRST_CAP;
        if (cap < c->out_len + n) cap = c->out_len + n;
        uint8_t *grown = realloc(c->out, cap);
        if (!grown) return false;
        c->out = grown;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, n);
    c->out_len += n;
    return true;
}

void conn_send(conn *c, const void *data, size_t n)
{
    if (c->state == CONN_CLOSED) return;
    const uint8_t *p = data;
    if (out_pending(c) == 0) {   /* nothing queued: the socket may take it all */
        while (n > 0) {
            ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
            if (k > 0) { p += k; n -= (size_t)k; continue; }
            if (k < 0 && errno == EINTR) continue;
            if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            conn_close(c);
            return;
        }
        if (n == 0) { maybe_finish_drain(c); return; }
    }
    if (!out_append(c, p, n)) { conn_close(c); return; }
    server *srv = c->srv;
    if (out_pending(c) > srv->cfg.out_buf_cap && !c->paused_output) {
        c->paused_output = true;   /* backpressure: stop reading until the client reads */
        c->stall_since = ev_now(srv->loop);
        update_reading(c);
        deadline_within(c, ms_to_s(srv->cfg.frame_timeout_ms));
    }
    ev_io_start(srv->loop, &c->write_watcher);
}

void conn_drain(conn *c)
{
    if (c->state != CONN_OPEN) return;
    c->state = CONN_DRAINING;
    frame_reader_free(&c->in);   /* nothing more is read as frames */
    update_reading(c);
    maybe_finish_drain(c);
}

void conn_close(conn *c)
{
    server *srv = c->srv;
    if (c->state == CONN_CLOSED) return;
    c->state = CONN_CLOSED;
    if (c->n_watches > 0) watch_conn_closed(srv->watch, c);
    ev_timer_stop(srv->loop, &c->timer);
    ev_io_stop(srv->loop, &c->read_watcher);
    ev_io_stop(srv->loop, &c->write_watcher);
    close(c->fd);
    c->fd = -1;
    list_remove(c);
    free_buffers(c);   /* writes in flight keep the struct, not its buffers */
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
    server *srv = c->srv;
    if (conn_writes_in_flight(c) == 0) c->last_input = ev_now(srv->loop);
    if (c->paused_writes && c->handlers == 0 &&
        conn_writes_in_flight(c) <= dispatch_conn_write_cap(srv) / 2) {
        c->paused_writes = false;
        c->frame_since = ev_now(srv->loop);
        update_reading(c);
        if (frame_reader_pending(&c->in) > 0 && reading(c))
            ev_feed_event(srv->loop, &c->read_watcher, EV_READ);   /* frames held while paused */
    }
    maybe_finish_drain(c);
}

static void bad_frame(conn *c)
{
    dispatch_send_error(c->srv, c, 0, USHER_ERR_BAD_FRAME);
    conn_drain(c);
}

/* Dispatches one frame body; false when the connection stops reading frames
 * (closed, draining, or paused for its writes in flight). */
static bool dispatch_one(conn *c, const uint8_t *body, size_t len)
{
    if (!dispatch_frame(c->srv, c, body, len)) { conn_drain(c); return false; }
    if (c->state != CONN_OPEN) return false;
    if (conn_writes_in_flight(c) >= dispatch_conn_write_cap(c->srv)) {
        c->paused_writes = true;
        update_reading(c);
    }
    return reading(c);
}

/* Takes the whole frames held in c->in. False when reading stopped. */
static bool take_held_frames(conn *c)
{
    for (;;) {
        size_t wanted;
        if (frame_reader_wanted(&c->in, &wanted) != USHER_ERR_OK) { bad_frame(c); return false; }
        if (wanted > 0 || frame_reader_pending(&c->in) == 0) break;
        const uint8_t *body;
        size_t len;
        if (frame_reader_next(&c->in, &body, &len) != USHER_ERR_OK || !body) { bad_frame(c); return false; }
        if (!dispatch_one(c, body, len)) return false;
    }
    frame_reader_trim(&c->in);
    return true;
}

/* Keeps bytes of the chunk the connection could not dispatch now. */
static void hold_bytes(conn *c, const uint8_t *p, size_t n)
{
    if (n == 0 || c->state != CONN_OPEN) return;
    bool was_empty = frame_reader_pending(&c->in) == 0;
    if (frame_reader_feed(&c->in, p, n) != USHER_ERR_OK) { conn_close(c); return; }
    if (was_empty) {
        c->frame_since = ev_now(c->srv->loop);
        deadline_within(c, ms_to_s(c->srv->cfg.frame_timeout_ms));
    }
}

/* Cuts one received chunk into frames: first completes the frame begun in
 * c->in, then dispatches whole frames straight from the chunk, then keeps
 * the rest (a partial frame, or frames not taken while paused). */
static void take_chunk(conn *c, const uint8_t *p, size_t n)
{
    while (n > 0 && frame_reader_pending(&c->in) > 0) {
        size_t wanted;
        if (frame_reader_wanted(&c->in, &wanted) != USHER_ERR_OK) { bad_frame(c); return; }
        size_t k = wanted < n ? wanted : n;
        if (frame_reader_feed(&c->in, p, k) != USHER_ERR_OK) { conn_close(c); return; }
        p += k;
        n -= k;
        if (!take_held_frames(c)) { hold_bytes(c, p, n); return; }
    }
    while (n > 0) {
        size_t whole;
        if (frame_measure(p, n, c->in.max_frame, &whole) != USHER_ERR_OK) { bad_frame(c); return; }
        if (whole == 0 || whole > n) break;
        bool more = dispatch_one(c, p + FRAME_HEADER_BYTES, whole - FRAME_HEADER_BYTES);
        p += whole;
        n -= whole;
        if (!more) break;
    }
    hold_bytes(c, p, n);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    conn *c = w->data;
    if (c->state == CONN_LINGERING) {   /* discard until the peer closes */
        uint8_t sink[4096];
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            conn_close(c);
        return;
    }
    if (!reading(c)) return;
    conn_hold(c);   /* replies sent while dispatching may close the socket */
    c->handlers++;
    if (take_held_frames(c) && reading(c)) {
        uint8_t chunk[READ_CHUNK];
        ssize_t n = recv(c->fd, chunk, sizeof chunk, 0);
        if (n > 0) {
            c->last_input = ev_now(loop);
            take_chunk(c, chunk, (size_t)n);
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            conn_close(c);   /* peer closed, or reset: in-flight writes still commit */
        }
    }
    c->handlers--;
    conn_release(c);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop; (void)revents;
    flush_output(w->data);
}
