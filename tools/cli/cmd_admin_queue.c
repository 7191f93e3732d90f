/* Admin commands for a concert's waiting room: admin queue get | set |
 * pause | resume | open (the admin.queue.* methods). CONCERT is a concert
 * id; when left out, the concert the shell remembers (enter, admin concert). */
#include "commands.h"

#include "starts_at.h"
#include "../common/queue_controls.h"

/* The concert of argv[0] (or the remembered one) into *concert_id. */
static bool concert_arg(cli *st, const cli_args *a, const char *usage, uint64_t *concert_id)
{
    bool given = a->argc > 0 && a->argv[0][0] != '-';
    cli_args head = { .argc = given ? 1 : 0, .argv = a->argv, .start = a->start };
    return cli_id_arg(st, &head, 0, st->concert_id, usage, concert_id);
}

/* Calls method for concert_id with the admin token and `extra` more params
 * packed by pack (may be NULL); prints the waiting room it answers. */
static int call_queue(cli *st, const char *method, uint64_t concert_id, uint32_t extra,
                      void (*pack)(cli_params *p, const void *ctx), const void *ctx)
{
    if (!cli_need_admin_token(st))
        return CLI_FAILED;
    cli_params p;
    cli_params_begin(&p, 2 + extra);
    cli_params_str(&p, "admin", st->admin_token);
    cli_params_u64(&p, "concert_id", concert_id);
    if (pack) pack(&p, ctx);
    cli_asking(st, "concert %llu", (unsigned long long)concert_id);
    int rc = cli_call(st, method, &p, NULL);
    cli_params_free(&p);
    if (rc == CLI_OK) st->concert_id = concert_id;
    return rc;
}

static void pack_controls(cli_params *p, const void *ctx)
{
    queue_controls_pack(&p->pk, ctx);
}

int cmd_admin_queue_get(cli *st, const cli_args *a)
{
    uint64_t concert_id;
    if (!concert_arg(st, a, "admin queue get [CONCERT]", &concert_id))
        return CLI_FAILED;
    return call_queue(st, "admin.queue.get", concert_id, 0, NULL, NULL);
}

int cmd_admin_queue_set(cli *st, const cli_args *a)
{
    uint64_t concert_id;
    if (!concert_arg(st, a, "admin queue set [CONCERT] [--max-active N] [--rate PER_MIN] "
                            "[--paused true|false]", &concert_id))
        return CLI_FAILED;
    int first = a->argc > 0 && a->argv[0][0] != '-';
    queue_controls q;
    char why[160];
    if (!queue_controls_parse(a->argc - first, a->argv + first, &q, why, sizeof why))
        return cli_usage_error(st, "admin queue set: %s", why);
    return call_queue(st, "admin.queue.set", concert_id, queue_controls_count(&q), pack_controls, &q);
}

/* pause and resume: admin.queue.set with paused alone. */
static int set_paused(cli *st, const cli_args *a, bool paused, const char *usage)
{
    uint64_t concert_id;
    if (!concert_arg(st, a, usage, &concert_id))
        return CLI_FAILED;
    queue_controls q = { .has_paused = true, .paused = paused };
    return call_queue(st, "admin.queue.set", concert_id, 1, pack_controls, &q);
}

int cmd_admin_queue_pause(cli *st, const cli_args *a)
{
    return set_paused(st, a, true, "admin queue pause [CONCERT]");
}

int cmd_admin_queue_resume(cli *st, const cli_args *a)
{
    return set_paused(st, a, false, "admin queue resume [CONCERT]");
}

static void pack_opens_at(cli_params *p, const void *ctx)
{
    cli_params_i64(p, "opens_at", *(const int64_t *)ctx);
}

int cmd_admin_queue_open(cli *st, const cli_args *a)
{
    uint64_t concert_id;
    if (!cli_parse_id(a->argv[0], &concert_id))
        return cli_usage_error(st, "admin queue open: CONCERT must be a concert id, not '%s'", a->argv[0]);
    int64_t opens_at;
    if (!starts_at_parse(a->argv[1], cli_wall_clock_ms(), &opens_at))
        return cli_usage_error(st, "admin queue open: OPENS_AT must be epoch ms or +N with ms, s, m, "
                                   "h or d (like +1h), not '%s'", a->argv[1]);
    return call_queue(st, "admin.queue.open", concert_id, 1, pack_opens_at, &opens_at);
}
