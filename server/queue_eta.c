#include "queue_eta.h"
#include <stdlib.h>
#include <string.h>
#include "method.h"

/* Kept samples: one a second over the window, and one more for its edge. */
#define SAMPLES (QUEUE_ETA_WINDOW_MS / QUEUE_ETA_SAMPLE_MS + 2)
/* Admissions seen (a sample whose total grew), to the tick's precision. */
#define EVENTS 64

typedef struct eta_sample { int64_t at_ms; uint64_t admitted_total; } eta_sample;

typedef struct eta_queue {
    uint64_t concert_id;
    int64_t asked_ms;              /* last interest */
    eta_sample ring[SAMPLES];      /* kept samples, oldest at `first` */
    unsigned first, n;
    eta_sample latest;             /* the newest sample, kept or not */
    bool has_latest;
    eta_sample events[EVENTS];     /* samples whose total grew, oldest at `first_event` */
    unsigned first_event, n_events;
} eta_queue;

struct queue_eta {
    eta_queue *queues;
    size_t n, cap;
};

queue_eta *queue_eta_new(void)
{
    return calloc(1, sizeof(queue_eta));
}

void queue_eta_free(queue_eta *qe)
{
    if (!qe) return;
    free(qe->queues);
    free(qe);
}

static eta_queue *find(const queue_eta *qe, uint64_t concert_id)
{
    for (size_t i = 0; i < qe->n; i++)
        if (qe->queues[i].concert_id == concert_id) return &qe->queues[i];
    return NULL;
}

void queue_eta_interest(queue_eta *qe, uint64_t concert_id, int64_t now_ms)
{
    eta_queue *q = find(qe, concert_id);
    if (q) { q->asked_ms = now_ms; return; }
    if (qe->n == qe->cap && qe->cap < QUEUE_ETA_QUEUES_MAX) {
        size_t cap = qe->cap ? qe->cap * 2 : 4;
        if (cap > QUEUE_ETA_QUEUES_MAX) cap = QUEUE_ETA_QUEUES_MAX;
        eta_queue *grown = realloc(qe->queues, cap * sizeof *grown);
        if (!grown) return;   /* no estimate for it: nil, never wrong */
        qe->queues = grown;
        qe->cap = cap;
    }
    if (qe->n == qe->cap) {   /* full: the least recently asked gives way */
        size_t oldest = 0;
        for (size_t i = 1; i < qe->n; i++)
            if (qe->queues[i].asked_ms < qe->queues[oldest].asked_ms) oldest = i;
        qe->queues[oldest] = qe->queues[--qe->n];
    }
    q = &qe->queues[qe->n++];
    memset(q, 0, sizeof *q);
    q->concert_id = concert_id;
    q->asked_ms = now_ms;
}

size_t queue_eta_queues(queue_eta *qe, int64_t now_ms, uint64_t *ids, size_t cap)
{
    size_t out = 0;
    for (size_t i = 0; i < qe->n;) {
        if (now_ms - qe->queues[i].asked_ms > QUEUE_ETA_WINDOW_MS) {
            qe->queues[i] = qe->queues[--qe->n];
            continue;
        }
        if (out < cap) ids[out++] = qe->queues[i].concert_id;
        i++;
    }
    return out;
}

void queue_eta_sample(queue_eta *qe, uint64_t concert_id, int64_t now_ms, uint64_t admitted_total)
{
    eta_queue *q = find(qe, concert_id);
    if (!q) return;
    if (q->has_latest && admitted_total > q->latest.admitted_total) {
        if (q->n_events == EVENTS) { q->first_event = (q->first_event + 1) % EVENTS; q->n_events--; }
        q->events[(q->first_event + q->n_events) % EVENTS] = (eta_sample){ now_ms, admitted_total };
        q->n_events++;
    }
    q->latest = (eta_sample){ now_ms, admitted_total };
    q->has_latest = true;
    if (q->n > 0) {
        const eta_sample *last = &q->ring[(q->first + q->n - 1) % SAMPLES];
        if (now_ms - last->at_ms < QUEUE_ETA_SAMPLE_MS) return;
    }
    if (q->n == SAMPLES) { q->first = (q->first + 1) % SAMPLES; q->n--; }
    q->ring[(q->first + q->n) % SAMPLES] = q->latest;
    q->n++;
}

/* The rate from the admissions seen in the window: from the first to the
 * last, over the time between them, and over the quiet time since the last
 * once that is longer than the usual gap (so a queue that stopped slows
 * down). False with fewer than two. */
