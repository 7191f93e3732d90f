/* Request frames: params from a msgpack object, packed bytes or JSON, checked
 * before they go out, and the envelope around them. Also request ids and msgids. */
#include "usher_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include "frame.h"
#include "msg.h"

usher_status request_params_from_object(msgpack_sbuffer *sb, const msgpack_object *params)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    if (!params)
        return msgpack_pack_map(&pk, 0) == 0 ? USHER_OK : USHER_ENOMEM;
    if (params->type != MSGPACK_OBJECT_MAP || !msg_params_valid(params))
        return USHER_EARG;
    return msgpack_pack_object(&pk, *params) == 0 ? USHER_OK : USHER_ENOMEM;
}

usher_status request_params_check(const void *params, size_t len)
{
    if (!params || len == 0)
        return USHER_EARG;
    msg_limits lim = msg_limits_default();
    if (msg_check(params, len, &lim) != USHER_ERR_OK)
        return USHER_EARG;
    msgpack_zone *zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
    if (!zone)
        return USHER_ENOMEM;
    msgpack_object o;
    usher_status st = USHER_EARG;
    if (msg_decode(params, len, &lim, zone, &o) == USHER_ERR_OK && msg_params_valid(&o))
        st = USHER_OK;
    msgpack_zone_free(zone);
    return st;
}

usher_status request_params_from_json(msgpack_sbuffer *sb, const char *json, char *detail, size_t detail_len)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t len = json ? strlen(json) : 0;
    size_t blank = strspn(json ? json : "", " \t\r\n");
    if (blank == len)
        return msgpack_pack_map(&pk, 0) == 0 ? USHER_OK : USHER_ENOMEM;
    if (json[blank] != '{') {
        snprintf(detail, detail_len, "params must be a JSON object");
        return USHER_EARG;
    }
    size_t err_at = 0;
    if (msg_from_json(json, len, &pk, &err_at) != USHER_ERR_OK) {
        snprintf(detail, detail_len, "bad JSON at byte %zu", err_at);
        return USHER_EARG;
    }
    return USHER_OK;
}

usher_status request_frame_append(msgpack_sbuffer *sb, uint32_t msgid, const char *method,
                                  const void *params, size_t params_len)
{
    if (!method || !*method)
        return USHER_EARG;
    if (params) {
        usher_status st = request_params_check(params, params_len);
        if (st != USHER_OK)
            return st;
    }
    size_t old_size = sb->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t at = msg_frame_begin(sb);
    msg_pack_request_head(&pk, msgid, method);
    int rc = params ? msgpack_sbuffer_write(sb, params, params_len) : msgpack_pack_map(&pk, 0);
    size_t body_len = msg_frame_end(sb, at);
    if (rc != 0 || body_len == 0 || body_len > FRAME_MAX_LIMIT) {
        sb->size = old_size;  /* drop the half-built frame */
        return rc != 0 || body_len == 0 ? USHER_ENOMEM : USHER_EARG;
    }
    return USHER_OK;
}

usher_status request_id_make(char id[USHER_REQUEST_ID_MAX + 1])
{
    uint8_t raw[16];
    size_t have = 0;
    while (have < sizeof raw) {
        ssize_t n = getrandom(raw + have, sizeof raw - have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return USHER_EIO;
        have += (size_t)n;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        id[2 * i] = hex[raw[i] >> 4];
        id[2 * i + 1] = hex[raw[i] & 15];
    }
    id[2 * sizeof raw] = '\0';
    return USHER_OK;
}

uint32_t request_next_msgid(uint32_t *counter)
{
    if (++*counter == 0)
        *counter = 1;
    return *counter;
}
