/* The shell itself: state set-up and teardown, finding a command in the
 * table, checking its arity and running it, scripts, and help. */
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include "cmdline.h"
#include "suggest.h"

#define COMMAND_NAME_CAP 64

void cli_init(cli *st, const char *host, int port, int timeout_ms, bool json,
              FILE *out, FILE *err)
{
    memset(st, 0, sizeof *st);
    st->host = strdup(host);
    st->port = port;
    st->timeout_ms = timeout_ms;
    st->json = json;
    st->out = out;
    st->err = err;
}

void cli_free(cli *st)
{
    usher_close(st->client);
    free(st->host);
    free(st->user_id);
    free(st->secret);
    free(st->session);
    free(st->queue_token);
    free(st->admin_token);
    memset(st, 0, sizeof *st);
}

/* Number of words in a table name ("admin concert" is 2, "admin queue get" 3);
 * the suggestions treat every name of more than one word as grouped. */
static int name_words(const char *name)
{
    int n = 1;
    for (const char *p = name; (p = strchr(p, ' ')); p++) n++;
    return n > 2 ? 2 : n;
}

/* True when the words of name are the first words of w; *used gets how many. */
static bool name_matches(const char *name, const cmdline_words *w, int *used)
{
    int i = 0;
    for (const char *p = name;; i++) {
        const char *space = strchr(p, ' ');
        size_t len = space ? (size_t)(space - p) : strlen(p);
        if (i >= w->count || strlen(w->word[i]) != len || strncmp(p, w->word[i], len) != 0)
            return false;
        if (!space) break;
        p = space + 1;
    }
    *used = i + 1;
    return true;
}

/* The row matching the first words of w; *used gets how many words it took. */
static const cli_command *find_command(const cmdline_words *w, int *used)
{
    for (const cli_command *c = cli_commands; c->name; c++)
        if (name_matches(c->name, w, used)) return c;
    return NULL;
}

/* True when word is the first word of a two-word name ("admin"). */
static bool is_group_word(const char *word)
{
    size_t n = strlen(word);
    for (const cli_command *c = cli_commands; c->name; c++)
        if (name_words(c->name) == 2 && strncmp(c->name, word, n) == 0 && c->name[n] == ' ')
            return true;
    return false;
}

/* The command w was probably meant to be ("reserve" for "reserv"), copied
 * into nearest (cap SUGGEST_MAX_LEN * 2 + 2); false when none is close.
 * When w starts with a group word ("admin") the candidates are the two-word
 * names and typed gets both words; otherwise one-word names and group words,
 * and typed gets the first word. */
static bool nearest_command(const cmdline_words *w, char *typed, size_t typed_cap, char *nearest,
                            size_t nearest_cap)
{
    const char *names[COMMAND_NAME_CAP];
    char groups[COMMAND_NAME_CAP][SUGGEST_MAX_LEN + 1];
    size_t count = 0, group_count = 0;
    bool grouped = w->count >= 2 && is_group_word(w->word[0]);
    if (grouped)
        snprintf(typed, typed_cap, "%s %s", w->word[0], w->word[1]);
    else
        snprintf(typed, typed_cap, "%s", w->word[0]);
    for (const cli_command *c = cli_commands; c->name && count < COMMAND_NAME_CAP; c++) {
        bool two = name_words(c->name) == 2;
        if (grouped || !two) {
            if (two == grouped)
                names[count++] = c->name;
            continue;
        }
        size_t first = (size_t)(strchr(c->name, ' ') - c->name);
        if (first > SUGGEST_MAX_LEN || (group_count && strlen(groups[group_count - 1]) == first &&
                                        strncmp(groups[group_count - 1], c->name, first) == 0))
            continue; /* two-word rows of one group sit together in the table */
        snprintf(groups[group_count], sizeof groups[0], "%.*s", (int)first, c->name);
        names[count++] = groups[group_count++];
    }
    const char *found = suggest_nearest(typed, names, count);
    if (found)
        snprintf(nearest, nearest_cap, "%s", found);
    return found != NULL;
}

