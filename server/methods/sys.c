#include "handlers.h"
#include <stdlib.h>
#include "pack.h"
#include "../clock.h"
#include "../metrics.h"

usher_err sys_ping(call *c)
{
    msgpack_pack_map(c->out, 1);
    pack_kv_i64(c->out, "time", c->now_ms);
    return USHER_ERR_OK;
}

usher_err sys_hello(call *c)
{
    msgpack_pack_map(c->out, 4);
    pack_kv_str(c->out, "server", "usherd");
    pack_kv_str(c->out, "version", c->env->version);
    pack_kv_u64(c->out, "protocol", 1);
    pack_kv_str(c->out, "instance", c->env->instance);
    return USHER_ERR_OK;
}

size_t handler_page_budget(const call *c)
{
    return c->env->cfg->max_frame - PACK_ENVELOPE_RESERVE;
}

/* sys.stats: the figures of the whole usherd. Lists are cut to fit one
 * frame: requests to a quarter of it, queues to half (the Prometheus scrape
 * has no frame and lists every queue store_stats_read reports). */
static void pack_requests(call *c, const metrics_totals *t)
{
    metrics_request_row rows[METRICS_REQUEST_ROWS_MAX];
    size_t n = metrics_request_rows(t, rows, METRICS_REQUEST_ROWS_MAX);
    page pg;
    page_init(&pg, handler_page_budget(c) / 4);
    for (size_t i = 0; i < n; i++) {
        msgpack_packer *pk = page_item_begin(&pg);
        msgpack_pack_map(pk, 3);
        pack_kv_str(pk, "method", metrics_method_row_name(rows[i].method_row));
        pack_kv_str(pk, "code", usher_err_name(rows[i].code));
        pack_kv_u64(pk, "count", rows[i].count);
        if (!page_item_end(&pg)) break;
    }
    pack_key(c->out, "requests");
    page_finish(&pg, c->out);
}

static void pack_latency(call *c, const metrics_totals *t)
{
    unsigned order[METRICS_METHOD_ROWS], n = 0;
    metrics_method_rows_sorted(order);
    for (unsigned i = 0; i < METRICS_METHOD_ROWS; i++)
        if (metrics_row_count(t, order[i]) > 0) order[n++] = order[i];
    pack_key(c->out, "latency");
    msgpack_pack_array(c->out, n);
    for (unsigned i = 0; i < n; i++) {
        unsigned row = order[i];
        msgpack_pack_map(c->out, 5);
        pack_kv_str(c->out, "method", metrics_method_row_name(row));
        pack_kv_u64(c->out, "count", metrics_row_count(t, row));
        pack_kv_u64(c->out, "sum_us", t->latency_sum_us[row]);
        pack_kv_u64(c->out, "p50_us", metrics_row_quantile_us(t, row, 0.50));
        pack_kv_u64(c->out, "p99_us", metrics_row_quantile_us(t, row, 0.99));
    }
}

static void pack_queues(call *c, const store_stats *s)
{
    page pg;
    page_init(&pg, handler_page_budget(c) / 2);
    for (size_t i = 0; i < s->n_queues; i++) {
        msgpack_packer *pk = page_item_begin(&pg);
        msgpack_pack_map(pk, 3);
        pack_kv_u64(pk, "concert_id", s->queues[i].concert_id);
        pack_kv_u64(pk, "waiting", s->queues[i].waiting);
        pack_kv_u64(pk, "active", s->queues[i].active);
        if (!page_item_end(&pg)) break;
    }
    pack_key(c->out, "queues");
    page_finish(&pg, c->out);
}

usher_err sys_stats(call *c)
{
    metrics_totals *t = malloc(sizeof *t);
    store_stats *s = malloc(sizeof *s);
    usher_err e = t && s ? store_stats_read(c->txn, c->now_ms, s) : USHER_ERR_INTERNAL;
    if (e != USHER_ERR_OK) goto out;
    metrics_sum(c->env->metrics, clock_mono_us(), t);
    msgpack_pack_map(c->out, 12);
    pack_kv_str(c->out, "instance", c->env->instance);
    pack_kv_str(c->out, "version", c->env->version);
    pack_kv_u64(c->out, "uptime_s", t->uptime_s);
    pack_kv_u64(c->out, "processes", t->processes);
    pack_key(c->out, "connections");
    msgpack_pack_map(c->out, 3);
    pack_kv_u64(c->out, "open", t->conns_open);
    pack_kv_u64(c->out, "accepted", t->conns_accepted);
    pack_kv_u64(c->out, "refused", t->conns_refused);
    pack_requests(c, t);
    pack_latency(c, t);
    pack_key(c->out, "commits");
    msgpack_pack_map(c->out, 3);
    pack_kv_u64(c->out, "count", t->commits);
    pack_kv_u64(c->out, "writes", t->commit_writes);
    pack_kv_u64(c->out, "fsync_us", t->commit_us);
    pack_queues(c, s);
    pack_kv_u64(c->out, "holds_live", s->holds_live);
    pack_kv_u64(c->out, "seats_sold", s->seats_sold);
    pack_key(c->out, "storage");
    msgpack_pack_map(c->out, 2);
    pack_kv_u64(c->out, "used_bytes", s->used_bytes);
    pack_kv_u64(c->out, "map_bytes", s->map_bytes);
out:
    free(t);
    free(s);
    return e;
}
