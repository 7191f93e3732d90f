/* Admission health from the commit histogram (contract in health.h). */
#include "health.h"

#include <string.h>
#include "server.h"

void health_window_init(health_window *w)
{
    memset(w, 0, sizeof *w);
}

void health_window_push(health_window *w, const uint64_t cumulative[HEALTH_BUCKETS])
{
    unsigned slots = HEALTH_WINDOW_S + 1;
    w->newest = w->n == 0 ? 0 : (w->newest + 1) % slots;
    memcpy(w->snap[w->newest], cumulative, sizeof w->snap[w->newest]);
    if (w->n < slots) w->n++;
}

void health_window_p99(const health_window *w, uint64_t *commits, uint64_t *p99_us)
{
    *commits = 0;
    *p99_us = 0;
    if (w->n < 2) return;
    unsigned slots = HEALTH_WINDOW_S + 1;
    unsigned oldest = (w->newest + slots - (w->n - 1)) % slots;
    uint64_t in[HEALTH_BUCKETS], n = 0;
    for (unsigned b = 0; b < HEALTH_BUCKETS; b++) {
        /* A counter never goes back; a replaced worker's slot goes on counting. */
        uint64_t now = w->snap[w->newest][b], then = w->snap[oldest][b];
        in[b] = now > then ? now - then : 0;
        n += in[b];
    }
    if (n == 0) return;
    uint64_t rank = (n * 99 + 99) / 100, seen = 0;   /* ceil(0.99 n) */
    *commits = n;
    for (unsigned b = 0; b < METRICS_COMMIT_BOUNDS; b++) {
        seen += in[b];
        if (seen >= rank) {
            *p99_us = metrics_commit_bounds_us[b];
            return;
        }
    }
    *p99_us = metrics_commit_bounds_us[METRICS_COMMIT_BOUNDS - 1];
}

bool health_window_slow(const health_window *w, int64_t slow_ms)
{
    if (slow_ms <= 0) return false;
    uint64_t commits, p99_us;
    health_window_p99(w, &commits, &p99_us);
    return commits > 0 && p99_us > (uint64_t)slow_ms * 1000u;
}

void health_init(health *h, const struct metrics_slot *slot, int64_t slow_ms)
{
    health_window_init(&h->window);
    h->commits_of = slot;
    h->slow_ms = slow_ms;
    atomic_init(&h->throttled, false);
    health_sample(h);   /* the baseline the first second is measured from */
}

bool health_sample(health *h)
{
    if (!h->commits_of) return false;
    uint64_t now[HEALTH_BUCKETS];
    for (unsigned b = 0; b < HEALTH_BUCKETS; b++)
        now[b] = atomic_load_explicit(&h->commits_of->commit_buckets[b], memory_order_relaxed);
    health_window_push(&h->window, now);
    bool slow = health_window_slow(&h->window, h->slow_ms);
    bool changed = slow != atomic_load(&h->throttled);
    atomic_store(&h->throttled, slow);
    return changed;
}

bool health_admission_throttled(const struct server *srv)
{
    return atomic_load(&srv->health.throttled);
}
