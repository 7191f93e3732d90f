/* The PostgreSQL store's connections: the pool, connecting with backoff,
 * statements (prepared once per connection, the first of a transaction
 * pipelined with its BEGIN or SAVEPOINT), and what a failed statement
 * means (store_pg_internal.h). */
#include "store_pg_internal.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "log.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 2000

void pg_say(const pg_store *st, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!st->log_instance[0]) {
        fprintf(stderr, "store: %s\n", msg);
        return;
    }
    logger lg = { .level = LOG_ERROR, .json = st->log_json, .instance = st->log_instance };
    log_msg(&lg, LOG_ERROR, "store: %s", msg);
}

/* The database's one-line message of a result or a connection. */
static void say_failure(const pg_store *st, const char *what, PGconn *pg, const PGresult *res)
{
    const char *m = res ? PQresultErrorMessage(res) : PQerrorMessage(pg);
    char line[300];
    snprintf(line, sizeof line, "%s", m && *m ? m : "no message");
    line[strcspn(line, "\n")] = '\0';
    pg_say(st, "postgres: %s: %s", what, line);
}

void pg_conn_lost(pg_conn *c)
{
    if (c->pg) PQfinish(c->pg);
    c->pg = NULL;
    c->pending = 0;
    c->n_prepared = 0;
}

static usher_err conn_open(pg_store *st, pg_conn *c)
{
    int64_t now = clock_mono_us();
    if (now < c->retry_at_us) return USHER_ERR_UNAVAILABLE;
    char timeout_s[24], user_timeout[24], options[128];
    int64_t secs = (st->connect_timeout_ms + 999) / 1000;
    snprintf(timeout_s, sizeof timeout_s, "%" PRId64, secs < 2 ? 2 : secs);
    snprintf(user_timeout, sizeof user_timeout, "%" PRId64, st->connect_timeout_ms);
    snprintf(options, sizeof options, "-c search_path=usher -c statement_timeout=%" PRId64,
             st->connect_timeout_ms);
    const char *kw[] = { "dbname", "connect_timeout", "application_name", "keepalives",
                         "keepalives_idle", "keepalives_interval", "keepalives_count",
                         "tcp_user_timeout", "options", NULL };
    const char *val[] = { st->url, timeout_s, "usherd", "1", "5", "2", "3", user_timeout,
                          options, NULL };
    PGconn *pg = PQconnectdbParams(kw, val, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        if (c->backoff_ms == 0) say_failure(st, "cannot connect", pg, NULL);
        if (pg) PQfinish(pg);
        c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_FIRST_MS;
        if (c->backoff_ms > BACKOFF_MAX_MS) c->backoff_ms = BACKOFF_MAX_MS;
        c->retry_at_us = clock_mono_us() + c->backoff_ms * 1000;
        return USHER_ERR_UNAVAILABLE;
    }
    if (c->backoff_ms) pg_say(st, "postgres: connected again");
    c->pg = pg;
    c->backoff_ms = 0;
    c->retry_at_us = 0;
    return USHER_ERR_OK;
}

/* Reads the results of deferred statements (an earlier transaction's end). */
static bool conn_drain(pg_conn *c)
{
    while (c->pending > 0) {
        PGresult *r;
        bool ok = true;
        while ((r = PQgetResult(c->pg))) {
            if (PQresultStatus(r) == PGRES_FATAL_ERROR) ok = false;
            PQclear(r);
        }
        c->pending--;
        if (!ok || PQstatus(c->pg) != CONNECTION_OK) return false;
    }
    /* Reads what the server sent meanwhile without waiting: a connection it
     * closed (a restart, a shutdown) is found lost here, before a
     * transaction is begun on it. */
    return PQconsumeInput(c->pg) && PQstatus(c->pg) == CONNECTION_OK;
}

usher_err pg_conn_acquire(pg_store *st, pg_conn **out)
{
    pthread_mutex_lock(&st->mu);
    pg_conn *c = NULL;
    for (;;) {
        for (unsigned i = 0; i < st->n_conns && !c; i++)
            if (!st->conns[i].busy) c = &st->conns[i];
        if (c) break;
        pthread_cond_wait(&st->freed, &st->mu);
    }
    c->busy = true;
    pthread_mutex_unlock(&st->mu);
    if (c->pg && !conn_drain(c)) pg_conn_lost(c);
    usher_err e = c->pg ? USHER_ERR_OK : conn_open(st, c);
    if (e != USHER_ERR_OK) {
        pg_conn_release(st, c);
        return e;
    }
    *out = c;
    return USHER_ERR_OK;
}

void pg_conn_release(pg_store *st, pg_conn *c)
{
    pthread_mutex_lock(&st->mu);
    c->busy = false;
    pthread_cond_signal(&st->freed);
    pthread_mutex_unlock(&st->mu);
}

