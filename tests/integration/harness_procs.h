/* Harness, processes: what the supervision and reader tests need to see
 * usherd's processes from outside: which worker serves a connection (the
 * pid in sys.hello's instance, HOST:PID), the children of a --workers
 * parent, a process's state letter, and log lines appearing within a
 * deadline. Include after harness.h. */
#ifndef USHER_TESTS_HARNESS_PROCS_H
#define USHER_TESTS_HARNESS_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "harness.h"

/* The pid of the process serving c (sys.hello's instance); fails the test
 * when the call fails. */
pid_t harness_instance_pid(harness_conn *c);

/* Connects to port again and again (fixture-owned connections) until one
 * lands on a process whose pid is not among avoid[0..n_avoid); returns it
 * and its pid in *pid, or NULL after timeout_ms. Connections that landed
 * elsewhere are closed. */
harness_conn *harness_fx_connect_other(harness_fixture *fx, uint16_t port, const pid_t *avoid,
                                       size_t n_avoid, int timeout_ms, pid_t *pid);

/* Live (not zombie) children of parent, up to cap; returns how many. */
size_t harness_children(pid_t parent, pid_t *out, size_t cap);

/* The state letter of pid in /proc/PID/stat ('R', 'S', 'T', 'Z', ...), or
 * 0 when there is no such process. */
char harness_proc_state(pid_t pid);

/* True when the server's log holds a line containing needle within
 * timeout_ms (polled). */
bool harness_log_wait(const harness_server *hs, const char *needle, int timeout_ms);

/* How many lines of the server's log contain needle now. */
size_t harness_log_count(const harness_server *hs, const char *needle);


#endif
