/* The synchronous client: one blocking call at a time over one connection,
 * every wait bounded by the call's deadline. Replies are matched by msgid;
 * anything else that arrives (a stale reply, a notification) is dropped or
 * handed to the notification callback. A transport failure kills the
 * connection; later calls get ECLOSED until usher_reconnect. */
#include "usher_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MSGID_ANY 0  /* usher_send_raw: the next reply, whatever its msgid */

struct usher_client {
    char *host;
    int port;
    int fd;                    /* -1 while dead */
    int connect_timeout_ms;
    int call_timeout_ms;
    size_t max_frame;
    usher_reader *reader;      /* NULL while dead */
    uint32_t msgid_counter;
    usher_status last_status;
    char last_message[512];
    usher_notify_cb *notify;
    void *notify_privdata;
    msgpack_sbuffer out;       /* request frame being sent; reused */
    uint8_t in[USHER_READ_CHUNK];
};

static void set_last(usher_client *c, usher_status st, const char *message)
{
    c->last_status = st;
    snprintf(c->last_message, sizeof c->last_message, "%s", message ? message : "");
}

/* Drops the connection after a transport failure; returns st. */
static usher_status kill_connection(usher_client *c, usher_status st, const char *detail)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    usher_reader_free(c->reader);
    c->reader = NULL;
    set_last(c, st, detail && *detail ? detail : usher_errstr(st));
    return st;
}

usher_status client_note_failure(usher_client *c, usher_status st, const char *detail)
{
    set_last(c, st, detail ? detail : usher_errstr(st));
    return st;
}

usher_status client_fail_proto(usher_client *c, const char *detail)
{
    return kill_connection(c, USHER_EPROTO, detail);
}

static usher_status open_connection(usher_client *c)
{
    char detail[USHER_DETAIL_MAX] = "";
    c->reader = usher_reader_new(c->max_frame);
    if (!c->reader)
        return kill_connection(c, USHER_ENOMEM, NULL);
    usher_status st = conn_open(c->host, c->port, conn_deadline(c->connect_timeout_ms), &c->fd,
                                detail, sizeof detail);
    if (st != USHER_OK)
        return kill_connection(c, st, detail);
    set_last(c, USHER_OK, NULL);
    return USHER_OK;
}

usher_client *usher_connect(const char *host, int port, int timeout_ms)
{
    usher_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = -1;
    c->port = port;
    c->connect_timeout_ms = timeout_ms;
    c->call_timeout_ms = timeout_ms;
    msgpack_sbuffer_init(&c->out);
    c->host = host ? strdup(host) : NULL;
    if (host && !c->host) {
        free(c);
        return NULL;
    }
    if (!host) {
        set_last(c, USHER_EARG, "host is NULL");
        return c;
    }
    open_connection(c);
    return c;
}

usher_status usher_reconnect(usher_client *c)
{
    if (!c)
        return USHER_EARG;
    if (!c->host)
        return client_note_failure(c, USHER_EARG, "host is NULL");
    kill_connection(c, USHER_ECLOSED, NULL);
    return open_connection(c);
}

bool usher_is_connected(const usher_client *c)
{
    return c && c->fd >= 0;
}

void usher_set_timeout(usher_client *c, int timeout_ms)
{
    if (c)
        c->call_timeout_ms = timeout_ms;
}

void usher_set_max_frame(usher_client *c, size_t max_frame)
{
    if (c)
        c->max_frame = max_frame;
}

usher_status usher_last_status(const usher_client *c)
{
    return c ? c->last_status : USHER_EARG;
}

const char *usher_last_message(const usher_client *c)
{
    return c ? c->last_message : "";
}

void usher_set_notify_cb(usher_client *c, usher_notify_cb *cb, void *privdata)
{
    if (!c)
        return;
    c->notify = cb;
    c->notify_privdata = privdata;
}

void client_notify_get(const usher_client *c, usher_notify_cb **cb, void **privdata)
{
    *cb = c->notify;
    *privdata = c->notify_privdata;
}

usher_status usher_wait_notify(usher_client *c, int timeout_ms)
{
    if (!c)
        return USHER_EARG;
    if (c->fd < 0)
        return client_note_failure(c, USHER_ECLOSED, "not connected (usher_reconnect to try again)");
    char detail[USHER_DETAIL_MAX] = "";
    int64_t deadline = conn_deadline(timeout_ms);
    for (;;) {
        usher_reply *reply = NULL;
        if (usher_reader_next(c->reader, &reply) != USHER_OK)
            return kill_connection(c, USHER_EPROTO, "malformed or oversized reply frame");
        if (reply) {
            bool note = reply->kind == USHER_REPLY_NOTIFICATION;
            if (note && c->notify)
                c->notify(c, reply, c->notify_privdata);
            usher_reply_free(reply);   /* a response now is stale: no call waits for it */
            if (note) {
                set_last(c, USHER_OK, NULL);
                return USHER_OK;
            }
            continue;
        }
        size_t got = 0;
        usher_status st = conn_recv_some(c->fd, c->in, sizeof c->in, deadline, &got, detail, sizeof detail);
        if (st == USHER_ETIMEOUT)
            return client_note_failure(c, st, "no notification within the timeout");
        if (st != USHER_OK)
            return kill_connection(c, st, detail);
        st = usher_reader_feed(c->reader, c->in, got);
        if (st != USHER_OK)
            return kill_connection(c, st, "cannot buffer the reply");
    }
}

void usher_close(usher_client *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    usher_reader_free(c->reader);
    msgpack_sbuffer_destroy(&c->out);
    free(c->host);
    free(c);
}

/* True when reply answers the call waiting for msgid: its own msgid, or a
 * connection-level error (msgid 0), which can only concern the one call in flight. */
