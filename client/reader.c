/* The reply reader: bytes from the wire in, parsed replies out, no I/O.
 * Built on the protocol's frame reader (length and max frame), bounded msgpack
 * decode (msg_decode) and envelope parse (msg_parse_reply). Each reply owns a
 * msgpack zone holding a copy of its frame body, so its strings and result
 * object live exactly as long as the reply. Any malformed frame makes the
 * reader fail for good (EPROTO): nothing after it can be trusted. */
#include "usher_internal.h"

#include <stdlib.h>
#include <string.h>
#include "frame.h"
#include "msg.h"

/* The public reply is the first member, so a usher_reply * is a reply_box *. */
typedef struct reply_box {
    usher_reply pub;
    msgpack_zone *zone;      /* owns the body copy, the objects and the strings */
    struct reply_box *next;  /* reader's queue of parsed replies */
} reply_box;

struct usher_reader {
    frame_reader frames;
    msg_limits limits;
    reply_box *head, *tail;  /* parsed, not yet taken */
    bool failed;             /* a bad frame was seen; queued replies still come out first */
};

size_t reader_clamp_max_frame(size_t max_frame)
{
    if (max_frame == 0)
        max_frame = USHER_MAX_FRAME_DEFAULT;
    if (max_frame < USHER_MAX_FRAME_MIN)
        max_frame = USHER_MAX_FRAME_MIN;
    if (max_frame > FRAME_MAX_LIMIT)
        max_frame = FRAME_MAX_LIMIT;
    return max_frame;
}

usher_reader *usher_reader_new(size_t max_frame)
{
    usher_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    frame_reader_init(&r->frames, reader_clamp_max_frame(max_frame));
    r->limits = msg_limits_default();
    return r;
}

void usher_reply_free(usher_reply *reply)
{
    if (!reply)
        return;
    reply_box *box = (reply_box *)reply;
    if (box->zone)
        msgpack_zone_free(box->zone);
    free(box);
}

void usher_reader_free(usher_reader *r)
{
    if (!r)
        return;
    while (r->head) {
        reply_box *next = r->head->next;
        usher_reply_free(&r->head->pub);
        r->head = next;
    }
    frame_reader_free(&r->frames);
    free(r);
}

/* A NUL-terminated copy of n bytes inside the zone. */
static const char *zone_strndup(msgpack_zone *zone, const char *s, size_t n)
{
    char *copy = msgpack_zone_malloc(zone, n + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, n);
    copy[n] = '\0';
    return copy;
}

/* Fills the public fields from a parsed envelope; ENOMEM or OK. */
static usher_status reply_fill(reply_box *box, int type, const msg_response *resp,
                               const msg_notification *note)
{
    usher_reply *pub = &box->pub;
    pub->result.type = MSGPACK_OBJECT_NIL;
    if (type == MSG_TYPE_NOTIFICATION) {
        pub->kind = USHER_REPLY_NOTIFICATION;
        pub->status = USHER_OK;
        pub->method = zone_strndup(box->zone, note->method, note->method_len);
        if (!pub->method)
            return USHER_ENOMEM;
        if (note->params)
            pub->result = *note->params;
        return USHER_OK;
    }
    pub->kind = USHER_REPLY_RESPONSE;
    pub->msgid = resp->msgid;
    pub->status = status_from_err(resp->err);
    if (resp->result)
        pub->result = *resp->result;
    if (resp->err_name) {
        pub->error_name = zone_strndup(box->zone, resp->err_name, resp->err_name_len);
        if (!pub->error_name)
            return USHER_ENOMEM;
    }
    if (resp->err_message) {
        pub->message = zone_strndup(box->zone, resp->err_message, resp->err_message_len);
        if (!pub->message)
            return USHER_ENOMEM;
    }
    return USHER_OK;
}

