#include "metrics.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "clock.h"

const uint64_t metrics_latency_bounds_us[METRICS_LATENCY_BOUNDS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000,
};
const uint64_t metrics_writes_bounds[METRICS_WRITES_BOUNDS] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024,
};
const uint64_t metrics_commit_bounds_us[METRICS_COMMIT_BOUNDS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 10000000,
};

static size_t block_bytes(unsigned n_slots)
{
    return sizeof(metrics_block) + (size_t)n_slots * sizeof(metrics_slot);
}

metrics_block *metrics_block_new(unsigned n_slots)
{
    if (n_slots == 0) n_slots = 1;
    void *p = mmap(NULL, block_bytes(n_slots), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) return NULL;
    metrics_block *b = p;   /* the pages are zeroed: every counter starts at 0 */
    b->n_slots = n_slots;
    b->started_mono_us = clock_mono_us();
    return b;
}

void metrics_block_free(metrics_block *b)
{
    if (b) munmap(b, block_bytes(b->n_slots));
}

/* A single-writer counter: no other thread writes it, so load + store is
 * exact and costs what a plain increment does. */
static inline void bump(metrics_counter *c, uint64_t by)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

static inline uint64_t get(const metrics_counter *c)
{
    return atomic_load_explicit((metrics_counter *)c, memory_order_relaxed);
}

metrics_slot *metrics_slot_claim(metrics_block *b, unsigned i)
{
    if (!b || i >= b->n_slots) return NULL;
    metrics_slot *s = &b->slot[i];
    atomic_store_explicit(&s->conns_open, 0, memory_order_relaxed);
    atomic_store_explicit(&s->admission_throttled, 0, memory_order_relaxed);
    return s;
}

static unsigned bucket_of(const uint64_t *bounds, unsigned n, uint64_t v)
{
    unsigned i = 0;
    while (i < n && v > bounds[i]) i++;
    return i;
}

void metrics_note_request(metrics_slot *s, unsigned method_row, usher_err code, int64_t us)
{
    if (!s || method_row >= METRICS_METHOD_ROWS || (unsigned)code >= USHER_ERR__COUNT) return;
    uint64_t u = us > 0 ? (uint64_t)us : 0;
    bump(&s->requests[method_row][code], 1);
    bump(&s->latency_buckets[method_row][bucket_of(metrics_latency_bounds_us,
                                                   METRICS_LATENCY_BOUNDS, u)], 1);
    bump(&s->latency_sum_us[method_row], u);
}

void metrics_note_reply_only(metrics_slot *s, usher_err code)
{
    if (!s || (unsigned)code >= USHER_ERR__COUNT) return;
    bump(&s->requests[METRICS_METHOD_UNKNOWN][code], 1);
}

void metrics_note_commit(metrics_slot *s, uint64_t writes, int64_t us)
{
    if (!s) return;
    uint64_t u = us > 0 ? (uint64_t)us : 0;
    bump(&s->commits, 1);
    bump(&s->commit_writes, writes);
    bump(&s->writes_buckets[bucket_of(metrics_writes_bounds, METRICS_WRITES_BOUNDS, writes)], 1);
    bump(&s->commit_us, u);
    bump(&s->commit_buckets[bucket_of(metrics_commit_bounds_us, METRICS_COMMIT_BOUNDS, u)], 1);
}

void metrics_note_conn_open(metrics_slot *s, size_t open)
{
    if (s) atomic_store_explicit(&s->conns_open, open, memory_order_relaxed);
}

void metrics_note_conn_accepted(metrics_slot *s) { if (s) bump(&s->conns_accepted, 1); }
void metrics_note_conn_refused(metrics_slot *s) { if (s) bump(&s->conns_refused, 1); }

void metrics_note_admission_throttled(metrics_slot *s, bool throttled)
{
    if (s) atomic_store_explicit(&s->admission_throttled, throttled ? 1 : 0, memory_order_relaxed);
}

static void add_all(uint64_t *to, const metrics_counter *from, size_t n)
{
    for (size_t i = 0; i < n; i++) to[i] += get(&from[i]);
}

