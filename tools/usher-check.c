/* usher-check: the stored-state invariant checker. A thin front end over
 * the store's read-only open and store_check_run (server/store_check.h):
 * one consistent snapshot, safe while usherd processes run on the dir. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/tool_args.h"
#include "../server/config.h"
#include "../server/store.h"
#include "../server/store_check.h"

#define USHER_CHECK_VERSION "1.0.0"
#define EXIT_CLEAN 0
#define EXIT_VIOLATIONS 1
#define EXIT_CANNOT_RUN 2

static void usage(FILE *out)
{
    fputs(
"usage: usher-check --data DIR [OPTIONS]\n"
"       usher-check --store URL [OPTIONS]\n"
"\n"
"Checks every invariant of a usher data dir on one consistent snapshot and\n"
"prints each violation as one line, `CHECK: DETAIL` naming the ids involved,\n"
"then a summary line (records read, checks run, violations, the snapshot).\n"
"It opens the store read-only: safe while usherd processes serve from DIR.\n"
"\n"
"options:\n"
"  --data DIR           the data dir to check (this or --store is required)\n"
"  --store URL          check a PostgreSQL database (postgres://... or\n"
"                       postgresql://...) instead, read-only, in one snapshot;\n"
"                       --data and --store together are a usage error\n"
"  --max-holds N        live holds per user per performance, 1..16 (default 4)\n"
"  --max-active N       live ACTIVE queue entries per concert, 1..100000 (default 100)\n"
"  --balance-limit KRW  the most a wallet may hold (default 1000000000000,\n"
"                       usherd's fixed limit)\n"
"                       Pass the values usherd runs with: with lower ones, legal\n"
"                       states of a server with higher limits are reported.\n"
"  --quiet              print violations only: no summary, nothing when clean\n"
"  --list               print every check's name and what it asserts, and exit\n"
"  --help               print this help and exit\n"
"  --version            print the version and exit\n"
"\n"
"exit status: 0 every invariant holds; 1 violations were found, including\n"
"storage.damaged (a page the data reaches lies past the end of data.mdb, or\n"
"is zeroed or overwritten: restore from a backup); 2 it cannot run (bad flags,\n"
"no such dir, not a usher data dir, unreadable files, out of memory).\n", out);
}

typedef struct check_options {
    const char *data_dir;
    store_check_limits lim;
    bool quiet;
} check_options;

enum { OPT_DATA = 1, OPT_STORE, OPT_MAX_HOLDS, OPT_MAX_ACTIVE, OPT_BALANCE_LIMIT, OPT_QUIET, OPT_LIST,
       OPT_HELP, OPT_VERSION };

static int usage_error(const char *fmt, const char *arg)
{
    return tool_usage_error("usher-check", EXIT_CANNOT_RUN, fmt, arg);
}

static void list_checks(void)
{
    size_t n;
    const store_check_info *info = store_check_names(&n);
    for (size_t i = 0; i < n; i++)
        printf("%-24s %s\n", info[i].name, info[i].asserts);
}

/* Parses argv into o. -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, check_options *o)
{
    static const struct option longopts[] = {
        { "data", required_argument, NULL, OPT_DATA },
        { "store", required_argument, NULL, OPT_STORE },
        { "max-holds", required_argument, NULL, OPT_MAX_HOLDS },
        { "max-active", required_argument, NULL, OPT_MAX_ACTIVE },
        { "balance-limit", required_argument, NULL, OPT_BALANCE_LIMIT },
        { "quiet", no_argument, NULL, OPT_QUIET },
        { "list", no_argument, NULL, OPT_LIST },
        { "help", no_argument, NULL, OPT_HELP },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    usher_config cfg;
    config_defaults(&cfg);
    o->lim = (store_check_limits){ .max_holds = cfg.max_holds, .max_active = cfg.max_active,
                                   .balance_limit_krw = cfg.balance_limit_krw };
    opterr = 0;
    int c;
    long long n;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_DATA:
        case OPT_STORE:
            if (c == OPT_STORE && !store_spec_is_url(optarg))
                return usage_error("--store wants a postgres:// or postgresql:// URL, not '%s'",
                                   optarg);
            if (o->data_dir)
                return usage_error("%s", "give one of --data DIR and --store URL, once");
            o->data_dir = optarg;   /* the store's address: a directory or a URL */
            break;
        case OPT_MAX_HOLDS:
            if (!tool_parse_range(optarg, 1, STORE_HOLDS_MAX, &n))
                return usage_error("--max-holds wants 1..16, not '%s'", optarg);
            o->lim.max_holds = (uint32_t)n;
            break;
        case OPT_MAX_ACTIVE:
            if (!tool_parse_range(optarg, 1, 100000, &n))
                return usage_error("--max-active wants 1..100000, not '%s'", optarg);
            o->lim.max_active = (uint32_t)n;
            break;
        case OPT_BALANCE_LIMIT:
            if (!tool_parse_range(optarg, 1, INT64_MAX, &n))
                return usage_error("--balance-limit wants a positive KRW amount, not '%s'", optarg);
            o->lim.balance_limit_krw = n;
            break;
        case OPT_QUIET: o->quiet = true; break;
        case OPT_LIST: list_checks(); return EXIT_CLEAN;
        case OPT_HELP: usage(stdout); return EXIT_CLEAN;
        case OPT_VERSION: printf("usher-check %s\n", USHER_CHECK_VERSION); return EXIT_CLEAN;
        default:
            return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o->data_dir || !*o->data_dir)
        return usage_error("%s", "--data DIR is required (or --store URL)");
    return -1;
}

static void print_violation(void *ctx, const char *check, const char *detail)
{
    (void)ctx;
    printf("%s: %s\n", check, detail);
}

/* ISO 8601 UTC with milliseconds. */
static void format_ms(int64_t ms, char *out, size_t cap)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t len = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + len, cap - len, ".%03dZ", (int)(ms % 1000));
}

int main(int argc, char **argv)
{
    check_options o = { 0 };
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    store_options opt = store_options_default();
    opt.read_only = true;
    opt.connections = 1;
    store *st = NULL;
    usher_err err = store_open(&st, o.data_dir, &opt);
    if (err != USHER_ERR_OK) {
        fprintf(stderr, "usher-check: cannot open %s: %s\n", o.data_dir,
                err == USHER_ERR_NOT_FOUND ? "no usher data there" : "see the line above");
        return EXIT_CANNOT_RUN;
    }
    store_check_summary sum;
    err = store_check_run(st, &o.lim, STORE_CHECK_NOW, print_violation, NULL, &sum);
    store_close(st);
    fflush(stdout);
    if (err != USHER_ERR_OK) {
        fprintf(stderr, "usher-check: the check could not finish (%s)\n", usher_err_message(err));
        return EXIT_CANNOT_RUN;
    }
    if (!o.quiet) {
        char when[40];
        format_ms(sum.snapshot_ms, when, sizeof when);
        char snapshot[64] = "no snapshot";
        if (sum.snapshot_txnid)
            snprintf(snapshot, sizeof snapshot, "snapshot of transaction %llu",
                     (unsigned long long)sum.snapshot_txnid);
        printf("usher-check: %s: %llu records, %u checks, %llu violations%s; %s judged at %s\n",
               o.data_dir, (unsigned long long)sum.records, sum.checks,
               (unsigned long long)sum.violations,
               sum.damaged ? " (storage damaged: later checks skipped)" : "", snapshot, when);
    }
    return sum.violations ? EXIT_VIOLATIONS : EXIT_CLEAN;
}
