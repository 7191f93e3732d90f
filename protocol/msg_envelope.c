/* Envelopes: reading requests and replies out of decoded objects, and packing
 * them into frames. Parsed structs point into the decoded object (and so into
 * the frame bytes it was decoded from); nothing here allocates. */
#include "msg.h"
#include "frame.h"

#include <string.h>

const msgpack_object *msg_map_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (msg_str_eq(&kv->key, key))
            return &kv->val;   /* first match wins on duplicate keys */
    }
    return NULL;
}

bool msg_str_eq(const msgpack_object *o, const char *s)
{
    if (!o || o->type != MSGPACK_OBJECT_STR || !s)
        return false;
    size_t n = strlen(s);
    return o->via.str.size == n && (n == 0 || memcmp(o->via.str.ptr, s, n) == 0);
}

static bool is_uint_equal(const msgpack_object *o, uint64_t v)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 == v;
}

static bool read_msgid(const msgpack_object *o, uint32_t *msgid)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT32_MAX)
        return false;
    *msgid = (uint32_t)o->via.u64;
    return true;
}

/* params: a map whose keys are all strings, or nil (returned as NULL). */
bool msg_params_valid(const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_NIL)
        return true;
    if (o->type != MSGPACK_OBJECT_MAP)
        return false;
    for (uint32_t i = 0; i < o->via.map.size; i++)
        if (o->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR)
            return false;
    return true;
}

usher_err msg_parse_request(const msgpack_object *o, msg_request *out, bool *msgid_known)
{
    memset(out, 0, sizeof *out);
    *msgid_known = false;
    if (!o || o->type != MSGPACK_OBJECT_ARRAY)
        return USHER_ERR_BAD_REQUEST;
    const msgpack_object *el = o->via.array.ptr;
    uint32_t n = o->via.array.size;
    /* The msgid is worth reading first so even a bad request gets an answer
     * its sender can match. */
    if (n >= 2 && read_msgid(&el[1], &out->msgid))
        *msgid_known = true;
    if (n != 4 || !is_uint_equal(&el[0], MSG_TYPE_REQUEST) || !*msgid_known)
        return USHER_ERR_BAD_REQUEST;
    if (el[2].type != MSGPACK_OBJECT_STR || !msg_params_valid(&el[3]))
        return USHER_ERR_BAD_REQUEST;
    out->params = el[3].type == MSGPACK_OBJECT_NIL ? NULL : &el[3];
    out->method = el[2].via.str.ptr;
    out->method_len = el[2].via.str.size;
    return USHER_ERR_OK;
}

/* The error map of a response: "code" a string (unknown names and "OK" read
 * as INTERNAL, so an error never looks like success), "message" optional. */
static usher_err read_error_map(const msgpack_object *e, msg_response *resp)
{
    const msgpack_object *code = msg_map_get(e, "code");
    if (!code || code->type != MSGPACK_OBJECT_STR)
        return USHER_ERR_BAD_REQUEST;
    resp->err_name = code->via.str.ptr;
    resp->err_name_len = code->via.str.size;
    if (!usher_err_from_name(code->via.str.ptr, code->via.str.size, &resp->err) ||
        resp->err == USHER_ERR_OK)
        resp->err = USHER_ERR_INTERNAL;
    const msgpack_object *message = msg_map_get(e, "message");
    if (message && message->type == MSGPACK_OBJECT_STR) {
        resp->err_message = message->via.str.ptr;
        resp->err_message_len = message->via.str.size;
    }
    return USHER_ERR_OK;
}

static usher_err read_response(const msgpack_object *el, msg_response *resp)
{
    if (!read_msgid(&el[1], &resp->msgid))
        return USHER_ERR_BAD_REQUEST;
    if (el[2].type == MSGPACK_OBJECT_NIL) {
        if (el[3].type != MSGPACK_OBJECT_MAP)
            return USHER_ERR_BAD_REQUEST;
        resp->err = USHER_ERR_OK;
        resp->result = &el[3];
        return USHER_ERR_OK;
    }
    if (el[2].type != MSGPACK_OBJECT_MAP)
        return USHER_ERR_BAD_REQUEST;
    return read_error_map(&el[2], resp);
}

