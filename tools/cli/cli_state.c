/* What the shell remembers between commands, and parsing of numbers typed
 * as command arguments. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void cli_set_str(char **slot, const char *value)
{
    char *copy = value ? strdup(value) : NULL;
    free(*slot);
    *slot = copy;
}

void cli_held_add(cli *st, uint64_t rid)
{
    for (size_t i = 0; i < st->held_count; i++)
        if (st->held[i] == rid)
            return;
    if (st->held_count == CLI_HELD_MAX) {
        /* forget the oldest: it has long expired */
        memmove(st->held, st->held + 1, (CLI_HELD_MAX - 1) * sizeof st->held[0]);
        st->held_count--;
    }
    st->held[st->held_count++] = rid;
}

void cli_held_remove(cli *st, uint64_t rid)
{
    for (size_t i = 0; i < st->held_count; i++) {
        if (st->held[i] == rid) {
            memmove(st->held + i, st->held + i + 1, (st->held_count - i - 1) * sizeof st->held[0]);
            st->held_count--;
            return;
        }
    }
}

bool cli_parse_i64(const char *text, int64_t *out)
{
    if (!text || !*text)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

bool cli_parse_id(const char *text, uint64_t *out)
{
    if (!text || *text < '0' || *text > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || v == 0)
        return false;
    *out = v;
    return true;
}

bool cli_need_session(cli *st)
{
    if (st->session)
        return true;
    cli_usage_error(st, "no session yet: run `register` or `login USER SECRET` first");
    return false;
}

bool cli_need_queue_token(cli *st)
{
    if (st->queue_token)
        return true;
    if (st->token_ended_by_payment)
        cli_usage_error(st, "%s", CLI_TOKEN_ENDED_TEXT);
    else
        cli_usage_error(st, "no queue token held: `enter CONCERT_ID` joins the queue "
                            "(then `watch` until ACTIVE)");
    return false;
}

bool cli_need_admin_token(cli *st)
{
    if (st->admin_token)
        return true;
    cli_usage_error(st, "no admin token: give --admin TOKEN, set $USHER_ADMIN, or run `admin token TOKEN` "
                        "(`usher-admin --data DIR token` prints one)");
    return false;
}

bool cli_id_arg(cli *st, const cli_args *a, int index, uint64_t fallback, const char *usage,
                uint64_t *out)
{
    if (index < a->argc) {
        if (cli_parse_id(a->argv[index], out))
            return true;
        cli_usage_error(st, "'%s' is not an id (usage: %s)", a->argv[index], usage);
        return false;
    }
    if (fallback == 0) {
        cli_usage_error(st, "no id given and none remembered yet (usage: %s)", usage);
        return false;
    }
    *out = fallback;
    return true;
}
