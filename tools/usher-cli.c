/* usher-cli: the interactive debugging shell for usherd, a thin front end
 * over libusher. This file is only the command line: options, then one of
 * four modes (a command given as arguments, -c script, commands from a
 * non-terminal stdin, or the interactive shell), the first two repeatable
 * with -r/-i. Commands live in tools/cli/. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/cli_interrupt.h"
#include "cli/line_input.h"

#define USHER_CLI_VERSION "1.0.0"
#define EXIT_USAGE 2
#define REPEAT_FOREVER (-1L)
#define INTERVAL_MAX_S 86400.0
#define COMMAND_ARGS_CAP 4096

static void usage(FILE *out)
{
    fputs(
"usage: usher-cli [OPTIONS] [-c \"CMD; CMD ...\" | COMMAND [ARG...]]\n"
"\n"
"A shell for usherd, the Usher box-office server. With a COMMAND in the\n"
"arguments (usher-cli ping) it runs that one command; with -c it runs the\n"
"given commands; when standard input is not a terminal it runs the commands\n"
"read from it (one or more per line, ';' separated); otherwise it is\n"
"interactive, with line editing, tab completion of commands and method names,\n"
"and history in ~/.usher_history. Options come before the command.\n"
"\n"
"options:\n"
"  --host HOST       server host (default $USHER_HOST, else 127.0.0.1)\n"
"  --port PORT       server port (default $USHER_PORT, else 7700)\n"
"  --timeout MS      connect and per-call timeout in ms (default 5000; 0: none)\n"
"  -c, --command CMDS run CMDS (separated by ';' or newlines) and exit\n"
"  -r COUNT          run the COMMAND (or the -c commands) COUNT times; -1: for ever\n"
"  -i SECONDS        wait SECONDS between runs (fractions allowed: -i 0.5); -i\n"
"                    without -r repeats for ever. Ctrl-C ends a repeat.\n"
"  --admin TOKEN     admin token for admin commands and `stats` (default\n"
"                    $USHER_ADMIN; the `admin token TOKEN` command replaces it)\n"
"  --json            print one JSON object per reply, on one line:\n"
"                      {\"ok\":true,\"result\":{...},\"ms\":0.4}\n"
"                      {\"ok\":false,\"code\":\"SEAT_UNAVAILABLE\",\"num\":11,\"message\":\"...\",\n"
"                       \"asked\":\"seat 5 of schedule 3\",\"ms\":0.4}   (asked: when the shell knows)\n"
"                    usage problems in a command print {\"ok\":false,\"code\":\"USAGE\",\"message\":\"...\"}\n"
"  --raw             print bare values for scripts: every value of a result, depth\n"
"                    first in the server's order, one per line, without keys,\n"
"                    quotes, colours, tables, grids or notes (usher-cli --raw ping\n"
"                    prints the time only); an error prints CODE: message on stderr\n"
"  --help            print this help and exit\n"
"  --version         print the version and exit\n"
"\n"
"Replies print as indented JSON (coloured when stdout is a terminal and NO_COLOR\n"
"is unset). Times (starts_at, expires_at, active_until, paid_at, at,\n"
"session_expires_at, time) show local time, in the zone of TZ, beside the epoch\n"
"milliseconds:  \"paid_at\": 1795607669106 (2026-11-22 11:14:29 UTC)\n"
"Errors print as one line with the code, its number, the server's message, what\n"
"the shell asked for when it knows, and the round-trip time, then a hint when the\n"
"shell has one:\n"
"  error SEAT_UNAVAILABLE (11): seat is held or sold (asked: seat 5 of schedule 3)  [0.4 ms]\n"
"Error replies go to stdout, usage messages to stderr. Commands go on after a\n"
"failure. The connection is opened by the first command that needs it and opened\n"
"again by the next command after a transport failure (a failed call is never\n"
"retried).\n"
"\n"
"Interactive keys: Ctrl-C clears the line being typed (or stops `watch` and\n"
"`stats -i`) and the shell goes on, keeping its session; Ctrl-D on an empty\n"
"line leaves. History keeps what you type, never a secret: `login USER SECRET`\n"
"is kept as `login USER ***`, `admin token TOKEN` as `admin token ***`, a word\n"
"that is a session or queue token (u1....) as ***; a line with a `call` whose\n"
"JSON has a secret, session, token or admin key, or with a `send-hex`, is not\n"
"kept at all.\n"
"What the server answers (the secret `register` shows) never goes there. The\n"
"file is made mode 0600.\n"
"\n"
"exit status: 0 when every command succeeded, 1 when any failed (an error reply,\n"
"a transport failure, a bad command or argument), 2 for bad options.\n"
"\n"
"Type `help` in the shell (or run usher-cli help) for the commands.\n", out);
}

typedef struct cli_options {
    const char *host;
    int port;
    int timeout_ms;
    const char *script;
    char command[COMMAND_ARGS_CAP]; /* the command given as arguments, "" when none */
    bool json, raw;
    const char *admin_token;        /* --admin, else $USHER_ADMIN, else NULL */
    long repeat;                    /* -r: times to run; REPEAT_FOREVER */
    double interval_s;              /* -i: seconds between runs */
    bool repeat_given, interval_given;
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

/* -r COUNT: a positive count or -1 (forever). */
static bool parse_repeat(const char *text, long *out)
{
    char *end;
    if (!text || !*text)
        return false;
    long v = strtol(text, &end, 10);
    if (*end || (v < 1 && v != REPEAT_FOREVER))
        return false;
    *out = v;
    return true;
}

