#include "log.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024

static const char *level_names[] = { "error", "warn", "info", "debug" };

static size_t format_time(char *out, size_t cap)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(out + n, cap - n, ".%03dZ", (int)(tv.tv_usec / 1000));
    return n;
}

/* Appends s as a JSON string body (quotes not included), escaping. */
static size_t json_escape(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') { out[n++] = '\\'; out[n++] = (char)ch; }
        else if (ch < 0x20) n += (size_t)snprintf(out + n, cap - n, "\\u%04x", ch);
        else out[n++] = (char)ch;
    }
    out[n] = '\0';
    return n;
}

static void write_all(const char *p, size_t n)
{
    ssize_t w = write(STDERR_FILENO, p, n);
    (void)w;   /* a log that cannot be written is not worth failing a request */
}

static void flush_gathered(logger *lg)
{
    if (lg->pending_len == 0) return;
    write_all(lg->pending, lg->pending_len);
    lg->pending_len = 0;
}

/* Ends line with a newline; gathers it when gather, else writes it at once
 * after whatever was gathered. */
static void emit(logger *lg, char *line, size_t n, size_t cap, bool gather)
{
    if (n >= cap - 1) n = cap - 2;
    line[n++] = '\n';
    if (gather && n <= sizeof lg->pending) {
        if (lg->pending_len + n > sizeof lg->pending) flush_gathered(lg);
        memcpy(lg->pending + lg->pending_len, line, n);
        lg->pending_len += n;
        return;
    }
    flush_gathered(lg);
    write_all(line, n);
}

void log_request(logger *lg, uint64_t conn_id, const char *method, uint32_t msgid,
                 const char *user, usher_err code, int64_t micros)
{
    if (lg->level < LOG_INFO) return;
    char line[LOG_LINE_MAX], ts[40], m[160];
    format_time(ts, sizeof ts);
    int n;
    if (lg->json) {
        json_escape(m, sizeof m, method);
        n = snprintf(line, sizeof line,
                     "{\"ts\":\"%s\",\"instance\":\"%s\",\"level\":\"info\",\"event\":\"request\","
                     "\"msg\":\"request\",\"conn\":%llu,\"method\":\"%s\",\"msgid\":%u,\"user\":\"%s\","
                     "\"code\":\"%s\",\"us\":%lld}",
                     ts, lg->instance, (unsigned long long)conn_id, m, msgid, user,
                     usher_err_name(code), (long long)micros);
    } else {
        n = snprintf(line, sizeof line,
                     "%s %s request method=%s msgid=%u conn=%llu user=%s code=%s us=%lld",
                     ts, lg->instance, method, msgid, (unsigned long long)conn_id, user,
                     usher_err_name(code), (long long)micros);
    }
    if (n > 0) emit(lg, line, (size_t)n, sizeof line, true);
}

void log_conn(logger *lg, const char *event, uint64_t conn_id, const char *peer)
{
    if (lg->level < LOG_INFO) return;
    char line[LOG_LINE_MAX], ts[40];
    format_time(ts, sizeof ts);
    int n;
    if (lg->json)
        n = snprintf(line, sizeof line,
                     "{\"ts\":\"%s\",\"instance\":\"%s\",\"level\":\"info\",\"event\":\"conn_%s\","
                     "\"msg\":\"conn_%s\",\"conn\":%llu,\"peer\":\"%s\"}",
                     ts, lg->instance, event, event, (unsigned long long)conn_id, peer);
    else
        n = snprintf(line, sizeof line, "%s %s conn_%s conn=%llu peer=%s",
                     ts, lg->instance, event, (unsigned long long)conn_id, peer);
    if (n > 0) emit(lg, line, (size_t)n, sizeof line, true);
}

/* Formats one operator message line (no newline) into line[LOG_LINE_MAX]. */
static size_t format_message(const log_format *f, log_level level, const char *text, char *line)
{
    char ts[40], esc[LOG_LINE_MAX - 200];
    format_time(ts, sizeof ts);
    int n;
    if (f->json) {
        json_escape(esc, sizeof esc, text);
        n = snprintf(line, LOG_LINE_MAX, "{\"ts\":\"%s\",\"instance\":\"%s\",\"level\":\"%s\",\"event\":\"message\",\"msg\":\"%s\"}",
                     ts, f->instance, level_names[level], esc);
    } else {
        n = snprintf(line, LOG_LINE_MAX, "%s %s %s %s", ts, f->instance, level_names[level], text);
    }
    if (n < 0) return 0;
    return (size_t)n < LOG_LINE_MAX ? (size_t)n : LOG_LINE_MAX - 1;
}

void log_line_write(const log_format *f, log_level level, const char *text)
{
    char line[LOG_LINE_MAX];
    size_t n = format_message(f, level, text, line);
    if (n == 0) return;
    if (n >= LOG_LINE_MAX - 1) n = LOG_LINE_MAX - 2;
    line[n++] = '\n';
    write_all(line, n);
}

