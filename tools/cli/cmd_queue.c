/* Commands about concerts and the waiting queue: concerts, enter, status,
 * watch (the polling API made visible). */
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include "cli_interrupt.h"

#define WATCH_INTERVAL_MS 500

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

/* One line describing a queue.status result: "WAITING  position 3  eta 12 s". */
static void watch_line(const msgpack_object *result, char *line, size_t cap, char *state, size_t state_cap)
{
    char *status = cli_result_strdup(result, "status");
    uint64_t position = 0, eta_s = 0;
    cli_result_u64(result, "position", &position);
    bool has_eta = cli_result_u64(result, "eta_s", &eta_s);
    snprintf(state, state_cap, "%s", status ? status : "?");
    int n = snprintf(line, cap, "queue %s  position %llu", state, (unsigned long long)position);
    if (has_eta && n > 0 && (size_t)n < cap)
        snprintf(line + n, cap - (size_t)n, "  eta %llu s", (unsigned long long)eta_s);
    free(status);
}

int cmd_watch(cli *st, const cli_args *a)
{
    (void)a;
    if (!cli_need_queue_token(st))
        return CLI_FAILED;
    usher_client *c = cli_connection(st);
    if (!c)
        return CLI_FAILED;
    char last[160] = "";
    bool redraw = st->stdout_tty && !st->json && !st->raw;
    int rc = CLI_FAILED;
    for (;;) {
        usher_reply *reply;
        double ms;
        usher_status status = queue_status(st, c, &reply, &ms);
        if (status != USHER_OK) {
            if (redraw && last[0])
                fputc('\n', st->out);
            cli_print_failure(st, status, reply, ms);
            usher_reply_free(reply);
            break;
        }
        char line[160], state[32];
        watch_line(&reply->result, line, sizeof line, state, sizeof state);
        bool changed = strcmp(line, last) != 0;
        if (st->json && changed)
            cli_print_result(st, reply, ms);
        else if (redraw)
            fprintf(st->out, "\r%s\033[K", line);
        else if (changed)
            fprintf(st->out, "%s\n", line);
        fflush(st->out);
        usher_reply_free(reply);
        snprintf(last, sizeof last, "%s", line);
        if (strcmp(state, "WAITING") != 0) {
            if (redraw)
                fputc('\n', st->out);
            rc = strcmp(state, "ACTIVE") == 0 ? CLI_OK : CLI_FAILED;
            break;
        }
        if (!cli_pause_ms(st->interactive, WATCH_INTERVAL_MS)) {
            fprintf(st->out, "%swatch stopped\n", redraw ? "\n" : "");
            break;
        }
    }
    return rc;
}
