/* Harness, scenario clients: a recording client safe on any thread (built on
 * harness_conn_open / harness_conn_request / harness_read_reply, which report
 * instead of failing), a barrier-released thread runner, and the table of
 * topologies every contention scenario runs on. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int harness_hclient_open(harness_hclient *c, harness_history *h, uint32_t id, uint16_t port)
{
    int err = 0;
    c->h = h;
    c->id = id;
    c->conn = harness_conn_open(port, &err);
    return c->conn ? 0 : err;
}

int harness_hclient_open_on(harness_hclient *c, harness_history *h, uint32_t id,
                            const harness_server *hs)
{
    int err = 0;
    c->h = h;
    c->id = id;
    c->conn = harness_conn_open_host(hs->host[0] ? hs->host : NULL, hs->port, &err);
    return c->conn ? 0 : err;
}

void harness_hclient_close(harness_hclient *c)
{
    harness_conn_free(c->conn);
    c->conn = NULL;
}

/* Formats params; NULL on OOM. */
static char *format_json(const char *fmt, va_list ap)
{
    char *json = NULL;
    return vasprintf(&json, fmt, ap) < 0 ? NULL : json;
}

/* Sends json and reads the reply to it; the op is recorded either way. */
static harness_outcome call_json(harness_hclient *c, uint32_t user, harness_reply *out,
                                 const char *method, const char *json)
{
    harness_reply r;
    memset(&r, 0, sizeof r);
    if (!c->conn)
        return HARNESS_OP_NO_REPLY;  /* never sent: nothing to record */
    int64_t sent = harness_now_ms();
    uint32_t msgid = 0;
    harness_outcome outcome = HARNESS_OP_NO_REPLY;
    if (harness_conn_request(c->conn, method, json, &msgid) == 0) {
        for (;;) {
            if (harness_read_reply(c->conn, &r) != HARNESS_IO_OK)
                break;
            if (r.msgid == msgid) {
                outcome = r.err == USHER_ERR_OK ? HARNESS_OP_OK : HARNESS_OP_FAILED;
                break;
            }
            harness_reply_free(&r);  /* a stray reply (BAD_FRAME's msgid 0): not ours */
        }
    }
    int64_t replied = harness_now_ms();
    if (outcome == HARNESS_OP_NO_REPLY)
        harness_hclient_close(c);
    harness_history_record(c->h, c->id, user, method, json, sent, replied, outcome, r.err,
                           outcome == HARNESS_OP_OK ? r.result : NULL);
    if (out && outcome != HARNESS_OP_NO_REPLY)
        *out = r;
    else
        harness_reply_free(&r);
    return outcome;
}

harness_outcome harness_hclient_call(harness_hclient *c, uint32_t user, harness_reply *out,
                                     const char *method, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *json = format_json(fmt, ap);
    va_end(ap);
    if (!json)
        return HARNESS_OP_NO_REPLY;
    harness_outcome outcome = call_json(c, user, out, method, json);
    free(json);
    return outcome;
}

int harness_hclient_send_and_vanish(harness_hclient *c, uint32_t user, const char *method,
                                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *json = format_json(fmt, ap);
    va_end(ap);
    if (!json || !c->conn) {
        free(json);
        return ENOMEM;
    }
    uint16_t port = c->conn->port;
    int64_t sent = harness_now_ms();
    uint32_t msgid;
    harness_conn_request(c->conn, method, json, &msgid);
    harness_hclient_close(c);
    harness_history_record(c->h, c->id, user, method, json, sent, harness_now_ms(),
                           HARNESS_OP_NO_REPLY, USHER_ERR_OK, NULL);
    free(json);
    return harness_hclient_open(c, c->h, c->id, port);
}

/* ---------------------------------------------------------------- threads */

typedef struct thread_start {
    pthread_barrier_t *barrier;
    void (*fn)(void *arg, size_t i);
    void *arg;
    size_t i;
} thread_start;