static bool rate_from_events(const eta_queue *q, int64_t now_ms, queue_eta_rate *rate)
{
    const eta_sample *first = NULL, *last = NULL;
    unsigned n = 0;
    for (unsigned i = 0; i < q->n_events; i++) {
        const eta_sample *e = &q->events[(q->first_event + i) % EVENTS];
        if (now_ms - e->at_ms > QUEUE_ETA_WINDOW_MS) continue;
        if (!first) first = e;
        last = e;
        n++;
    }
    if (n < 2 || last->at_ms <= first->at_ms) return false;
    int64_t gap_ms = (last->at_ms - first->at_ms) / (int64_t)(n - 1);
    int64_t end_ms = now_ms - gap_ms > last->at_ms ? now_ms - gap_ms : last->at_ms;
    rate->admitted = last->admitted_total - first->admitted_total;
    rate->span_ms = end_ms - first->at_ms;
    return true;
}

bool queue_eta_rate_get(const queue_eta *qe, uint64_t concert_id, int64_t now_ms, queue_eta_rate *rate)
{
    const eta_queue *q = find(qe, concert_id);
    if (!q || !q->has_latest || q->n == 0) return false;
    /* The oldest kept sample still inside the window. */
    const eta_sample *from = NULL;
    for (unsigned i = 0; i < q->n; i++) {
        const eta_sample *s = &q->ring[(q->first + i) % SAMPLES];
        if (now_ms - s->at_ms <= QUEUE_ETA_WINDOW_MS) { from = s; break; }
    }
    if (!from) return false;
    int64_t span_ms = q->latest.at_ms - from->at_ms;
    if (span_ms < QUEUE_ETA_MIN_SPAN_MS || q->latest.admitted_total <= from->admitted_total) return false;
    if (rate_from_events(q, now_ms, rate)) return true;
    /* one admission in the window: all there is to go by */
    rate->admitted = q->latest.admitted_total - from->admitted_total;
    rate->span_ms = span_ms;
    return true;
}

int64_t queue_eta_from_rate(const queue_eta_rate *rate, uint64_t position)
{
    /* ceil(position / (admitted / span_s)) = ceil(position * span_ms / (admitted * 1000)) */
    double seconds = (double)position * (double)rate->span_ms / ((double)rate->admitted * 1000.0);
    int64_t whole = (int64_t)seconds;
    return (double)whole < seconds ? whole + 1 : whole;
}

bool queue_eta_seconds(const queue_eta *qe, uint64_t concert_id, uint64_t position, int64_t now_ms,
                       int64_t *eta_s)
{
    queue_eta_rate rate;
    if (!queue_eta_rate_get(qe, concert_id, now_ms, &rate)) return false;
    *eta_s = queue_eta_from_rate(&rate, position);
    return true;
}

void queue_eta_reply_pack(call *c, uint64_t concert_id, uint64_t position)
{
    msgpack_sbuffer *buf = c->out->data;
    msgpack_pack_str(c->out, 5);
    msgpack_pack_str_body(c->out, "eta_s", 5);
    c->eta_at = buf->size;
    msgpack_pack_nil(c->out);
    c->eta_concert_id = concert_id;
    c->eta_position = position;
    c->eta_pending = true;
}

bool queue_eta_reply_finish(call *c, msgpack_sbuffer *result, queue_eta *qe)
{
    if (!c->eta_pending) return true;
    c->eta_pending = false;
    queue_eta_interest(qe, c->eta_concert_id, c->now_ms);
    int64_t eta_s;
    if (!queue_eta_seconds(qe, c->eta_concert_id, c->eta_position, c->now_ms, &eta_s)) return true;
    if (c->eta_at >= result->size) return false;
    msgpack_sbuffer value;
    msgpack_packer pk;
    msgpack_sbuffer_init(&value);
    msgpack_packer_init(&pk, &value, msgpack_sbuffer_write);
    msgpack_pack_int64(&pk, eta_s);
    size_t grow = value.size - 1, tail = result->size - c->eta_at - 1;
    bool ok = value.data && (grow == 0 || msgpack_sbuffer_write(result, value.data, grow) == 0);
    if (ok) {
        memmove(result->data + c->eta_at + value.size, result->data + c->eta_at + 1, tail);
        memcpy(result->data + c->eta_at, value.data, value.size);
    }
    msgpack_sbuffer_destroy(&value);
    return ok;
}
