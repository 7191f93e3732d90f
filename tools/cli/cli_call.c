/* Calling the server for a command: packing params, keeping a connection,
 * timing the round trip and printing what came back. */
#include "cli.h"

#include <string.h>
#include <time.h>

double cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int64_t cli_wall_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cli_params_begin(cli_params *p, uint32_t pairs)
{
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
    msgpack_pack_map(&p->pk, pairs);
}

void cli_params_key(cli_params *p, const char *key)
{
    size_t n = strlen(key);
    msgpack_pack_str(&p->pk, n);
    msgpack_pack_str_body(&p->pk, key, n);
}

void cli_params_str(cli_params *p, const char *key, const char *value)
{
    cli_params_key(p, key);
    size_t n = strlen(value);
    msgpack_pack_str(&p->pk, n);
    msgpack_pack_str_body(&p->pk, value, n);
}

void cli_params_u64(cli_params *p, const char *key, uint64_t value)
{
    cli_params_key(p, key);
    msgpack_pack_uint64(&p->pk, value);
}

void cli_params_i64(cli_params *p, const char *key, int64_t value)
{
    cli_params_key(p, key);
    msgpack_pack_int64(&p->pk, value);
}

void cli_params_free(cli_params *p)
{
    msgpack_sbuffer_destroy(&p->sb);
}

usher_client *cli_connection(cli *st)
{
    double t0 = cli_now_ms();
    usher_status status;
    if (!st->client) {
        st->client = usher_connect(st->host, st->port, st->timeout_ms);
        if (!st->client) {
            cli_print_failure(st, USHER_ENOMEM, NULL, cli_now_ms() - t0);
            return NULL;
        }
        status = usher_last_status(st->client);
    } else if (!usher_is_connected(st->client)) {
        status = usher_reconnect(st->client);
    } else {
        return st->client;
    }
    if (status != USHER_OK) {
        cli_print_failure(st, status, NULL, cli_now_ms() - t0);
        return NULL;
    }
    return st->client;
}

usher_status cli_call_quiet(usher_client *c, const char *method, const cli_params *params,
                            usher_reply **reply, double *ms)
{
    *reply = NULL;
    double t0 = cli_now_ms();
    usher_status status = params
        ? usher_call_packed(c, method, params->sb.data, params->sb.size, reply)
        : usher_call(c, method, NULL, reply);
    *ms = cli_now_ms() - t0;
    return status;
}

int cli_print_outcome(cli *st, usher_status status, const usher_reply *reply, double ms)
{
    if (status == USHER_OK && reply && reply->status == USHER_OK) {
        cli_print_result(st, reply, ms);
        return CLI_OK;
    }
    cli_print_failure(st, status, reply, ms);
    return CLI_FAILED;
}

int cli_call(cli *st, const char *method, const cli_params *params, usher_reply **reply_out)
{
    if (reply_out)
        *reply_out = NULL;
    usher_client *c = cli_connection(st);
    if (!c)
        return CLI_FAILED;
    usher_reply *reply;
    double ms;
    st->method = method;
    usher_status status = cli_call_quiet(c, method, params, &reply, &ms);
    int rc = cli_print_outcome(st, status, reply, ms);
    if (rc == CLI_OK && reply_out)
        *reply_out = reply;
    else
        usher_reply_free(reply);
    return rc;
}

int cli_call_with_session(cli *st, const char *method)
{
    if (!cli_need_session(st))
        return CLI_FAILED;
    cli_params p;
    cli_params_begin(&p, 1);
    cli_params_str(&p, "session", st->session);
    int rc = cli_call(st, method, &p, NULL);
    cli_params_free(&p);
    return rc;
}