static void *thread_main(void *p)
{
    thread_start *t = p;
    pthread_barrier_wait(t->barrier);
    t->fn(t->arg, t->i);
    return NULL;
}

void harness_run_threads(size_t n, void (*fn)(void *arg, size_t i), void *arg)
{
    pthread_t *tids = calloc(n, sizeof *tids);
    thread_start *starts = calloc(n, sizeof *starts);
    pthread_barrier_t barrier;
    if (!tids || !starts || pthread_barrier_init(&barrier, NULL, (unsigned)n + 1) != 0)
        fail_msg("out of memory for %zu threads", n);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (size_t i = 0; i < n; i++) {
        starts[i] = (thread_start){ .barrier = &barrier, .fn = fn, .arg = arg, .i = i };
        int e = pthread_create(&tids[i], &attr, thread_main, &starts[i]);
        if (e != 0)
            fail_msg("pthread_create %zu of %zu: %s", i, n, strerror(e));
    }
    pthread_attr_destroy(&attr);
    pthread_barrier_wait(&barrier);
    for (size_t i = 0; i < n; i++)
        pthread_join(tids[i], NULL);
    pthread_barrier_destroy(&barrier);
    free(tids);
    free(starts);
}

/* ------------------------------------------------------------- topologies */

const harness_topology harness_topologies[HARNESS_TOPOLOGIES_MAX] = {
    { .name = "one process", .args = "", .two_processes = false },
    { .name = "--workers 2", .args = "--workers 2", .two_processes = false },
    { .name = "two processes on one data dir", .args = "", .two_processes = true },
    { .name = "three hosts on one database", .args = "", .hosts = 3 },
};

size_t harness_topology_count(void)
{
    const char *url = getenv("USHER_TEST_STORE");
    return url && harness_store_is_url(url) ? 4 : 3;
}

void harness_stage_open(harness_fixture *fx, const harness_topology *t, const char *extra_args,
                        harness_stage *st)
{
    memset(st, 0, sizeof *st);
    st->topology = t;
    snprintf(st->args, sizeof st->args, "%s %s", t->args, extra_args ? extra_args : "");
    st->servers[0] = harness_fx_start(fx, st->args);
    st->nservers = 1;
    if (t->two_processes)
        st->servers[st->nservers++] = harness_fx_start_shared(fx, st->servers[0], st->args);
    static const char *const host_addrs[] = { "127.0.0.2", "127.0.0.3" };
    for (unsigned h = 1; h < t->hosts && h < 3; h++)
        st->servers[st->nservers++] = harness_fx_start_shared_on(fx, st->servers[0], host_addrs[h - 1],
                                                                 st->args);
    st->setup = harness_fx_connect(fx, st->servers[0]->port);
    st->admin = harness_admin_token(st->servers[0]);
}

const harness_server *harness_stage_server(const harness_stage *st, size_t client)
{
    return st->servers[client % st->nservers];
}

uint16_t harness_stage_port(const harness_stage *st, size_t client)
{
    return harness_stage_server(st, client)->port;
}

bool harness_stress(void)
{
    const char *s = getenv("USHER_STRESS");
    return s && strcmp(s, "1") == 0;
}

/* ----------------------------------------------------------------- users */

/* The error of a call: the reply's, or INTERNAL for no reply. */
static usher_err error_of(harness_outcome outcome, const harness_reply *r)
{
    if (outcome == HARNESS_OP_NO_REPLY)
        return USHER_ERR_INTERNAL;
    return r->err;
}

usher_err harness_hclient_register(harness_hclient *c, harness_huser *u)
{
    harness_reply r;
    harness_outcome o = harness_hclient_call(c, u->index, &r, "user.register", "{}");
    usher_err e = error_of(o, &r);
    if (e == USHER_ERR_OK && (!harness_find_strcpy(r.result, "user_id", u->user_id, sizeof u->user_id) ||
                              !harness_find_strcpy(r.result, "session", u->session, sizeof u->session)))
        e = USHER_ERR_INTERNAL;
    if (o != HARNESS_OP_NO_REPLY)
        harness_reply_free(&r);
    return e;
}