/* One operator message line of already formatted text. */
static void write_message(logger *lg, log_level level, const char *text)
{
    char line[LOG_LINE_MAX];
    log_format f = { .json = lg->json, .instance = lg->instance };
    size_t n = format_message(&f, level, text, line);
    if (n > 0) emit(lg, line, n, sizeof line, false);
}

void log_msg(logger *lg, log_level level, const char *fmt, ...)
{
    if (lg->level < level) return;
    char text[LOG_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    write_message(lg, level, text);
}

/* ---- the limiter ---- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t log_limits_suffix(char *out, size_t cap, uint64_t more, int64_t span_ms)
{
    if (cap == 0) return 0;
    out[0] = '\0';
    if (more == 0) return 0;
    int n = snprintf(out, cap, " (%" PRIu64 " more like this in the last %.1f s)", more,
                     (double)span_ms / 1000.0);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* The slot of key, or a free one, or the stalest one with nothing unwritten
 * (taken over); NULL when every slot owes a line. */
static log_limit_slot *find_slot(log_limits *l, const char *key)
{
    log_limit_slot *spare = NULL;
    for (unsigned i = 0; i < LOG_LIMIT_KEYS; i++) {
        log_limit_slot *s = &l->slot[i];
        if (s->key[0] && strncmp(s->key, key, sizeof s->key - 1) == 0) return s;
        if (s->unwritten == 0 && (!spare || !s->key[0] ||
                                  (spare->key[0] && s->written_ms < spare->written_ms)))
            spare = s;
    }
    if (spare) {
        snprintf(spare->key, sizeof spare->key, "%s", key);
        spare->written_ms = INT64_MIN;   /* new: its first occurrence is written */
        spare->unwritten = 0;
    }
    return spare;
}

bool log_limits_note(log_limits *l, const char *key, log_level level, const char *text,
                     int64_t now_ms, uint64_t *more, int64_t *span_ms)
{
    *more = 0;
    *span_ms = 0;
    log_limit_slot *s = find_slot(l, key[0] ? key : "-");
    if (!s) {
        if (l->other_unwritten++ == 0) {
            l->other_since_ms = now_ms;
            l->slots_unwritten++;
        }
        return false;
    }
    if (s->written_ms != INT64_MIN && now_ms - s->written_ms < LOG_LIMIT_INTERVAL_MS) {
        if (s->unwritten++ == 0) l->slots_unwritten++;
        s->level = level;
        snprintf(s->latest, sizeof s->latest, "%s", text);
        return false;
    }
    if (s->unwritten > 0) {
        *more = s->unwritten;
        *span_ms = now_ms - s->written_ms;
        s->unwritten = 0;
        l->slots_unwritten--;
    }
    s->written_ms = now_ms;
    return true;
}

void log_limits_sweep(log_limits *l, int64_t now_ms, log_limits_writer *write_line, void *ctx)
{
    if (l->slots_unwritten == 0) return;
    for (unsigned i = 0; i < LOG_LIMIT_KEYS; i++) {
        log_limit_slot *s = &l->slot[i];
        if (s->unwritten == 0 || now_ms - s->written_ms < LOG_LIMIT_INTERVAL_MS) continue;
        uint64_t others = s->unwritten - 1;   /* the latest is written itself */
        int64_t span = now_ms - s->written_ms;
        s->unwritten = 0;
        s->written_ms = now_ms;
        l->slots_unwritten--;
        write_line(ctx, s->level, s->latest, others, span);
    }
    if (l->other_unwritten > 0 && now_ms - l->other_since_ms >= LOG_LIMIT_INTERVAL_MS) {
        uint64_t n = l->other_unwritten;
        l->other_unwritten = 0;
        l->slots_unwritten--;
        write_line(ctx, LOG_WARN, NULL, n, now_ms - l->other_since_ms);
    }
}

/* log_limits_writer for a logger. */
static void write_owed(void *ctx, log_level level, const char *text, uint64_t more,
                       int64_t span_ms)
{
    logger *lg = ctx;
    char line[LOG_TEXT_MAX + 80], suffix[80];
    log_limits_suffix(suffix, sizeof suffix, more, span_ms);
    if (text) snprintf(line, sizeof line, "%s%s", text, suffix);
    else snprintf(line, sizeof line, "%" PRIu64 " repeated messages of too many kinds to tell "
                  "apart in the last %.1f s", more, (double)span_ms / 1000.0);
    write_message(lg, level, line);
}

void log_limited(logger *lg, const char *key, log_level level, const char *fmt, ...)
{
    if (lg->level < level) return;
    char text[LOG_TEXT_MAX], suffix[80];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    uint64_t more;
    int64_t span_ms;
    if (!log_limits_note(&lg->limits, key, level, text, mono_ms(), &more, &span_ms)) return;
    size_t n = strlen(text);
    log_limits_suffix(suffix, sizeof suffix, more, span_ms);
    snprintf(text + n, sizeof text - n, "%s", suffix);
    write_message(lg, level, text);
}

void log_flush(logger *lg)
{
    flush_gathered(lg);
    if (lg->limits.slots_unwritten) log_limits_sweep(&lg->limits, mono_ms(), write_owed, lg);
}