void pg_conn_close_all(pg_store *st)
{
    for (unsigned i = 0; i < st->n_conns; i++) pg_conn_lost(&st->conns[i]);
}

/* ---- parameters ---- */

static void p_add(pg_params *p, const char *v, int len, int fmt)
{
    if (p->n >= PG_PARAMS_MAX) abort();   /* a statement with too many: a bug */
    p->value[p->n] = v;
    p->length[p->n] = len;
    p->format[p->n] = fmt;
    p->n++;
}

void pg_p_i64(pg_params *p, int64_t v)
{
    char *t = p->text[p->n < PG_PARAMS_MAX ? p->n : 0];
    snprintf(t, sizeof p->text[0], "%" PRId64, v);
    p_add(p, t, 0, 0);
}

void pg_p_u64(pg_params *p, uint64_t v) { pg_p_i64(p, v > INT64_MAX ? INT64_MAX : (int64_t)v); }

void pg_p_bool(pg_params *p, bool v) { p_add(p, v ? "t" : "f", 0, 0); }

void pg_p_bytes(pg_params *p, const void *bytes, size_t len)
{
    p_add(p, len ? bytes : "", (int)len, 1);
}

void pg_p_user(pg_params *p, const user_id *user) { pg_p_bytes(p, user->bytes, sizeof user->bytes); }

/* Text parameters need a NUL: short ones are copied into the params, longer
 * ones must be NUL-terminated by the caller (titles are, as stored). */
void pg_p_text(pg_params *p, const char *s, size_t len)
{
    if (len < sizeof p->text[0] && p->n < PG_PARAMS_MAX) {
        char *t = p->text[p->n];
        memcpy(t, s, len);
        t[len] = '\0';
        s = t;
    }
    p_add(p, s, 0, 0);
}

void pg_p_null(pg_params *p) { p_add(p, NULL, 0, 0); }

bool pg_p_i64_array(pg_params *p, const uint64_t *v, size_t n, char *buf, size_t cap)
{
    size_t at = 0;
    if (cap < 3) return false;
    buf[at++] = '{';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + at, cap - at, "%s%" PRIu64, i ? "," : "", v[i]);
        if (w < 0 || (size_t)w >= cap - at) return false;
        at += (size_t)w;
    }
    if (at + 2 > cap) return false;
    buf[at++] = '}';
    buf[at] = '\0';
    p_add(p, buf, 0, 0);
    return true;
}

/* ---- values ---- */

int64_t pg_i64(const PGresult *res, int r, int c)
{
    if (PQgetisnull(res, r, c)) return 0;
    return strtoll(PQgetvalue(res, r, c), NULL, 10);
}

bool pg_bool(const PGresult *res, int r, int c)
{
    return !PQgetisnull(res, r, c) && PQgetvalue(res, r, c)[0] == 't';
}

bool pg_null(const PGresult *res, int r, int c) { return PQgetisnull(res, r, c) != 0; }

static int hexval(char h)
{
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
}

/* Decodes a text-format bytea ("\x0a1b...") in place into out (cap). */
static bool unhex(const char *s, size_t slen, unsigned char *out, size_t cap, size_t *len)
{
    if (slen < 2 || s[0] != '\\' || s[1] != 'x' || (slen - 2) % 2) return false;
    size_t n = (slen - 2) / 2;
    if (n > cap) return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 + 2 * i]), lo = hexval(s[3 + 2 * i]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    *len = n;
    return true;
}

bool pg_bytes(const PGresult *res, int r, int c, void *out, size_t len)
{
    if (PQgetisnull(res, r, c)) return false;
    size_t got;
    const char *s = PQgetvalue(res, r, c);
    return unhex(s, (size_t)PQgetlength(res, r, c), out, len, &got) && got == len;
}

bool pg_bytes_kept(store_txn *t, const PGresult *res, int r, int c, const void **out,
                   size_t *len)
{
    (void)t;   /* the result is kept by t: decode into its own value, in place */
    if (PQgetisnull(res, r, c)) return false;
    char *s = PQgetvalue(res, r, c);
    size_t slen = (size_t)PQgetlength(res, r, c);
    if (!unhex(s, slen, (unsigned char *)s, slen, len)) return false;
    *out = s;
    return true;
}

void pg_text(const PGresult *res, int r, int c, char *out, size_t cap)
{
    snprintf(out, cap, "%s", PQgetisnull(res, r, c) ? "" : PQgetvalue(res, r, c));
}

size_t pg_i64_array(const PGresult *res, int r, int c, uint64_t *out, size_t cap)
{
    if (PQgetisnull(res, r, c)) return 0;
    const char *s = PQgetvalue(res, r, c);
    size_t n = 0;
    while (*s && n < cap) {
        while (*s == '{' || *s == ',' || *s == '}') s++;
        if (!*s) break;
        char *end;
        out[n++] = strtoull(s, &end, 10);
        if (end == s) break;
        s = end;
    }
    return n;
}
