/* Commands about concerts and the waiting queue: concerts, enter, status,
 * watch (the server's pushed updates made visible) and unwatch. */
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include "cli_interrupt.h"

int cmd_concerts(cli *st, const cli_args *a)
{
    (void)a;
    return cli_call(st, "concert.list", NULL, NULL);
}

int cmd_enter(cli *st, const cli_args *a)
{
    uint64_t concert_id;
    if (!cli_id_arg(st, a, 0, st->concert_id, "enter CONCERT", &concert_id) ||
        !cli_need_session(st))
        return CLI_FAILED;
    cli_params p;
    cli_params_begin(&p, 2);
    cli_params_str(&p, "session", st->session);
    cli_params_u64(&p, "concert_id", concert_id);
    cli_asking(st, "concert_id %llu", (unsigned long long)concert_id);
    usher_reply *reply;
    int rc = cli_call(st, "queue.enter", &p, &reply);
    cli_params_free(&p);
    if (rc != CLI_OK)
        return rc;
    cli_remember_str(&st->queue_token, &reply->result, "token");
    st->token_ended_by_payment = false;
    st->concert_id = concert_id;
    usher_reply_free(reply);
    return CLI_OK;
}

/* queue.status of the remembered token, printed by the caller. */
static usher_status queue_status(cli *st, usher_client *c, usher_reply **reply, double *ms)
{
    cli_params p;
    cli_params_begin(&p, 1);
    cli_params_str(&p, "token", st->queue_token);
    usher_status status = cli_call_quiet(c, "queue.status", &p, reply, ms);
    cli_params_free(&p);
    return status;
}

int cmd_status(cli *st, const cli_args *a)
{
    (void)a;
    if (!cli_need_queue_token(st))
        return CLI_FAILED;
    usher_client *c = cli_connection(st);
    if (!c)
        return CLI_FAILED;
    usher_reply *reply;
    double ms;
    usher_status status = queue_status(st, c, &reply, &ms);
    int rc = cli_print_outcome(st, status, reply, ms);
    usher_reply_free(reply);
    return rc;
}

/* What `watch` shows: the entry's latest state, from the queue.watch reply
 * or a notification, and when its estimate was told (to count it down). */
typedef struct watch_view {
    char status[24];
    uint64_t position;
    bool has_eta;
    uint64_t eta_s;
    double told_ms;
    bool ended;                 /* admitted or expired: watching is over */
    bool changed;               /* a notification came since the last draw */
    char *note_json;            /* for --json: the latest notification's params */
} watch_view;

static void view_take(watch_view *v, const msgpack_object *fields, const char *status)
{
    char *named = status ? NULL : cli_result_strdup(fields, "status");
    snprintf(v->status, sizeof v->status, "%s", status ? status : named ? named : "?");
    free(named);
    v->position = 0;
    cli_result_u64(fields, "position", &v->position);
    v->has_eta = cli_result_u64(fields, "eta_s", &v->eta_s);
    v->told_ms = cli_now_ms();
    v->ended = strcmp(v->status, "WAITING") != 0;
    v->changed = true;
}

/* The connection's notification callback while `watch` runs. */
static void on_watch_note(usher_client *c, const usher_reply *note, void *privdata)
{
    (void)c;
    watch_view *v = privdata;
    if (strcmp(note->method, "queue.update") == 0) view_take(v, &note->result, NULL);
    else if (strcmp(note->method, "queue.admitted") == 0) view_take(v, &note->result, "ACTIVE");
    else if (strcmp(note->method, "queue.expired") == 0) view_take(v, &note->result, NULL);
    else return;
    usher_free(v->note_json);
    v->note_json = usher_reply_json(note, 0);   /* as text: note is freed after we return */
}

/* "queue WAITING  position 3  eta 12 s", the estimate counted down since told. */
static void watch_line(const watch_view *v, char *line, size_t cap)
{
    int n = snprintf(line, cap, "queue %s  position %llu", v->status, (unsigned long long)v->position);
    if (n < 0 || (size_t)n >= cap || strcmp(v->status, "WAITING") != 0) return;
    if (!v->has_eta) { snprintf(line + n, cap - (size_t)n, "  eta unknown"); return; }
    int64_t gone_s = (int64_t)((cli_now_ms() - v->told_ms) / 1000.0);
    int64_t left = (int64_t)v->eta_s - gone_s;
    snprintf(line + n, cap - (size_t)n, "  eta %lld s", (long long)(left > 0 ? left : 0));
}

/* queue.watch or queue.unwatch of the remembered token. */
static usher_status watch_call(cli *st, usher_client *c, const char *method, usher_reply **reply,
                               double *ms)
{
    cli_params p;
    cli_params_begin(&p, 1);
    cli_params_str(&p, "token", st->queue_token);
    usher_status status = cli_call_quiet(c, method, &p, reply, ms);
    cli_params_free(&p);
    return status;
}

#define WATCH_WAKE_MS 200   /* how soon a Ctrl-C is noticed, and the countdown redrawn */

int cmd_watch(cli *st, const cli_args *a)
{
    (void)a;
    if (!cli_need_queue_token(st))
        return CLI_FAILED;
    usher_client *c = cli_connection(st);
    if (!c)
        return CLI_FAILED;
    usher_reply *reply;
    double ms;
    watch_view v = { 0 };
    usher_set_notify_cb(c, on_watch_note, &v);
    usher_status status = watch_call(st, c, "queue.watch", &reply, &ms);
    if (status != USHER_OK) {
        usher_set_notify_cb(c, NULL, NULL);
        cli_print_failure(st, status, reply, ms);
        usher_reply_free(reply);
        return CLI_FAILED;
    }
    bool redraw = st->stdout_tty && !st->json && !st->raw;
    if (st->json) cli_print_result(st, reply, ms);
    view_take(&v, &reply->result, NULL);
    usher_reply_free(reply);
    char last[160] = "";
    bool stopped = false, lost = false;
    for (;;) {
        char line[160];
        watch_line(&v, line, sizeof line);
        if (st->json && v.changed && v.note_json) fprintf(st->out, "%s\n", v.note_json);
        else if (redraw) fprintf(st->out, "\r%s\033[K", line);
        else if (!st->json && v.changed && strcmp(line, last) != 0) fprintf(st->out, "%s\n", line);
        fflush(st->out);
        v.changed = false;
        snprintf(last, sizeof last, "%s", line);
        if (v.ended) break;
        if (cli_interrupted(st->interactive)) { stopped = true; break; }
        status = usher_wait_notify(c, WATCH_WAKE_MS);
        if (status != USHER_OK && status != USHER_ETIMEOUT) { lost = true; break; }
    }
    if (redraw) fputc('\n', st->out);
    if (stopped) {
        fprintf(st->out, "watch stopped\n");
        watch_call(st, c, "queue.unwatch", &reply, &ms);
        usher_reply_free(reply);
    } else if (lost) {
        cli_print_failure(st, status, NULL, 0);
    }
    usher_set_notify_cb(c, NULL, NULL);
    usher_free(v.note_json);
    return !stopped && !lost && strcmp(v.status, "ACTIVE") == 0 ? CLI_OK : CLI_FAILED;
}

int cmd_unwatch(cli *st, const cli_args *a)
{
    (void)a;
    if (!cli_need_queue_token(st))
        return CLI_FAILED;
    cli_params p;
    cli_params_begin(&p, 1);
    cli_params_str(&p, "token", st->queue_token);
    int rc = cli_call(st, "queue.unwatch", &p, NULL);
    cli_params_free(&p);
    return rc;
}
