#include "workers.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "server.h"

/* The lock is a listening socket in Linux's abstract namespace, named for
 * the address: the kernel releases it when the last process holding it
 * exits, so no file is left behind and a crash never leaves a stale lock.
 * Workers inherit it across fork. */
int workers_lock_port(const usher_config *cfg)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int len = snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "usherd-lock:%s:%u",
                       cfg->listen_host, cfg->listen_port);
    socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "usherd: lock socket: %s\n", strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sa, sl) == 0 && listen(fd, 1) == 0) return fd;
    int bind_errno = errno;
    close(fd);
    if (bind_errno != EADDRINUSE) {
        fprintf(stderr, "usherd: lock %s:%u: %s\n", cfg->listen_host, cfg->listen_port,
                strerror(bind_errno));
        return -1;
    }
    /* Held: ask the kernel who holds it, to name them. */
    long owner = -1;
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sl) == 0 &&
        getsockopt(probe, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
        owner = (long)cred.pid;
    if (probe >= 0) close(probe);
    fprintf(stderr, "usherd: %s:%u is already served by another usherd (pid %ld)\n",
            cfg->listen_host, cfg->listen_port, owner);
    return -1;
}

static volatile sig_atomic_t stop_signal;

static void remember_signal(int sig) { stop_signal = sig; }

static void signal_all(const pid_t *pids, unsigned n, int sig)
{
    for (unsigned i = 0; i < n; i++)
        if (pids[i] > 0) kill(pids[i], sig);
}

int workers_run(const usher_config *cfg)
{
    if (cfg->workers <= 1) return server_run(cfg);

    pid_t pids[64] = { 0 };
    unsigned alive = 0;
    int status_out = 0;
    struct sigaction sa = { .sa_handler = remember_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    for (unsigned i = 0; i < cfg->workers; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "usherd: fork: %s\n", strerror(errno));
            signal_all(pids, cfg->workers, SIGTERM);
            status_out = 1;
            break;
        }
        if (pid == 0) {
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            _exit(server_run(cfg));
        }
        pids[i] = pid;
        alive++;
    }
    bool forwarded = false;
    while (alive > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR) {
                if (stop_signal && !forwarded) { signal_all(pids, cfg->workers, SIGTERM); forwarded = true; }
                continue;
            }
            break;
        }
        for (unsigned i = 0; i < cfg->workers; i++) if (pids[i] == pid) pids[i] = 0;
        alive--;
        bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!clean && !stop_signal) {
            fprintf(stderr, "usherd: worker %d died (%s %d); stopping the others\n", (int)pid,
                    WIFSIGNALED(status) ? "signal" : "status",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            status_out = 1;
            if (!forwarded) { signal_all(pids, cfg->workers, SIGTERM); forwarded = true; }
        }
    }
    return status_out;
}
