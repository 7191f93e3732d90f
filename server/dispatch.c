#include "dispatch.h"
#include "token_reply.h"
#include <string.h>
#include "clock.h"
#include "errmap.h"
#include "filters.h"
#include "metrics.h"
#include "queue_seen.h"
#include "queue_eta.h"
#include "watch.h"
#include "writer.h"
#include "../protocol/msg.h"

#define ERR_MESSAGE_MAX 300
/* Writes waiting for the writer, in batches, before new ones get OVERLOADED. */
#define WRITE_QUEUE_BATCHES 16
/* One connection holds at most this fraction (1/N) of that queue. */
#define CONN_QUEUE_SHARE 4

size_t dispatch_conn_write_cap(const server *srv)
{
    size_t share = srv->cfg.batch_max * WRITE_QUEUE_BATCHES / CONN_QUEUE_SHARE;
    if (share == 0) share = 1;
    return srv->cfg.max_inflight < share ? srv->cfg.max_inflight : share;
}

/* Builds one frame in srv->scratch and queues it on cn. A success reply
 * larger than --max-frame becomes INTERNAL (pages are cut to fit, so this
 * means a bug, never a partial reply). */
static void send_reply(server *srv, conn *cn, uint32_t msgid, usher_err err, const char *message,
                       const msgpack_sbuffer *result)
{
    msgpack_sbuffer *sb = &srv->scratch;
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t at = msg_frame_begin(sb);
    if (err == USHER_ERR_OK) {
        msg_pack_response_ok_head(&pk, msgid);
        msgpack_sbuffer_write(sb, result->data, result->size);
    } else {
        msg_pack_response_error(&pk, msgid, err, message);
    }
    size_t body = msg_frame_end(sb, at);
    if (body > srv->cfg.max_frame) {
        log_msg(&srv->log, LOG_ERROR, "reply of %zu bytes above max frame (msgid %u)", body, msgid);
        msgpack_sbuffer_clear(sb);
        at = msg_frame_begin(sb);
        msg_pack_response_error(&pk, msgid, USHER_ERR_INTERNAL, "reply too large");
        msg_frame_end(sb, at);
    }
    conn_send(cn, sb->data, sb->size);
}

static void send_bare_error(server *srv, conn *cn, uint32_t msgid, usher_err err)
{
    char message[ERR_MESSAGE_MAX];
    errmap_message(&srv->log, NULL, NULL, err, message, sizeof message);
    send_reply(srv, cn, msgid, err, message, NULL);
    log_request(&srv->log, cn->id, "-", msgid, "-", err, 0);
}

void dispatch_send_error(server *srv, conn *cn, uint32_t msgid, usher_err err)
{
    metrics_note_reply_only(srv->metrics, err);
    send_bare_error(srv, cn, msgid, err);
}

void dispatch_send_refusal(server *srv, conn *cn)
{
    metrics_note_conn_refused(srv->metrics);
    send_bare_error(srv, cn, 0, USHER_ERR_OVERLOADED);
}

void dispatch_finish(server *srv, request *req)
{
    conn *cn = req->conn;
    const char *method = req->method ? method_name(req->method) : "-";
    char user[37] = "-";
    if (req->call.has_user) user_id_format(&req->call.user, user);
    if (req->err == USHER_ERR_OK &&
        (req->err = token_reply_finish(&req->call, &req->result, srv->tokens)) != USHER_ERR_OK)
        msgpack_sbuffer_clear(&req->result);   /* a failed run cleared its result already */
    /* After the token: the estimate may move the bytes behind it. */
    if (req->err == USHER_ERR_OK && !queue_eta_reply_finish(&req->call, &req->result, srv->eta)) {
        req->err = USHER_ERR_INTERNAL;
        msgpack_sbuffer_clear(&req->result);
    }
    /* Counted before the reply leaves: a client that hears it and asks
     * another worker for sys.stats must find it counted. */
    int64_t took_us = clock_mono_us() - req->started_us;
    metrics_note_request(srv->metrics, req->method ? (unsigned)req->method->id : METRICS_METHOD_UNKNOWN,
                         req->err, took_us);
    if (cn && cn->state != CONN_CLOSED) {
        char message[ERR_MESSAGE_MAX] = "";
        if (req->err != USHER_ERR_OK)
            errmap_message(&srv->log, &req->call, method, req->err, message, sizeof message);
        send_reply(srv, cn, req->msgid, req->err, message, &req->result);
        if (req->err == USHER_ERR_OK) watch_apply(srv->watch, cn, &req->call, &req->result);
    } else if (req->err == USHER_ERR_INTERNAL) {
        char message[ERR_MESSAGE_MAX];
        errmap_message(&srv->log, &req->call, method, req->err, message, sizeof message);
    }
    if (req->method) log_request(&srv->log, cn ? cn->id : 0, method, req->msgid, user, req->err,
                                 took_us);
    request_free(req);
}