usher_err harness_hclient_charge(harness_hclient *c, const harness_huser *u, int64_t amount)
{
    harness_reply r;
    harness_outcome o = harness_hclient_call(c, u->index, &r, "wallet.charge", "{\"session\":\"%s\",\"amount\":%lld}",
                                             u->session, (long long)amount);
    usher_err e = error_of(o, &r);
    if (o != HARNESS_OP_NO_REPLY)
        harness_reply_free(&r);
    return e;
}

/* The status a queue reply names: 'A', 'W', 'E' or 0. */
static char queue_status_of(const harness_reply *r)
{
    const char *s;
    size_t len;
    if (!harness_find_str(r->result, "status", &s, &len) || len == 0)
        return 0;
    return s[0];
}

usher_err harness_hclient_enter(harness_hclient *c, harness_huser *u, uint64_t concert_id, int64_t poll_ms,
                                int64_t timeout_ms)
{
    harness_reply r;
    harness_outcome o = harness_hclient_call(c, u->index, &r, "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}",
                                             u->session, (unsigned long long)concert_id);
    usher_err e = error_of(o, &r);
    char status = 0;
    if (e == USHER_ERR_OK) {
        status = queue_status_of(&r);
        if (!harness_find_strcpy(r.result, "token", u->token, sizeof u->token))
            e = USHER_ERR_INTERNAL;
    }
    if (o != HARNESS_OP_NO_REPLY)
        harness_reply_free(&r);
    int64_t deadline = harness_now_ms() + timeout_ms;
    bool was_admitted = false;
    while (e == USHER_ERR_OK && status != 'A') {
        if (status == 'E')
            return was_admitted ? USHER_ERR_TOKEN_EXPIRED : USHER_ERR_TOKEN_INVALID;
        if (harness_now_ms() > deadline)
            return USHER_ERR_QUEUE_WAITING;
        harness_sleep_ms(poll_ms);
        o = harness_hclient_call(c, u->index, &r, "queue.status", "{\"token\":\"%s\"}", u->token);
        e = error_of(o, &r);
        status = e == USHER_ERR_OK ? queue_status_of(&r) : 0;
        was_admitted = e == USHER_ERR_OK && msg_map_get(r.result, "active_until") != NULL;
        if (o != HARNESS_OP_NO_REPLY)
            harness_reply_free(&r);
    }
    return e;
}

usher_err harness_hclient_shopper(harness_hclient *c, harness_huser *u, uint64_t concert_id, int64_t balance)
{
    usher_err e = harness_hclient_register(c, u);
    if (e == USHER_ERR_OK && balance > 0)
        e = harness_hclient_charge(c, u, balance);
    if (e == USHER_ERR_OK)
        e = harness_hclient_enter(c, u, concert_id, 50, 10000);
    return e;
}

/* --------------------------------------------------------------- the end */

void harness_scenario_finish(harness_history *h, const harness_stage *st, const harness_huser *users, size_t n,
                             const char *check_args, const char *label, size_t clients, int64_t started_ms)
{
    harness_history_read_finals(h, st->servers[0]->port, users, n);
    harness_usher_check(st->servers[0]->data_dir, check_args);
    char full[256];
    snprintf(full, sizeof full, "%s [%s]", label, st->topology->name);
    size_t violations = harness_history_check(h, full, NULL);
    print_message("%s: %zu clients, %zu users, %zu ops, %lld ms\n", full, clients, n, harness_history_count(h),
                  (long long)(harness_now_ms() - started_ms));
    if (violations != 0)
        fail_msg("%s: the history checker found %zu violations", full, violations);
}
