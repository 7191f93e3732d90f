/* usherd's command line: defaults, parsing and --help.
 * config_parse never exits and never prints except to the streams it is
 * given, so tests can drive it. It uses getopt_long (whose state is global;
 * it is reset on entry), so it must run before any thread starts. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define USHERD_VERSION "1.0.0"
#define USHERD_PROTOCOL 1

#define MS_PER_S 1000LL
#define MS_PER_M (60 * MS_PER_S)
#define MS_PER_H (60 * MS_PER_M)
#define MS_PER_DAY (24 * MS_PER_H)
#define DURATION_MAX_MS (30 * MS_PER_DAY)
#define MIB ((size_t)1 << 20)

#define WORKERS_MAX 64
#define MAX_ACTIVE_MAX 100000
#define MAX_FRAME_MIN 65536
#define MAX_FRAME_MAX 16777216
#define MAX_CONNS_MAX 1000000
#define MAP_SIZE_MIN_MB 64
#define MAP_SIZE_MAX_MB 1048576
#define TOKEN_CACHE_DEFAULT 4194304u   /* tokens: 64 MiB of address space */
#define TOKEN_CACHE_MAX 268435456u     /* tokens: 4 GiB */
#define LMDB_READERS_MIN 126u  /* LMDB's own default */
#define READER_TIMEOUT_MIN_MS MS_PER_S
#define READER_TIMEOUT_MAX_MS MS_PER_H
#define IDLE_TIMEOUT_MIN_MS MS_PER_S
#define IDLE_TIMEOUT_MAX_MS (24 * MS_PER_H)
#define FRAME_TIMEOUT_MIN_MS 100
#define FRAME_TIMEOUT_MAX_MS (10 * MS_PER_M)
#define MAX_INFLIGHT_MAX 65536
#define ADMIT_SLOW_MS_MAX 5000   /* below the commit histogram's last bound (10 s) */
#define DB_CONNECTIONS_MAX 64
#define DB_TIMEOUT_MIN_MS 100
#define DB_TIMEOUT_MAX_MS (10 * MS_PER_M)

void config_defaults(usher_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listen_host, sizeof cfg->listen_host, "127.0.0.1");
    cfg->listen_port = 7700;
    snprintf(cfg->data_dir, sizeof cfg->data_dir, "./usher-data");
    cfg->workers = 1;
    cfg->db_connections = 16;
    cfg->db_timeout_ms = 5 * MS_PER_S;
    cfg->hold_ttl_ms = 5 * MS_PER_M;
    cfg->active_ttl_ms = 10 * MS_PER_M;
    cfg->max_active = 100;
    cfg->max_holds = 4;
    cfg->admit_interval_ms = 1 * MS_PER_S;
    cfg->admit_slow_ms = 50;
    cfg->wait_idle_ms = 2 * MS_PER_M;
    cfg->active_idle_ms = 3 * MS_PER_M;
    cfg->session_ttl_ms = 24 * MS_PER_H;
    cfg->queue_token_ttl_ms = 24 * MS_PER_H;
    cfg->admin_token_ttl_ms = 30 * MS_PER_DAY;
    cfg->max_frame = MAX_FRAME_MIN;
    cfg->sync = STORE_SYNC_FULL;
    cfg->demo = false;
    cfg->log_level = LOG_INFO;
    cfg->log_json = false;
    cfg->max_conns = 10000;
    cfg->out_buf_cap = MIB;
    cfg->idle_timeout_ms = 5 * MS_PER_M;
    cfg->frame_timeout_ms = 10 * MS_PER_S;
    cfg->max_inflight = 256;
    cfg->batch_max = 256;
    cfg->map_size_bytes = (size_t)4096 * MIB;
    cfg->reader_timeout_ms = 10 * MS_PER_S;
    cfg->max_charge_krw = 10000000;
    cfg->balance_limit_krw = 1000000000000LL;
    cfg->request_id_ttl_ms = 24 * MS_PER_H;
    cfg->token_cache_tokens = TOKEN_CACHE_DEFAULT;
    cfg->limits = msg_limits_default();
}

/* ---- value parsers ---- */

typedef enum duration_status {
    DURATION_OK,
    DURATION_NOT_NUMBER,   /* no leading digits */
    DURATION_NO_UNIT,      /* a bare number */
    DURATION_BAD_UNIT,     /* digits followed by something else */
    DURATION_RANGE,        /* 0, or more than 30 days */
} duration_status;

