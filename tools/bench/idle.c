/* Idle connections and the server's memory: plain TCP connections that connect and then never send a byte
 * (a crowd's open but silent sockets) or, with --idle-partial, only the first 6 bytes of a frame (slow-loris),
 * and the VmRSS of a server process on this host. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

/* Raises the soft fd limit to the hard one, so n idle sockets fit beside the pool. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int *idle_open(const options *o, int n, int *opened)
{
    *opened = 0;
    int *fds = calloc((size_t)n, sizeof *fds);
    if (!fds)
        return NULL;
    raise_fd_limit();
    /* Spread over the targets as the pool is: connection i to target i mod n_targets. */
    struct sockaddr_in sa[BENCH_MAX_TARGETS];
    for (int t = 0; t < o->n_targets; t++) {
        const bench_target *bt = &o->targets[t];
        sa[t] = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)bt->port) };
        if (inet_pton(AF_INET, strcmp(bt->host, "localhost") == 0 ? "127.0.0.1" : bt->host, &sa[t].sin_addr) != 1) {
            free(fds);
            return NULL;
        }
    }
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            break;
        if (connect(fd, (struct sockaddr *)&sa[i % o->n_targets], sizeof sa[0]) != 0) {
            close(fd);
            break;
        }
        if (o->idle_partial) {
            /* The first 6 bytes of a 100-byte frame, never finished (slow-loris). */
            static const uint8_t start[6] = { 0, 0, 0, 100, 0x94, 0x00 };
            if (write(fd, start, sizeof start) != (ssize_t)sizeof start) {
                close(fd);
                break;
            }
        }
        fds[(*opened)++] = fd;
    }
    return fds;
}

void idle_close(int *fds, int n)
{
    for (int i = 0; fds && i < n; i++)
        close(fds[i]);
    free(fds);
}

long server_rss_kb(int pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}
