#include "handlers.h"
#include "pack.h"

usher_err sys_ping(call *c)
{
    msgpack_pack_map(c->out, 1);
    pack_kv_i64(c->out, "time", c->now_ms);
    return USHER_ERR_OK;
}

usher_err sys_hello(call *c)
{
    msgpack_pack_map(c->out, 4);
    pack_kv_str(c->out, "server", "usherd");
    pack_kv_str(c->out, "version", c->env->version);
    pack_kv_u64(c->out, "protocol", 1);
    pack_kv_str(c->out, "instance", c->env->instance);
    return USHER_ERR_OK;
}

size_t handler_page_budget(const call *c)
{
    return c->env->cfg->max_frame - PACK_ENVELOPE_RESERVE;
}
