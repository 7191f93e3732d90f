/* usher-admin: the operator's tool. Prints admin tokens (signed locally with
 * the deployment's key in DATA/keys, so it must run where the data dir is),
 * creates concerts and performances over the protocol through libusher,
 * controls waiting rooms and revokes sessions (admin/control_cmds.c), and
 * lists them from the data dir's store (read-only, beside a running usherd:
 * LMDB readers never block its writer; past performances are listed too,
 * which the protocol's concert.dates does not). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "common/tool_args.h"
#include "../client/usher.h"
#include "../server/config.h"
#include "../server/store.h"
#include "../server/token.h"
#include "cli/starts_at.h"
#include "admin/control_cmds.h"

#define USHER_ADMIN_VERSION "1.0.0"
#define EXIT_FAILED 1
#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fprintf(out,
"usage: usher-admin [OPTIONS] COMMAND\n"
"\n"
"commands:\n"
"  token [--ttl D]                              print a new admin token (needs --data)\n"
"  concert create TITLE [VENUE]                 create a concert; prints its concert_id\n"
"  schedule create CONCERT_ID STARTS_AT PRICE [SEATS]\n"
"                                               create a performance; prints its schedule_id\n"
"      STARTS_AT is epoch milliseconds, or +N with a unit ms, s, m, h or d\n"
"      relative to now (+2d, +3h), and must be in the future; PRICE is KRW\n"
"      per seat, 1 or more; SEATS defaults to the server's default (50).\n"
"  concert list                                 every concert: id, title, venue, performances\n"
"  schedule list CONCERT_ID                     every performance of a concert, past ones too:\n"
"                                               starts_at (UTC), seats, prices, sold, free\n"
"      The list commands read DIR's store directly (--data DIR, read-only; safe\n"
"      while usherd runs there), not over the protocol.\n"
"%s"
"\n"
"options (before the command):\n"
"  --data DIR      the server's data dir: signs admin tokens with DIR/keys, and\n"
"                  the list commands read DIR's store. DIR must be a data dir\n"
"                  usherd has started in (usher-admin never creates a key: a\n"
"                  token signed by another key would be refused). An admin\n"
"                  token lasts 30 days.\n"
"  --store URL     the server's PostgreSQL database (postgres://... or\n"
"                  postgresql://...) instead of --data: signs with the key kept\n"
"                  there and the list commands read it (read-only; never creates\n"
"                  a key or a schema). --data and --store together are a usage error\n"
"  --ttl D         a token signed with --data lasts D instead: a whole number with\n"
"                  ms, s, m, h or d (1500ms, 5s, 10m, 24h, 2d), above 0, at most 30 days\n"
"                  (also accepted after token)\n"
"  --token TOKEN   admin token for the commands over the protocol (create, queue,\n"
"                  revoke; else one is signed with --data)\n"
"  --host HOST     server host for those commands (default $USHER_HOST, else 127.0.0.1)\n"
"  --port PORT     server port (default $USHER_PORT, else 7700)\n"
"  --timeout MS    connect and call timeout in ms (default 5000)\n"
"  --help          print this help and exit\n"
"  --version       print the version and exit\n"
"\n"
"exit status: 0 on success, 1 when the server or the key store refused or failed\n"
"(the error goes to stderr), 2 for bad usage.\n", control_usage);
}

typedef struct admin_options {
    const char *data_dir;
    const char *token;
    const char *host;
    int port;
    int timeout_ms;
    int64_t ttl_ms;             /* --ttl; 0: the default admin token lifetime */
} admin_options;

static int64_t wall_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int usage_error(const char *fmt, const char *arg)
{
    return tool_usage_error("usher-admin", EXIT_USAGE, fmt, arg);
}

/* A --data DIR that usherd never started in (a typo, say): say so; EXIT_FAILED. */
static int not_a_data_dir(const char *data_dir, const char *why)
{
    if (store_spec_is_url(data_dir)) {
        fprintf(stderr, "usher-admin: %s is not a usherd database (%s): start usherd --store "
                "on it first, or give the --store of a running usherd\n", data_dir, why);
        return EXIT_FAILED;
    }
    fprintf(stderr, "usher-admin: %s is not a usherd data directory (%s): start usherd there "
            "first, or give the --data of a running usherd\n", data_dir, why);
    return EXIT_FAILED;
}

/* Signs a TOKEN_ADMIN token with DATA/keys into out, expiring ttl_ms from
 * now (0: the default lifetime). 0 or EXIT_FAILED. */