/* -i SECONDS: 0..INTERVAL_MAX_S, fractions allowed ("0.5"). */
static bool parse_interval(const char *text, double *out)
{
    char *end;
    if (!text || !*text)
        return false;
    double v = strtod(text, &end);
    if (*end || !isfinite(v) || v < 0 || v > INTERVAL_MAX_S)
        return false;
    *out = v;
    return true;
}

/* Joins the words left on the command line into one shell command; a word
 * with blanks is quoted again (unless it is JSON for `call`). False when it
 * does not fit. */
static bool join_command(int argc, char **argv, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        bool quote = w[strcspn(w, " \t")] != '\0' && w[0] != '{' && w[0] != '[';
        if (n + 2 >= cap)
            return false;
        if (i)
            out[n++] = ' ';
        if (quote)
            out[n++] = '"';
        for (const char *p = w; *p; p++) {
            if (n + 3 >= cap)
                return false;
            if (quote && (*p == '"' || *p == '\\'))
                out[n++] = '\\';
            out[n++] = *p;
        }
        if (quote)
            out[n++] = '"';
        out[n] = '\0';
    }
    return true;
}

/* 0: run; 1: --help/--version printed; 2: usage error printed. */
static int parse_options(int argc, char **argv, cli_options *o)
{
    enum { OPT_HOST = 1000, OPT_PORT, OPT_TIMEOUT, OPT_JSON, OPT_RAW, OPT_ADMIN, OPT_HELP, OPT_VERSION };
    static const struct option longopts[] = {
        { "host", required_argument, NULL, OPT_HOST },
        { "port", required_argument, NULL, OPT_PORT },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "command", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, OPT_JSON },
        { "raw", no_argument, NULL, OPT_RAW },
        { "admin", required_argument, NULL, OPT_ADMIN },
        { "help", no_argument, NULL, OPT_HELP },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    o->host = getenv("USHER_HOST");
    if (!o->host || !*o->host)
        o->host = CLI_DEFAULT_HOST;
    o->port = CLI_DEFAULT_PORT;
    o->timeout_ms = CLI_DEFAULT_TIMEOUT_MS;
    o->repeat = 1;
    o->admin_token = getenv("USHER_ADMIN");
    if (o->admin_token && !*o->admin_token)
        o->admin_token = NULL;
    const char *env_port = getenv("USHER_PORT");
    if (env_port && *env_port && !parse_int_range(env_port, 1, 65535, &o->port)) {
        fprintf(stderr, "usher-cli: USHER_PORT must be 1..65535, not '%s'\n", env_port);
        return EXIT_USAGE;
    }
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "+:c:r:i:", longopts, NULL)) != -1) {
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
        case OPT_RAW:
            o->raw = true;
            break;
        case OPT_ADMIN:
            o->admin_token = optarg;
            break;
        case 'r':
            if (!parse_repeat(optarg, &o->repeat)) {
                fprintf(stderr, "usher-cli: -r must be a count of at least 1, or -1 for ever, not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            o->repeat_given = true;
            break;
        case 'i':
            if (!parse_interval(optarg, &o->interval_s)) {
                fprintf(stderr, "usher-cli: -i must be seconds (0..86400, like 0.5), not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            o->interval_given = true;
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
    if (optind < argc && o->script) {
        fprintf(stderr, "usher-cli: a command in arguments ('%s') and -c together; give one\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (optind < argc && !join_command(argc - optind, argv + optind, o->command, sizeof o->command)) {
        fprintf(stderr, "usher-cli: the command in arguments is too long\n");
        return EXIT_USAGE;
    }
    if (o->json && o->raw) {
        fprintf(stderr, "usher-cli: --json and --raw together; choose one\n");
        return EXIT_USAGE;
    }
    if ((o->repeat_given || o->interval_given) && !o->script && !o->command[0]) {
        fprintf(stderr, "usher-cli: -r and -i repeat a command given as arguments or with -c\n");
        return EXIT_USAGE;
    }
    if (o->interval_given && !o->repeat_given)
        o->repeat = REPEAT_FOREVER; /* -i alone: until interrupted */
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
    fprintf(st->out, "usher-cli %s, server %s:%d. `help` lists the commands; Ctrl-C clears "
                     "the line or stops a command, Ctrl-D leaves.\n",
            USHER_CLI_VERSION, st->host, st->port);
    int rc = CLI_OK;
    char *line;
    while (!st->quit && (line = line_input_read(&li, "usher> ")) != NULL) {
        rc |= cli_run_script(st, line); /* SIGINT is blocked: Ctrl-C stops a long command only */
        free(line);
    }
    line_input_close(&li);
    return rc;
}

/* The command of the arguments, or the -c script, o->repeat times. */
static int run_repeated(cli *st, const cli_options *o)
{
    int rc = CLI_OK;
    for (long i = 0; !st->quit && (o->repeat == REPEAT_FOREVER || i < o->repeat); i++) {
        if (i > 0 && o->interval_s > 0)
            cli_pause_ms(false, (long)(o->interval_s * 1000.0 + 0.5));
        rc |= o->script ? cli_run_script(st, o->script) : cli_run_command(st, o->command);
    }
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
    st.raw = o.raw;
    st.colour = st.stdout_tty && !o.json && !o.raw && getenv("NO_COLOR") == NULL;
    st.interactive = !o.script && !o.command[0] && isatty(STDIN_FILENO);
    if (o.admin_token)
        cli_set_str(&st.admin_token, o.admin_token);
    int rc;
    if (o.script || o.command[0])
        rc = run_repeated(&st, &o);
    else if (st.interactive)
        rc = run_interactive(&st);
    else
        rc = run_stdin(&st);
    cli_free(&st);
    return rc == CLI_OK ? 0 : 1;
}
