/* usherd: parse the command line, take the port lock, run the workers. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/resource.h>
#include "config.h"
#include "workers.h"

/* Each connection is a descriptor: take every one the hard limit allows
 * (the soft limit is often 1,024 against a --max-conns of 10,000). What
 * still does not fit is capped, and said, by each serving process. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return;   /* the cap then follows the old limit */
}

int main(int argc, char **argv)
{
    usher_config cfg;
    config_defaults(&cfg);
    int parsed = config_parse(&cfg, argc, argv, stdout, stderr);
    if (parsed == 1) return 0;
    if (parsed != 0) return 2;
    if (sodium_init() < 0) {
        fprintf(stderr, "usherd: libsodium failed to initialise\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    if (workers_lock_port(&cfg) < 0) return 1;
    return workers_run(&cfg);
}
