/* Admin commands of a concert's waiting room: its figures, its admission
 * controls, and opening a pre-queue (admin.queue.get / set / open). */
#include <stdio.h>
#include <string.h>
#include "commands.h"

#include "starts_at.h"

/* The concert id of argv[0], or a usage error naming the command. */
static bool concert_arg(cli *st, const char *cmd, const char *arg, uint64_t *concert_id)
{
    if (cli_parse_id(arg, concert_id))
        return true;
    cli_usage_error(st, "%s: CONCERT must be a concert id, not '%s'", cmd, arg);
    return false;
}

static int call_queue(cli *st, const char *method, cli_params *p)
{
    usher_reply *reply;
    int rc = cli_call(st, method, p, &reply);
    cli_params_free(p);
    if (rc == CLI_OK)
        usher_reply_free(reply);
    return rc;
}

int cmd_admin_queue_get(cli *st, const cli_args *a)
{
    uint64_t concert_id;
    if (!concert_arg(st, "admin queue", a->argv[0], &concert_id))
        return CLI_FAILED;
    if (!cli_need_admin_token(st))
        return CLI_FAILED;
    cli_params p;
    cli_params_begin(&p, 2);
    cli_params_str(&p, "admin", st->admin_token);
    cli_params_u64(&p, "concert_id", concert_id);
    return call_queue(st, "admin.queue.get", &p);
}

/* KEY=VALUE words: max_active=N, rate=N (admit_rate_per_min), paused=true|false. */
int cmd_admin_queue_set(cli *st, const cli_args *a)
{
    uint64_t concert_id;
    if (!concert_arg(st, "admin queue-set", a->argv[0], &concert_id))
        return CLI_FAILED;
    int64_t max_active = -1, rate = -1;
    int paused = -1;
    for (int i = 1; i < a->argc; i++) {
        const char *w = a->argv[i];
        if (strncmp(w, "max_active=", 11) == 0 && cli_parse_i64(w + 11, &max_active)) continue;
        if (strncmp(w, "rate=", 5) == 0 && cli_parse_i64(w + 5, &rate)) continue;
        if (strcmp(w, "paused=true") == 0) { paused = 1; continue; }
        if (strcmp(w, "paused=false") == 0) { paused = 0; continue; }
        return cli_usage_error(st, "admin queue-set: '%s' is not max_active=N, rate=N or "
                                   "paused=true|false", w);
    }
    if (!cli_need_admin_token(st))
        return CLI_FAILED;
    cli_params p;
    cli_params_begin(&p, 2 + (max_active >= 0) + (rate >= 0) + (paused >= 0));
    cli_params_str(&p, "admin", st->admin_token);
    cli_params_u64(&p, "concert_id", concert_id);
    if (max_active >= 0) cli_params_i64(&p, "max_active", max_active);
    if (rate >= 0) cli_params_i64(&p, "admit_rate_per_min", rate);
    if (paused >= 0) {
        cli_params_key(&p, "paused");
        if (paused) msgpack_pack_true(&p.pk); else msgpack_pack_false(&p.pk);
    }
    return call_queue(st, "admin.queue.set", &p);
}

int cmd_admin_queue_open(cli *st, const cli_args *a)
{
    uint64_t concert_id;
    int64_t opens_at;
    if (!concert_arg(st, "admin queue-open", a->argv[0], &concert_id))
        return CLI_FAILED;
    if (!starts_at_parse(a->argv[1], cli_wall_clock_ms(), &opens_at))
        return cli_usage_error(st, "admin queue-open: OPENS_AT must be epoch ms or +N with ms, s, "
                                   "m, h or d (like +10m), not '%s'", a->argv[1]);
    if (!cli_need_admin_token(st))
        return CLI_FAILED;
    cli_params p;
    cli_params_begin(&p, 3);
    cli_params_str(&p, "admin", st->admin_token);
    cli_params_u64(&p, "concert_id", concert_id);
    cli_params_i64(&p, "opens_at", opens_at);
    return call_queue(st, "admin.queue.open", &p);
}
