/* queue.watch / queue.unwatch. A handler has no connection: it only says
 * what the call asks (c->watch_op), and dispatch applies it to the
 * connection once the reply is built (server/watch.h). */
#include "handlers.h"
#include "pack.h"
#include "../params.h"

usher_err queue_watch(call *c)
{
    if (c->watch_full) return param_fail(c, "token", "at most 4 watched entries per connection");
    usher_err e = queue_status(c);
    if (e == USHER_ERR_OK) c->watch_op = CALL_WATCH_ADD;
    return e;
}

usher_err queue_unwatch(call *c)
{
    msgpack_pack_map(c->out, 1);
    pack_key(c->out, "watching");
    msgpack_pack_false(c->out);
    c->watch_op = CALL_WATCH_REMOVE;
    return USHER_ERR_OK;
}
