/* Admin commands: remember an admin token, create concerts and performances. */
#include "commands.h"

#include "starts_at.h"

int cmd_admin_token(cli *st, const cli_args *a)
{
    cli_set_str(&st->admin_token, a->argv[0]);
    return cli_print_local(st, "admin token set", "{\"admin_token\":\"set\"}");
}

int cmd_admin_concert(cli *st, const cli_args *a)
{
    if (!cli_need_admin_token(st))
        return CLI_FAILED;
    cli_params p;
    cli_params_begin(&p, a->argc == 2 ? 3 : 2);
    cli_params_str(&p, "admin", st->admin_token);
    cli_params_str(&p, "title", a->argv[0]);
    if (a->argc == 2)
        cli_params_str(&p, "venue", a->argv[1]);
    usher_reply *reply;
    int rc = cli_call(st, "admin.concert.create", &p, &reply);
    cli_params_free(&p);
    if (rc != CLI_OK)
        return rc;
    cli_result_u64(&reply->result, "concert_id", &st->concert_id);
    usher_reply_free(reply);
    return CLI_OK;
}

int cmd_admin_schedule(cli *st, const cli_args *a)
{
    uint64_t concert_id;
    int64_t starts_at, price, seats = 0;
    if (!cli_parse_id(a->argv[0], &concert_id))
        return cli_usage_error(st, "admin schedule: CONCERT must be a concert id, not '%s'", a->argv[0]);
    if (!starts_at_parse(a->argv[1], cli_wall_clock_ms(), &starts_at))
        return cli_usage_error(st, "admin schedule: STARTS_AT must be epoch ms or +N with ms, s, m, h "
                                   "or d (like +2d), not '%s'", a->argv[1]);
    if (!cli_parse_i64(a->argv[2], &price))
        return cli_usage_error(st, "admin schedule: PRICE must be an integer (KRW), not '%s'", a->argv[2]);
    if (a->argc == 4 && !cli_parse_i64(a->argv[3], &seats))
        return cli_usage_error(st, "admin schedule: SEATS must be an integer, not '%s'", a->argv[3]);
    if (!cli_need_admin_token(st))
        return CLI_FAILED;
    cli_params p;
    cli_params_begin(&p, a->argc == 4 ? 5 : 4);
    cli_params_str(&p, "admin", st->admin_token);
    cli_params_u64(&p, "concert_id", concert_id);
    cli_asking(st, "concert_id %llu", (unsigned long long)concert_id);
    cli_params_i64(&p, "starts_at", starts_at);
    cli_params_i64(&p, "price", price);
    if (a->argc == 4)
        cli_params_i64(&p, "seats", seats);
    usher_reply *reply;
    int rc = cli_call(st, "admin.schedule.create", &p, &reply);
    cli_params_free(&p);
    if (rc != CLI_OK)
        return rc;
    st->concert_id = concert_id;
    cli_result_u64(&reply->result, "schedule_id", &st->schedule_id);
    usher_reply_free(reply);
    return CLI_OK;
}

int cmd_admin_revoke(cli *st, const cli_args *a)
{
    if (!cli_need_admin_token(st))
        return CLI_FAILED;
    cli_params p;
    cli_params_begin(&p, 2);
    cli_params_str(&p, "admin", st->admin_token);
    cli_params_str(&p, "user_id", a->argv[0]);
    cli_asking(st, "user %s", a->argv[0]);
    usher_reply *reply;
    int rc = cli_call(st, "admin.session.revoke", &p, &reply);
    cli_params_free(&p);
    if (rc == CLI_OK)
        usher_reply_free(reply);
    return rc;
}
