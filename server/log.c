#include "log.h"
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

void log_flush(logger *lg)
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
        if (lg->pending_len + n > sizeof lg->pending) log_flush(lg);
        memcpy(lg->pending + lg->pending_len, line, n);
        lg->pending_len += n;
        return;
    }
    log_flush(lg);
    write_all(line, n);
}

void log_request(logger *lg, const char *method, uint32_t msgid,
                 const char *user, usher_err code, int64_t micros)
{
    if (lg->level < LOG_INFO) return;
    char line[LOG_LINE_MAX], ts[40], m[160];
    format_time(ts, sizeof ts);
    int n;
    if (lg->json) {
        json_escape(m, sizeof m, method);
        n = snprintf(line, sizeof line,
                     "{\"ts\":\"%s\",\"instance\":\"%s\",\"event\":\"request\",\"method\":\"%s\","
                     "\"msgid\":%u,\"user\":\"%s\",\"code\":\"%s\",\"us\":%lld}",
                     ts, lg->instance, m, msgid, user, usher_err_name(code), (long long)micros);
    } else {
        n = snprintf(line, sizeof line, "%s %s request method=%s msgid=%u user=%s code=%s us=%lld",
                     ts, lg->instance, method, msgid, user, usher_err_name(code), (long long)micros);
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
                     "{\"ts\":\"%s\",\"instance\":\"%s\",\"event\":\"conn_%s\",\"conn\":%llu,\"peer\":\"%s\"}",
                     ts, lg->instance, event, (unsigned long long)conn_id, peer);
    else
        n = snprintf(line, sizeof line, "%s %s conn_%s conn=%llu peer=%s",
                     ts, lg->instance, event, (unsigned long long)conn_id, peer);
    if (n > 0) emit(lg, line, (size_t)n, sizeof line, true);
}

void log_msg(logger *lg, log_level level, const char *fmt, ...)
{
    if (lg->level < level) return;
    char line[LOG_LINE_MAX], ts[40], text[700], esc[760];
    format_time(ts, sizeof ts);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    int n;
    if (lg->json) {
        json_escape(esc, sizeof esc, text);
        n = snprintf(line, sizeof line, "{\"ts\":\"%s\",\"instance\":\"%s\",\"event\":\"message\",\"level\":\"%s\",\"msg\":\"%s\"}",
                     ts, lg->instance, level_names[level], esc);
    } else {
        n = snprintf(line, sizeof line, "%s %s %s %s", ts, lg->instance, level_names[level], text);
    }
    if (n > 0) emit(lg, line, (size_t)n, sizeof line, false);
}
