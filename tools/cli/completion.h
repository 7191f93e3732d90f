/* Tab completion for the interactive shell: command names (from the command
 * table), admin subcommands, and method names after `call`. */
#ifndef USHER_CLI_COMPLETION_H
#define USHER_CLI_COMPLETION_H

#include <stddef.h>

/* Candidates for the word text that begins at byte start of line: a
 * NULL-terminated malloc'd array whose first entry is the longest common
 * prefix and the rest the matches (the readline attempted-completion shape),
 * or NULL when nothing matches. */
char **completion_candidates(const char *line, int start, const char *text);

#endif