/* One rule for every duration of usherd and usher-admin: ms, s, m, h or d. */
static duration_status duration_parse(const char *text, int64_t *ms)
{
    uint64_t value = 0;
    size_t i = 0;

    if (text[0] < '0' || text[0] > '9')
        return DURATION_NOT_NUMBER;
    for (; text[i] >= '0' && text[i] <= '9'; i++) {
        /* ms is the smallest unit: past the cap in ms is past it in any unit. */
        if (value <= (uint64_t)DURATION_MAX_MS)
            value = value * 10 + (uint64_t)(text[i] - '0');
    }
    const char *unit = text + i;
    int64_t scale;
    if (unit[0] == '\0')
        return DURATION_NO_UNIT;
    else if (strcmp(unit, "ms") == 0)
        scale = 1;
    else if (strcmp(unit, "s") == 0)
        scale = MS_PER_S;
    else if (strcmp(unit, "m") == 0)
        scale = MS_PER_M;
    else if (strcmp(unit, "h") == 0)
        scale = MS_PER_H;
    else if (strcmp(unit, "d") == 0)
        scale = MS_PER_DAY;
    else
        return DURATION_BAD_UNIT;
    if (value == 0 || value > (uint64_t)(DURATION_MAX_MS / scale))
        return DURATION_RANGE;
    *ms = (int64_t)value * scale;
    return DURATION_OK;
}

usher_err config_parse_duration(const char *text, int64_t *ms)
{
    if (text == NULL || ms == NULL)
        return USHER_ERR_INVALID_ARGUMENT;
    return duration_parse(text, ms) == DURATION_OK ? USHER_ERR_OK : USHER_ERR_INVALID_ARGUMENT;
}

