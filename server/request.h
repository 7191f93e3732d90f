/* One request's life: created by the dispatcher from a decoded frame, run
 * on the loop thread (reads) or the writer thread (writes), then answered and
 * freed on the loop thread. It owns its decoded params (zone) and its packed
 * result. A request with conn == NULL and method == NULL is the timer's
 * housekeeping job. */
#ifndef USHER_SERVER_REQUEST_H
#define USHER_SERVER_REQUEST_H

#include <msgpack.h>
#include <stdint.h>
#include "method.h"
#include "../protocol/msg.h"

struct conn;

typedef struct request {
    struct request *next;        /* in a writer batch */
    struct conn *conn;           /* NULL for housekeeping; holds one conn reference */
    uint32_t msgid;
    const method_def *method;    /* NULL for housekeeping */
    msgpack_zone zone;           /* owns the decoded envelope and params */
    msgpack_object root;
    msg_request envelope;
    call call;                   /* handler context */
    msgpack_sbuffer result;      /* the packed result map, on success */
    msgpack_packer packer;       /* packs into result */
    usher_err err;
    bool settled;                /* writer thread: answered in an earlier pass of its batch */
    int64_t started_us;          /* monotonic, for the log line */
    /* Figures the writer thread hands the loop for its debug lines: */
    uint32_t batch_writes;       /* first request of a group commit: its client writes; else 0 */
    int64_t batch_commit_us;     /* ...and the time its commit took (with its fsync) */
    store_admitted admitted;     /* housekeeping: who the queue tick admitted */
    int64_t tick_us;             /* housekeeping: how long the queue tick took */
    bool throttled;              /* housekeeping: admit at half rate (health.h), set by the loop */
    uint64_t *touch;             /* a queue_seen job: touch_n (concert_id, seq) pairs, owned; else NULL */
    size_t touch_n;
} request;

/* A request for a decoded frame (body copied into the request's zone).
 * NULL on OOM. */
request *request_new(const call_env *env, struct conn *conn);

/* Frees the request and everything it owns. */
void request_free(request *req);

/* Runs the stateful part of the pipeline inside txn: request_id replay,
 * queue-state check, handler, request_id record. Shared by the read path and
 * the writer thread. Sets req->err; on OK req->result holds the result map. */
void request_execute(request *req, store_txn *txn);

/* Back to the state before request_execute, for another run. */
void request_rewind(request *req);

#endif
