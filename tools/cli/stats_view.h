/* The sys.stats result (CONTRACT: instance, version, uptime_s, processes,
 * connections, requests, latency, commits, queues, holds_live, seats_sold,
 * storage) drawn as tables for people. Missing or mistyped fields print as
 * "-", so a server a little older or newer still shows what it has. */
#ifndef USHER_CLI_STATS_VIEW_H
#define USHER_CLI_STATS_VIEW_H

#include <stdio.h>
#include <msgpack.h>

void stats_view_print(FILE *out, const msgpack_object *result);

#endif
