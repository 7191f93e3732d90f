/* Waits a long command can cut short with Ctrl-C (see cli_interrupt.h). */
#include "cli_interrupt.h"

#include <errno.h>
#include <signal.h>
#include <time.h>

bool cli_pause_ms(bool held, long ms)
{
    struct timespec left = { ms / 1000, (ms % 1000) * 1000000L };
    if (!held) {
        while (nanosleep(&left, &left) < 0 && errno == EINTR)
            continue;
        return true;
    }
    sigset_t intr;
    sigemptyset(&intr);
    sigaddset(&intr, SIGINT);
    int sig;
    while ((sig = sigtimedwait(&intr, NULL, &left)) < 0 && errno == EINTR)
        continue; /* another signal: the timeout is not updated, close enough */
    return sig != SIGINT;
}

bool cli_interrupted(bool held)
{
    return held && !cli_pause_ms(true, 0);
}
