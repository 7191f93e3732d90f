/* notify_send: one datagram to $NOTIFY_SOCKET (see notify.h). */
#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int notify_send(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (name == NULL || name[0] == '\0')
        return 1;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t len = strlen(name);
    /* A path must be absolute; '@' names the abstract namespace (a leading NUL). */
    if ((name[0] != '/' && name[0] != '@') || len > sizeof sa.sun_path) {
        errno = EINVAL;
        return -1;
    }
    if (name[0] == '/' && len == sizeof sa.sun_path) {   /* no room for the NUL */
        errno = EINVAL;
        return -1;
    }
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/'));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    size_t n = strlen(state);
    ssize_t sent = sendto(fd, state, n, MSG_NOSIGNAL, (struct sockaddr *)&sa, sa_len);
    int saved = errno;
    close(fd);
    if (sent != (ssize_t)n) {
        errno = sent < 0 ? saved : EMSGSIZE;
        return -1;
    }
    return 0;
}