static int sign_admin_token(const char *data_dir, int64_t ttl_ms, char *out, size_t cap)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "usher-admin: libsodium failed to initialise\n");
        return EXIT_FAILED;
    }
    usher_config cfg;
    config_defaults(&cfg);
    token_keys keys;
    char err[256] = "";
    usher_err ke;
    if (store_spec_is_url(data_dir)) {   /* --store: the key every usherd on it shares */
        store *st;
        store_options opt = store_options_default();
        opt.read_only = true;
        opt.connections = 1;
        ke = store_open(&st, data_dir, &opt);
        if (ke == USHER_ERR_NOT_FOUND)
            return not_a_data_dir(data_dir, "it holds no usher schema");
        if (ke != USHER_ERR_OK) {
            fprintf(stderr, "usher-admin: cannot open %s: %s\n", data_dir, usher_err_name(ke));
            return EXIT_FAILED;
        }
        ke = token_keys_from_store(st, &keys, NULL, err, sizeof err);
        store_close(st);
    } else {
        ke = token_keys_open_as(data_dir, TOKEN_KEYS_LOAD_ONLY, &keys, NULL, err, sizeof err);
    }
    if (ke == USHER_ERR_NOT_FOUND)
        return not_a_data_dir(data_dir, "it holds no signing key");
    if (ke != USHER_ERR_OK) {
        fprintf(stderr, "usher-admin: cannot open the keys in %s: %s\n", data_dir,
                *err ? err : "unknown error");
        return EXIT_FAILED;
    }
    int64_t lifetime_ms = ttl_ms > 0 ? ttl_ms : cfg.admin_token_ttl_ms;
    token_claims claims = { .kind = TOKEN_ADMIN, .expires_at_ms = wall_clock_ms() + lifetime_ms };
    size_t len;
    usher_err e = token_sign(&keys, &claims, out, cap, &len);
    sodium_memzero(&keys, sizeof keys);
    if (e != USHER_ERR_OK) {
        fprintf(stderr, "usher-admin: signing failed: %s\n", usher_err_message(e));
        return EXIT_FAILED;
    }
    return 0;
}

/* Prints a failed call's code and message. */
static int call_failed(usher_client *c, usher_status status)
{
    const char *message = usher_last_message(c);
    fprintf(stderr, "usher-admin: error %s (%d): %s\n", usher_status_name(status), (int)status,
            message && *message ? message : usher_errstr(status));
    return EXIT_FAILED;
}

/* Connects; prints the failure and returns NULL when it cannot. */
static usher_client *connect_or_say(const admin_options *o)
{
    usher_client *c = usher_connect(o->host, o->port, o->timeout_ms);
    if (!c) {
        fprintf(stderr, "usher-admin: out of memory\n");
        return NULL;
    }
    usher_status status = usher_last_status(c);
    if (status != USHER_OK) {
        fprintf(stderr, "usher-admin: cannot connect to %s:%d: ", o->host, o->port);
        call_failed(c, status);
        usher_close(c);
        return NULL;
    }
    return c;
}

/* What a create command asks for, checked before anything is signed or sent. */
typedef struct create_request {
    bool concert;               /* concert create; else schedule create */
    const char *title, *venue;  /* concert */
    uint64_t concert_id;        /* schedule */
    int64_t starts_at, price;
    uint32_t seats;             /* 0: the server's default */
} create_request;

/* Parses argv (starting at "concert"/"schedule") into *req; 0 or EXIT_USAGE. */
static int parse_create(int argc, char **argv, create_request *req)
{
    long long v;
    memset(req, 0, sizeof *req);
    req->concert = strcmp(argv[0], "concert") == 0;
    if (req->concert) {
        if (argc < 3 || argc > 4)
            return usage_error("usage: concert create TITLE [VENUE]%s", "");
        req->title = argv[2];
        req->venue = argc == 4 ? argv[3] : NULL;
        return 0;
    }
    if (argc < 5 || argc > 6)
        return usage_error("usage: schedule create CONCERT_ID STARTS_AT PRICE [SEATS]%s", "");
    if (!tool_parse_range(argv[2], 1, INT64_MAX, &v))
        return usage_error("CONCERT_ID must be a positive integer, not '%s'", argv[2]);
    req->concert_id = (uint64_t)v;
    if (!starts_at_parse(argv[3], wall_clock_ms(), &req->starts_at))
        return usage_error("STARTS_AT must be epoch ms or +N with ms, s, m, h or d, not '%s'", argv[3]);
    if (!tool_parse_range(argv[4], INT64_MIN, INT64_MAX, &v))
        return usage_error("PRICE must be an integer (KRW), not '%s'", argv[4]);
    req->price = v;
    if (argc == 6) {
        if (!tool_parse_range(argv[5], 1, UINT32_MAX, &v))
            return usage_error("SEATS must be a positive integer, not '%s'", argv[5]);
        req->seats = (uint32_t)v;
    }
    return 0;
}

