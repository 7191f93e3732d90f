/* Ctrl-C while a command of the interactive shell runs: SIGINT is held
 * (blocked) for the length of the command, long commands (`watch`,
 * `stats -i`) wait with cli_pause_ms and stop when it arrives, and a Ctrl-C
 * left pending is dropped before the next prompt. Outside the interactive
 * shell nothing is held and Ctrl-C ends the program as usual. */
#ifndef USHER_CLI_INTERRUPT_H
#define USHER_CLI_INTERRUPT_H

#include <signal.h>
#include <stdbool.h>

typedef struct cli_interrupt {
    sigset_t old_mask;
} cli_interrupt;

/* Blocks SIGINT, remembering the mask to restore. */
void cli_interrupt_hold(cli_interrupt *ci);

/* Drops a pending SIGINT and restores the mask. */
void cli_interrupt_release(cli_interrupt *ci);

/* Waits ms milliseconds. held: SIGINT is held (the interactive shell), and
 * a Ctrl-C ends the wait early: false then. Otherwise a plain sleep. */
bool cli_pause_ms(bool held, long ms);

#endif
