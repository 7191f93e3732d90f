/* libedit glue: readline(), history (redacted) and the completion hook, and
 * Ctrl-C at the prompt. */
#include "line_input.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <editline/readline.h>
#include "completion.h"
#include "history_redact.h"

#define HISTORY_FILE ".usher_history"
#define HISTORY_LINES 1000
#define HISTORY_MODE 0600 /* the file is the user's own, like ~/.bash_history */

static char **complete_hook(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1; /* never fall back to file names */
    return completion_candidates(rl_line_buffer, start, text);
}

/* SIGINT only has to interrupt libedit's read(): readline() then returns
 * NULL with errno EINTR, which line_input_read tells from end of input. */
static void on_sigint(int sig)
{
    (void)sig;
}

void line_input_open(line_input *li)
{
    li->history_path = NULL;
    rl_readline_name = "usher-cli";
    rl_attempted_completion_function = complete_hook;
    rl_catch_signals = 0; /* libedit's own handler would re-raise SIGINT and end the shell */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: the read must fail with EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    using_history();
    stifle_history(HISTORY_LINES);
    const char *home = getenv("HOME");
    if (home && *home && asprintf(&li->history_path, "%s/%s", home, HISTORY_FILE) < 0)
        li->history_path = NULL;
    if (li->history_path)
        read_history(li->history_path);
}

static void remember(line_input *li, const char *line)
{
    if (line[strspn(line, " \t")] == '\0')
        return;
    char *kept = history_redact(line);
    if (!kept)
        return;
    add_history(kept);
    free(kept);
    if (li->history_path) {
        write_history(li->history_path);
        chmod(li->history_path, HISTORY_MODE);
    }
}

char *line_input_read(line_input *li, const char *prompt)
{
    for (;;) {
        errno = 0;
        char *line = readline(prompt);
        if (line) {
            remember(li, line);
            return line;
        }
        if (errno != EINTR)
            return NULL;
        /* Ctrl-C: the typed text is dropped; a fresh prompt on a new line */
        fputs("^C\n", stdout);
        fflush(stdout);
    }
}

void line_input_close(line_input *li)
{
    free(li->history_path);
    li->history_path = NULL;
}
