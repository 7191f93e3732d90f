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
 * Input goes through a frame_reader bounded by --max-frame; output is a
 * buffer whose size above out_buf_cap pauses reading (backpressure). */
#ifndef USHER_SERVER_CONN_H
#define USHER_SERVER_CONN_H

#include <ev.h>
#include <stdint.h>
#include "server.h"
#include "../protocol/frame.h"

typedef enum conn_state { CONN_OPEN, CONN_DRAINING, CONN_LINGERING, CONN_CLOSED } conn_state;

#define CONN_LINGER_S 1.0

typedef struct conn {
    server *srv;
    struct conn *prev, *next;
    int fd;
    uint64_t id;
    char peer[64];
    conn_state state;
    ev_io read_watcher, write_watcher;
    ev_timer linger_timer;
    frame_reader in;
    uint8_t *out;                /* bytes [out_off, out_len) are unsent */
    size_t out_off, out_len, out_cap;
    unsigned refs;               /* writes at the writer + a running read handler */
    bool read_paused;
} conn;

/* Adopts an accepted non-blocking socket. */
conn *conn_open(server *srv, int fd, const char *peer);

/* Queues bytes for sending (tries to send at once). Dropped when CLOSED. */
void conn_send(conn *c, const void *data, size_t n);

/* Stops reading; closes once in-flight writes are answered and output is sent. */
void conn_drain(conn *c);

/* Closes the socket now (output discarded). */
void conn_close(conn *c);

/* Keeps the struct alive across a call that may close the socket. */
void conn_hold(conn *c);

/* Drops a hold (a write answered, a handler done); frees a CLOSED conn at 0. */
void conn_release(conn *c);

#endif
