/* The --metrics responder: a small read-only HTTP/1.x server on the loop
 * thread that answers GET /metrics with a body made by a callback, 404 for
 * another path, 405 for another method, 400 for a malformed request line,
 * 431 when the request line and headers pass HTTP_REQUEST_MAX, always with
 * Connection: close. Every socket is non-blocking; each connection has one
 * deadline (HTTP_TIMEOUT_S from accept to the last byte sent) and at most
 * HTTP_CONNS_MAX are open per process (accepting pauses at the cap), so a
 * slow or hostile scraper costs the protocol loop nothing but a few small
 * buffers.
 * A connection: READING the request head -> WRITING the response ->
 * LINGERING (our side shut down; input read and dropped until the peer
 * closes or HTTP_LINGER_S, so unread input cannot turn our close into a
 * reset that destroys the response) -> closed and freed.
 * The listening socket is made once per usherd, before --workers fork, and
 * inherited by every worker: whichever accepts a scrape answers it. */
#ifndef USHER_SERVER_HTTP_METRICS_H
#define USHER_SERVER_HTTP_METRICS_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_REQUEST_MAX 8192   /* bytes of request line + headers */
#define HTTP_TIMEOUT_S 5.0      /* accept to response sent */
#define HTTP_LINGER_S 1.0
#define HTTP_CONNS_MAX 16       /* open metrics connections per process */

/* Makes the response body of GET /metrics: *body is malloc'ed (the
 * responder frees it). False when it could not: the answer is 500. */
typedef bool (*http_metrics_body_fn)(void *ctx, char **body, size_t *len);

typedef struct http_metrics http_metrics;

/* A non-blocking listening socket on host:port (IPv4 literal), without
 * SO_REUSEPORT: a second usherd asking for the same port fails here.
 * Returns the fd, or -1 with a message in err. */
int http_metrics_listen(const char *host, uint16_t port, char *err, size_t err_cap);

/* Starts accepting on listen_fd (not owned: the caller closes it). NULL
 * when out of memory. */
http_metrics *http_metrics_start(struct ev_loop *loop, int listen_fd, http_metrics_body_fn body,
                                 void *ctx);

/* Stops accepting, closes every metrics connection, frees. NULL is a no-op. */
void http_metrics_stop(http_metrics *h);

#endif
