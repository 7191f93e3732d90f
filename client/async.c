/* The asynchronous client on libev: one non-blocking connection, requests
 * buffered and pipelined, replies matched to their calls by msgid in any
 * order. States: CONNECTING (write watcher waits for the connect to finish;
 * calls queue up), CONNECTED (read watcher always on, write watcher only while
 * output is pending), DISCONNECTING (no new calls; ends once every call is
 * answered), then teardown: calls still in flight get ECLOSED, the disconnect
 * callback runs once, and the handle is freed. Callbacks may call back into
 * the handle; a free requested inside one waits until it returns. */
#include "usher_internal.h"

#include <ev.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ASYNC_BUCKETS 256u                /* msgid hash buckets (power of two) */
#define ASYNC_OUT_CAP (64u << 20)        /* unsent output above this refuses calls (ENOMEM) */

typedef struct pending_call {
    uint32_t msgid;
    usher_async_cb *cb;
    void *privdata;
    double deadline;                     /* ev_now seconds, or 0 for none */
    struct pending_call *prev, *next;    /* all calls in flight, in send order */
    struct pending_call *bucket_next;    /* msgid hash chain */
} pending_call;

enum async_state { AC_CONNECTING, AC_CONNECTED, AC_DISCONNECTING, AC_DEAD };

struct usher_async {
    struct ev_loop *loop;
    int fd;
    enum async_state state;
    bool ever_connected;
    ev_io read_watcher, write_watcher;
    ev_timer connect_timer;              /* connect timeout */
    ev_timer call_timer;                 /* earliest per-call deadline */
    ev_timer kick;                       /* zero-delay: deferred failure or graceful end */
    usher_status kick_status;            /* what the kick reports when connecting failed early */
    int callback_depth;                  /* > 0 while an app callback runs */
    bool free_requested;
    bool tearing_down;
    usher_reader *reader;
    size_t max_frame;
    msgpack_sbuffer out;
    size_t out_sent;                     /* bytes of out already written */
    pending_call *first, *last;
    pending_call *buckets[ASYNC_BUCKETS];
    size_t pending;
    uint32_t msgid_counter;
    int timeout_ms;
    usher_async_connect_cb *on_connect;
    usher_async_disconnect_cb *on_disconnect;
    usher_async_notify_cb *on_notify;
    void *data;
    uint8_t in[USHER_READ_CHUNK];
};

static void teardown(usher_async *ac, usher_status status);

/* ---- calls in flight ---- */

static pending_call **bucket_of(usher_async *ac, uint32_t msgid)
{
    return &ac->buckets[msgid & (ASYNC_BUCKETS - 1)];
}

static void pending_add(usher_async *ac, pending_call *pc)
{
    pc->prev = ac->last;
    pc->next = NULL;
    if (ac->last)
        ac->last->next = pc;
    else
        ac->first = pc;
    ac->last = pc;
    pending_call **b = bucket_of(ac, pc->msgid);
    pc->bucket_next = *b;
    *b = pc;
    ac->pending++;
}

static void pending_remove(usher_async *ac, pending_call *pc)
{
    if (pc->prev)
        pc->prev->next = pc->next;
    else
        ac->first = pc->next;
    if (pc->next)
        pc->next->prev = pc->prev;
    else
        ac->last = pc->prev;
    for (pending_call **p = bucket_of(ac, pc->msgid); *p; p = &(*p)->bucket_next)
        if (*p == pc) {
            *p = pc->bucket_next;
            break;
        }
    ac->pending--;
}

static pending_call *pending_find(usher_async *ac, uint32_t msgid)
{
    for (pending_call *pc = *bucket_of(ac, msgid); pc; pc = pc->bucket_next)
        if (pc->msgid == msgid)
            return pc;
    return NULL;
}

static bool msgid_in_use(usher_async *ac, uint32_t msgid)
{
    return pending_find(ac, msgid) != NULL;
}

/* Runs a call's callback once and forgets the call. */
static void complete_call(usher_async *ac, pending_call *pc, usher_status status, const usher_reply *reply)
{
    pending_remove(ac, pc);
    ac->callback_depth++;
    pc->cb(ac, status, reply, pc->privdata);
    ac->callback_depth--;
    free(pc);
}

/* ---- watchers ---- */

static bool output_pending(const usher_async *ac)
{
    return ac->out_sent < ac->out.size;
}

