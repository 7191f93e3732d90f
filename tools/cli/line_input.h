/* Interactive line input through libedit's readline compatibility layer:
 * editing, history in ~/.usher_history (mode 0600, secrets redacted: see
 * history_redact.h), tab completion, and Ctrl-C clearing the line. Only for
 * a terminal; scripts read stdin directly. */
#ifndef USHER_CLI_LINE_INPUT_H
#define USHER_CLI_LINE_INPUT_H

#include <signal.h>

typedef struct line_input {
    char *history_path;   /* owned; NULL when $HOME is unset */
    sigset_t old_mask;    /* the signal mask before line_input_open */
} line_input;

/* Sets up completion, loads the history, and blocks SIGINT until
 * line_input_close: from then on a Ctrl-C clears the line at the prompt and
 * is left pending while a command runs (for cli_pause_ms to see). */
void line_input_open(line_input *li);

/* Reads a line with prompt (caller frees), NULL at end of input (Ctrl-D on
 * an empty line). Ctrl-C drops the line being typed and prompts again.
 * Non-blank lines are added to the history, redacted, and the history file
 * is rewritten. */
char *line_input_read(line_input *li, const char *prompt);

/* Restores the signal mask and releases li. */
void line_input_close(line_input *li);

#endif
