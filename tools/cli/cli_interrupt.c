/* SIGINT held around commands (see cli_interrupt.h). */
#include "cli_interrupt.h"

#include <errno.h>
#include <time.h>

static void sigint_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
}

void cli_interrupt_hold(cli_interrupt *ci)
{
    sigset_t intr;
    sigint_set(&intr);
    sigprocmask(SIG_BLOCK, &intr, &ci->old_mask);
}

void cli_interrupt_release(cli_interrupt *ci)
{
    sigset_t intr;
    sigint_set(&intr);
    struct timespec now = { 0, 0 };
    while (sigtimedwait(&intr, NULL, &now) == SIGINT)
        continue;
    sigprocmask(SIG_SETMASK, &ci->old_mask, NULL);
}

bool cli_pause_ms(bool held, long ms)
{
    struct timespec left = { ms / 1000, (ms % 1000) * 1000000L };
    if (!held) {
        while (nanosleep(&left, &left) < 0 && errno == EINTR)
            continue;
        return true;
    }
    sigset_t intr;
    sigint_set(&intr);
    int sig;
    while ((sig = sigtimedwait(&intr, NULL, &left)) < 0 && errno == EINTR)
        continue; /* another signal: the timeout is not updated, close enough */
    return sig != SIGINT;
}