usher_err msg_parse_reply(const msgpack_object *o, int *type,
                          msg_response *resp, msg_notification *note)
{
    memset(resp, 0, sizeof *resp);
    memset(note, 0, sizeof *note);
    *type = -1;
    if (!o || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1)
        return USHER_ERR_BAD_REQUEST;
    const msgpack_object *el = o->via.array.ptr;
    uint32_t n = o->via.array.size;

    if (n == 4 && is_uint_equal(&el[0], MSG_TYPE_RESPONSE)) {
        usher_err err = read_response(el, resp);
        if (err != USHER_ERR_OK)
            return err;
        *type = MSG_TYPE_RESPONSE;
        return USHER_ERR_OK;
    }
    if (n == 3 && is_uint_equal(&el[0], MSG_TYPE_NOTIFICATION)) {
        if (el[1].type != MSGPACK_OBJECT_STR || !msg_params_valid(&el[2]))
            return USHER_ERR_BAD_REQUEST;
        note->params = el[2].type == MSGPACK_OBJECT_NIL ? NULL : &el[2];
        note->method = el[1].via.str.ptr;
        note->method_len = el[1].via.str.size;
        *type = MSG_TYPE_NOTIFICATION;
        return USHER_ERR_OK;
    }
    return USHER_ERR_BAD_REQUEST;
}

size_t msg_frame_begin(msgpack_sbuffer *sb)
{
    static const char placeholder[FRAME_HEADER_BYTES] = { 0 };
    size_t offset = sb->size;
    msgpack_sbuffer_write(sb, placeholder, sizeof placeholder);
    return offset;
}

/* Returns 0 without writing when the header was never reserved (OOM). */
size_t msg_frame_end(msgpack_sbuffer *sb, size_t offset)
{
    if (sb->size < offset + FRAME_HEADER_BYTES)
        return 0;
    size_t body_len = sb->size - offset - FRAME_HEADER_BYTES;
    frame_header_put((uint8_t *)sb->data + offset, (uint32_t)body_len);
    return body_len;
}

void msg_pack_request_head(msgpack_packer *pk, uint32_t msgid, const char *method)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, MSG_TYPE_REQUEST);
    msgpack_pack_uint32(pk, msgid);
    msg_pack_cstr(pk, method);
}

void msg_pack_response_ok_head(msgpack_packer *pk, uint32_t msgid)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, MSG_TYPE_RESPONSE);
    msgpack_pack_uint32(pk, msgid);
    msgpack_pack_nil(pk);
}

void msg_pack_response_error(msgpack_packer *pk, uint32_t msgid, usher_err err,
                             const char *message)
{
    /* An out-of-range code goes out as INTERNAL, its name and number agreeing. */
    const char *name = usher_err_name(err);
    usher_err canonical = USHER_ERR_INTERNAL;
    usher_err_from_name(name, strlen(name), &canonical);

    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, MSG_TYPE_RESPONSE);
    msgpack_pack_uint32(pk, msgid);
    msgpack_pack_map(pk, 3);
    msg_pack_cstr(pk, "code");
    msg_pack_cstr(pk, name);
    msg_pack_cstr(pk, "message");
    msg_pack_cstr(pk, message ? message : usher_err_message(canonical));
    msg_pack_cstr(pk, "num");
    msgpack_pack_int(pk, (int)canonical);
    msgpack_pack_nil(pk);
}

void msg_pack_cstr(msgpack_packer *pk, const char *s)
{
    if (!s) {
        msgpack_pack_nil(pk);
        return;
    }
    msg_pack_strn(pk, s, strlen(s));
}

void msg_pack_strn(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}
