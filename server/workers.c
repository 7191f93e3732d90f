#include "workers.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>
#include "server.h"

#define LOCK_DIR "/tmp"

int workers_lock_port(const usher_config *cfg)
{
    char path[256];
    snprintf(path, sizeof path, LOCK_DIR "/usherd-%s-%u.lock", cfg->listen_host, cfg->listen_port);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        fprintf(stderr, "usherd: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char owner[32] = "?";
        ssize_t n = pread(fd, owner, sizeof owner - 1, 0);
        owner[n > 0 ? n : 0] = '\0';
        owner[strcspn(owner, "\n")] = '\0';
        fprintf(stderr, "usherd: %s:%u is already served by another usherd (pid %s)\n",
                cfg->listen_host, cfg->listen_port, owner);
        close(fd);
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) < 0) { /* informational only */ }
    return fd;
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