int cli_run_command(cli *st, const char *line)
{
    cmdline_words w;
    if (cmdline_words_split(line, &w) < 0)
        return cli_usage_error(st, "too many words (at most %d)", CMDLINE_MAX_WORDS);
    int rc = CLI_OK;
    st->asked[0] = '\0';
    st->method = NULL;
    if (w.count == 0)
        goto done;
    int used = 0;
    const cli_command *cmd = find_command(&w, &used);
    if (!cmd) {
        char typed[2 * SUGGEST_MAX_LEN + 2], nearest[2 * SUGGEST_MAX_LEN + 2];
        if (nearest_command(&w, typed, sizeof typed, nearest, sizeof nearest))
            rc = cli_usage_error(st, "unknown command '%s': did you mean '%s'? (`help` lists the commands)",
                                 typed, nearest);
        else
            rc = cli_usage_error(st, "unknown command '%s' (`help` lists the commands)", w.word[0]);
        goto done;
    }
    int argc = w.count - used;
    if (argc < cmd->min_args || (cmd->max_args >= 0 && argc > cmd->max_args)) {
        rc = cli_usage_error(st, "usage: %s%s%s", cmd->name, *cmd->synopsis ? " " : "", cmd->synopsis);
        goto done;
    }
    cli_args args = { .argc = argc, .argv = &w.word[used], .start = &w.start[used] };
    rc = cmd->run(st, &args);
done:
    cmdline_words_free(&w);
    return rc;
}

int cli_run_script(cli *st, const char *script)
{
    size_t count;
    char **commands = cmdline_split_script(script, &count);
    if (!commands)
        return cli_usage_error(st, "out of memory");
    int rc = CLI_OK;
    for (size_t i = 0; i < count && !st->quit; i++)
        rc |= cli_run_command(st, commands[i]);
    cmdline_free_list(commands);
    return rc;
}

/* Protocol documentation of a method, or NULL. */
static const usher_method_info *method_info(const char *name)
{
    for (size_t i = 0; i < usher_method_count(); i++) {
        const usher_method_info *m = usher_method_at(i);
        if (m && strcmp(m->name, name) == 0)
            return m;
    }
    return NULL;
}

/* Width of the widest "name synopsis" of the table. */
static int usage_width(void)
{
    size_t widest = 0;
    for (const cli_command *c = cli_commands; c->name; c++) {
        size_t n = strlen(c->name) + 1 + strlen(c->synopsis);
        if (n > widest)
            widest = n;
    }
    return (int)widest;
}

static void print_command_line(FILE *out, const cli_command *c)
{
    char usage[128];
    snprintf(usage, sizeof usage, "%s %s", c->name, c->synopsis);
    fprintf(out, "  %-*s  %s", usage_width(), usage, c->summary);
    if (c->method)
        fprintf(out, " [%s]", c->method);
    fputc('\n', out);
}

static void print_methods(FILE *out)
{
    fputs("methods (call METHOD {json}):\n", out);
    for (size_t i = 0; i < usher_method_count(); i++) {
        const usher_method_info *m = usher_method_at(i);
        fprintf(out, "  %-22s %s -> %s\n", m->name, m->params, m->result);
    }
}

int cli_print_help(cli *st, const char *topic)
{
    FILE *out = st->out;
    if (!topic) {
        fputs("commands:\n", out);
        for (const cli_command *c = cli_commands; c->name; c++)
            print_command_line(out, c);
        fputs("The shell remembers the session, queue token, concert, last schedule and the\n"
              "seats reserved here, so `register; charge 100000; enter 1; dates; seats 3;\n"
              "reserve 3 17; pay` is a whole purchase. `help COMMAND` explains one command.\n"
              "In scripts, ';' inside {} or [] (JSON for call) does not end a command.\n", out);
        return CLI_OK;
    }
    bool found = false;
    size_t n = strlen(topic);
    for (const cli_command *c = cli_commands; c->name; c++) {
        /* "admin" covers "admin token", "admin concert" ... */
        if (strncmp(c->name, topic, n) != 0 || (c->name[n] != '\0' && c->name[n] != ' '))
            continue;
        found = true;
        print_command_line(out, c);
        const usher_method_info *m = c->method ? method_info(c->method) : NULL;
        if (m)
            fprintf(out, "      %s %s -> %s\n", m->name, m->params, m->result);
    }
    if (strcmp(topic, "call") == 0)
        print_methods(out);
    if (!found)
        return cli_usage_error(st, "help: no command '%s'", topic);
    return CLI_OK;
}
