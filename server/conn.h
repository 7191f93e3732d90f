/* A client connection: a small state machine over one non-blocking socket.
 *   OPEN     reading frames and answering them
 *   DRAINING no more reading (after BAD_FRAME or during shutdown): finish
 *            in-flight writes, flush output, then linger
 *   LINGERING output sent and our side shut down; input is read and thrown
 *            away until the peer closes or LINGER time passes, so unread
 *            input does not turn our close into a reset that would destroy
 *            the last reply (the BAD_FRAME error) before the peer reads it
 *   CLOSED   socket closed; the struct lives on until the writes it has in
 *            flight come back (their replies are dropped, their effects stay)
 * Input is read into a buffer on the loop thread's stack shared by every
 * connection; whole frames are dispatched from there, and a connection keeps
 * only the bytes of a partial frame (or frames held while reading is paused),
 * in a frame_reader grown to what it holds and freed once empty. Output is
 * sent at once; only what the socket did not take is kept, freed once sent.
 * Reading pauses (backpressure) while unsent output is above out_buf_cap or
 * the connection has dispatch_conn_write_cap writes at the writer.
 * One timer per connection holds its next deadline, re-armed lazily:
 *   idle   nothing received for --idle-timeout, no partial frame, no write
 *          in flight and no watched queue entry (queue.watch): closed
 *   frame  a partial frame not whole within --frame-timeout of its first
 *          byte: BAD_FRAME (msgid 0), then DRAINING
 *   output unsent output above out_buf_cap for --frame-timeout: closed
 *   linger LINGERING for CONN_LINGER_S: closed */
#ifndef USHER_SERVER_CONN_H
#define USHER_SERVER_CONN_H

#include <ev.h>
#include <stdint.h>
#include "server.h"
#include "../protocol/frame.h"

typedef enum conn_state { CONN_OPEN, CONN_DRAINING, CONN_LINGERING, CONN_CLOSED } conn_state;

#define CONN_LINGER_S 1.0
#define CONN_WATCH_MAX 4         /* queue entries one connection may watch (queue.watch) */

struct watch_sub;

typedef struct conn {
    server *srv;
    struct conn *prev, *next;
    int fd;
    uint64_t id;
    char peer[64];
    conn_state state;
    ev_io read_watcher, write_watcher;
    ev_timer timer;              /* the next deadline (see above) */
    ev_tstamp last_input;        /* bytes last arrived, or the last write was answered */
    ev_tstamp frame_since;       /* the partial frame in `in` began (or reading resumed) */
    ev_tstamp stall_since;       /* unsent output went above out_buf_cap */
    frame_reader in;             /* a partial frame, or frames held while paused */
    uint8_t *out;                /* bytes [out_off, out_len) are unsent; NULL when none */
    size_t out_off, out_len, out_cap;
    unsigned refs;               /* writes at the writer + a running read handler */
    unsigned handlers;           /* read handlers running (0 or 1) */
    bool paused_output;          /* reading stopped: unsent output above out_buf_cap */
    bool paused_writes;          /* reading stopped: dispatch_conn_write_cap writes in flight */
    struct watch_sub *watches[CONN_WATCH_MAX]; /* its queue.watch subscriptions (watch.c owns them) */
    unsigned n_watches;
} conn;

/* Adopts an accepted non-blocking socket. */
conn *conn_open(server *srv, int fd, const char *peer);

/* Queues bytes for sending (tries to send at once). Dropped when CLOSED. */
void conn_send(conn *c, const void *data, size_t n);

/* Stops reading; closes once in-flight writes are answered and output is sent. */
void conn_drain(conn *c);

/* Closes the socket now (output discarded). */
void conn_close(conn *c);

/* Bytes queued and not yet taken by the socket. */
size_t conn_unsent(const conn *c);

/* Writes of this connection submitted to the writer and not yet answered. */
unsigned conn_writes_in_flight(const conn *c);

/* Keeps the struct alive across a call that may close the socket. */
void conn_hold(conn *c);

/* Drops a hold (a write answered, a handler done); frees a CLOSED conn at 0. */
void conn_release(conn *c);

#endif
