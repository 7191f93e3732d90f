/* Cutting text into commands and commands into words.
 * A script ("-c" text or a line of input) holds commands separated by ';'
 * or newlines; separators inside double quotes or inside {} / [] (JSON for
 * `call`) do not split. A command is words separated by blanks; double quotes
 * group words ("Spring Gala") and \" \\ escape inside them. Each word also
 * remembers where it started in the command, so `call` can take the rest of
 * the line verbatim. */
#ifndef USHER_CLI_CMDLINE_H
#define USHER_CLI_CMDLINE_H

#include <stddef.h>

#define CMDLINE_MAX_WORDS 64

typedef struct cmdline_words {
    int count;
    char *word[CMDLINE_MAX_WORDS];        /* NUL-terminated, point into text */
    const char *start[CMDLINE_MAX_WORDS]; /* where each word began in line */
    const char *line;                     /* the command as given (borrowed) */
    char *text;                           /* owned storage of the words */
} cmdline_words;

/* Splits script into trimmed, non-empty commands: a NULL-terminated array of
 * strings, all owned by the caller (free with cmdline_free_list). *count gets
 * the number of commands. NULL on OOM. */
char **cmdline_split_script(const char *script, size_t *count);

/* Frees a list from cmdline_split_script. */
void cmdline_free_list(char **list);

/* Splits line into words (line must outlive out). -1 on OOM or more than
 * CMDLINE_MAX_WORDS words, 0 otherwise. An unterminated quote runs to the
 * end of the line. */
int cmdline_words_split(const char *line, cmdline_words *out);

/* Frees the words' storage. */
void cmdline_words_free(cmdline_words *w);

#endif
