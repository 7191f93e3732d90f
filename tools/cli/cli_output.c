/* How replies look: pretty (coloured on a terminal) JSON with local times
 * for people, one JSON object per line with --json and bare values with
 * --raw for programs, and one error line (plus a hint). */
#include "cli.h"

#include <stdarg.h>
#include <string.h>
#include "json_pretty.h"
#include "raw_values.h"
#include "time_text.h"

/* What to do next, for codes where the shell knows; the first row whose
 * code matches and whose method prefix (NULL: any) starts the method wins. */
static const struct { const char *code; const char *method_prefix; const char *hint; } error_hints[] = {
    { "TOKEN_EXPIRED", NULL, "the queue token expired: `enter CONCERT_ID` to queue again" },
    { "TOKEN_INVALID", NULL, "`enter CONCERT_ID` joins the queue and gives a queue token" },
    { "QUEUE_WAITING", NULL, "`watch` waits until the queue admits you" },
    { "UNAUTHENTICATED", NULL, "`register`, or `login USER SECRET`, gives a new session" },
    { "HOLD_EXPIRED", NULL, "holds last a few minutes: `reserve` the seat again" },
    { "INSUFFICIENT_BALANCE", NULL, "`charge AMOUNT` adds money to the wallet" },
    { "HOLD_LIMIT", NULL, "`pay` or `cancel` a hold first" },
    { "FORBIDDEN", "admin.", "the admin token was refused: `admin token TOKEN` with one from `usher-admin token`" },
    { "FORBIDDEN", "sys.stats", "the admin token was refused: `admin token TOKEN` with one from `usher-admin token`" },
    { "FORBIDDEN", NULL, "a queue token serves one concert and a reservation its owner: "
                         "`enter CONCERT_ID` for this concert's queue" },
};

static const char *hint_of(const char *code, const char *method)
{
    for (size_t i = 0; i < sizeof error_hints / sizeof error_hints[0]; i++) {
        const char *prefix = error_hints[i].method_prefix;
        if (strcmp(error_hints[i].code, code) == 0 &&
            (!prefix || (method && strncmp(method, prefix, strlen(prefix)) == 0)))
            return error_hints[i].hint;
    }
    return NULL;
}

void cli_asking(cli *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->asked, sizeof st->asked, fmt, ap);
    va_end(ap);
}

void cli_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

void cli_print_result(cli *st, const usher_reply *reply, double ms)
{
    if (st->raw) {
        raw_values_print(st->out, &reply->result);
        fflush(st->out);
        return;
    }
    char *json = usher_reply_json(reply, 0);
    if (st->json) {
        fprintf(st->out, "{\"ok\":true,\"result\":%s,\"ms\":%.3f}\n", json ? json : "null", ms);
    } else if (json) {
        json_pretty_print(st->out, json, strlen(json), st->colour, time_text_note);
    }
    usher_free(json);
    fflush(st->out);
}

void cli_print_error(cli *st, const char *code, int num, const char *message, double ms)
{
    const char *asked = st->asked[0] ? st->asked : NULL;
    if (st->json) {
        fputs("{\"ok\":false,\"code\":", st->out);
        cli_json_string(st->out, code);
        fprintf(st->out, ",\"num\":%d,\"message\":", num);
        cli_json_string(st->out, message);
        if (asked) {
            fputs(",\"asked\":", st->out);
            cli_json_string(st->out, asked);
        }
        fprintf(st->out, ",\"ms\":%.3f}\n", ms);
    } else if (st->raw) {
        fprintf(st->err, "%s: %s%s%s%s\n", code, message, asked ? " (asked: " : "", asked ? asked : "",
                asked ? ")" : "");
        fflush(st->err);
    } else {
        fprintf(st->out, "%serror %s (%d)%s: %s%s%s%s  [%.1f ms]\n",
                st->colour ? "\033[1;31m" : "", code, num, st->colour ? "\033[0m" : "",
                message, asked ? " (asked: " : "", asked ? asked : "", asked ? ")" : "", ms);
        const char *hint = hint_of(code, st->method);
        if (hint)
            fprintf(st->out, "hint: %s\n", hint);
    }
    fflush(st->out);
}

void cli_print_failure(cli *st, usher_status status, const usher_reply *reply, double ms)
{
    if (reply) {
        const char *code = reply->error_name ? reply->error_name : usher_status_name(reply->status);
        const char *message = reply->message ? reply->message : usher_errstr(reply->status);
        cli_print_error(st, code, (int)reply->status, message, ms);
        return;
    }
    const char *detail = st->client ? usher_last_message(st->client) : "";
    cli_print_error(st, usher_status_name(status), (int)status,
                    detail && *detail ? detail : usher_errstr(status), ms);
}

int cli_usage_error(cli *st, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (st->json) {
        fputs("{\"ok\":false,\"code\":\"USAGE\",\"message\":", st->out);
        cli_json_string(st->out, text);
        fputs("}\n", st->out);
        fflush(st->out);
    } else {
        fprintf(st->err, "%s\n", text);
        fflush(st->err);
    }
    return CLI_FAILED;
}

int cli_print_local(cli *st, const char *text, const char *json_result)
{
    if (st->json)
        fprintf(st->out, "{\"ok\":true,\"result\":%s}\n", json_result);
    else
        fprintf(st->out, "%s\n", text);
    fflush(st->out);
    return CLI_OK;
}
