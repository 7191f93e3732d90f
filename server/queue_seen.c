#include "queue_seen.h"
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "log.h"
#include "request.h"
#include "server.h"
#include "writer.h"

#define SEEN_RESEND_MAX_MS 10000
#define SEEN_RESEND_MIN_MS 100
#define SEEN_FLUSH_MAX_MS 3000
#define SEEN_TABLE_MIN 1024
#define SEEN_TABLE_MAX (1u << 22)   /* entries remembered; past it notes wait for a flush */

typedef struct seen_slot {
    uint64_t concert_id, seq;     /* seq 0: empty */
    int64_t sent_ms;              /* last handed to the store (monotonic ms) */
    bool pending;
} seen_slot;

struct queue_seen {
    struct server *srv;
    ev_timer timer;
    seen_slot *slots;
    size_t cap, used, pending;
    int64_t resend_ms;
    bool in_flight;
};

int64_t queue_seen_resend_ms(int64_t wait_idle_ms, int64_t active_idle_ms)
{
    int64_t shortest = SEEN_RESEND_MAX_MS * 4;
    if (wait_idle_ms > 0 && wait_idle_ms < shortest) shortest = wait_idle_ms;
    if (active_idle_ms > 0 && active_idle_ms < shortest) shortest = active_idle_ms;
    int64_t r = shortest / 4;
    return r < SEEN_RESEND_MIN_MS ? SEEN_RESEND_MIN_MS : r > SEEN_RESEND_MAX_MS ? SEEN_RESEND_MAX_MS : r;
}

static size_t slot_hash(uint64_t concert_id, uint64_t seq, size_t cap)
{
    uint64_t h = concert_id * UINT64_C(0x9E3779B97F4A7C15) ^ seq * UINT64_C(0xC2B2AE3D27D4EB4F);
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static seen_slot *slot_find(seen_slot *slots, size_t cap, uint64_t concert_id, uint64_t seq)
{
    for (size_t i = slot_hash(concert_id, seq, cap);; i = (i + 1) & (cap - 1))
        if (slots[i].seq == 0 || (slots[i].seq == seq && slots[i].concert_id == concert_id))
            return &slots[i];
}

/* Rebuilds the table at cap, forgetting entries neither pending nor sent
 * since forget_before_ms. */
static bool rebuild(queue_seen *qs, size_t cap, int64_t forget_before_ms)
{
    seen_slot *slots = calloc(cap, sizeof *slots);
    if (!slots) return false;
    size_t used = 0;
    for (size_t i = 0; i < qs->cap; i++) {
        seen_slot *s = &qs->slots[i];
        if (s->seq == 0 || (!s->pending && s->sent_ms < forget_before_ms)) continue;
        *slot_find(slots, cap, s->concert_id, s->seq) = *s;
        used++;
    }
    free(qs->slots);
    qs->slots = slots;
    qs->cap = cap;
    qs->used = used;
    return true;
}

void queue_seen_note(struct server *srv, uint64_t concert_id, uint64_t seq)
{
    queue_seen *qs = srv->seen;
    if (!qs || seq == 0) return;
    if ((qs->used + 1) * 2 > qs->cap &&
        (qs->cap >= SEEN_TABLE_MAX || !rebuild(qs, qs->cap * 2, INT64_MIN)))
        return;   /* full until the next flush forgets the old ones */
    seen_slot *s = slot_find(qs->slots, qs->cap, concert_id, seq);
    if (s->seq == 0) {   /* never sent: due at once */
        *s = (seen_slot){ .concert_id = concert_id, .seq = seq, .sent_ms = INT64_MIN / 2 };
        qs->used++;
    }
    if (s->pending || clock_mono_us() / 1000 - s->sent_ms < qs->resend_ms) return;
    s->pending = true;
    qs->pending++;
}

/* The timer: the pending notes become one job for the writer. */
static void on_flush(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop; (void)revents;
    queue_seen *qs = w->data;
    struct server *srv = qs->srv;
    if (qs->in_flight || qs->pending == 0 || srv->stopping) return;
    uint64_t *pairs = malloc(qs->pending * 2 * sizeof *pairs);
    request *job = pairs ? request_new(&srv->env, NULL) : NULL;
    if (!job) { free(pairs); return; }
    int64_t now = clock_mono_us() / 1000;
    size_t n = 0;
    for (size_t i = 0; i < qs->cap; i++) {
        seen_slot *s = &qs->slots[i];
        if (s->seq == 0 || !s->pending) continue;
        pairs[2 * n] = s->concert_id;
        pairs[2 * n + 1] = s->seq;
        n++;
        s->pending = false;
        s->sent_ms = now;
    }
    qs->pending = 0;
    size_t cap = qs->cap;
    while (cap > SEEN_TABLE_MIN && qs->used * 8 < cap) cap /= 2;
    rebuild(qs, cap, now - 2 * qs->resend_ms);   /* forget entries not seen lately */
    job->touch = pairs;
    job->touch_n = n;
    qs->in_flight = true;
    srv->writes_in_flight++;
    writer_submit(srv->writer, job);
}

bool queue_seen_job_done(struct server *srv, struct request *req)
{
    queue_seen *qs = srv->seen;
    if (!req->touch) return false;
    if (qs) qs->in_flight = false;
    if (req->err != USHER_ERR_OK)
        log_msg(&srv->log, LOG_WARN, "queue seen times not stored: %s", usher_err_name(req->err));
    request_free(req);
    return true;
}

queue_seen *queue_seen_start(struct server *srv)
{
    queue_seen *qs = calloc(1, sizeof *qs);
    if (!qs) return NULL;
    qs->slots = calloc(SEEN_TABLE_MIN, sizeof *qs->slots);
    if (!qs->slots) { free(qs); return NULL; }
    qs->cap = SEEN_TABLE_MIN;
    qs->srv = srv;
    qs->resend_ms = queue_seen_resend_ms(srv->cfg.wait_idle_ms, srv->cfg.active_idle_ms);
    int64_t flush_ms = qs->resend_ms < SEEN_FLUSH_MAX_MS ? qs->resend_ms : SEEN_FLUSH_MAX_MS;
    ev_timer_init(&qs->timer, on_flush, (double)flush_ms / 1000.0, (double)flush_ms / 1000.0);
    qs->timer.data = qs;
    ev_timer_start(srv->loop, &qs->timer);
    ev_unref(srv->loop);   /* the timer alone must not keep the loop alive */
    return qs;
}

void queue_seen_free(queue_seen *qs)
{
    if (!qs) return;
    ev_ref(qs->srv->loop);
    ev_timer_stop(qs->srv->loop, &qs->timer);
    free(qs->slots);
    free(qs);
}
