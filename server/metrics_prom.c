#include "metrics_prom.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing text buffer; `failed` sticks after the first allocation failure. */
typedef struct prom_buf {
    char *data;
    size_t len, cap;
    bool failed;
} prom_buf;

__attribute__((format(printf, 2, 3)))
static void put(prom_buf *b, const char *fmt, ...)
{
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) { b->failed = true; return; }
        if (b->data && b->len + (size_t)n < b->cap) { b->len += (size_t)n; return; }
        size_t cap = b->cap ? b->cap * 2 : 16384;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) { b->failed = true; return; }
        b->data = grown;
        b->cap = cap;
    }
}

static void family(prom_buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Seconds from µs as a decimal without exponent ("0.00005", "2.5", "10"). */
static void seconds_text(uint64_t us, char *out, size_t cap)
{
    uint64_t whole = us / 1000000u, frac = us % 1000000u;
    if (frac == 0) { snprintf(out, cap, "%" PRIu64, whole); return; }
    int digits = 6;
    while (frac % 10 == 0) { frac /= 10; digits--; }
    snprintf(out, cap, "%" PRIu64 ".%0*" PRIu64, whole, digits, frac);
}

/* One histogram's series. labels is "" or `name="value",`; bounds in µs when
 * as_seconds (and the sum too), else plain numbers. */
static void histogram(prom_buf *b, const char *name, const char *labels, const uint64_t *bounds,
                      unsigned n_bounds, const uint64_t *buckets, uint64_t sum, bool as_seconds)
{
    uint64_t cumulative = 0;
    char le[32];
    for (unsigned i = 0; i < n_bounds; i++) {
        cumulative += buckets[i];
        if (as_seconds) seconds_text(bounds[i], le, sizeof le);
        else snprintf(le, sizeof le, "%" PRIu64, bounds[i]);
        put(b, "%s_bucket{%sle=\"%s\"} %" PRIu64 "\n", name, labels, le, cumulative);
    }
    cumulative += buckets[n_bounds];
    put(b, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, cumulative);
    char sum_text[32];
    if (as_seconds) seconds_text(sum, sum_text, sizeof sum_text);
    else snprintf(sum_text, sizeof sum_text, "%" PRIu64, sum);
    /* The labels without their trailing comma, for _sum and _count. */
    size_t ll = strlen(labels);
    int keep = ll > 0 ? (int)ll - 1 : 0;
    put(b, "%s_sum%s%.*s%s %s\n", name, ll ? "{" : "", keep, labels, ll ? "}" : "", sum_text);
    put(b, "%s_count%s%.*s%s %" PRIu64 "\n", name, ll ? "{" : "", keep, labels, ll ? "}" : "",
        cumulative);
}

static void requests(prom_buf *b, const metrics_totals *t)
{
    metrics_request_row rows[METRICS_REQUEST_ROWS_MAX];
    size_t n = metrics_request_rows(t, rows, METRICS_REQUEST_ROWS_MAX);
    family(b, "usher_requests_total", "counter", "Requests answered, by method and result code.");
    for (size_t i = 0; i < n; i++)
        put(b, "usher_requests_total{method=\"%s\",code=\"%s\"} %" PRIu64 "\n",
            metrics_method_row_name(rows[i].method_row), usher_err_name(rows[i].code), rows[i].count);
    family(b, "usher_request_duration_seconds", "histogram",
           "Time from a request's arrival to its reply, by method.");
    unsigned order[METRICS_METHOD_ROWS];
    metrics_method_rows_sorted(order);
    for (unsigned i = 0; i < METRICS_METHOD_ROWS; i++) {
        unsigned row = order[i];
        if (metrics_row_count(t, row) == 0) continue;
        char labels[96];
        snprintf(labels, sizeof labels, "method=\"%s\",", metrics_method_row_name(row));
        histogram(b, "usher_request_duration_seconds", labels, metrics_latency_bounds_us,
                  METRICS_LATENCY_BOUNDS, t->latency_buckets[row], t->latency_sum_us[row], true);
    }
}

static void commits(prom_buf *b, const metrics_totals *t)
{
    family(b, "usher_commits_total", "counter", "Group commits of the store.");
    put(b, "usher_commits_total %" PRIu64 "\n", t->commits);
    family(b, "usher_commit_writes", "histogram", "Write requests carried by one group commit.");
    histogram(b, "usher_commit_writes", "", metrics_writes_bounds, METRICS_WRITES_BOUNDS,
              t->writes_buckets, t->commit_writes, false);
    family(b, "usher_fsync_seconds", "histogram",
           "Time in the store commit of a group commit, fsync included.");
    histogram(b, "usher_fsync_seconds", "", metrics_commit_bounds_us, METRICS_COMMIT_BOUNDS,
              t->commit_buckets, t->commit_us, true);
}

static void gauge(prom_buf *b, const char *name, const char *help, uint64_t v)
{
    family(b, name, "gauge", help);
    put(b, "%s %" PRIu64 "\n", name, v);
}

static void connections(prom_buf *b, const metrics_totals *t)
{
    gauge(b, "usher_connections_open", "Protocol connections open.", t->conns_open);
    family(b, "usher_connections_accepted_total", "counter", "Protocol connections accepted.");
    put(b, "usher_connections_accepted_total %" PRIu64 "\n", t->conns_accepted);
    family(b, "usher_connections_refused_total", "counter",
           "Protocol connections refused with OVERLOADED (--max-conns or no descriptor).");
    put(b, "usher_connections_refused_total %" PRIu64 "\n", t->conns_refused);
    gauge(b, "usher_admission_throttled",
          "Processes admitting at half rate because their commit p99 is above --admit-slow-ms.",
          t->admission_throttled);
}

static void stored(prom_buf *b, const store_stats *s)
{
    family(b, "usher_queue_waiting", "gauge", "Queue entries waiting to be admitted, by concert.");
    for (size_t i = 0; i < s->n_queues; i++)
        put(b, "usher_queue_waiting{concert_id=\"%" PRIu64 "\"} %" PRIu64 "\n",
            s->queues[i].concert_id, s->queues[i].waiting);
    family(b, "usher_queue_active", "gauge", "Queue entries admitted and live, by concert.");
    for (size_t i = 0; i < s->n_queues; i++)
        put(b, "usher_queue_active{concert_id=\"%" PRIu64 "\"} %" PRIu64 "\n",
            s->queues[i].concert_id, s->queues[i].active);
    gauge(b, "usher_holds_live", "Seat holds live now.", s->holds_live);
    gauge(b, "usher_seats_sold", "Seats sold.", s->seats_sold);
    gauge(b, "usher_storage_used_bytes", "Bytes of the LMDB data file in use.", s->used_bytes);
    gauge(b, "usher_storage_map_bytes", "Size of the LMDB map (--map-size).", s->map_bytes);
}

bool metrics_prom_format(const metrics_totals *t, const store_stats *s, char **text, size_t *len)
{
    prom_buf b = { 0 };
    requests(&b, t);
    commits(&b, t);
    connections(&b, t);
    stored(&b, s);
    gauge(&b, "usher_uptime_seconds", "Seconds since this usherd started.", t->uptime_s);
    if (b.failed) { free(b.data); return false; }
    *text = b.data;
    *len = b.len;
    return true;
}