static void want_write(usher_async *ac)
{
    if (ac->fd >= 0 && !ev_is_active(&ac->write_watcher))
        ev_io_start(ac->loop, &ac->write_watcher);
}

/* Re-arms the call timer for the earliest deadline among calls in flight. */
static void arm_call_timer(usher_async *ac)
{
    ev_timer_stop(ac->loop, &ac->call_timer);
    double earliest = 0;
    for (pending_call *pc = ac->first; pc; pc = pc->next)
        if (pc->deadline > 0 && (earliest == 0 || pc->deadline < earliest))
            earliest = pc->deadline;
    if (earliest == 0)
        return;
    double in = earliest - ev_now(ac->loop);
    ev_timer_set(&ac->call_timer, in > 0 ? in : 0, 0);
    ev_timer_start(ac->loop, &ac->call_timer);
}

/* After app callbacks ran: honours a free asked for inside them, and ends a
 * graceful disconnect once nothing is left. True while ac is still alive. */
static bool settle(usher_async *ac)
{
    if (ac->callback_depth > 0)
        return true;
    if (ac->free_requested) {
        teardown(ac, USHER_OK);
        return false;
    }
    if (ac->state == AC_DISCONNECTING && ac->pending == 0 && !output_pending(ac)) {
        teardown(ac, USHER_OK);
        return false;
    }
    return true;
}

static void on_call_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    usher_async *ac = w->data;
    double now = ev_now(ac->loop);
    pending_call *pc = ac->first;
    while (pc && !ac->free_requested) {
        pending_call *next = pc->next;
        if (pc->deadline > 0 && pc->deadline <= now)
            complete_call(ac, pc, USHER_ETIMEOUT, NULL);  /* its late reply will find no call: dropped */
        pc = next;
    }
    if (!settle(ac))
        return;
    arm_call_timer(ac);
}

/* Becomes CONNECTED once a pending connect succeeded. False when ac is gone. */
static bool finish_connect(usher_async *ac)
{
    char detail[USHER_DETAIL_MAX];
    if (conn_connect_result(ac->fd, detail, sizeof detail) != USHER_OK) {
        teardown(ac, USHER_EIO);
        return false;
    }
    ev_timer_stop(ac->loop, &ac->connect_timer);
    if (ac->state == AC_CONNECTING)
        ac->state = AC_CONNECTED;
    ac->ever_connected = true;
    ev_io_start(ac->loop, &ac->read_watcher);
    if (ac->on_connect) {
        ac->callback_depth++;
        ac->on_connect(ac, USHER_OK);
        ac->callback_depth--;
    }
    return settle(ac);
}

/* Writes what the socket takes. False when ac is gone. */
static bool flush_output(usher_async *ac)
{
    while (output_pending(ac)) {
        ssize_t n = send(ac->fd, ac->out.data + ac->out_sent, ac->out.size - ac->out_sent, MSG_NOSIGNAL);
        if (n > 0) {
            ac->out_sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;  /* the write watcher stays on */
        teardown(ac, errno == EPIPE || errno == ECONNRESET ? USHER_ECLOSED : USHER_EIO);
        return false;
    }
    ac->out.size = 0;
    ac->out_sent = 0;
    ev_io_stop(ac->loop, &ac->write_watcher);
    return settle(ac);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    usher_async *ac = w->data;
    if (!ac->ever_connected && !finish_connect(ac))
        return;
    flush_output(ac);
}

/* Hands one parsed reply to its call (or the notification callback). False when ac is gone. */
static bool dispatch_reply(usher_async *ac, usher_reply *reply)
{
    if (reply->kind == USHER_REPLY_NOTIFICATION) {
        if (ac->on_notify) {
            ac->callback_depth++;
            ac->on_notify(ac, reply);
            ac->callback_depth--;
        }
        usher_reply_free(reply);
        return settle(ac);
    }
    if (reply->msgid == 0 && reply->status == USHER_BAD_FRAME) {  /* the server closes after it */
        usher_reply_free(reply);
        teardown(ac, USHER_ECLOSED);
        return false;
    }
    pending_call *pc = pending_find(ac, reply->msgid);
    if (pc)
        complete_call(ac, pc, reply->status, reply);
    usher_reply_free(reply);  /* without a call: a late reply to a timed-out one */
    return settle(ac);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    usher_async *ac = w->data;
    ssize_t n = recv(ac->fd, ac->in, sizeof ac->in, 0);
    if (n == 0) {
        teardown(ac, USHER_ECLOSED);
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            teardown(ac, errno == ECONNRESET ? USHER_ECLOSED : USHER_EIO);
        return;
    }
    usher_status st = usher_reader_feed(ac->reader, ac->in, (size_t)n);
    if (st != USHER_OK) {
        teardown(ac, st);
        return;
    }
    for (;;) {
        usher_reply *reply = NULL;
        if (usher_reader_next(ac->reader, &reply) != USHER_OK) {
            teardown(ac, USHER_EPROTO);
            return;
        }
        if (!reply)
            break;
        if (!dispatch_reply(ac, reply))
            return;
    }
    /* The call timer keeps its deadline: when it fires for a call already answered, it re-arms. */
}

static void on_connect_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    usher_async *ac = w->data;
    if (!ac->ever_connected)
        teardown(ac, USHER_ETIMEOUT);
}

