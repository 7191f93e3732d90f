/* usherd's configuration: every tunable and limit as a named field, with the
 * defaults documented by --help. Parsed once at start; read-only afterwards
 * (every thread and worker may read it). */
#ifndef USHER_SERVER_CONFIG_H
#define USHER_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "store.h"
#include "../protocol/msg.h"

typedef enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 } log_level;

typedef struct usher_config {
    char listen_host[64];       /* --listen HOST:PORT, default 127.0.0.1:7700 */
    uint16_t listen_port;
    char metrics_host[64];      /* --metrics HOST:PORT: Prometheus text over HTTP; port 0 = off */
    uint16_t metrics_port;
    char data_dir[1024];        /* --data, default ./usher-data */
    bool data_given;            /* --data was given (flag or file): refused with --store */
    char store_url[1024];       /* --store postgres://...: the PostgreSQL backend; "" = LMDB in data_dir */
    unsigned db_connections;    /* --db-connections, 1..64, default 16 (PostgreSQL) */
    int64_t db_timeout_ms;      /* --db-timeout, 100ms..10m, default 5s (PostgreSQL) */
    unsigned workers;           /* --workers, 1..64 */
    int64_t hold_ttl_ms;        /* --hold-ttl, default 5m */
    int64_t active_ttl_ms;      /* --active-ttl, default 10m */
    uint32_t max_active;        /* --max-active, default 100 */
    uint32_t max_holds;         /* --max-holds, 1..16, default 4 */
    int64_t admit_interval_ms;  /* --admit-interval, default 1s */
    int64_t admit_slow_ms;      /* --admit-slow-ms, 0..5000, default 50: commit p99 that halves admission */
    int64_t wait_idle_ms;       /* --wait-idle, default 2m, 0 = off */
    int64_t active_idle_ms;     /* --active-idle, default 3m, 0 = off */
    int64_t session_ttl_ms;     /* --session-ttl, default 24h */
    int64_t queue_token_ttl_ms; /* signed expiry of queue tokens: 24h */
    int64_t admin_token_ttl_ms; /* usher-admin tokens: 30 days */
    size_t max_frame;           /* --max-frame, >= 65536, default 65536 */
    store_sync sync;            /* --sync full|meta|none */
    bool demo;                  /* --demo */
    log_level log_level;        /* --log-level error|warn|info|debug */
    bool log_json;              /* --log-json */
    size_t max_conns;           /* --max-conns, default 10000 */
    size_t out_buf_cap;         /* per-connection output bytes before reads pause */
    int64_t idle_timeout_ms;    /* --idle-timeout, 1s..24h, default 5m: silent connection closed */
    int64_t frame_timeout_ms;   /* --frame-timeout, 100ms..10m, default 10s: a begun frame must be
                                 * whole, and output above out_buf_cap read below it, within this */
    size_t max_inflight;        /* --max-inflight, 1..65536, default 256: writes of one connection
                                 * at the writer before its reading pauses */
    size_t batch_max;           /* write requests in one group commit */
    size_t map_size_bytes;      /* --map-size, LMDB map, default 4 GiB */
    int64_t reader_timeout_ms;  /* --reader-timeout, 1s..1h, default 10s */
    int64_t max_charge_krw;     /* one charge, 10,000,000 */
    int64_t balance_limit_krw;  /* 10^12 */
    int64_t request_id_ttl_ms;  /* 24h */
    size_t token_cache_tokens;  /* --token-cache: verified tokens cached per process, 0 = none */
    msg_limits limits;          /* msgpack nesting/element limits */
} usher_config;

/* Fills every field with its default. */
void config_defaults(usher_config *cfg);

/* Parses argv over the defaults. Returns 0 to run, 1 when --help or
 * --version printed to out (exit 0), 2 on a usage error (message on err).
 * With --config FILE the file is applied first and every other flag after
 * it, so the command line wins over the file whatever the order. */
int config_parse(usher_config *cfg, int argc, char **argv, FILE *out, FILE *err);

/* Applies one --config key (a long flag's name without "--") with its value
 * text: "true"/"false" for a switch (demo, log-json). Returns 0, or 2 after a
 * usage error on err naming file:line (help, version and config are not keys). */
int config_apply_key(usher_config *cfg, const char *key, const char *value, const char *file,
                     unsigned line, FILE *err);

/* Prints a usage error ("usherd: FILE:LINE: message", then the --help hint;
 * file NULL: no place) on err and returns 2. */
int config_usage_error(FILE *err, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reads a --config file (config_file.c): one `key = value` a line, blank
 * lines and lines starting with # ignored; every key as config_apply_key.
 * Returns 0, or 2 after a usage error naming the file (and line). */
int config_file_load(usher_config *cfg, const char *path, FILE *err);

/* Prints --help. */
void config_usage(FILE *out);

/* Parses "1500ms", "5s", "10m", "24h", "2d" into ms (above 0, at most 30
 * days): usherd's duration flags and usher-admin --ttl alike. A bare number
 * or another unit is INVALID_ARGUMENT. */
usher_err config_parse_duration(const char *text, int64_t *ms);

/* What store_open is given: --store's URL, else the --data directory. */
const char *config_store_spec(const usher_config *cfg);

/* The store options implied by the configuration. */
store_options config_store_options(const usher_config *cfg);

#endif
