/* usher-cli: the interactive debugging shell for usherd, a thin front end
 * over libusher. This file is only the command line: options, then one of
 * three modes (-c script, commands from a non-terminal stdin, or the
 * interactive shell). Commands live in tools/cli/. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/line_input.h"

#define USHER_CLI_VERSION "1.0.0"
#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fputs(
"usage: usher-cli [OPTIONS] [-c \"CMD; CMD ...\"]\n"
"\n"
"A shell for usherd, the Usher box-office server. With -c it runs the given\n"
"commands; when standard input is not a terminal it runs the commands read\n"
"from it (one or more per line, ';' separated); otherwise it is interactive,\n"
"with line editing, tab completion of commands and method names, and history\n"
"in ~/.usher_history.\n"
"\n"
"options:\n"
"  --host HOST       server host (default $USHER_HOST, else 127.0.0.1)\n"
"  --port PORT       server port (default $USHER_PORT, else 7700)\n"
"  --timeout MS      connect and per-call timeout in ms (default 5000; 0: none)\n"
"  -c, --command CMDS run CMDS (separated by ';' or newlines) and exit\n"
"  --json            print one JSON object per reply, on one line:\n"
"                      {\"ok\":true,\"result\":{...},\"ms\":0.4}\n"
"                      {\"ok\":false,\"code\":\"SEAT_UNAVAILABLE\",\"num\":11,\"message\":\"...\",\"ms\":0.4}\n"
"                    usage problems in a command print {\"ok\":false,\"code\":\"USAGE\",\"message\":\"...\"}\n"
"  --help            print this help and exit\n"
"  --version         print the version and exit\n"
"\n"
"Replies print as indented JSON (coloured when stdout is a terminal and NO_COLOR\n"
"is unset); errors print as one line with the code, its number, the message and\n"
"the round-trip time:  error SEAT_UNAVAILABLE (11): seat is held or sold  [0.4 ms]\n"
"Error replies go to stdout, usage messages to stderr. Commands go on after a\n"
"failure. The connection is opened by the first command that needs it and opened\n"
"again by the next command after a transport failure (a failed call is never\n"
"retried).\n"
"\n"
"exit status: 0 when every command succeeded, 1 when any failed (an error reply,\n"
"a transport failure, a bad command or argument), 2 for bad options.\n"
"\n"
"Type `help` in the shell (or run usher-cli -c help) for the commands.\n", out);
}

typedef struct cli_options {
    const char *host;
    int port;
    int timeout_ms;
    const char *script;
    bool json;
} cli_options;

/* An integer in lo..hi, or false. */
static bool parse_int_range(const char *text, long lo, long hi, int *out)
{
    char *end;
    if (!text || !*text)
        return false;
    long v = strtol(text, &end, 10);
    if (*end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

/* 0: run; 1: --help/--version printed; 2: usage error printed. */
static int parse_options(int argc, char **argv, cli_options *o)
{
    enum { OPT_HOST = 1000, OPT_PORT, OPT_TIMEOUT, OPT_JSON, OPT_HELP, OPT_VERSION };
    static const struct option longopts[] = {
        { "host", required_argument, NULL, OPT_HOST },
        { "port", required_argument, NULL, OPT_PORT },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "command", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, OPT_HELP },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    o->host = getenv("USHER_HOST");
    if (!o->host || !*o->host)
        o->host = CLI_DEFAULT_HOST;
    o->port = CLI_DEFAULT_PORT;
    o->timeout_ms = CLI_DEFAULT_TIMEOUT_MS;
    const char *env_port = getenv("USHER_PORT");
    if (env_port && *env_port && !parse_int_range(env_port, 1, 65535, &o->port)) {
        fprintf(stderr, "usher-cli: USHER_PORT must be 1..65535, not '%s'\n", env_port);
        return EXIT_USAGE;
    }
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":c:", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_HOST:
            o->host = optarg;
            break;
        case OPT_PORT:
            if (!parse_int_range(optarg, 1, 65535, &o->port)) {
                fprintf(stderr, "usher-cli: --port must be 1..65535, not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_TIMEOUT:
            if (!parse_int_range(optarg, 0, 86400000, &o->timeout_ms)) {
                fprintf(stderr, "usher-cli: --timeout must be milliseconds (0..86400000), not '%s'\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case 'c':
            o->script = optarg;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_HELP:
            usage(stdout);
            return 1;
        case OPT_VERSION:
            printf("usher-cli %s (protocol 1)\n", USHER_CLI_VERSION);
            return 1;
        case ':':
            fprintf(stderr, "usher-cli: %s needs a value (see --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            fprintf(stderr, "usher-cli: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "usher-cli: unexpected argument '%s' (commands go in -c \"...\")\n", argv[optind]);
        return EXIT_USAGE;
    }
    return 0;
}

/* Commands from a non-terminal stdin, line by line. */
static int run_stdin(cli *st)
{
    int rc = CLI_OK;
    char *line = NULL;
    size_t cap = 0;
    while (!st->quit && getline(&line, &cap, stdin) >= 0)
        rc |= cli_run_script(st, line);
    free(line);
    return rc;
}

static int run_interactive(cli *st)
{
    line_input li;
    line_input_open(&li);
    fprintf(st->out, "usher-cli %s, server %s:%d. `help` lists the commands.\n",
            USHER_CLI_VERSION, st->host, st->port);
    int rc = CLI_OK;
    char *line;
    while (!st->quit && (line = line_input_read(&li, "usher> ")) != NULL) {
        rc |= cli_run_script(st, line);
        free(line);
    }
    line_input_close(&li);
    return rc;
}

int main(int argc, char **argv)
{
    cli_options o = { 0 };
    int parsed = parse_options(argc, argv, &o);
    if (parsed == 1)
        return 0;
    if (parsed != 0)
        return EXIT_USAGE;
    cli st;
    cli_init(&st, o.host, o.port, o.timeout_ms, o.json, stdout, stderr);
    st.stdout_tty = isatty(STDOUT_FILENO);
    st.colour = st.stdout_tty && !o.json && getenv("NO_COLOR") == NULL;
    st.interactive = !o.script && isatty(STDIN_FILENO);
    int rc;
    if (o.script)
        rc = cli_run_script(&st, o.script);
    else if (st.interactive)
        rc = run_interactive(&st);
    else
        rc = run_stdin(&st);
    cli_free(&st);
    return rc == CLI_OK ? 0 : 1;
}
