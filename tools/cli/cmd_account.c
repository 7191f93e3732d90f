/* Commands about the server and the user's account: ping, hello, register,
 * login, charge, balance, history. */
#include "commands.h"

int cmd_ping(cli *st, const cli_args *a)
{
    (void)a;
    return cli_call(st, "sys.ping", NULL, NULL);
}

int cmd_hello(cli *st, const cli_args *a)
{
    (void)a;
    return cli_call(st, "sys.hello", NULL, NULL);
}

int cmd_register(cli *st, const cli_args *a)
{
    (void)a;
    usher_reply *reply;
    if (cli_call(st, "user.register", NULL, &reply) != CLI_OK)
        return CLI_FAILED;
    cli_remember_str(&st->user_id, &reply->result, "user_id");
    cli_remember_str(&st->secret, &reply->result, "secret");
    cli_remember_str(&st->session, &reply->result, "session");
    usher_reply_free(reply);
    return CLI_OK;
}

int cmd_login(cli *st, const cli_args *a)
{
    cli_params p;
    cli_params_begin(&p, 2);
    cli_params_str(&p, "user_id", a->argv[0]);
    cli_params_str(&p, "secret", a->argv[1]);
    usher_reply *reply;
    int rc = cli_call(st, "auth.login", &p, &reply);
    cli_params_free(&p);
    if (rc != CLI_OK)
        return rc;
    cli_set_str(&st->user_id, a->argv[0]);
    cli_set_str(&st->secret, a->argv[1]);
    cli_remember_str(&st->session, &reply->result, "session");
    usher_reply_free(reply);
    return CLI_OK;
}

int cmd_charge(cli *st, const cli_args *a)
{
    int64_t amount;
    if (!cli_parse_i64(a->argv[0], &amount))
        return cli_usage_error(st, "charge: AMOUNT must be an integer (KRW), not '%s'", a->argv[0]);
    if (!cli_need_session(st))
        return CLI_FAILED;
    cli_params p;
    cli_params_begin(&p, 2);
    cli_params_str(&p, "session", st->session);
    cli_params_i64(&p, "amount", amount);
    cli_asking(st, "a charge of %lld KRW", (long long)amount);
    int rc = cli_call(st, "wallet.charge", &p, NULL);
    cli_params_free(&p);
    return rc;
}

int cmd_balance(cli *st, const cli_args *a)
{
    (void)a;
    return cli_call_with_session(st, "wallet.balance");
}

int cmd_history(cli *st, const cli_args *a)
{
    (void)a;
    return cli_call_with_session(st, "wallet.history");
}