void metrics_sum(const metrics_block *b, int64_t now_mono_us, metrics_totals *out)
{
    memset(out, 0, sizeof *out);
    if (!b) return;
    out->processes = b->n_slots;
    int64_t up = now_mono_us - b->started_mono_us;
    out->uptime_s = up > 0 ? (uint64_t)up / 1000000u : 0;
    for (unsigned i = 0; i < b->n_slots; i++) {
        const metrics_slot *s = &b->slot[i];
        add_all(&out->requests[0][0], &s->requests[0][0],
                sizeof s->requests / sizeof s->requests[0][0]);
        add_all(&out->latency_buckets[0][0], &s->latency_buckets[0][0],
                sizeof s->latency_buckets / sizeof s->latency_buckets[0][0]);
        add_all(out->latency_sum_us, s->latency_sum_us, METRICS_METHOD_ROWS);
        add_all(out->writes_buckets, s->writes_buckets, METRICS_WRITES_BOUNDS + 1);
        add_all(out->commit_buckets, s->commit_buckets, METRICS_COMMIT_BOUNDS + 1);
        out->commits += get(&s->commits);
        out->commit_writes += get(&s->commit_writes);
        out->commit_us += get(&s->commit_us);
        out->conns_open += get(&s->conns_open);
        out->conns_accepted += get(&s->conns_accepted);
        out->conns_refused += get(&s->conns_refused);
        out->admission_throttled += get(&s->admission_throttled);
    }
}

const char *metrics_method_row_name(unsigned row)
{
    return row < USHER_METHOD__COUNT ? usher_method_docs[row].name : "-";
}

uint64_t metrics_row_count(const metrics_totals *t, unsigned row)
{
    uint64_t n = 0;
    for (unsigned b = 0; b <= METRICS_LATENCY_BOUNDS; b++) n += t->latency_buckets[row][b];
    return n;
}

uint64_t metrics_row_quantile_us(const metrics_totals *t, unsigned row, double q)
{
    uint64_t count = metrics_row_count(t, row);
    if (count == 0) return 0;
    uint64_t rank = (uint64_t)(q * (double)count);
    if ((double)rank < q * (double)count) rank++;   /* ceil */
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < METRICS_LATENCY_BOUNDS; b++) {
        seen += t->latency_buckets[row][b];
        if (seen >= rank) return metrics_latency_bounds_us[b];
    }
    return metrics_latency_bounds_us[METRICS_LATENCY_BOUNDS - 1];
}

static int by_row_name(const void *a, const void *b)
{
    return strcmp(metrics_method_row_name(*(const unsigned *)a),
                  metrics_method_row_name(*(const unsigned *)b));
}

void metrics_method_rows_sorted(unsigned rows[METRICS_METHOD_ROWS])
{
    for (unsigned i = 0; i < METRICS_METHOD_ROWS; i++) rows[i] = i;
    qsort(rows, METRICS_METHOD_ROWS, sizeof rows[0], by_row_name);
}

static int by_code_name(const void *a, const void *b)
{
    return strcmp(usher_err_name(*(const usher_err *)a), usher_err_name(*(const usher_err *)b));
}

size_t metrics_request_rows(const metrics_totals *t, metrics_request_row *rows, size_t cap)
{
    unsigned methods[METRICS_METHOD_ROWS];
    usher_err codes[USHER_ERR__COUNT];
    metrics_method_rows_sorted(methods);
    for (unsigned c = 0; c < USHER_ERR__COUNT; c++) codes[c] = (usher_err)c;
    qsort(codes, USHER_ERR__COUNT, sizeof codes[0], by_code_name);
    size_t n = 0;
    for (unsigned m = 0; m < METRICS_METHOD_ROWS; m++)
        for (unsigned c = 0; c < USHER_ERR__COUNT && n < cap; c++) {
            uint64_t count = t->requests[methods[m]][codes[c]];
            if (count > 0)
                rows[n++] = (metrics_request_row){ .method_row = methods[m], .code = codes[c],
                                                   .count = count };
        }
    return n;
}