/* Reads: one snapshot, answered in this loop turn. */
static void run_read(server *srv, request *req)
{
    store_txn *txn;
    req->err = store_read_begin(srv->st, &txn);
    if (req->err == USHER_ERR_OK) {
        request_execute(req, txn);
        store_txn_end(txn);
    }
    dispatch_finish(srv, req);
}

/* A write whose refusals a snapshot can decide (METHOD_PRECHECK) first runs
 * as a read when its connection has no write outstanding. The snapshot is
 * taken after the request arrived and after every earlier write of the
 * connection committed, so a refusal seen there is the answer the request
 * would get at that instant (and writes of one connection still take effect
 * in order): it is sent at once, without waiting for a group commit or
 * taking a place in one. So is an answer that needs no write. True when
 * req was answered; otherwise it is as before and goes to the writer. */
static bool answered_from_snapshot(server *srv, conn *cn, request *req)
{
    if (!(req->method->flags & METHOD_PRECHECK) || conn_writes_in_flight(cn) != 0) return false;
    store_txn *txn;
    if (store_read_begin(srv->st, &txn) != USHER_ERR_OK) return false;
    request_execute(req, txn);
    store_txn_end(txn);
    bool decided = req->err == USHER_ERR_OK ? !req->call.needs_write
                 : req->err != USHER_ERR_INTERNAL && req->err != USHER_ERR_OVERLOADED;
    if (decided) {
        dispatch_finish(srv, req);
        return true;
    }
    request_rewind(req);
    return false;
}

/* Writes: to the writer, unless too many are already waiting. A remote
 * store (store_is_remote) sends every request there, reads too, and skips
 * the snapshot precheck: any store call would block the loop on the
 * network, and the database threads answer a refusal as soon anyway. */
static void run_write(server *srv, conn *cn, request *req)
{
    if (!srv->remote && answered_from_snapshot(srv, cn, req)) return;
    if (srv->writes_in_flight >= srv->cfg.batch_max * WRITE_QUEUE_BATCHES) {
        req->err = USHER_ERR_OVERLOADED;
        dispatch_finish(srv, req);
        return;
    }
    srv->writes_in_flight++;
    conn_hold(cn);
    writer_submit(srv->writer, req);
}

bool dispatch_frame(server *srv, conn *cn, const uint8_t *body, size_t len)
{
    request *req = request_new(&srv->env, cn);
    if (!req) { dispatch_send_error(srv, cn, 0, USHER_ERR_INTERNAL); return true; }

    /* Decoded strings point into the bytes they came from, and a write
     * outlives the reader's buffer: the request keeps its own copy. */
    uint8_t *copy = msgpack_zone_malloc(&req->zone, len);
    if (!copy) { request_free(req); dispatch_send_error(srv, cn, 0, USHER_ERR_INTERNAL); return true; }
    memcpy(copy, body, len);
    if (msg_decode(copy, len, &srv->cfg.limits, &req->zone, &req->root) != USHER_ERR_OK) {
        request_free(req);
        dispatch_send_error(srv, cn, 0, USHER_ERR_BAD_FRAME);
        return false;
    }
    bool msgid_known = false;
    if (msg_parse_request(&req->root, &req->envelope, &msgid_known) != USHER_ERR_OK) {
        uint32_t msgid = msgid_known ? req->envelope.msgid : 0;
        request_free(req);
        dispatch_send_error(srv, cn, msgid, USHER_ERR_BAD_REQUEST);
        return true;
    }
    req->msgid = req->envelope.msgid;
    req->method = method_lookup(req->envelope.method, req->envelope.method_len);
    if (!req->method) {
        req->err = USHER_ERR_UNKNOWN_METHOD;
        dispatch_finish(srv, req);
        return true;
    }
    req->call.method = req->method;
    req->call.params = req->envelope.params;
    req->call.now_ms = clock_now_ms();
    req->err = filter_tokens(&req->call, srv->tokens, &srv->revoked);
    /* A remote store whose revocations could not be read yet: a session or
     * queue token cannot be judged, so it is not let through. */
    if (req->err == USHER_ERR_OK && srv->remote && !srv->revoked.loaded && req->call.has_user)
        req->err = USHER_ERR_UNAVAILABLE;
    if (req->err == USHER_ERR_OK && req->call.has_queue)   /* its holder is still there */
        queue_seen_note(srv, req->call.queue.concert_id, req->call.queue.seq);
    if (req->call.has_queue)   /* queue.watch: refused past CONN_WATCH_MAX entries */
        req->call.watch_full = watch_conn_full(cn, req->call.queue.concert_id, req->call.queue.seq);
    if (req->err != USHER_ERR_OK) dispatch_finish(srv, req);
    else if ((req->method->flags & METHOD_WRITE) || srv->remote) run_write(srv, cn, req);
    else run_read(srv, req);
    return true;
}
