/* sys.stats as tables (see stats_view.h). */
#include "stats_view.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "cli.h"

#define FIELD_CAP 48
#define MIB (1024.0 * 1024.0)

/* An integer field as text, "-" when absent. */
static const char *int_text(const msgpack_object *map, const char *key, char *buf, size_t cap)
{
    uint64_t v;
    if (!cli_result_u64(map, key, &v))
        return "-";
    snprintf(buf, cap, "%llu", (unsigned long long)v);
    return buf;
}

/* A string field as text, "-" when absent. */
static const char *str_text(const msgpack_object *map, const char *key, char *buf, size_t cap)
{
    const msgpack_object *v = cli_result_get(map, key);
    if (!v || v->type != MSGPACK_OBJECT_STR)
        return "-";
    snprintf(buf, cap, "%.*s", (int)v->via.str.size, v->via.str.ptr);
    return buf;
}

/* Microseconds as milliseconds, "-" when absent. */
static const char *ms_text(const msgpack_object *map, const char *key, char *buf, size_t cap)
{
    uint64_t us;
    if (!cli_result_u64(map, key, &us))
        return "-";
    snprintf(buf, cap, "%.3f ms", (double)us / 1000.0);
    return buf;
}

static const msgpack_object *array_of(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = cli_result_get(map, key);
    return v && v->type == MSGPACK_OBJECT_ARRAY ? v : NULL;
}

/* Prints a table's title; the rows of key in r, or NULL after printing
 * "(none)" when there are none. */
static const msgpack_object *table_rows(FILE *out, const msgpack_object *r, const char *key, const char *title)
{
    const msgpack_object *rows = array_of(r, key);
    fprintf(out, "\n%s\n", title);
    if (!rows || rows->via.array.size == 0) {
        fputs("  (none)\n", out);
        return NULL;
    }
    return rows;
}

static void print_header(FILE *out, const msgpack_object *r)
{
    char instance[FIELD_CAP], version[FIELD_CAP], processes[FIELD_CAP];
    uint64_t up;
    fprintf(out, "usherd %s  version %s  ", str_text(r, "instance", instance, sizeof instance),
            str_text(r, "version", version, sizeof version));
    if (cli_result_u64(r, "uptime_s", &up))
        fprintf(out, "up %llud %02lluh %02llum %02llus", (unsigned long long)(up / 86400),
                (unsigned long long)(up / 3600 % 24), (unsigned long long)(up / 60 % 60),
                (unsigned long long)(up % 60));
    else
        fputs("up -", out);
    fprintf(out, "  processes %s\n", int_text(r, "processes", processes, sizeof processes));
}

static void print_connections(FILE *out, const msgpack_object *r)
{
    const msgpack_object *c = cli_result_get(r, "connections");
    char open[FIELD_CAP], accepted[FIELD_CAP], refused[FIELD_CAP];
    fprintf(out, "connections  open %s  accepted %s  refused %s\n", int_text(c, "open", open, sizeof open),
            int_text(c, "accepted", accepted, sizeof accepted), int_text(c, "refused", refused, sizeof refused));
}

static void print_commits(FILE *out, const msgpack_object *r)
{
    const msgpack_object *c = cli_result_get(r, "commits");
    uint64_t count = 0, writes = 0, fsync_us = 0;
    bool known = cli_result_u64(c, "count", &count) && cli_result_u64(c, "writes", &writes);
    bool timed = cli_result_u64(c, "fsync_us", &fsync_us);
    if (!known) {
        fputs("commits      -\n", out);
        return;
    }
    fprintf(out, "commits      %llu  writes %llu  writes/commit ", (unsigned long long)count,
            (unsigned long long)writes);
    if (count)
        fprintf(out, "%.2f", (double)writes / (double)count);
    else
        fputs("-", out);
    if (timed)
        fprintf(out, "  commit+fsync %.3f ms in all, %.3f ms each", (double)fsync_us / 1000.0,
                count ? (double)fsync_us / 1000.0 / (double)count : 0.0);
    fputc('\n', out);
}

