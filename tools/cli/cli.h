/* usher-cli's shared pieces: the shell's state, the command table and the
 * helpers every command handler uses. The state is one struct owned by main
 * and passed down; nothing here is global. */
#ifndef USHER_CLI_CLI_H
#define USHER_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "../../client/usher.h"

#define CLI_HELD_MAX 64             /* reservation ids remembered for `pay` */
#define CLI_DEFAULT_HOST "127.0.0.1"
#define CLI_DEFAULT_PORT 7700
#define CLI_DEFAULT_TIMEOUT_MS 5000
#define CLI_ASKED_CAP 128           /* what the shell asked for, added to errors */

/* What a command handler returns. */
enum { CLI_OK = 0, CLI_FAILED = 1 };

/* The shell's state: connection settings, output mode, and what earlier
 * replies taught it (all strings owned, NULL when unknown). */
typedef struct cli {
    usher_client *client;   /* NULL until the first command that needs it */
    char *host;
    int port;
    int timeout_ms;
    bool json;              /* --json: one JSON object per reply, one line each */
    bool raw;               /* --raw: bare values, one per line (raw_values.h) */
    bool colour;            /* ANSI colour on stdout */
    bool stdout_tty;        /* redraw `watch` in place */
    bool interactive;
    bool quit;              /* set by `quit` */
    FILE *out;              /* replies */
    FILE *err;              /* usage messages */

    char *user_id, *secret, *session;
    char *queue_token;
    bool token_ended_by_payment; /* `pay` ended the token (the server's rule) */
    char *admin_token;
    uint64_t concert_id;    /* from enter, admin concert */
    uint64_t schedule_id;   /* from dates, seats, reserve, admin schedule */
    uint64_t held[CLI_HELD_MAX]; /* reservation ids held in this session */
    size_t held_count;
    uint32_t raw_msgid;     /* msgids of frames `call` builds itself */
    char asked[CLI_ASKED_CAP]; /* "seat 5 of schedule 3": set by a command, shown with its errors */
    const char *method;     /* the method the command called last (static text), for hints */
} cli;

/* Parsed words of one command after its name. */
typedef struct cli_args {
    int argc;
    char **argv;
    const char *const *start; /* where argv[i] began in the command line */
} cli_args;

typedef int cli_handler(cli *st, const cli_args *a);

/* One row of the command table: `help` and completion read the same rows. */
typedef struct cli_command {
    const char *name;       /* one word, or "admin concert" (two) */
    const char *synopsis;   /* arguments, "SCHEDULE SEAT" */
    const char *summary;    /* one line */
    const char *method;     /* protocol method it calls, or NULL */
    int min_args, max_args; /* max_args -1: unbounded */
    cli_handler *run;
} cli_command;

/* The table, ending with a row whose name is NULL. */
extern const cli_command cli_commands[];

/* ---- the shell ---- */

/* Fills st from settings (host copied); output to out/err. */
void cli_init(cli *st, const char *host, int port, int timeout_ms, bool json,
              FILE *out, FILE *err);

/* Frees everything st owns (closes the connection). */
void cli_free(cli *st);

/* Runs one command line (one command, no ';'). CLI_OK or CLI_FAILED. */
int cli_run_command(cli *st, const char *line);

/* Runs every command of a script (';' or newline separated), going on after
 * failures. CLI_OK when all succeeded. */
int cli_run_script(cli *st, const char *script);

/* Prints the command list (or one command's help, with the method list for
 * `call`). CLI_FAILED for an unknown topic. */
int cli_print_help(cli *st, const char *topic);

/* ---- helpers for handlers (cli_call.c) ---- */

/* A params map being packed; cli_params_begin states how many pairs follow. */
typedef struct cli_params {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} cli_params;

void cli_params_begin(cli_params *p, uint32_t pairs);
void cli_params_str(cli_params *p, const char *key, const char *value);
void cli_params_u64(cli_params *p, const char *key, uint64_t value);
void cli_params_i64(cli_params *p, const char *key, int64_t value);
/* Packs key then leaves the packer for the caller to pack the value. */
void cli_params_key(cli_params *p, const char *key);
void cli_params_free(cli_params *p);

/* Live connection, connecting (or reconnecting after a transport failure)
 * first; prints the failure and returns NULL when it cannot. */
usher_client *cli_connection(cli *st);

/* Calls method on c (from cli_connection) with params (NULL: {}) without
 * printing anything: returns the status (reply->status or a transport code),
 * sets *reply when the server answered (caller frees) and *ms to the
 * round-trip time. */
usher_status cli_call_quiet(usher_client *c, const char *method, const cli_params *params,
                            usher_reply **reply, double *ms);

