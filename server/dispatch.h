/* The request pipeline, run on the loop thread:
 * frame -> bounded decode -> envelope -> method table -> token filters ->
 *   read: request_execute in a read snapshot, answered at once
 *   write: handed to the writer (group commit), answered after the commit
 * -> error mapper -> encode -> send -> log line. */
#ifndef USHER_SERVER_DISPATCH_H
#define USHER_SERVER_DISPATCH_H

#include <stddef.h>
#include <stdint.h>
#include "conn.h"
#include "request.h"

/* Handles one frame body from cn. Returns false when the frame was not one
 * msgpack object (BAD_FRAME has been answered; the caller drains cn). */
bool dispatch_frame(server *srv, conn *cn, const uint8_t *body, size_t len);

/* Answers a request (error mapping, encoding, sending, logging) and frees it. */
void dispatch_finish(server *srv, request *req);

/* Sends a bare error reply (no request object), e.g. BAD_FRAME; counted as
 * a request of method "-". */
void dispatch_send_error(server *srv, conn *cn, uint32_t msgid, usher_err err);

/* Refuses a new connection with OVERLOADED (msgid 0); counted as a refused
 * connection, not as a request. */
void dispatch_send_refusal(server *srv, conn *cn);

/* Writes one connection may have at the writer before its reading pauses:
 * --max-inflight, and never more than a quarter of the process's write queue
 * (past which writes are answered OVERLOADED), so one flooding connection
 * cannot fill it for the others. */
size_t dispatch_conn_write_cap(const server *srv);

#endif
