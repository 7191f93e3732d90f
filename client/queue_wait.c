/* usher_queue_wait: waiting for admission by the server's pushes
 * (queue.watch) instead of polling. For the length of the wait a callback is
 * put in front of the application's: it takes the notifications about the
 * awaited token and hands every other one on. */
#include "usher_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct queue_waiting {
    const char *token;
    usher_queue *out;
    usher_queue_progress_cb *progress;
    void *privdata;
    usher_notify_cb *next_cb;       /* the application's callback */
    void *next_privdata;
    bool ended;
    usher_status result;
} queue_waiting;

static bool about_token(const usher_reply *note, const char *token)
{
    fields f = { 0 };
    char *named = f_str(&f, &note->result, "token");
    bool same = named && strcmp(named, token) == 0;
    free(named);
    return same;
}

static void on_note(usher_client *c, const usher_reply *note, void *privdata)
{
    queue_waiting *w = privdata;
    if (!note->method || strncmp(note->method, "queue.", 6) != 0 || !about_token(note, w->token)) {
        if (w->next_cb)
            w->next_cb(c, note, w->next_privdata);
        return;
    }
    fields f = { 0 };
    const msgpack_object *p = &note->result;
    if (strcmp(note->method, "queue.update") == 0) {
        w->out->state = USHER_QUEUE_STATE_WAITING;
        w->out->position = (uint32_t)f_u64(&f, p, "position");
        w->out->eta_s = f_i64_opt(&f, p, "eta_s", -1);
        if (!f.bad && w->progress)
            w->progress(w->out, w->privdata);
    } else if (strcmp(note->method, "queue.admitted") == 0) {
        w->out->state = USHER_QUEUE_STATE_ACTIVE;
        w->out->position = 0;
        w->out->eta_s = -1;
        w->out->active_until = f_i64(&f, p, "active_until");
        w->ended = true;
        w->result = USHER_OK;
    } else if (strcmp(note->method, "queue.expired") == 0) {
        w->out->state = f_enum(&f, p, "status", usher_queue_state_name, USHER_QUEUE_STATE_EXPIRED);
        w->out->position = 0;
        w->out->eta_s = -1;
        w->ended = true;
        w->result = USHER_TOKEN_EXPIRED;
    }
}

usher_status usher_queue_wait(usher_client *c, const char *token, usher_queue_progress_cb *progress,
                              void *privdata, int timeout_ms, usher_queue *out)
{
    if (!c)
        return USHER_EARG;
    if (!token || !out)
        return client_note_failure(c, USHER_EARG, !token ? "token is NULL" : "result pointer is NULL");
    memset(out, 0, sizeof *out);
    int64_t deadline = conn_deadline(timeout_ms);
    queue_waiting w = { .token = token, .out = out, .progress = progress, .privdata = privdata,
                        .result = USHER_ETIMEOUT };
    client_notify_get(c, &w.next_cb, &w.next_privdata);
    usher_set_notify_cb(c, on_note, &w);
    usher_status st = usher_queue_watch(c, token, out);
    if (st == USHER_OK && out->state == USHER_QUEUE_STATE_ACTIVE) {
        w.ended = true;
        w.result = USHER_OK;
    } else if (st == USHER_OK && out->state != USHER_QUEUE_STATE_WAITING) {
        w.ended = true;
        w.result = USHER_TOKEN_EXPIRED;
    } else if (st == USHER_OK && progress) {
        progress(out, privdata);
    }
    while (st == USHER_OK && !w.ended) {
        int left = 0;
        if (deadline >= 0) {
            int64_t ms = deadline - conn_now_ms();
            if (ms <= 0)
                break;
            left = (int)ms;
        }
        st = usher_wait_notify(c, left);
        if (st == USHER_ETIMEOUT)
            break;
    }
    bool ok_so_far = st == USHER_OK || st == USHER_ETIMEOUT;
    /* No pushes about it after the wait (an ended entry's watch ended with it). */
    if (ok_so_far && !(w.ended && w.result == USHER_TOKEN_EXPIRED) && usher_is_connected(c))
        usher_queue_unwatch(c, token);
    usher_set_notify_cb(c, w.next_cb, w.next_privdata);
    if (!ok_so_far)
        return st;
    if (!w.ended)
        return client_note_failure(c, USHER_ETIMEOUT, "not admitted within the timeout");
    if (w.result != USHER_OK)
        return client_note_failure(c, w.result, "the queue entry ended before it was admitted");
    client_note_failure(c, USHER_OK, NULL);
    return USHER_OK;
}