/* Decodes one frame body into a new reply. EPROTO when it is not a reply, ENOMEM. */
static usher_status reply_from_body(usher_reader *r, const uint8_t *body, size_t len, reply_box **out)
{
    *out = NULL;
    reply_box *box = calloc(1, sizeof *box);
    if (!box)
        return USHER_ENOMEM;
    usher_status st = USHER_ENOMEM;
    box->zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
    if (!box->zone)
        goto fail;
    /* msgpack's unpacker points strings into its input: keep the input in the zone. */
    uint8_t *copy = msgpack_zone_malloc(box->zone, len);
    if (!copy)
        goto fail;
    memcpy(copy, body, len);
    msgpack_object root;
    st = USHER_EPROTO;
    if (msg_decode(copy, len, &r->limits, box->zone, &root) != USHER_ERR_OK)
        goto fail;
    int type;
    msg_response resp;
    msg_notification note;
    if (msg_parse_reply(&root, &type, &resp, &note) != USHER_ERR_OK)
        goto fail;
    st = reply_fill(box, type, &resp, &note);
    if (st != USHER_OK)
        goto fail;
    *out = box;
    return USHER_OK;
fail:
    usher_reply_free(&box->pub);
    return st;
}

static void queue_push(usher_reader *r, reply_box *box)
{
    if (r->tail)
        r->tail->next = box;
    else
        r->head = box;
    r->tail = box;
}

/* Takes every whole frame out of the frame reader into the reply queue. */
static usher_status drain_frames(usher_reader *r)
{
    for (;;) {
        const uint8_t *body;
        size_t len;
        if (frame_reader_next(&r->frames, &body, &len) != USHER_ERR_OK) {
            r->failed = true;
            return USHER_EPROTO;
        }
        if (!body)
            return USHER_OK;
        reply_box *box;
        usher_status st = reply_from_body(r, body, len, &box);
        if (st == USHER_EPROTO) {
            r->failed = true;
            frame_reader_free(&r->frames);
        }
        if (st != USHER_OK)
            return st;
        queue_push(r, box);
    }
}

usher_status usher_reader_feed(usher_reader *r, const void *bytes, size_t n)
{
    if (!r || (!bytes && n > 0))
        return USHER_EARG;
    if (r->failed)
        return USHER_EPROTO;
    const uint8_t *p = bytes;
    while (n > 0) {
        uint8_t *area;
        size_t avail;
        usher_err err = frame_reader_space(&r->frames, n, &area, &avail);
        if (err == USHER_ERR_INTERNAL)
            return USHER_ENOMEM;
        if (err != USHER_ERR_OK) {  /* cannot happen after a drain; treat as a broken stream */
            r->failed = true;
            return USHER_OK;
        }
        size_t take = avail < n ? avail : n;
        memcpy(area, p, take);
        frame_reader_commit(&r->frames, take);
        p += take;
        n -= take;
        usher_status st = drain_frames(r);
        if (st == USHER_ENOMEM)
            return st;
        if (st != USHER_OK)
            return USHER_OK;  /* the failure is reported by usher_reader_next after the queued replies */
    }
    return USHER_OK;
}

usher_status usher_reader_next(usher_reader *r, usher_reply **out)
{
    if (!r || !out)
        return USHER_EARG;
    *out = NULL;
    if (r->head) {
        reply_box *box = r->head;
        r->head = box->next;
        if (!r->head)
            r->tail = NULL;
        box->next = NULL;
        *out = &box->pub;
        return USHER_OK;
    }
    return r->failed ? USHER_EPROTO : USHER_OK;
}

char *usher_reply_json(const usher_reply *reply, int flags)
{
    if (!reply)
        return NULL;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msg_to_json(&reply->result, &sb, (flags & USHER_JSON_PRETTY) != 0);
    if (!sb.data || sb.alloc <= sb.size) {  /* the bridge leaves a NUL after the text unless OOM */
        msgpack_sbuffer_destroy(&sb);
        return NULL;
    }
    return msgpack_sbuffer_release(&sb);
}