/* Strict unsigned decimal: digits only, fully consumed, no overflow. */
static bool uint_parse(const char *text, uint64_t *out)
{
    char *end = NULL;

    if (text[0] < '0' || text[0] > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* ---- usage errors ---- */

/* Where a usage error goes and where the bad value came from: a command-line
 * flag (file NULL) or FILE:LINE of a --config file, named in the message. */
typedef struct usage_sink {
    FILE *stream;
    const char *file;
    unsigned line;
} usage_sink;

static int usage_error(const usage_sink *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_verror(const usage_sink *err, const char *fmt, va_list ap)
{
    fputs("usherd: ", err->stream);
    if (err->file)
        fprintf(err->stream, "%s:%u: ", err->file, err->line);
    vfprintf(err->stream, fmt, ap);
    fputs("\nTry 'usherd --help'.\n", err->stream);
    return 2;
}

static int usage_error(const usage_sink *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = usage_verror(err, fmt, ap);
    va_end(ap);
    return rc;
}

int config_usage_error(FILE *err, const char *file, unsigned line, const char *fmt, ...)
{
    usage_sink sink = { err, file, line };
    va_list ap;
    va_start(ap, fmt);
    int rc = usage_verror(&sink, fmt, ap);
    va_end(ap);
    return rc;
}

static int parse_range(const usage_sink *err, const char *flag, const char *text, uint64_t min, uint64_t max,
                       uint64_t *out)
{
    uint64_t v;
    if (!uint_parse(text, &v))
        return usage_error(err, "--%s: '%s' is not a whole number (%llu..%llu)", flag, text,
                           (unsigned long long)min, (unsigned long long)max);
    if (v < min || v > max)
        return usage_error(err, "--%s: '%s' is out of range (%llu..%llu)", flag, text,
                           (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return 0;
}

static int parse_duration_flag(const usage_sink *err, const char *flag, const char *text, int64_t *out)
{
    static const char units[] = "ms, s, m, h or d (e.g. 1500ms, 5s, 10m, 2d)";
    switch (duration_parse(text, out)) {
    case DURATION_OK:
        return 0;
    case DURATION_NO_UNIT:
        return usage_error(err, "--%s: '%s' needs a unit: %s", flag, text, units);
    case DURATION_BAD_UNIT:
        return usage_error(err, "--%s: '%s' has an unknown unit; use %s", flag, text, units);
    case DURATION_NOT_NUMBER:
        return usage_error(err, "--%s: '%s' is not a duration; use a whole number with %s",
                           flag, text, units);
    case DURATION_RANGE:
        break;
    }
    return usage_error(err, "--%s: '%s' is out of range (above 0, at most 30 days)", flag, text);
}

/* A duration within [min_ms, max_ms]; `range` names the bounds for the message. */
static int parse_bounded_duration(const usage_sink *err, const char *flag, const char *text, int64_t min_ms,
                                  int64_t max_ms, const char *range, int64_t *out)
{
    int64_t ms;
    int rc = parse_duration_flag(err, flag, text, &ms);
    if (rc != 0)
        return rc;
    if (ms < min_ms || ms > max_ms)
        return usage_error(err, "--%s: '%s' is out of range (%s)", flag, text, range);
    *out = ms;
    return 0;
}

/* A duration, or 0 for off (--wait-idle, --active-idle). */
static int parse_idle_flag(const usage_sink *err, const char *flag, const char *text, int64_t *out)
{
    if (strcmp(text, "0") == 0) {
        *out = 0;
        return 0;
    }
    return parse_duration_flag(err, flag, text, out);
}

/* HOST:PORT with an IPv4 literal or "localhost" (stored as 127.0.0.1), for
 * --listen and --metrics. */
static int parse_host_port(const usage_sink *err, const char *flag, const char *text, char *host_out,
                           uint16_t *port_out)
{
    const char *colon = strrchr(text, ':');
    struct in_addr addr;
    char host[sizeof ((usher_config *)0)->listen_host];
    uint64_t port;

    if (colon == NULL || colon == text)
        return usage_error(err, "--%s: '%s' is not HOST:PORT (e.g. 127.0.0.1:7700)", flag, text);
    size_t host_len = (size_t)(colon - text);
    if (host_len >= sizeof host)
        return usage_error(err, "--%s: '%s': host too long", flag, text);
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    else if (inet_pton(AF_INET, host, &addr) != 1)
        return usage_error(err, "--%s: '%s': host must be an IPv4 address or localhost", flag, text);
    if (!uint_parse(colon + 1, &port) || port < 1 || port > 65535)
        return usage_error(err, "--%s: '%s': port must be 1..65535", flag, text);
    memcpy(host_out, host, sizeof host);
    *port_out = (uint16_t)port;
    return 0;
}

static int parse_data(usher_config *cfg, const usage_sink *err, const char *text)
{
    if (strlen(text) >= sizeof cfg->data_dir)
        return usage_error(err, "--data: path longer than %zu bytes", sizeof cfg->data_dir - 1);
    snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", text);
    cfg->data_given = true;
    return 0;
}

static int parse_store(usher_config *cfg, const usage_sink *err, const char *text)
{
    if (!store_spec_is_url(text))
        return usage_error(err, "--store: '%s' is not a postgres:// or postgresql:// URL "
                           "(an LMDB data directory is --data)", text);
    if (strlen(text) >= sizeof cfg->store_url)
        return usage_error(err, "--store: URL longer than %zu bytes", sizeof cfg->store_url - 1);
    snprintf(cfg->store_url, sizeof cfg->store_url, "%s", text);
    return 0;
}

static int parse_sync(usher_config *cfg, const usage_sink *err, const char *text)
{
    if (strcmp(text, "full") == 0)
        cfg->sync = STORE_SYNC_FULL;
    else if (strcmp(text, "meta") == 0)
        cfg->sync = STORE_SYNC_META;
    else if (strcmp(text, "none") == 0)
        cfg->sync = STORE_SYNC_NONE;
    else
        return usage_error(err, "--sync: '%s' is not one of full, meta, none", text);
    return 0;
}

static int parse_log_level(usher_config *cfg, const usage_sink *err, const char *text)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(text, names[i]) == 0) {
            cfg->log_level = (log_level)i;
            return 0;
        }
    }
    return usage_error(err, "--log-level: '%s' is not one of error, warn, info, debug", text);
}

/* ---- the option table ---- */

enum {
    OPT_LISTEN = 256, OPT_DATA, OPT_WORKERS, OPT_HOLD_TTL, OPT_ACTIVE_TTL, OPT_MAX_ACTIVE,
    OPT_MAX_HOLDS, OPT_ADMIT_INTERVAL, OPT_SESSION_TTL, OPT_MAX_FRAME, OPT_SYNC, OPT_DEMO,
    OPT_LOG_LEVEL, OPT_LOG_JSON, OPT_MAX_CONNS, OPT_MAP_SIZE, OPT_READER_TIMEOUT, OPT_VERSION,
    OPT_TOKEN_CACHE, OPT_IDLE_TIMEOUT, OPT_FRAME_TIMEOUT, OPT_MAX_INFLIGHT, OPT_CONFIG,
    OPT_METRICS, OPT_ADMIT_SLOW_MS, OPT_WAIT_IDLE, OPT_ACTIVE_IDLE, OPT_STORE, OPT_DB_CONNECTIONS,
    OPT_DB_TIMEOUT,
    OPT_HELP = 'h',
};

static const struct option long_options[] = {
    { "listen",         required_argument, NULL, OPT_LISTEN },
    { "data",           required_argument, NULL, OPT_DATA },
    { "store",          required_argument, NULL, OPT_STORE },
    { "db-connections", required_argument, NULL, OPT_DB_CONNECTIONS },
    { "db-timeout",     required_argument, NULL, OPT_DB_TIMEOUT },
    { "workers",        required_argument, NULL, OPT_WORKERS },
    { "hold-ttl",       required_argument, NULL, OPT_HOLD_TTL },
    { "active-ttl",     required_argument, NULL, OPT_ACTIVE_TTL },
    { "max-active",     required_argument, NULL, OPT_MAX_ACTIVE },
    { "max-holds",      required_argument, NULL, OPT_MAX_HOLDS },
    { "admit-interval", required_argument, NULL, OPT_ADMIT_INTERVAL },
    { "admit-slow-ms",  required_argument, NULL, OPT_ADMIT_SLOW_MS },
    { "wait-idle",      required_argument, NULL, OPT_WAIT_IDLE },
    { "active-idle",    required_argument, NULL, OPT_ACTIVE_IDLE },
    { "session-ttl",    required_argument, NULL, OPT_SESSION_TTL },
    { "max-frame",      required_argument, NULL, OPT_MAX_FRAME },
    { "sync",           required_argument, NULL, OPT_SYNC },
    { "demo",           no_argument,       NULL, OPT_DEMO },
    { "log-level",      required_argument, NULL, OPT_LOG_LEVEL },
    { "log-json",       no_argument,       NULL, OPT_LOG_JSON },
    { "max-conns",      required_argument, NULL, OPT_MAX_CONNS },
    { "map-size",       required_argument, NULL, OPT_MAP_SIZE },
    { "reader-timeout", required_argument, NULL, OPT_READER_TIMEOUT },
    { "token-cache",    required_argument, NULL, OPT_TOKEN_CACHE },
    { "idle-timeout",   required_argument, NULL, OPT_IDLE_TIMEOUT },
    { "frame-timeout",  required_argument, NULL, OPT_FRAME_TIMEOUT },
    { "max-inflight",   required_argument, NULL, OPT_MAX_INFLIGHT },
    { "config",         required_argument, NULL, OPT_CONFIG },
    { "metrics",        required_argument, NULL, OPT_METRICS },
    { "help",           no_argument,       NULL, OPT_HELP },
    { "version",        no_argument,       NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 },
};

static const char *option_name(int val)
{
    for (const struct option *o = long_options; o->name; o++)
        if (o->val == val)
            return o->name;
    return "?";
}

/* Range of every option that takes a whole number. */
static const struct int_option_range {
    int opt;
    uint64_t min, max;
} int_option_ranges[] = {
    { OPT_WORKERS,    1,               WORKERS_MAX },
    { OPT_MAX_ACTIVE, 1,               MAX_ACTIVE_MAX },
    { OPT_MAX_HOLDS,  1,               STORE_HOLDS_MAX },
    { OPT_MAX_FRAME,  MAX_FRAME_MIN,   MAX_FRAME_MAX },
    { OPT_MAX_CONNS,  1,               MAX_CONNS_MAX },
    { OPT_MAP_SIZE,   MAP_SIZE_MIN_MB, MAP_SIZE_MAX_MB },
    { OPT_TOKEN_CACHE, 0,              TOKEN_CACHE_MAX },
    { OPT_MAX_INFLIGHT, 1,             MAX_INFLIGHT_MAX },
    { OPT_ADMIT_SLOW_MS, 0,            ADMIT_SLOW_MS_MAX },
    { OPT_DB_CONNECTIONS, 1,           DB_CONNECTIONS_MAX },
};

static const struct int_option_range *int_range_of(int opt)
{
    for (size_t i = 0; i < sizeof int_option_ranges / sizeof int_option_ranges[0]; i++)
        if (int_option_ranges[i].opt == opt)
            return &int_option_ranges[i];
    return NULL;
}

/* Applies one option with its value; 0 or 2 (usage error printed). */
static int apply_option(usher_config *cfg, int opt, const char *arg, const usage_sink *err)
{
    const char *flag = option_name(opt);
    const struct int_option_range *range = int_range_of(opt);
    uint64_t n = 0;

    if (arg != NULL && arg[0] == '\0')
        return usage_error(err, "--%s: needs a value, got ''", flag);
    if (range != NULL) {
        int rc = parse_range(err, flag, arg, range->min, range->max, &n);
        if (rc != 0)
            return rc;
    }
    switch (opt) {
    case OPT_LISTEN:         return parse_host_port(err, flag, arg, cfg->listen_host, &cfg->listen_port);
    case OPT_METRICS:        return parse_host_port(err, flag, arg, cfg->metrics_host, &cfg->metrics_port);
    case OPT_DATA:           return parse_data(cfg, err, arg);
    case OPT_STORE:          return parse_store(cfg, err, arg);
    case OPT_DB_CONNECTIONS: cfg->db_connections = (unsigned)n; return 0;
    case OPT_DB_TIMEOUT:
        return parse_bounded_duration(err, flag, arg, DB_TIMEOUT_MIN_MS, DB_TIMEOUT_MAX_MS,
                                      "100ms..10m", &cfg->db_timeout_ms);
    case OPT_HOLD_TTL:       return parse_duration_flag(err, flag, arg, &cfg->hold_ttl_ms);
    case OPT_ACTIVE_TTL:     return parse_duration_flag(err, flag, arg, &cfg->active_ttl_ms);
    case OPT_ADMIT_INTERVAL: return parse_duration_flag(err, flag, arg, &cfg->admit_interval_ms);
    case OPT_WAIT_IDLE:      return parse_idle_flag(err, flag, arg, &cfg->wait_idle_ms);
    case OPT_ACTIVE_IDLE:    return parse_idle_flag(err, flag, arg, &cfg->active_idle_ms);
    case OPT_SESSION_TTL:    return parse_duration_flag(err, flag, arg, &cfg->session_ttl_ms);
    case OPT_READER_TIMEOUT:
        return parse_bounded_duration(err, flag, arg, READER_TIMEOUT_MIN_MS, READER_TIMEOUT_MAX_MS,
                                      "1s..1h", &cfg->reader_timeout_ms);
    case OPT_IDLE_TIMEOUT:
        return parse_bounded_duration(err, flag, arg, IDLE_TIMEOUT_MIN_MS, IDLE_TIMEOUT_MAX_MS,
                                      "1s..24h", &cfg->idle_timeout_ms);
    case OPT_FRAME_TIMEOUT:
        return parse_bounded_duration(err, flag, arg, FRAME_TIMEOUT_MIN_MS, FRAME_TIMEOUT_MAX_MS,
                                      "100ms..10m", &cfg->frame_timeout_ms);
    case OPT_SYNC:           return parse_sync(cfg, err, arg);
    case OPT_LOG_LEVEL:      return parse_log_level(cfg, err, arg);
    case OPT_DEMO:           cfg->demo = true; return 0;
    case OPT_LOG_JSON:       cfg->log_json = true; return 0;
    case OPT_WORKERS:        cfg->workers = (unsigned)n; return 0;
    case OPT_MAX_ACTIVE:     cfg->max_active = (uint32_t)n; return 0;
    case OPT_MAX_HOLDS:      cfg->max_holds = (uint32_t)n; return 0;
    case OPT_MAX_FRAME:      cfg->max_frame = (size_t)n; return 0;
    case OPT_MAX_CONNS:      cfg->max_conns = (size_t)n; return 0;
    case OPT_TOKEN_CACHE:    cfg->token_cache_tokens = (size_t)n; return 0;
    case OPT_MAX_INFLIGHT:   cfg->max_inflight = (size_t)n; return 0;
    case OPT_ADMIT_SLOW_MS:  cfg->admit_slow_ms = (int64_t)n; return 0;
    case OPT_MAP_SIZE:
        if (n > SIZE_MAX / MIB)
            return usage_error(err, "--map-size: '%s' MiB does not fit this machine", arg);
        cfg->map_size_bytes = (size_t)n * MIB;
        return 0;
    default:
        return usage_error(err, "internal error: unhandled option");
    }
}

/* How many long options start with the name in arg (up to any '='). */
static size_t prefix_matches(const char *arg)
{
    size_t len = strcspn(arg, "=");
    size_t n = 0;
    for (const struct option *o = long_options; o->name; o++)
        n += strncmp(o->name, arg, len) == 0;
    return n;
}

/* Reports what getopt_long refused: an unknown option, a value given to a
 * flag that takes none, or a missing value. */
static int getopt_error(int ch, int optopt_seen, const char *arg_seen, const usage_sink *err)
{
    if (ch == ':')
        return usage_error(err, "--%s needs a value", option_name(optopt_seen));
    if (optopt_seen >= OPT_LISTEN || optopt_seen == OPT_HELP)
        return usage_error(err, "--%s takes no value", option_name(optopt_seen));
    if (optopt_seen != 0)
        return usage_error(err, "unknown option '-%c'", optopt_seen);
    if (arg_seen && strncmp(arg_seen, "--", 2) == 0 && prefix_matches(arg_seen + 2) > 1)
        return usage_error(err, "ambiguous option '%s'", arg_seen);
    return usage_error(err, "unknown option '%s'", arg_seen ? arg_seen : "?");
}

/* The options that act instead of configuring: never keys of a --config file. */
static bool option_is_action(int opt)
{
    return opt == OPT_HELP || opt == OPT_VERSION || opt == OPT_CONFIG;
}

int config_apply_key(usher_config *cfg, const char *key, const char *value, const char *file,
                     unsigned line, FILE *err)
{
    usage_sink sink = { err, file, line };
    const struct option *o = long_options;
    while (o->name && strcmp(o->name, key) != 0)
        o++;
    if (o->name == NULL || option_is_action(o->val))
        return usage_error(&sink, "unknown key '%s'", key);
    if (o->has_arg == required_argument)
        return apply_option(cfg, o->val, value, &sink);
    /* A switch (--demo, --log-json): on or off. */
    bool on = strcmp(value, "true") == 0;
    if (!on && strcmp(value, "false") != 0)
        return usage_error(&sink, "%s: '%s' is not true or false", key, value);
    if (on)
        return apply_option(cfg, o->val, NULL, &sink);
    if (o->val == OPT_DEMO)
        cfg->demo = false;
    else if (o->val == OPT_LOG_JSON)
        cfg->log_json = false;
    else
        return usage_error(&sink, "internal error: unhandled switch %s", key);
    return 0;
}

int config_parse(usher_config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
    usage_sink sink = { err, NULL, 0 };
    const char *config_file = NULL;
    int ch;

    /* Pass 1: every syntax error, --help, --version and --config; nothing applied yet. */
    optind = 0;   /* glibc: a full re-initialisation, so config_parse can be called again */
    opterr = 0;   /* every message is ours, on err */
    while ((ch = getopt_long(argc, argv, "+:h", long_options, NULL)) != -1) {
        if (ch == '?' || ch == ':') {
            const char *seen = optind > 0 && optind <= argc ? argv[optind - 1] : NULL;
            return getopt_error(ch, optopt, seen, &sink);
        }
        if (ch == OPT_HELP) {
            config_usage(out);
            return 1;
        }
        if (ch == OPT_VERSION) {
            fprintf(out, "usherd %s (protocol %d)\n", USHERD_VERSION, USHERD_PROTOCOL);
            return 1;
        }
        if (ch == OPT_CONFIG) {
            if (config_file != NULL)
                return usage_error(&sink, "--config given twice ('%s', '%s')", config_file, optarg);
            if (optarg[0] == '\0')
                return usage_error(&sink, "--config: needs a value, got ''");
            config_file = optarg;
        }
    }
    if (optind < argc)
        return usage_error(&sink, "unexpected argument '%s'", argv[optind]);
    /* The file first, then the flags: a flag given on the command line wins
     * over the file wherever it stands. */
    if (config_file != NULL) {
        int rc = config_file_load(cfg, config_file, err);
        if (rc != 0)
            return rc;
    }
    optind = 0;
    while ((ch = getopt_long(argc, argv, "+:h", long_options, NULL)) != -1) {
        if (ch == OPT_CONFIG)
            continue;
        int rc = apply_option(cfg, ch, optarg, &sink);
        if (rc != 0)
            return rc;
    }
    if (cfg->store_url[0] != '\0' && cfg->data_given)
        return usage_error(&sink, "--data and --store both given: --data DIR is the LMDB store, "
                           "--store URL the PostgreSQL one; give one of them");
    return 0;
}

void config_usage(FILE *out)
{
    fputs(
"Usage: usherd [OPTION]...\n"
"Usher box-office server: concert queue, seat holds, wallets and payments over\n"
"length-prefixed msgpack frames on TCP, stored in LMDB or PostgreSQL.\n"
"\n"
"Durations are a whole number with a unit: ms, s, m, h or d (1500ms, 5s, 10m,\n"
"24h, 2d); they must be above 0 and at most 30 days.\n"
"\n"
"Configuration file:\n"
"  --config FILE          read settings from FILE first: one KEY = VALUE a line,\n"
"                         KEY a long option below without its dashes\n"
"                         (listen = 127.0.0.1:7700, max-active = 200,\n"
"                         log-json = true: a switch takes true or false);\n"
"                         blank lines and lines starting with # are\n"
"                         ignored. A flag on the command line wins\n"
"                         over the file whatever its place; an unknown key or\n"
"                         a bad value is a usage error naming FILE:LINE\n"
"\n"
"Network and storage:\n"
"  --listen HOST:PORT     address to listen on; HOST is an IPv4 address or\n"
"                         localhost (default 127.0.0.1:7700)\n"
"  --data DIR             data directory: LMDB files and the signing key pair\n"
"                         DIR/keys, created when missing (default ./usher-data)\n"
"  --store URL            keep everything in a PostgreSQL database instead\n"
"                         (postgres://USER@HOST:PORT/DB or postgresql://...):\n"
"                         usherd on several hosts may share it; the schema is\n"
"                         created or migrated at start and the signing key is\n"
"                         kept in the database; --data and --store together\n"
"                         are a usage error (default: LMDB in --data)\n"
"  --db-connections N     PostgreSQL connections per process, each running one\n"
"                         request at a time, 1..64 (default 16)\n"
"  --db-timeout D         a PostgreSQL connect or statement waits at most D,\n"
"                         then the request is answered UNAVAILABLE, 100ms..10m\n"
"                         (default 5s)\n"
"  --workers N            worker processes sharing the port (SO_REUSEPORT),\n"
"                         1..64 (default 1)\n"
"  --metrics HOST:PORT    serve Prometheus metrics (text format 0.0.4) over\n"
"                         plain HTTP at GET /metrics on this address, summed\n"
"                         over every worker: one port per usherd, so several\n"
"                         usherd on one data dir each need their own (default\n"
"                         off; read-only, no authentication: bind it to a\n"
"                         private address)\n"
"  --sync full|meta|none  durability of each commit: full syncs data and\n"
"                         metadata before replying; meta leaves the metadata\n"
"                         unsynced and holds the replies until the next data\n"
"                         sync (both survive a power cut); none leaves it to\n"
"                         the OS: a power cut may lose acknowledged writes\n"
"                         (default full)\n"
"  --map-size MB          LMDB map size in MiB, 64..1048576; address space,\n"
"                         not disk (default 4096); every process on one\n"
"                         data directory must use the same value\n"
"  --max-frame N          largest frame in bytes, both directions,\n"
"                         65536..16777216 (default 65536)\n"
"  --max-conns N          open connections per process, 1..1000000\n"
"                         (default 10000); capped, with a warning, to what\n"
"                         the open-file limit leaves (usherd raises its soft\n"
"                         limit to the hard one: raise ulimit -n to serve more)\n"
"  --reader-timeout D     a reader holding one LMDB snapshot this long while\n"
"                         commits go on is overdue, 1s..1h (default 10s): it\n"
"                         is warned about from half this; an overdue usherd\n"
"                         that is stopped (SIGSTOP, state T) is killed so its\n"
"                         slot can be cleared; other processes only warned\n"
"  --idle-timeout D       a connection that sent nothing for D, with no frame\n"
"                         begun and no request in flight, is closed, 1s..24h\n"
"                         (default 5m)\n"
"  --frame-timeout D      a frame whose first byte arrived must be whole\n"
"                         within D, else BAD_FRAME (msgid 0) and the\n"
"                         connection is closed; a client whose unread replies\n"
"                         stay above 1 MiB for D is disconnected, 100ms..10m\n"
"                         (default 10s)\n"
"  --max-inflight N       writes of one connection waiting for a commit\n"
"                         before usherd stops reading it until they are\n"
"                         answered, 1..65536 (default 256); one connection\n"
"                         also never holds more than a quarter of the\n"
"                         process's write queue (16 x 256 writes)\n"
"  --token-cache N        verified tokens remembered per process so a repeat\n"
"                         (a poll) skips the signature check, 0..268435456;\n"
"                         16 bytes each, resident only as tokens arrive;\n"
"                         beyond N live tokens the oldest are re-verified;\n"
"                         0 verifies every time (default 4194304: 64 MiB,\n"
"                         room for a crowd of a million users with both\n"
"                         their session and queue tokens)\n"
"\n"
"Box-office policy:\n"
"  --hold-ttl D           how long a reserved seat is held before payment\n"
"                         (default 5m)\n"
"  --active-ttl D         how long an admitted (ACTIVE) queue entry may use\n"
"                         the service (default 10m)\n"
"  --max-active N         ACTIVE queue entries per concert, 1..100000\n"
"                         (default 100)\n"
"  --max-holds N          live holds per user per performance, 1..16\n"
"                         (default 4); also the most seats in one payment\n"
"  --admit-interval D     how often waiting users are admitted (default 1s)\n"
"  --admit-slow-ms N      admit at half rate while this process's commit p99\n"
"                         over the last 10 s is above N ms, 0..5000, 0 = never\n"
"                         (default 50)\n"
"  --wait-idle D          drop a WAITING queue entry whose holder neither polled\n"
"                         nor watched for D (ABANDONED; default 2m, 0 = never)\n"
"  --active-idle D        expire an ACTIVE queue entry unused for D early, so\n"
"                         its slot goes to the next in line (default 3m, 0 = never)\n"
"  --session-ttl D        lifetime of a session token (default 24h)\n"
"  --demo                 create a demo concert with future dates of 50 seats\n"
"                         when the data directory is empty; when its dates have\n"
"                         all passed, add three future ones\n"
"\n"
"Logging:\n"
"  --log-level LEVEL      error, warn, info or debug (default info)\n"
"  --log-json             log JSON lines instead of plain text\n"
"\n"
"  -h, --help             print this help and exit\n"
"  --version              print the version and exit\n"
"\n"
"Fixed limits: queue tokens expire after 24h, admin tokens after 30 days; one\n"
"charge is at most 10,000,000 KRW and a balance at most 10^12 KRW; request ids\n"
"are remembered for 24h.\n"
"\n"
"EXAMPLES\n"
"  usherd --listen 127.0.0.1:7700 --data ./usher-data --demo\n"
"                         what 'make run' starts\n"
"  usherd --workers 2     two processes sharing port 7700 and one data dir\n"
"  usherd --store postgres://usher@db.internal:5432/usher --db-connections 32\n"
"                         one of several hosts sharing one PostgreSQL database\n"
"  usherd --config /etc/usherd.conf --log-level debug\n"
"                         the file's settings, but debug logging\n"
"  usherd --listen 127.0.0.1:17700 --data /tmp/usher-test --hold-ttl 1500ms \\\n"
"         --active-ttl 5s --admit-interval 100ms\n"
"                         short timeouts, as the tests use\n"
"\n"
"SIGNALS\n"
"  SIGINT, SIGTERM        stop accepting, finish in-flight writes, close the\n"
"                         store and exit; with --workers, send them to the\n"
"                         parent, which stops every worker\n"
"\n"
"WORKERS\n"
"  With --workers, a worker that dies (any exit but status 0) is replaced while\n"
"  the others serve: at once after a life of 10s or more, else after 100ms,\n"
"  doubling per further fast death of its slot up to 3.2s. After 5 workers died\n"
"  within 10s of starting within one minute the parent gives up: it stops the\n"
"  others and exits 1.\n"
"\n"
"Exit status: 0 after a clean shutdown or --help/--version, 2 on a usage error,\n"
"1 when the server cannot start (address already served, store or keys\n"
"unusable), when the storage became unusable while serving (a failed\n"
"metadata write: in-flight requests are answered, then it exits so a\n"
"supervisor can start a fresh process), or, with --workers, when workers\n"
"kept dying and the parent gave up (a dead worker is otherwise replaced).\n",
        out);
}

store_options config_store_options(const usher_config *cfg)
{
    store_options opt;
    unsigned readers = cfg->workers * 8u + 64u; /* a few per worker, plus tools */

    memset(&opt, 0, sizeof opt);
    opt.sync = cfg->sync;
    opt.map_size_bytes = cfg->map_size_bytes;
    opt.max_readers = readers < LMDB_READERS_MIN ? LMDB_READERS_MIN : readers;
    opt.policy.hold_ttl_ms = cfg->hold_ttl_ms;
    opt.policy.active_ttl_ms = cfg->active_ttl_ms;
    opt.policy.max_active = cfg->max_active;
    opt.policy.max_holds = cfg->max_holds;
    opt.policy.max_charge_krw = cfg->max_charge_krw;
    opt.policy.balance_limit_krw = cfg->balance_limit_krw;
    opt.policy.request_id_ttl_ms = cfg->request_id_ttl_ms;
    opt.policy.wait_idle_ms = cfg->wait_idle_ms;
    opt.policy.active_idle_ms = cfg->active_idle_ms;
    opt.policy.admit_interval_ms = cfg->admit_interval_ms;
    opt.connections = cfg->db_connections;
    opt.connect_timeout_ms = cfg->db_timeout_ms;
    return opt;
}

const char *config_store_spec(const usher_config *cfg)
{
    return cfg->store_url[0] != '\0' ? cfg->store_url : cfg->data_dir;
}
