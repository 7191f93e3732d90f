/* usherd: parse the command line, take the port lock, run the workers. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include "config.h"
#include "workers.h"

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
    if (workers_lock_port(&cfg) < 0) return 1;
    return workers_run(&cfg);
}
