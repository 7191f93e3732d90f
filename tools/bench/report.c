/* The report: one text line per scenario and method, and one JSON object on one line. */
#include <string.h>

#include "bench.h"

/* The figures of one method, or of a whole scenario (every method merged). */
typedef struct figures {
    const char *method;
    double ops_per_s, p50, p90, p99, p999, max;
    uint64_t ok;
    uint64_t by_status[STATUS_SLOTS];
} figures;

static void figures_of(const method_stats *ms, unsigned n, double secs, const char *method, figures *f, hist *h)
{
    memset(f, 0, sizeof *f);
    memset(h, 0, sizeof *h);
    f->method = method;
    uint64_t replies = 0;
    for (unsigned i = 0; i < n; i++) {
        hist_merge(h, &ms[i].lat);
        f->ok += ms[i].ok;
        replies += method_replies(&ms[i]);
        for (unsigned s = 0; s < STATUS_SLOTS; s++)
            f->by_status[s] += ms[i].by_status[s];
    }
    f->ops_per_s = secs > 0 ? (double)replies / secs : 0;
    f->p50 = hist_quantile_us(h, 0.50);
    f->p90 = hist_quantile_us(h, 0.90);
    f->p99 = hist_quantile_us(h, 0.99);
    f->p999 = hist_quantile_us(h, 0.999);
    f->max = hist_quantile_us(h, 1.0);
}

static void print_errors_text(FILE *out, const figures *f)
{
    const char *sep = "";
    for (unsigned s = 1; s < STATUS_SLOTS; s++)
        if (f->by_status[s]) {
            fprintf(out, "%s%s=%llu", sep, usher_status_name((usher_status)s), (unsigned long long)f->by_status[s]);
            sep = ",";
        }
    if (!*sep)
        fputc('-', out);
}

static void print_line(FILE *out, const char *scenario, const figures *f)
{
    fprintf(out, "%s %s %.0f %.1f %.1f %.1f %.1f %.1f %llu ", scenario, f->method, f->ops_per_s, f->p50, f->p90,
            f->p99, f->p999, f->max, (unsigned long long)f->ok);
    print_errors_text(out, f);
    fputc('\n', out);
}

void report_header(FILE *out, const options *o)
{
    if (o->n_targets > 1) {
        fprintf(out, "# %d servers, connections spread round-robin:", o->n_targets);
        for (int i = 0; i < o->n_targets; i++)
            fprintf(out, " %s:%d", o->targets[i].host, o->targets[i].port);
        fputc('\n', out);
    }
    fprintf(out, "# %d connections, depth %d, %d s per scenario, crowd of %d\n"
                 "# scenario method ops_per_s p50_us p90_us p99_us p999_us max_us ok errors\n",
            o->connections, o->depth, o->seconds, o->waiting);
}

void report_text(FILE *out, const scenario_stats *ss)
{
    hist h;
    figures f;
    if (ss->n_methods > 1) {
        figures_of(ss->methods, ss->n_methods, ss->secs, "all", &f, &h);
        print_line(out, ss->name, &f);
    }
    for (unsigned i = 0; i < ss->n_methods; i++) {
        figures_of(&ss->methods[i], 1, ss->secs, ss->methods[i].method, &f, &h);
        print_line(out, ss->name, &f);
    }
    if (ss->is_sale) {
        const sale_figures *sf = &ss->sale;
        if (sf->sold_out_s >= 0)
            fprintf(out, "# sale: sold out in %.2f s: ", sf->sold_out_s);
        else
            fprintf(out, "# sale: NOT sold out after %.2f s: ", ss->secs);
        fprintf(out, "%llu of %llu seats paid, oversold %llu, %llu shown free afterwards\n",
                (unsigned long long)sf->sold, (unsigned long long)sf->seats, (unsigned long long)sf->oversold,
                (unsigned long long)sf->unsold_after);
    }
    if (ss->server_rss_kb >= 0)
        fprintf(out, "# server VmRSS after %s: %ld kB\n", ss->name, ss->server_rss_kb);
    fflush(out);
}

static void print_fields_json(FILE *out, const figures *f)
{
    fprintf(out, "\"method\":\"%s\",\"ops_per_s\":%.0f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
                 "\"p999_us\":%.1f,\"max_us\":%.1f,\"ok\":%llu,\"errors\":{",
            f->method, f->ops_per_s, f->p50, f->p90, f->p99, f->p999, f->max, (unsigned long long)f->ok);
    const char *sep = "";
    for (unsigned s = 1; s < STATUS_SLOTS; s++)
        if (f->by_status[s]) {
            fprintf(out, "%s\"%s\":%llu", sep, usher_status_name((usher_status)s),
                    (unsigned long long)f->by_status[s]);
            sep = ",";
        }
    fputc('}', out);
}

static void print_scenario_json(FILE *out, const scenario_stats *ss)
{
    hist h;
    figures f;
    figures_of(ss->methods, ss->n_methods, ss->secs, ss->method, &f, &h);
    fprintf(out, "\"%s\":{", ss->name);
    print_fields_json(out, &f);
    fprintf(out, ",\"secs\":%.3f,\"stopped_early\":%s,\"methods\":{", ss->secs, ss->stopped_early ? "true" : "false");
    for (unsigned i = 0; i < ss->n_methods; i++) {
        figures_of(&ss->methods[i], 1, ss->secs, ss->methods[i].method, &f, &h);
        fprintf(out, "%s\"%s\":{", i ? "," : "", ss->methods[i].method);
        print_fields_json(out, &f);
        fputc('}', out);
    }
    fputc('}', out);
    if (ss->is_sale) {
        const sale_figures *sf = &ss->sale;
        if (sf->sold_out_s >= 0)
            fprintf(out, ",\"sold_out_s\":%.3f", sf->sold_out_s);
        else
            fprintf(out, ",\"sold_out_s\":null");
        fprintf(out, ",\"seats\":%llu,\"sold\":%llu,\"oversold\":%llu,\"unsold_after\":%llu",
                (unsigned long long)sf->seats, (unsigned long long)sf->sold, (unsigned long long)sf->oversold,
                (unsigned long long)sf->unsold_after);
    }
    if (ss->server_rss_kb >= 0)
        fprintf(out, ",\"server_rss_kb\":%ld", ss->server_rss_kb);
    fputc('}', out);
}

void report_json(FILE *out, const options *o, const scenario_stats *all, double setup_s)
{
    fprintf(out, "{\"targets\":%d,\"connections\":%d,\"depth\":%d,\"seconds\":%d,\"waiting\":%d,\"idle\":%d,"
                 "\"scenarios\":{",
            o->n_targets, o->connections, o->depth, o->seconds, o->waiting, o->idle);
    const char *sep = "";
    for (unsigned i = 0; i < SC_COUNT; i++) {
        if (!all[i].ran)
            continue;
        fputs(sep, out);
        print_scenario_json(out, &all[i]);
        sep = ",";
    }
    fprintf(out, "},\"setup_s\":%.3f}\n", setup_s);
    fflush(out);
}
