/* usher-admin's live controls over the protocol: a concert's waiting room
 * (queue get|set|pause|resume|open, the admin.queue.* methods) and ending a
 * user's sessions (revoke, admin.session.revoke). Parsing is separate from
 * running so a usage error is found before a token is signed or a
 * connection made. */
#ifndef USHER_TOOLS_ADMIN_CONTROL_CMDS_H
#define USHER_TOOLS_ADMIN_CONTROL_CMDS_H

#include <stdbool.h>
#include <stdint.h>
#include "../../client/usher.h"
#include "../common/queue_controls.h"

typedef enum control_kind {
    CONTROL_QUEUE_GET, CONTROL_QUEUE_SET, CONTROL_QUEUE_OPEN, CONTROL_REVOKE
} control_kind;

typedef struct control_request {
    control_kind kind;
    uint64_t concert_id;            /* queue commands */
    queue_controls set;             /* queue set, pause, resume */
    int64_t opens_at_ms;            /* queue open */
    const char *user_id;            /* revoke */
} control_request;

/* True when argv[0] names one of these commands ("queue", "revoke"). */
bool control_is_command(const char *word);

/* Parses argv (argv[0] is "queue" or "revoke") into *req, with now_ms for
 * a relative OPENS_AT; 0, or 2 after a usage error on stderr. */
int control_parse(int argc, char **argv, int64_t now_ms, control_request *req);

/* Sends req with the admin token over c and prints the result as
 * "key  value" lines (times also in UTC); 0, or 1 after the server's
 * error on stderr. */
int control_run(usher_client *c, const char *admin, const control_request *req);

/* The usage lines of these commands, for usher-admin --help. */
extern const char control_usage[];

#endif
