/* The wait estimate: per queue, samples of admitted_total over time (taken
 * by the watch timer, server/watch.c, every WATCH_TICK_MS) give an admission
 * rate over a sliding window, and a WAITING entry at `position` is told
 * ceil(position / rate) seconds. The rate runs from the first admission seen
 * in the window to the last (timed to the sample), stretched by the quiet
 * time since the last once that exceeds the usual gap between admissions;
 * with a single admission in the window it is that one over the span
 * sampled. There is no estimate (nil on the wire) until the window holds at
 * least QUEUE_ETA_MIN_SPAN_MS of samples and at least one admission.
 * Queues are sampled while watched or asked about (queue.enter, queue.status,
 * queue.watch) in the last QUEUE_ETA_WINDOW_MS. Loop thread only: the writer
 * thread never reads it (queue.enter's eta_s is filled in on the loop thread,
 * see queue_eta_reply_*). */
#ifndef USHER_SERVER_QUEUE_ETA_H
#define USHER_SERVER_QUEUE_ETA_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUEUE_ETA_WINDOW_MS 60000      /* the rate is measured over this much history */
#define QUEUE_ETA_MIN_SPAN_MS 5000     /* ...and needs at least this much of it */
#define QUEUE_ETA_SAMPLE_MS 1000       /* one kept sample per second */
#define QUEUE_ETA_QUEUES_MAX 1024      /* queues followed at once; the least recently asked goes */

typedef struct queue_eta queue_eta;
struct call;

/* A new estimator; NULL on OOM. */
queue_eta *queue_eta_new(void);
void queue_eta_free(queue_eta *qe);

/* concert_id's queue was asked about (or is watched) at now_ms: keep sampling it. */
void queue_eta_interest(queue_eta *qe, uint64_t concert_id, int64_t now_ms);

/* The concerts to sample now (asked about within the window), at most cap,
 * into ids; forgets the others. Returns the count. */
size_t queue_eta_queues(queue_eta *qe, int64_t now_ms, uint64_t *ids, size_t cap);

/* Records admitted_total of concert_id's queue as seen at now_ms. */
void queue_eta_sample(queue_eta *qe, uint64_t concert_id, int64_t now_ms, uint64_t admitted_total);

/* A queue's measured admission rate: admitted entries over span_ms. */
typedef struct queue_eta_rate { uint64_t admitted; int64_t span_ms; } queue_eta_rate;

/* concert_id's rate as of now_ms: true with *rate, false when there is not
 * enough history yet (see above). */
bool queue_eta_rate_get(const queue_eta *qe, uint64_t concert_id, int64_t now_ms, queue_eta_rate *rate);

/* ceil(position / rate) in seconds. */
int64_t queue_eta_from_rate(const queue_eta_rate *rate, uint64_t position);

/* The estimate for a WAITING entry at position: true with *eta_s, or false
 * (no estimate yet). */
bool queue_eta_seconds(const queue_eta *qe, uint64_t concert_id, uint64_t position, int64_t now_ms,
                       int64_t *eta_s);

/* ---- eta_s in replies ----
 * A handler (either thread) packs "eta_s" with a placeholder and leaves the
 * queue and position in the call; the loop thread replaces the placeholder
 * with the estimate (or nil) before the reply is sent. One per call. */

/* Packs the key "eta_s" and its placeholder into c->out. */
void queue_eta_reply_pack(struct call *c, uint64_t concert_id, uint64_t position);

/* Replaces the placeholder in result (c->out's buffer) and notes the
 * interest; nothing when none is pending. False on OOM. Loop thread. */
bool queue_eta_reply_finish(struct call *c, msgpack_sbuffer *result, queue_eta *qe);

#endif