static bool reply_is_for(const usher_reply *reply, uint32_t msgid)
{
    if (msgid == MSGID_ANY)
        return true;
    return reply->msgid == msgid || (reply->msgid == 0 && reply->status != USHER_OK);
}

/* Reads until the reply for msgid arrives or deadline passes. */
static usher_status await_reply(usher_client *c, uint32_t msgid, int64_t deadline, usher_reply **out)
{
    char detail[USHER_DETAIL_MAX] = "";
    for (;;) {
        usher_reply *reply = NULL;
        if (usher_reader_next(c->reader, &reply) != USHER_OK)
            return kill_connection(c, USHER_EPROTO, "malformed or oversized reply frame");
        if (reply && reply->kind == USHER_REPLY_NOTIFICATION) {
            if (c->notify)
                c->notify(c, reply, c->notify_privdata);
            usher_reply_free(reply);
            continue;
        }
        if (reply && reply_is_for(reply, msgid)) {
            *out = reply;
            return USHER_OK;
        }
        if (reply) {  /* stale: the answer to a call this client no longer waits for */
            usher_reply_free(reply);
            continue;
        }
        size_t got = 0;
        usher_status st = conn_recv_some(c->fd, c->in, sizeof c->in, deadline, &got, detail, sizeof detail);
        if (st != USHER_OK)
            return kill_connection(c, st, detail);
        st = usher_reader_feed(c->reader, c->in, got);
        if (st != USHER_OK)
            return kill_connection(c, st, "cannot buffer the reply");
    }
}

/* Sends c->out (one request, or raw bytes) and waits for the reply to msgid. */
static usher_status round_trip(usher_client *c, uint32_t msgid, usher_reply **reply)
{
    char detail[USHER_DETAIL_MAX] = "";
    int64_t deadline = conn_deadline(c->call_timeout_ms);
    usher_status st = conn_send_all(c->fd, c->out.data, c->out.size, deadline, detail, sizeof detail);
    c->out.size = 0;
    if (st != USHER_OK)
        return kill_connection(c, st, detail);
    st = await_reply(c, msgid, deadline, reply);
    if (st != USHER_OK)
        return st;
    usher_reply *r = *reply;
    set_last(c, r->status, r->status == USHER_OK ? NULL : (r->message ? r->message : usher_errstr(r->status)));
    if (r->msgid == 0 && r->status == USHER_BAD_FRAME) {  /* the server closes after BAD_FRAME */
        close(c->fd);
        c->fd = -1;
        usher_reader_free(c->reader);
        c->reader = NULL;
    }
    return r->status;
}

/* Common entry checks; OK when a call may go out. */
static usher_status call_ready(usher_client *c, usher_reply **reply)
{
    if (reply)
        *reply = NULL;
    if (!c)
        return USHER_EARG;
    if (!reply)
        return client_note_failure(c, USHER_EARG, "reply pointer is NULL");
    if (c->fd < 0)
        return client_note_failure(c, USHER_ECLOSED, "not connected (usher_reconnect to try again)");
    return USHER_OK;
}

usher_status usher_call_packed(usher_client *c, const char *method, const void *params, size_t len,
                               usher_reply **reply)
{
    usher_status st = call_ready(c, reply);
    if (st != USHER_OK)
        return st;
    uint32_t msgid = request_next_msgid(&c->msgid_counter);
    c->out.size = 0;
    st = request_frame_append(&c->out, msgid, method, params, len);
    if (st != USHER_OK)
        return client_note_failure(c, st, st == USHER_EARG ? "bad method or params" : NULL);
    return round_trip(c, msgid, reply);
}

usher_status usher_call(usher_client *c, const char *method, const msgpack_object *params, usher_reply **reply)
{
    usher_status st = call_ready(c, reply);
    if (st != USHER_OK)
        return st;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    st = request_params_from_object(&sb, params);
    if (st == USHER_OK)
        st = usher_call_packed(c, method, sb.data, sb.size, reply);
    else
        client_note_failure(c, st, st == USHER_EARG ? "params must be a map with string keys" : NULL);
    msgpack_sbuffer_destroy(&sb);
    return st;
}

usher_status usher_call_json(usher_client *c, const char *method, const char *params_json, int flags,
                             char **result_json)
{
    if (result_json)
        *result_json = NULL;
    if (!c)
        return USHER_EARG;
    if (!result_json)
        return client_note_failure(c, USHER_EARG, "result pointer is NULL");
    char detail[USHER_DETAIL_MAX] = "";
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    usher_reply *reply = NULL;
    usher_status st = request_params_from_json(&sb, params_json, detail, sizeof detail);
    if (st != USHER_OK) {
        client_note_failure(c, st, detail[0] ? detail : NULL);
        goto done;
    }
    st = usher_call_packed(c, method, sb.data, sb.size, &reply);
    if (st == USHER_OK) {
        *result_json = usher_reply_json(reply, flags);
        if (!*result_json)
            st = client_note_failure(c, USHER_ENOMEM, NULL);
    }
done:
    usher_reply_free(reply);
    msgpack_sbuffer_destroy(&sb);
    return st;
}

usher_status usher_send_raw(usher_client *c, const void *bytes, size_t len, usher_reply **reply)
{
    usher_status st = call_ready(c, reply);
    if (st != USHER_OK)
        return st;
    if (!bytes || len == 0)
        return client_note_failure(c, USHER_EARG, "no bytes to send");
    c->out.size = 0;
    if (msgpack_sbuffer_write(&c->out, bytes, len) != 0)
        return client_note_failure(c, USHER_ENOMEM, NULL);
    return round_trip(c, MSGID_ANY, reply);
}
