/* libedit glue: readline(), history (redacted) and the completion hook, and
 * Ctrl-C at the prompt.
 *
 * Ctrl-C without races: SIGINT stays blocked for the whole interactive
 * session, so it can only be delivered inside read_key's pselect, which
 * unblocks it atomically while waiting for a key. A Ctrl-C that comes while
 * libedit is busy (or while a command runs) waits, pending, for that moment
 * or for a command's sigtimedwait (cli_pause_ms). */
#include "line_input.h"

#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <editline/readline.h>
#include "completion.h"
#include "history_redact.h"

#define HISTORY_FILE ".usher_history"
#define HISTORY_LINES 1000
#define HISTORY_MODE 0600 /* the file is the user's own, like ~/.bash_history */

/* Set by the SIGINT handler, read by read_key and line_input_read. A signal
 * handler can reach nothing else: this is the shell's one piece of static
 * state, and only the prompt's code touches it. */
static volatile sig_atomic_t sigint_arrived;

static void on_sigint(int sig)
{
    (void)sig;
    sigint_arrived = 1;
}

static char **complete_hook(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1; /* never fall back to file names */
    return completion_candidates(rl_line_buffer, start, text);
}

/* Reads one byte of fd, EOF at end of input. */
static int read_byte(int fd)
{
    unsigned char b;
    for (;;) {
        ssize_t n = read(fd, &b, 1);
        if (n == 1)
            return b;
        if (n < 0 && errno == EINTR)
            continue;
        return EOF;
    }
}

/* One key for libedit, as a code point (libedit takes what this returns as
 * one wide character, so UTF-8 is decoded here). After a Ctrl-C it returns
 * a newline: libedit ends the line, and line_input_read drops it. */
static int read_key(FILE *in)
{
    int fd = fileno(in);
    sigset_t waiting_mask;
    sigprocmask(SIG_SETMASK, NULL, &waiting_mask);
    sigdelset(&waiting_mask, SIGINT);
    for (;;) {
        if (sigint_arrived) {
            fputs("^C", stdout);
            fflush(stdout);
            return '\n';
        }
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(fd, &readable);
        int n = pselect(fd + 1, &readable, NULL, NULL, NULL, &waiting_mask);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return EOF;
        if (n > 0)
            break;
    }
    int first = read_byte(fd);
    if (first == EOF || first < 0xc0 || first > 0xf7)
        return first; /* ASCII, or a stray byte passed on as it is */
    int more = first >= 0xf0 ? 3 : first >= 0xe0 ? 2 : 1;
    int code = first & (0x3f >> more);
    for (int i = 0; i < more; i++) {
        int next = read_byte(fd);
        if (next == EOF || (next & 0xc0) != 0x80)
            return next == EOF ? EOF : '?';
        code = code << 6 | (next & 0x3f);
    }
    return code;
}

/* Drops a Ctrl-C typed while a command ran: it stopped that command, or
 * came too late to; either way the new prompt starts clean. */
static void forget_pending_sigint(void)
{
    sigset_t intr;
    sigemptyset(&intr);
    sigaddset(&intr, SIGINT);
    struct timespec now = { 0, 0 };
    while (sigtimedwait(&intr, NULL, &now) == SIGINT)
        continue;
    sigint_arrived = 0;
}

void line_input_open(line_input *li)
{
    li->history_path = NULL;
    setlocale(LC_CTYPE, ""); /* libedit edits UTF-8 ("Spring Gala 봄") only in a UTF-8 locale */
    rl_readline_name = "usher-cli";
    rl_attempted_completion_function = complete_hook;
    rl_catch_signals = 0; /* libedit's own handler would re-raise SIGINT and end the shell */
    rl_getc_function = read_key;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigset_t intr;
    sigemptyset(&intr);
    sigaddset(&intr, SIGINT);
    sigprocmask(SIG_BLOCK, &intr, &li->old_mask);
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
    forget_pending_sigint();
    for (;;) {
        char *line = readline(prompt);
        if (!sigint_arrived) {
            if (line)
                remember(li, line);
            return line;
        }
        /* Ctrl-C: the typed text is dropped; a fresh prompt */
        free(line);
        sigint_arrived = 0;
    }
}

void line_input_close(line_input *li)
{
    sigprocmask(SIG_SETMASK, &li->old_mask, NULL);
    free(li->history_path);
    li->history_path = NULL;
}
