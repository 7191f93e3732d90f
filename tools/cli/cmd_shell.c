/* Commands about the shell itself: help, connect, quit. */
#include "commands.h"

#include <stdlib.h>

int cmd_help(cli *st, const cli_args *a)
{
    return cli_print_help(st, a->argc ? a->argv[0] : NULL);
}

int cmd_connect(cli *st, const cli_args *a)
{
    int64_t port;
    if (!cli_parse_i64(a->argv[1], &port) || port < 1 || port > 65535)
        return cli_usage_error(st, "connect: PORT must be 1..65535, not '%s'", a->argv[1]);
    usher_close(st->client);
    st->client = NULL;
    cli_set_str(&st->host, a->argv[0]);
    st->port = (int)port;
    return cli_call(st, "sys.hello", NULL, NULL);
}

int cmd_quit(cli *st, const cli_args *a)
{
    (void)a;
    st->quit = true;
    return CLI_OK;
}
