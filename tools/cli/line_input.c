/* libedit glue: readline(), history and the completion hook. */
#include "line_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <editline/readline.h>
#include "completion.h"

#define HISTORY_FILE ".usher_history"
#define HISTORY_LINES 1000

static char **complete_hook(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1; /* never fall back to file names */
    return completion_candidates(rl_line_buffer, start, text);
}

void line_input_open(line_input *li)
{
    li->history_path = NULL;
    rl_readline_name = "usher-cli";
    rl_attempted_completion_function = complete_hook;
    using_history();
    stifle_history(HISTORY_LINES);
    const char *home = getenv("HOME");
    if (home && *home && asprintf(&li->history_path, "%s/%s", home, HISTORY_FILE) < 0)
        li->history_path = NULL;
    if (li->history_path)
        read_history(li->history_path);
}

char *line_input_read(line_input *li, const char *prompt)
{
    char *line = readline(prompt);
    if (!line)
        return NULL;
    if (line[strspn(line, " \t")] != '\0') {
        add_history(line);
        if (li->history_path)
            write_history(li->history_path);
    }
    return line;
}

void line_input_close(line_input *li)
{
    free(li->history_path);
    li->history_path = NULL;
}
