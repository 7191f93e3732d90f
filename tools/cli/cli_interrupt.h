/* Ctrl-C while a command of the interactive shell runs: the shell keeps
 * SIGINT blocked (line_input.h), so long commands (`watch`, `stats -i`) wait
 * with cli_pause_ms and stop when it arrives; a Ctrl-C left pending is
 * dropped before the next prompt. Outside the interactive shell SIGINT is
 * not blocked and Ctrl-C ends the program as usual. */
#ifndef USHER_CLI_INTERRUPT_H
#define USHER_CLI_INTERRUPT_H

#include <stdbool.h>

/* Waits ms milliseconds. held: SIGINT is blocked (the interactive shell), and
 * a Ctrl-C ends the wait early: false then. Otherwise a plain sleep. */
bool cli_pause_ms(bool held, long ms);

/* held: true when a Ctrl-C is pending (and takes it); never waits. */
bool cli_interrupted(bool held);

#endif