static void print_stored(FILE *out, const msgpack_object *r)
{
    char holds[FIELD_CAP], sold[FIELD_CAP];
    fprintf(out, "holds live   %s  seats sold %s\n", int_text(r, "holds_live", holds, sizeof holds),
            int_text(r, "seats_sold", sold, sizeof sold));
    const msgpack_object *s = cli_result_get(r, "storage");
    uint64_t used, map;
    if (cli_result_u64(s, "used_bytes", &used) && cli_result_u64(s, "map_bytes", &map) && map > 0)
        fprintf(out, "storage      used %.1f MiB of a %.1f MiB map (%.1f%%)\n", (double)used / MIB,
                (double)map / MIB, 100.0 * (double)used / (double)map);
    else
        fputs("storage      -\n", out);
}

static void print_requests(FILE *out, const msgpack_object *r)
{
    const msgpack_object *rows = table_rows(out, r, "requests", "requests by method and code");
    if (!rows)
        return;
    fprintf(out, "  %-24s %-22s %10s\n", "METHOD", "CODE", "COUNT");
    for (uint32_t i = 0; i < rows->via.array.size; i++) {
        const msgpack_object *row = &rows->via.array.ptr[i];
        char method[FIELD_CAP], code[FIELD_CAP], count[FIELD_CAP];
        fprintf(out, "  %-24s %-22s %10s\n", str_text(row, "method", method, sizeof method),
                str_text(row, "code", code, sizeof code), int_text(row, "count", count, sizeof count));
    }
}

static void print_latency(FILE *out, const msgpack_object *r)
{
    const msgpack_object *rows = table_rows(out, r, "latency", "latency by method");
    if (!rows)
        return;
    fprintf(out, "  %-24s %10s %12s %12s %12s\n", "METHOD", "COUNT", "AVG", "P50", "P99");
    for (uint32_t i = 0; i < rows->via.array.size; i++) {
        const msgpack_object *row = &rows->via.array.ptr[i];
        char method[FIELD_CAP], count[FIELD_CAP], avg[FIELD_CAP] = "-", p50[FIELD_CAP], p99[FIELD_CAP];
        uint64_t n, sum_us;
        if (cli_result_u64(row, "count", &n) && n > 0 && cli_result_u64(row, "sum_us", &sum_us))
            snprintf(avg, sizeof avg, "%.3f ms", (double)sum_us / 1000.0 / (double)n);
        fprintf(out, "  %-24s %10s %12s %12s %12s\n", str_text(row, "method", method, sizeof method),
                int_text(row, "count", count, sizeof count), avg, ms_text(row, "p50_us", p50, sizeof p50),
                ms_text(row, "p99_us", p99, sizeof p99));
    }
}

static void print_queues(FILE *out, const msgpack_object *r)
{
    const msgpack_object *rows = table_rows(out, r, "queues", "queues per concert");
    if (!rows)
        return;
    fprintf(out, "  %10s %10s %10s\n", "CONCERT", "WAITING", "ACTIVE");
    for (uint32_t i = 0; i < rows->via.array.size; i++) {
        const msgpack_object *row = &rows->via.array.ptr[i];
        char concert[FIELD_CAP], waiting[FIELD_CAP], active[FIELD_CAP];
        fprintf(out, "  %10s %10s %10s\n", int_text(row, "concert_id", concert, sizeof concert),
                int_text(row, "waiting", waiting, sizeof waiting), int_text(row, "active", active, sizeof active));
    }
}

void stats_view_print(FILE *out, const msgpack_object *result)
{
    print_header(out, result);
    print_connections(out, result);
    print_commits(out, result);
    print_stored(out, result);
    print_requests(out, result);
    print_latency(out, result);
    print_queues(out, result);
}
