/* Raw commands for protocol debugging: `call` sends any method with any JSON
 * params, `send-hex` sends bytes exactly as typed (fuzz reproductions). */
#include "commands.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "../../protocol/frame.h"
#include "../../protocol/msg.h"

#define RAW_MSGID_FIRST 0x40000000u /* far from libusher's own msgids */

/* True when packed msgpack bytes start a map or nil (what usher_call_packed
 * accepts); anything else goes out in a frame built here. */
static bool packed_is_map_or_nil(const msgpack_sbuffer *sb)
{
    uint8_t b = (uint8_t)sb->data[0];
    return (b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf || b == 0xc0;
}

/* Sends [0, msgid, method, params] with params of any type, bypassing the
 * library's check that params is a map; prints the reply. */
static int call_with_odd_params(cli *st, usher_client *c, const char *method,
                                const msgpack_sbuffer *params)
{
    msgpack_sbuffer frame;
    msgpack_sbuffer_init(&frame);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &frame, msgpack_sbuffer_write);
    size_t at = msg_frame_begin(&frame);
    if (st->raw_msgid < RAW_MSGID_FIRST)
        st->raw_msgid = RAW_MSGID_FIRST;
    msg_pack_request_head(&pk, st->raw_msgid++, method);
    msgpack_sbuffer_write(&frame, params->data, params->size);
    msg_frame_end(&frame, at);
    usher_reply *reply = NULL;
    double t0 = cli_now_ms();
    usher_status status = usher_send_raw(c, frame.data, frame.size, &reply);
    int rc = cli_print_outcome(st, status, reply, cli_now_ms() - t0);
    usher_reply_free(reply);
    msgpack_sbuffer_destroy(&frame);
    return rc;
}

int cmd_call(cli *st, const cli_args *a)
{
    const char *method = a->argv[0];
    if (a->argc == 1)
        return cli_call(st, method, NULL, NULL);
    const char *json = a->start[1]; /* the rest of the line, verbatim */
    cli_params p;
    msgpack_sbuffer_init(&p.sb);
    msgpack_packer_init(&p.pk, &p.sb, msgpack_sbuffer_write);
    size_t err_at = 0;
    int rc;
    if (msg_from_json(json, strlen(json), &p.pk, &err_at) != USHER_ERR_OK) {
        rc = cli_usage_error(st, "call: bad JSON at byte %zu: %s", err_at, json);
    } else if (packed_is_map_or_nil(&p.sb)) {
        rc = cli_call(st, method, &p, NULL);
    } else {
        usher_client *c = cli_connection(st);
        rc = c ? call_with_odd_params(st, c, method, &p.sb) : CLI_FAILED;
    }
    cli_params_free(&p);
    return rc;
}

static int hex_value(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Decodes hex digits (blanks between them allowed) into a new buffer. */
static uint8_t *hex_decode(const char *text, size_t *len)
{
    uint8_t *bytes = malloc(strlen(text) / 2 + 1);
    if (!bytes)
        return NULL;
    size_t n = 0;
    int high = -1;
    for (const char *p = text; *p; p++) {
        if (isspace((unsigned char)*p))
            continue;
        int v = hex_value((unsigned char)*p);
        if (v < 0)
            goto fail;
        if (high < 0) {
            high = v;
        } else {
            bytes[n++] = (uint8_t)(high << 4 | v);
            high = -1;
        }
    }
    if (high >= 0 || n == 0)
        goto fail;
    *len = n;
    return bytes;
fail:
    free(bytes);
    return NULL;
}

/* Bytes of the next piece to send: one whole frame when the bytes hold one
 * (so each frame's reply can be read), otherwise everything left. */
static size_t next_piece(const uint8_t *bytes, size_t left)
{
    if (left < FRAME_HEADER_BYTES)
        return left;
    uint32_t body = frame_header_get(bytes);
    if (body == 0 || body > left - FRAME_HEADER_BYTES)
        return left;
    return FRAME_HEADER_BYTES + body;
}

int cmd_send_hex(cli *st, const cli_args *a)
{
    size_t len;
    uint8_t *bytes = hex_decode(a->start[0], &len);
    if (!bytes)
        return cli_usage_error(st, "send-hex: expected pairs of hex digits, like 00000001c0");
    usher_client *c = cli_connection(st);
    int rc = c ? CLI_OK : CLI_FAILED;
    for (size_t at = 0; c && at < len && usher_is_connected(c);) {
        size_t piece = next_piece(bytes + at, len - at);
        usher_reply *reply = NULL;
        double t0 = cli_now_ms();
        usher_status status = usher_send_raw(c, bytes + at, piece, &reply);
        double ms = cli_now_ms() - t0;
        at += piece;
        if (reply && !st->json)
            fprintf(st->out, "reply to msgid %u:\n", (unsigned)reply->msgid);
        if (reply || status != USHER_ECLOSED)
            rc |= cli_print_outcome(st, status, reply, ms);
        usher_reply_free(reply);
        if (!reply)
            break;
    }
    if (c && !usher_is_connected(c)) {
        cli_print_local(st, "connection closed", "{\"connection\":\"closed\"}");
        rc = CLI_FAILED;
    }
    free(bytes);
    return rc;
}