static void on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    usher_async *ac = w->data;
    if (ac->kick_status != USHER_OK) {
        teardown(ac, ac->kick_status);
        return;
    }
    settle(ac);
}

/* ---- teardown ---- */

/* Ends the handle: every call in flight gets ECLOSED, the connect callback hears of a connect that never
 * finished, the disconnect callback runs, and ac is freed. Runs once. */
static void teardown(usher_async *ac, usher_status status)
{
    if (ac->tearing_down)
        return;
    ac->tearing_down = true;
    ac->state = AC_DEAD;
    ev_io_stop(ac->loop, &ac->read_watcher);
    ev_io_stop(ac->loop, &ac->write_watcher);
    ev_timer_stop(ac->loop, &ac->connect_timer);
    ev_timer_stop(ac->loop, &ac->call_timer);
    ev_timer_stop(ac->loop, &ac->kick);
    if (ac->fd >= 0)
        close(ac->fd);
    ac->fd = -1;
    ac->callback_depth++;
    if (!ac->ever_connected && ac->on_connect)
        ac->on_connect(ac, status == USHER_OK ? USHER_ECLOSED : status);
    while (ac->first)
        complete_call(ac, ac->first, USHER_ECLOSED, NULL);
    if (ac->on_disconnect)
        ac->on_disconnect(ac, status);
    usher_reader_free(ac->reader);
    msgpack_sbuffer_destroy(&ac->out);
    free(ac);
}

/* ---- public API ---- */

usher_async *usher_async_connect(struct ev_loop *loop, const char *host, int port, int timeout_ms)
{
    if (!loop || !host || !*host || port <= 0 || port > 65535)
        return NULL;
    usher_async *ac = calloc(1, sizeof *ac);
    if (!ac)
        return NULL;
    ac->loop = loop;
    ac->fd = -1;
    ac->state = AC_CONNECTING;
    msgpack_sbuffer_init(&ac->out);
    ac->reader = usher_reader_new(0);
    if (!ac->reader) {
        free(ac);
        return NULL;
    }
    ev_timer_init(&ac->connect_timer, on_connect_timeout, timeout_ms > 0 ? timeout_ms / 1000.0 : 0, 0);
    ev_timer_init(&ac->call_timer, on_call_timer, 0, 0);
    ev_timer_init(&ac->kick, on_kick, 0, 0);
    ac->connect_timer.data = ac->call_timer.data = ac->kick.data = ac;

    char detail[USHER_DETAIL_MAX];
    bool in_progress = false;
    usher_status st = conn_start(host, port, &ac->fd, &in_progress, detail, sizeof detail);
    if (st != USHER_OK) {  /* reported from the loop, once the app has set its callbacks */
        ac->kick_status = st;
        ev_timer_start(loop, &ac->kick);
        return ac;
    }
    ev_io_init(&ac->read_watcher, on_readable, ac->fd, EV_READ);
    ev_io_init(&ac->write_watcher, on_writable, ac->fd, EV_WRITE);
    ac->read_watcher.data = ac->write_watcher.data = ac;
    ev_io_start(loop, &ac->write_watcher);  /* connect completion, immediate or not, shows as writable */
    if (timeout_ms > 0)
        ev_timer_start(loop, &ac->connect_timer);
    return ac;
}

void usher_async_set_connect_cb(usher_async *ac, usher_async_connect_cb *cb)
{
    if (ac)
        ac->on_connect = cb;
}

void usher_async_set_disconnect_cb(usher_async *ac, usher_async_disconnect_cb *cb)
{
    if (ac)
        ac->on_disconnect = cb;
}

