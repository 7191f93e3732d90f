#include "request.h"
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "filters.h"

#define REQUEST_ZONE_CHUNK 2048

request *request_new(const call_env *env, struct conn *conn)
{
    request *req = calloc(1, sizeof *req);
    if (!req) return NULL;
    if (!msgpack_zone_init(&req->zone, REQUEST_ZONE_CHUNK)) { free(req); return NULL; }
    msgpack_sbuffer_init(&req->result);
    msgpack_packer_init(&req->packer, &req->result, msgpack_sbuffer_write);
    req->conn = conn;
    req->call.env = env;
    req->call.out = &req->packer;
    req->started_us = clock_mono_us();
    return req;
}

void request_free(request *req)
{
    if (!req) return;
    msgpack_zone_destroy(&req->zone);
    msgpack_sbuffer_destroy(&req->result);
    free(req->touch);
    free(req);
}

void request_execute(request *req, store_txn *txn)
{
    call *c = &req->call;
    const method_def *m = req->method;
    bool replayed = false;
    usher_err e = USHER_ERR_OK;

    c->txn = txn;
    c->now_ms = clock_now_ms();
    c->token_pending = false;
    c->eta_pending = false;
    c->watch_op = CALL_WATCH_NONE;
    c->needs_write = false;
    if (c->has_user) e = store_user_lock(txn, &c->user);   /* before the first read */
    if (e == USHER_ERR_OK && (m->flags & METHOD_IDEMPOTENT)) e = filter_replay(c, &replayed);
    if (e == USHER_ERR_OK && !replayed && (m->flags & METHOD_NEEDS_ACTIVE_QUEUE))
        e = filter_queue_active(c);
    if (e == USHER_ERR_OK && !replayed) e = m->handler(c);
    if (e == USHER_ERR_OK && !replayed && (m->flags & METHOD_IDEMPOTENT))
        e = filter_remember(c, req->result.data, req->result.size);
    if (e != USHER_ERR_OK) {
        msgpack_sbuffer_clear(&req->result);
        c->token_pending = false;
        c->eta_pending = false;
        c->watch_op = CALL_WATCH_NONE;
    }
    c->txn = NULL;
    req->err = e;
}

void request_rewind(request *req)
{
    req->err = USHER_ERR_OK;
    msgpack_sbuffer_clear(&req->result);
    req->call.token_pending = false;
    req->call.eta_pending = false;
    req->call.watch_op = CALL_WATCH_NONE;
    req->call.needs_write = false;
    req->call.bad_param = NULL;
    req->call.detail = NULL;
    req->call.message[0] = '\0';
}
