/* `stats [-i SECONDS]`: sys.stats as tables, once or redrawn every SECONDS
 * until Ctrl-C. */
#include "commands.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli_interrupt.h"
#include "stats_view.h"

#define STATS_USAGE "stats [-i SECONDS]"
#define STATS_INTERVAL_MAX_S 86400.0
#define ANSI_HOME_CLEAR "\033[H\033[2J"

/* The interval of `-i SECONDS` (0: once); false after printing the usage. */
static bool stats_interval(cli *st, const cli_args *a, long *interval_ms)
{
    *interval_ms = 0;
    if (a->argc == 0)
        return true;
    char *end;
    double s = a->argc == 2 && strcmp(a->argv[0], "-i") == 0 ? strtod(a->argv[1], &end) : -1;
    if (s <= 0 || *end || !isfinite(s) || s > STATS_INTERVAL_MAX_S) {
        cli_usage_error(st, "usage: %s (SECONDS above 0, like 0.5)", STATS_USAGE);
        return false;
    }
    *interval_ms = (long)(s * 1000.0 + 0.5);
    if (*interval_ms == 0)
        *interval_ms = 1;
    return true;
}

/* One sys.stats call, printed; CLI_OK or CLI_FAILED. */
static int stats_once(cli *st, usher_client *c, bool redraw)
{
    cli_params p;
    cli_params_begin(&p, 1);
    cli_params_str(&p, "admin", st->admin_token);
    usher_reply *reply;
    double ms;
    st->method = "sys.stats";
    usher_status status = cli_call_quiet(c, st->method, &p, &reply, &ms);
    cli_params_free(&p);
    int rc = CLI_FAILED;
    if (redraw)
        fputs(ANSI_HOME_CLEAR, st->out);
    if (status == USHER_OK && reply && reply->status == USHER_OK) {
        if (st->json || st->raw) {
            cli_print_result(st, reply, ms);
        } else {
            stats_view_print(st->out, &reply->result);
            fflush(st->out);
        }
        rc = CLI_OK;
    } else {
        cli_print_failure(st, status, reply, ms);
    }
    usher_reply_free(reply);
    return rc;
}

int cmd_stats(cli *st, const cli_args *a)
{
    long interval_ms;
    if (!stats_interval(st, a, &interval_ms) || !cli_need_admin_token(st))
        return CLI_FAILED;
    usher_client *c = cli_connection(st);
    if (!c)
        return CLI_FAILED;
    bool redraw = interval_ms > 0 && st->stdout_tty && !st->json && !st->raw;
    for (unsigned round = 0;; round++) {
        if (interval_ms > 0 && round > 0 && !redraw && !st->json && !st->raw)
            fputc('\n', st->out); /* successive tables, one blank line apart */
        if (stats_once(st, c, redraw) != CLI_OK)
            return CLI_FAILED;
        if (interval_ms == 0)
            return CLI_OK;
        if (!cli_pause_ms(st->interactive, interval_ms)) {
            if (!st->json && !st->raw)
                fputs("stats stopped\n", st->out);
            fflush(st->out);
            return CLI_OK;
        }
        if (!usher_is_connected(c) && !(c = cli_connection(st)))
            return CLI_FAILED;
    }
}
