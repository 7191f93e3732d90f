/* The service manager's readiness protocol (systemd's sd_notify) without
 * libsystemd: one datagram such as "READY=1" to the unix datagram socket
 * named by $NOTIFY_SOCKET, a path or, starting with '@', an abstract name.
 * No state: every call reads the environment and opens its own socket, so
 * any process (a worker too) may call it at any time. */
#ifndef USHER_SERVER_NOTIFY_H
#define USHER_SERVER_NOTIFY_H

/* Sends state ("READY=1", "STOPPING=1", ...) to $NOTIFY_SOCKET.
 * Returns 1 when NOTIFY_SOCKET is unset or empty (nothing to do: usherd runs
 * without a service manager), 0 when sent, -1 with errno set when the name is
 * too long or relative (EINVAL) or the socket refused it. */
int notify_send(const char *state);

#endif