/* Sends a create request with the admin token; prints the new id. */
static int run_create(const admin_options *o, const char *admin, const create_request *req)
{
    usher_client *c = connect_or_say(o);
    if (!c)
        return EXIT_FAILED;
    uint64_t id = 0;
    usher_status status = req->concert
        ? usher_admin_concert_create(c, admin, req->title, req->venue, &id)
        : usher_admin_schedule_create(c, admin, req->concert_id, req->starts_at, req->price,
                                      req->seats, NULL, 0, &id);
    int rc = 0;
    if (status == USHER_OK)
        printf("%llu\n", (unsigned long long)id);
    else
        rc = call_failed(c, status);
    usher_close(c);
    return rc;
}

/* ---- list commands: DIR's store, read-only ---- */

/* "2026-12-03 10:00:00 UTC" */
static void format_utc(int64_t ms, char *out, size_t cap)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* Opens DIR's store read-only and begins a read txn; 0 or EXIT_FAILED. */
static int open_listing(const char *data_dir, store **st, store_txn **txn)
{
    bool url = store_spec_is_url(data_dir);
    if (!url) {
        char probe[4096];
        snprintf(probe, sizeof probe, "%s/keys", data_dir);
        FILE *f = fopen(probe, "rb");
        if (!f)
            return not_a_data_dir(data_dir, "it holds no signing key");
        fclose(f);
    }
    store_options opt = store_options_default();
    opt.read_only = true;
    opt.connections = 1;
    if (store_open(st, data_dir, &opt) != USHER_ERR_OK)
        return not_a_data_dir(data_dir, "its store cannot be opened: see the line above");
    if (store_read_begin(*st, txn) != USHER_ERR_OK) {
        fprintf(stderr, "usher-admin: cannot read the store in %s\n", data_dir);
        store_close(*st);
        return EXIT_FAILED;
    }
    return 0;
}

static void close_listing(store *st, store_txn *txn)
{
    store_txn_end(txn);
    store_close(st);
}

#define LIST_PAGE 100

static int list_concerts(const char *data_dir)
{
    store *st;
    store_txn *txn;
    if (open_listing(data_dir, &st, &txn))
        return EXIT_FAILED;
    store_concert *page = malloc(LIST_PAGE * sizeof *page);
    store_date *dates = malloc(STORE_SCHEDULES_PER_CONCERT_MAX * sizeof *dates);
    int rc = page && dates ? 0 : EXIT_FAILED;
    printf("%-10s %-32s %-24s %s\n", "CONCERT", "TITLE", "VENUE", "PERFORMANCES");
    uint64_t after = 0;
    size_t n = LIST_PAGE, total = 0;
    while (rc == 0 && n == LIST_PAGE) {
        if (store_concert_list(txn, after, page, LIST_PAGE, &n) != USHER_ERR_OK) {
            rc = EXIT_FAILED;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            size_t nd = 0;
            if (store_concert_schedules(txn, page[i].concert_id, wall_clock_ms(), dates,
                                        STORE_SCHEDULES_PER_CONCERT_MAX, &nd) != USHER_ERR_OK)
                rc = EXIT_FAILED;
            printf("%-10llu %-32s %-24s %zu\n", (unsigned long long)page[i].concert_id,
                   page[i].title, page[i].venue[0] ? page[i].venue : "-", nd);
            after = page[i].concert_id;
            total++;
        }
    }
    if (rc == 0 && total == 0)
        printf("(no concerts)\n");
    if (rc)
        fprintf(stderr, "usher-admin: reading the concerts of %s failed\n", data_dir);
    free(page);
    free(dates);
    close_listing(st, txn);
    return rc;
}

/* The lowest and highest seat price of a performance; false on failure. */
static bool price_range(store_txn *txn, uint64_t schedule_id, store_seat *seats, int64_t *lo,
                        int64_t *hi)
{
    size_t n = 0;
    if (store_schedule_seats(txn, schedule_id, wall_clock_ms(), seats, &n) != USHER_ERR_OK || n == 0)
        return false;
    *lo = *hi = seats[0].price_krw;
    for (size_t i = 1; i < n; i++) {
        if (seats[i].price_krw < *lo) *lo = seats[i].price_krw;
        if (seats[i].price_krw > *hi) *hi = seats[i].price_krw;
    }
    return true;
}

