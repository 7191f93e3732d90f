/* The method table's row type and the per-request call context.
 * A method is one declarative row (server/method_table.c): which protocol
 * method, its handler, its flags and, for idempotent writes, how to
 * fingerprint its parameters. Cross-cutting work (session check, queue
 * check, admin check, request_id replay, logging, error replies) is done by
 * the pipeline (server/dispatch.c, server/filters.c) from the flags, never by
 * handlers. A handler reads c->params, calls store_* on c->txn, packs one
 * result map on c->out and returns USHER_ERR_OK, or returns an error code
 * (setting c->bad_param for INVALID_ARGUMENT) and packs nothing. */
#ifndef USHER_SERVER_METHOD_H
#define USHER_SERVER_METHOD_H

#include <msgpack.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "../protocol/errors.h"
#include "../protocol/methods.h"
#include "config.h"
#include "store.h"
#include "token.h"

enum method_flags {
    METHOD_WRITE              = 1u << 0, /* runs inside the group-commit write transaction */
    METHOD_NEEDS_SESSION      = 1u << 1, /* params.session must be a live session token */
    METHOD_NEEDS_QUEUE_TOKEN  = 1u << 2, /* params.token must be a validly signed queue token */
    METHOD_NEEDS_ACTIVE_QUEUE = 1u << 3, /* ...whose entry is ACTIVE now (implies QUEUE_TOKEN) */
    METHOD_ADMIN              = 1u << 4, /* params.admin must be this deployment's admin token */
    METHOD_IDEMPOTENT         = 1u << 5, /* request_id? replays the first success */
    METHOD_PRECHECK           = 1u << 6, /* a write whose refusals a read snapshot can decide:
                                            see dispatch.c, run_write */
};

#define CALL_MESSAGE_MAX 160     /* bytes of a formatted refusal message */

/* Read-only environment every call sees, shared across threads. */
typedef struct call_env {
    const usher_config *cfg;
    const token_keys *keys;
    const char *instance;        /* this process's instance name */
    const char *version;
    const struct metrics_block *metrics; /* every worker's figures (sys.stats); may be NULL */
    const atomic_bool *admission_throttled; /* this process's admission is halved now
                                        (health.h); any thread may read *it; may be NULL */
} call_env;

/* What a queue.watch/unwatch call asks dispatch to do to its connection
 * once the reply is built (a handler has no connection: server/watch.h). */
typedef enum call_watch_op { CALL_WATCH_NONE = 0, CALL_WATCH_ADD, CALL_WATCH_REMOVE } call_watch_op;

typedef struct call call;
typedef usher_err (*method_handler)(call *c);
/* Digest of the parameters that must match on a request_id replay. */
typedef usher_err (*method_fingerprint)(call *c, uint8_t fp[STORE_FINGERPRINT_BYTES]);

typedef struct method_def {
    usher_method_id id;          /* name and docs: usher_method_docs[id] */
    method_handler handler;
    unsigned flags;              /* enum method_flags */
    method_fingerprint fingerprint; /* METHOD_IDEMPOTENT only */
} method_def;

struct call {
    const call_env *env;
    const method_def *method;
    store_txn *txn;              /* read txn, or a child of the batch's write txn */
    int64_t now_ms;
    const msgpack_object *params;/* a map, or NULL for nil */
    bool has_user;               /* set by the session or queue check */
    user_id user;
    bool has_queue;              /* set by the queue check */
    token_claims queue;
    msgpack_packer *out;         /* the handler packs exactly one result map here */
    const char *request_id;      /* set by filter_replay when a request_id was given */
    size_t request_id_len;
    uint8_t fingerprint[STORE_FINGERPRINT_BYTES]; /* of the params, with request_id */
    const char *bad_param;       /* INVALID_ARGUMENT / parameter errors: which one */
    const char *detail;          /* optional static text appended to the message */
    char message[CALL_MESSAGE_MAX]; /* "" or the whole formatted message (call_fail) */
    bool needs_write;            /* a precheck on a snapshot let it through: run it as a write */
    bool token_pending;          /* a token placeholder in the result waits for signing */
    size_t token_at;             /* its offset in the result bytes */
    token_claims token_claims;   /* what it will say (see token_reply.h) */
    bool eta_pending;            /* an eta_s placeholder waits for the estimate (queue_eta.h) */
    size_t eta_at;               /* its offset in the result bytes */
    uint64_t eta_concert_id, eta_position;
    call_watch_op watch_op;      /* queue.watch/unwatch: applied to the connection by dispatch */
    bool watch_full;             /* set by dispatch: the connection watches the most it may,
                                    and not this entry */
};

/* Name of a row's method ("seat.reserve"). */
static inline const char *method_name(const method_def *m) { return usher_method_docs[m->id].name; }

/* The row for a wire name, or NULL (server/method_table.c). */
const method_def *method_lookup(const char *name, size_t len);

/* Every row (for tests and docs checks); *n gets the count. */
const method_def *method_table(size_t *n);

#endif