void usher_async_set_notify_cb(usher_async *ac, usher_async_notify_cb *cb)
{
    if (ac)
        ac->on_notify = cb;
}

void usher_async_set_data(usher_async *ac, void *data)
{
    if (ac)
        ac->data = data;
}

void *usher_async_data(const usher_async *ac)
{
    return ac ? ac->data : NULL;
}

void usher_async_set_timeout(usher_async *ac, int timeout_ms)
{
    if (ac)
        ac->timeout_ms = timeout_ms;
}

void usher_async_set_max_frame(usher_async *ac, size_t max_frame)
{
    if (!ac || ac->max_frame == max_frame)
        return;
    /* Only before any byte arrived: the reader is swapped while still empty. */
    usher_reader *fresh = usher_reader_new(max_frame);
    if (!fresh)
        return;
    if (ac->ever_connected) {
        usher_reader_free(fresh);
        return;
    }
    usher_reader_free(ac->reader);
    ac->reader = fresh;
    ac->max_frame = max_frame;
}

size_t usher_async_pending(const usher_async *ac)
{
    return ac ? ac->pending : 0;
}

usher_status usher_async_call_packed(usher_async *ac, const char *method, const void *params, size_t len,
                                     usher_async_cb *cb, void *privdata)
{
    if (!ac || !cb)
        return USHER_EARG;
    if (ac->state == AC_DEAD || ac->state == AC_DISCONNECTING || ac->free_requested || ac->kick_status != USHER_OK)
        return USHER_ECLOSED;
    if (ac->out.size - ac->out_sent > ASYNC_OUT_CAP)
        return USHER_ENOMEM;
    pending_call *pc = calloc(1, sizeof *pc);
    if (!pc)
        return USHER_ENOMEM;
    do
        pc->msgid = request_next_msgid(&ac->msgid_counter);
    while (msgid_in_use(ac, pc->msgid));
    if (ac->out_sent > 0 && ac->out_sent * 2 > ac->out.size) {  /* reclaim the sent front before growing */
        memmove(ac->out.data, ac->out.data + ac->out_sent, ac->out.size - ac->out_sent);
        ac->out.size -= ac->out_sent;
        ac->out_sent = 0;
    }
    usher_status st = request_frame_append(&ac->out, pc->msgid, method, params, len);
    if (st != USHER_OK) {
        free(pc);
        return st;
    }
    pc->cb = cb;
    pc->privdata = privdata;
    pc->deadline = ac->timeout_ms > 0 ? ev_now(ac->loop) + ac->timeout_ms / 1000.0 : 0;
    pending_add(ac, pc);
    if (ac->ever_connected)
        want_write(ac);
    if (pc->deadline > 0 && !ev_is_active(&ac->call_timer))
        arm_call_timer(ac);
    return USHER_OK;
}

usher_status usher_async_call(usher_async *ac, const char *method, const msgpack_object *params,
                              usher_async_cb *cb, void *privdata)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    usher_status st = request_params_from_object(&sb, params);
    if (st == USHER_OK)
        st = usher_async_call_packed(ac, method, sb.data, sb.size, cb, privdata);
    msgpack_sbuffer_destroy(&sb);
    return st;
}

usher_status usher_async_call_json(usher_async *ac, const char *method, const char *params_json,
                                   usher_async_cb *cb, void *privdata)
{
    char detail[USHER_DETAIL_MAX];
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    usher_status st = request_params_from_json(&sb, params_json, detail, sizeof detail);
    if (st == USHER_OK)
        st = usher_async_call_packed(ac, method, sb.data, sb.size, cb, privdata);
    msgpack_sbuffer_destroy(&sb);
    return st;
}

void usher_async_disconnect(usher_async *ac)
{
    if (!ac || ac->state == AC_DEAD)
        return;
    if (ac->state == AC_CONNECTING && ac->pending == 0) {
        ac->free_requested = true;  /* nothing to wait for */
    } else if (ac->state != AC_DISCONNECTING) {
        ac->state = AC_DISCONNECTING;
    }
    if (ac->callback_depth == 0 && !ev_is_active(&ac->kick))
        ev_timer_start(ac->loop, &ac->kick);  /* ends it from the loop once nothing is left */
}

void usher_async_free(usher_async *ac)
{
    if (!ac || ac->tearing_down)
        return;
    if (ac->callback_depth > 0) {
        ac->free_requested = true;
        return;
    }
    teardown(ac, USHER_OK);
}