static int list_schedules(const char *data_dir, uint64_t concert_id)
{
    store *st;
    store_txn *txn;
    if (open_listing(data_dir, &st, &txn))
        return EXIT_FAILED;
    store_date *dates = malloc(STORE_SCHEDULES_PER_CONCERT_MAX * sizeof *dates);
    store_seat *seats = malloc(STORE_SEATS_MAX * sizeof *seats);
    int64_t now = wall_clock_ms();
    size_t n = 0;
    usher_err e = dates && seats ? store_concert_schedules(txn, concert_id, now, dates,
                                                           STORE_SCHEDULES_PER_CONCERT_MAX, &n)
                                 : USHER_ERR_INTERNAL;
    int rc = 0;
    if (e == USHER_ERR_NOT_FOUND) {
        fprintf(stderr, "usher-admin: concert %llu not found in %s\n",
                (unsigned long long)concert_id, data_dir);
        rc = EXIT_FAILED;
    } else if (e != USHER_ERR_OK) {
        fprintf(stderr, "usher-admin: reading the performances of concert %llu failed\n",
                (unsigned long long)concert_id);
        rc = EXIT_FAILED;
    } else {
        printf("%-10s %-24s %-8s %6s %-26s %6s %6s\n", "SCHEDULE", "STARTS_AT", "STATE", "SEATS",
               "PRICE (KRW)", "SOLD", "FREE");
        for (size_t i = 0; i < n; i++) {
            const store_date *d = &dates[i];
            char when[40], prices[40] = "?";
            int64_t lo, hi;
            format_utc(d->schedule.starts_at_ms, when, sizeof when);
            if (price_range(txn, d->schedule.schedule_id, seats, &lo, &hi))
                snprintf(prices, sizeof prices, lo == hi ? "%lld" : "%lld..%lld", (long long)lo,
                         (long long)hi);
            printf("%-10llu %-24s %-8s %6u %-26s %6u %6u\n",
                   (unsigned long long)d->schedule.schedule_id, when,
                   d->schedule.starts_at_ms <= now ? "past" : "future", d->schedule.seats, prices,
                   d->sold, d->available);
        }
        if (n == 0)
            printf("(no performances)\n");
    }
    free(dates);
    free(seats);
    close_listing(st, txn);
    return rc;
}

/* concert list | schedule list CONCERT_ID (argv at the command). */
static int run_list(const admin_options *o, int argc, char **argv)
{
    long long v;
    bool concerts = strcmp(argv[0], "concert") == 0;
    if (concerts ? argc != 2 : argc != 3)
        return usage_error(concerts ? "usage: concert list (with --data DIR)%s"
                                    : "usage: schedule list CONCERT_ID (with --data DIR)%s", "");
    if (!concerts && !tool_parse_range(argv[2], 1, INT64_MAX, &v))
        return usage_error("CONCERT_ID must be a positive integer, not '%s'", argv[2]);
    if (!o->data_dir)
        return usage_error("%s list needs --data DIR (it reads the store there)", argv[0]);
    return concerts ? list_concerts(o->data_dir) : list_schedules(o->data_dir, (uint64_t)v);
}

/* o->token, or one signed with --data into token (o->token then points at
 * it), for a command over the protocol; 0, EXIT_FAILED or EXIT_USAGE. */
static int admin_token_of(admin_options *o, const char *command, char *token, size_t cap)
{
    if (!o->token && !o->data_dir)
        return usage_error("%s needs --token TOKEN or --data DIR", command);
    if (o->token && o->ttl_ms)
        return usage_error("--ttl applies to a token signed with --data, not to --token%s", "");
    if (o->token)
        return 0;
    int rc = sign_admin_token(o->data_dir, o->ttl_ms, token, cap);
    if (rc == 0)
        o->token = token;
    return rc;
}

/* queue ... | revoke USER_ID (argv at the command): over the protocol. */
static int run_control(admin_options *o, int argc, char **argv, char *token, size_t cap)
{
    control_request req;
    if (control_parse(argc, argv, wall_clock_ms(), &req) != 0)
        return EXIT_USAGE;
    int rc = admin_token_of(o, argv[0], token, cap);
    if (rc)
        return rc;
    usher_client *c = connect_or_say(o);
    if (!c)
        return EXIT_FAILED;
    rc = control_run(c, o->token, &req);
    usher_close(c);
    return rc;
}

/* The defaults, then $USHER_HOST and $USHER_PORT; 0, or 2 on a bad value. */
static int options_defaults(admin_options *o)
{
    const char *env_host = getenv("USHER_HOST");
    const char *env_port = getenv("USHER_PORT");
    long long v;
    o->host = env_host && *env_host ? env_host : "127.0.0.1";
    o->port = 7700;
    o->timeout_ms = 5000;
    if (env_port && *env_port) {
        if (!tool_parse_range(env_port, 1, 65535, &v))
            return usage_error("USHER_PORT must be 1..65535, not '%s'", env_port);
        o->port = (int)v;
    }
    return 0;
}