/* Prints a reply (result or error) or a transport failure; CLI_OK only for
 * a successful reply. */
int cli_print_outcome(cli *st, usher_status status, const usher_reply *reply, double ms);

/* Calls method with params (NULL: {}) and prints the reply or the error with
 * the round-trip time. On success with reply_out != NULL the reply is handed
 * to the caller (who frees it with usher_reply_free). CLI_OK or CLI_FAILED. */
int cli_call(cli *st, const char *method, const cli_params *params, usher_reply **reply_out);

/* cli_call of a method whose only parameter is the remembered session. */
int cli_call_with_session(cli *st, const char *method);

/* Milliseconds of a monotonic clock, for round-trip times. */
double cli_now_ms(void);

/* Epoch milliseconds of the wall clock (the protocol's times). */
int64_t cli_wall_clock_ms(void);

/* ---- output (cli_output.c) ---- */

/* Prints a successful reply's result (pretty JSON, or one --json line). */
void cli_print_result(cli *st, const usher_reply *reply, double ms);

/* Prints an error reply or a transport failure:
 * "error SEAT_UNAVAILABLE (11): seat is held or sold  [0.4 ms]", with what
 * the command asked for when it said (cli_asking): "... sold (asked: seat 5
 * of schedule 3)  [0.4 ms]", and a hint line for codes the shell can help
 * with ("hint: `enter CONCERT_ID` to queue again"). --raw: "CODE: message"
 * on the error stream. */
void cli_print_error(cli *st, const char *code, int num, const char *message, double ms);

/* Prints the failure of call (reply may be NULL for a transport failure). */
void cli_print_failure(cli *st, usher_status status, const usher_reply *reply, double ms);

/* Prints a local problem (usage, missing state); in --json mode as
 * {"ok":false,"code":"USAGE","message":...}. Always returns CLI_FAILED. */
int cli_usage_error(cli *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints a local success: text in text mode; {"ok":true,"result":json_result}
 * in --json mode (json_result must be a JSON object). Returns CLI_OK. */
int cli_print_local(cli *st, const char *text, const char *json_result);

/* Sets what the running command asks for (printf format), shown with the
 * error should its call fail; cli_run_command clears it before each command. */
void cli_asking(cli *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes s as a JSON string literal (quotes, escapes). */
void cli_json_string(FILE *out, const char *s);

/* ---- reading results (cli_result.c) ---- */

/* Value of key in a msgpack map, or NULL. */
const msgpack_object *cli_result_get(const msgpack_object *map, const char *key);

/* Unsigned integer value of key; false when absent or not one. */
bool cli_result_u64(const msgpack_object *map, const char *key, uint64_t *out);

/* Copy of a string value of key (caller frees), or NULL. */
char *cli_result_strdup(const msgpack_object *map, const char *key);

/* Replaces *slot with a copy of the string value of key when present. */
void cli_remember_str(char **slot, const msgpack_object *map, const char *key);

/* ---- argument parsing ---- */

/* Parses a positive decimal integer (1..UINT64_MAX); false otherwise. */
bool cli_parse_id(const char *text, uint64_t *out);

/* An id argument that may be left out: a->argv[index] when there is one,
 * else fallback (what the shell remembers). Prints a usage error naming
 * usage ("seats [SCHEDULE]") and returns false when the argument is not an
 * id, or when it is absent and nothing is remembered (fallback 0). */
bool cli_id_arg(cli *st, const cli_args *a, int index, uint64_t fallback, const char *usage,
                uint64_t *out);

/* Parses a decimal integer (may be negative); false otherwise. */
bool cli_parse_i64(const char *text, int64_t *out);

/* ---- memory of held reservations (cli_state.c) ---- */

/* Adds rid to the held list (once). */
void cli_held_add(cli *st, uint64_t rid);

/* Removes rid from the held list when present. */
void cli_held_remove(cli *st, uint64_t rid);

/* True when a session is known; otherwise prints how to get one. */
bool cli_need_session(cli *st);

/* Said when `pay` has ended the queue token (PROTOCOL.md: payment ends it). */
#define CLI_TOKEN_ENDED_TEXT "your queue token ended with the payment; `enter CONCERT_ID` to queue again"

/* True when a queue token is known; otherwise prints how to get one (and
 * that the payment ended it, when it did). */
bool cli_need_queue_token(cli *st);

/* True when an admin token is known (`admin token`, --admin, $USHER_ADMIN);
 * otherwise prints the three ways to give one. */
bool cli_need_admin_token(cli *st);

/* Replaces *slot with a copy of value (NULL clears). */
void cli_set_str(char **slot, const char *value);

#endif
