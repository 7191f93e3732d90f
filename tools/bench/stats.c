/* Latency histogram (exact below 64 ns, then 64 sub-buckets per power of two: < 1.6% error) and the
 * per-method figures of a scenario. */
#include <math.h>
#include <string.h>

#include "bench.h"

static unsigned hist_index(uint64_t ns)
{
    if (ns < HIST_SUB)
        return (unsigned)ns;
    if (ns >= (1ull << (HIST_MAX_EXP + 1)))
        ns = (1ull << (HIST_MAX_EXP + 1)) - 1;
    unsigned exp = 63u - (unsigned)__builtin_clzll(ns); /* 6 .. HIST_MAX_EXP */
    unsigned shift = exp - 6u;
    return HIST_SUB + (exp - 6u) * HIST_SUB + (unsigned)((ns >> shift) - HIST_SUB);
}

/* Middle of bucket i in ns. */
static double hist_value(unsigned i)
{
    if (i < HIST_SUB)
        return i;
    unsigned shift = (i - HIST_SUB) / HIST_SUB;
    uint64_t low = (uint64_t)((i - HIST_SUB) % HIST_SUB + HIST_SUB) << shift;
    return (double)low + (double)(1ull << shift) / 2.0;
}

void hist_add(hist *h, uint64_t ns)
{
    h->bucket[hist_index(ns)]++;
    h->count++;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

void hist_merge(hist *into, const hist *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->bucket[i] += from->bucket[i];
    into->count += from->count;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
}

double hist_quantile_us(const hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q >= 1.0)
        return (double)h->max_ns / 1000.0;
    uint64_t target = (uint64_t)ceil(q * (double)h->count), seen = 0;
    unsigned i = 0;
    while (i < HIST_BUCKETS - 1 && (seen += h->bucket[i]) < target)
        i++;
    double v = hist_value(i); /* a bucket's middle may lie above the largest value seen */
    return (v < (double)h->max_ns ? v : (double)h->max_ns) / 1000.0;
}

method_stats *stats_method(scenario_stats *ss, const char *method)
{
    for (unsigned i = 0; i < ss->n_methods; i++)
        if (strcmp(ss->methods[i].method, method) == 0)
            return &ss->methods[i];
    if (ss->n_methods == SCENARIO_METHODS)
        return &ss->methods[SCENARIO_METHODS - 1]; /* never reached: no scenario calls that many methods */
    method_stats *m = &ss->methods[ss->n_methods++];
    m->method = method;
    return m;
}

/* Replies the server sent: successes and its error codes (catalogue numbers, below USHER_EIO). */
uint64_t method_replies(const method_stats *m)
{
    uint64_t n = m->ok;
    for (unsigned s = 1; s < USHER_EIO; s++)
        n += m->by_status[s];
    return n;
}

uint64_t method_errors(const method_stats *m)
{
    uint64_t n = 0;
    for (unsigned s = 1; s < STATUS_SLOTS; s++)
        n += m->by_status[s];
    return n;
}