/* Options of argv[1..] up to the first word that is not one (argv[0] is
 * skipped: the program, or the command whose options follow it); 0 to go
 * on with argv[optind], 1 after --help/--version, 2 on error. */
static int parse_options(int argc, char **argv, admin_options *o)
{
    enum { OPT_DATA = 1000, OPT_STORE, OPT_TOKEN, OPT_HOST, OPT_PORT, OPT_TIMEOUT, OPT_TTL, OPT_HELP,
           OPT_VERSION };
    static const struct option longopts[] = {
        { "data", required_argument, NULL, OPT_DATA },
        { "store", required_argument, NULL, OPT_STORE },
        { "ttl", required_argument, NULL, OPT_TTL },
        { "token", required_argument, NULL, OPT_TOKEN },
        { "host", required_argument, NULL, OPT_HOST },
        { "port", required_argument, NULL, OPT_PORT },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "help", no_argument, NULL, OPT_HELP },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    long long v;
    optind = 0;   /* glibc: start afresh (this parser runs again after token) */
    opterr = 0;
    int ch;
    /* '+': stop at the command, so a negative PRICE is not taken for an option */
    while ((ch = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_DATA:
        case OPT_STORE:
            if (ch == OPT_STORE && !store_spec_is_url(optarg))
                return usage_error("--store must be a postgres:// or postgresql:// URL, not '%s'",
                                   optarg);
            if (o->data_dir && strcmp(o->data_dir, optarg) != 0)
                return usage_error("give one of --data DIR and --store URL, once%s", "");
            o->data_dir = optarg;   /* the store's address: a directory or a URL */
            break;
        case OPT_TOKEN: o->token = optarg; break;
        case OPT_HOST: o->host = optarg; break;
        case OPT_PORT:
            if (!tool_parse_range(optarg, 1, 65535, &v))
                return usage_error("--port must be 1..65535, not '%s'", optarg);
            o->port = (int)v;
            break;
        case OPT_TIMEOUT:
            if (!tool_parse_range(optarg, 0, 86400000, &v))
                return usage_error("--timeout must be milliseconds, not '%s'", optarg);
            o->timeout_ms = (int)v;
            break;
        case OPT_TTL:
            if (config_parse_duration(optarg, &o->ttl_ms) != USHER_ERR_OK)
                return usage_error("--ttl must be a whole number with ms, s, m, h or d, above 0 and "
                                   "at most 30 days (1500ms, 5s, 10m, 24h, 2d), not '%s'", optarg);
            break;
        case OPT_HELP: usage(stdout); return 1;
        case OPT_VERSION: printf("usher-admin %s (protocol 1)\n", USHER_ADMIN_VERSION); return 1;
        case ':': return usage_error("%s needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    admin_options o = { 0 };
    int parsed = options_defaults(&o);
    if (!parsed)
        parsed = parse_options(argc, argv, &o);
    if (parsed)
        return parsed == 1 ? 0 : EXIT_USAGE;
    argc -= optind;
    argv += optind;
    if (argc == 0)
        return usage_error("missing command%s", "");
    char token[TOKEN_MAX_LEN + 1];
    if (strcmp(argv[0], "token") == 0) {
        parsed = parse_options(argc, argv, &o);   /* options may follow token */
        if (parsed)
            return parsed == 1 ? 0 : EXIT_USAGE;
        if (optind != argc)
            return usage_error("usage: token [--ttl D] (with --data DIR)%s", "");
        if (!o.data_dir)
            return usage_error("token needs --data DIR%s", "");
        int rc = sign_admin_token(o.data_dir, o.ttl_ms, token, sizeof token);
        if (rc == 0)
            printf("%s\n", token);
        return rc;
    }
    if (control_is_command(argv[0]))
        return run_control(&o, argc, argv, token, sizeof token);
    bool object = strcmp(argv[0], "concert") == 0 || strcmp(argv[0], "schedule") == 0;
    if (object && argc >= 2 && strcmp(argv[1], "list") == 0)
        return run_list(&o, argc, argv);
    bool create = argc >= 2 && strcmp(argv[1], "create") == 0;
    if (!create || !object)
        return usage_error("unknown command '%s'", argv[0]);
    create_request req;
    if (parse_create(argc, argv, &req) != 0)
        return EXIT_USAGE;
    int rc = admin_token_of(&o, argv[0], token, sizeof token);
    return rc ? rc : run_create(&o, o.token, &req);
}
