/* Harness, final state: reads what the server holds for users (balance, the
 * whole ledger, every reservation and payment, each list paged to its end)
 * into the history, for the checker. The readers report instead of failing,
 * so many users are read on several threads at once (each with its own
 * connection and its own user's slot); the main thread fails the test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 500
#define READERS_MAX 16          /* threads reading final states at once */

/* One round trip that must succeed; false on any failure (reply freed). */
static bool call_ok(harness_conn *c, harness_reply *r, const char *method, const char *json)
{
    uint32_t msgid;
    if (harness_conn_request(c, method, json, &msgid) != 0)
        return false;
    for (;;) {
        if (harness_read_reply(c, r) != HARNESS_IO_OK)
            return false;
        if (r->msgid == msgid)
            break;
        harness_reply_free(r);
    }
    if (r->err == USHER_ERR_OK && r->result)
        return true;
    harness_reply_free(r);
    return false;
}

/* Adds one list element to f; false when it lacks a field. */
typedef bool (*take_fn)(harness_user_final *f, const msgpack_object *item);

static bool take_entry(harness_user_final *f, const msgpack_object *o)
{
    harness_ledger_entry e = { 0 };
    const char *kind;
    size_t len;
    if (!harness_find_u64(o, "entry_id", &e.entry_id) || !harness_find_str(o, "kind", &kind, &len) ||
        !harness_find_i64(o, "amount", &e.amount) || !harness_find_i64(o, "balance_after", &e.balance_after))
        return false;
    e.charge = len == 6 && memcmp(kind, "CHARGE", 6) == 0;
    if (!e.charge && !harness_find_u64(o, "payment_id", &e.payment_id))
        return false;
    return harness_final_add_entry(f, e);
}

/* 'H'eld, 'C'onfirmed, 'E'xpired, 'X' cancelled, or 0. */
static char status_letter(const char *s, size_t len)
{
    static const struct { const char *name; char letter; } names[] = {
        { "HELD", 'H' }, { "CONFIRMED", 'C' }, { "EXPIRED", 'E' }, { "CANCELLED", 'X' },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (len == strlen(names[i].name) && memcmp(s, names[i].name, len) == 0)
            return names[i].letter;
    return 0;
}

static bool take_reservation(harness_user_final *f, const msgpack_object *o)
{
    harness_reservation r = { 0 };
    uint64_t seat_no;
    const char *status;
    size_t len;
    if (!harness_find_u64(o, "reservation_id", &r.reservation_id) ||
        !harness_find_u64(o, "schedule_id", &r.schedule_id) || !harness_find_u64(o, "seat_no", &seat_no) ||
        !harness_find_i64(o, "expires_at", &r.expires_at) || !harness_find_str(o, "status", &status, &len))
        return false;
    r.seat_no = (uint32_t)seat_no;
    r.status = status_letter(status, len);
    return r.status != 0 && harness_final_add_reservation(f, r);
}

static bool take_payment(harness_user_final *f, const msgpack_object *o)
{
    harness_payment p = { 0 };
    const msgpack_object *ids = msg_map_get(o, "reservation_ids");
    if (!harness_find_u64(o, "payment_id", &p.payment_id) || !harness_find_i64(o, "amount", &p.amount) || !ids ||
        ids->type != MSGPACK_OBJECT_ARRAY || ids->via.array.size > HARNESS_PAY_IDS_MAX)
        return false;
    for (uint32_t i = 0; i < ids->via.array.size; i++) {
        if (ids->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return false;
        p.reservation_ids[p.nids++] = ids->via.array.ptr[i].via.u64;
    }
    return harness_final_add_payment(f, p);
}

/* Reads every page of a newest-first list: `key` holds the array, `id_key`
 * the id passed back as `before`, which must descend. */
static bool read_pages(harness_conn *c, const char *session, const char *method, const char *key,
                       const char *id_key, harness_user_final *f, take_fn take)
{
    uint64_t before = 0;
    char json[HARNESS_TOKEN_CAP + 96];
    for (;;) {
        if (before == 0)
            snprintf(json, sizeof json, "{\"session\":\"%s\",\"limit\":%d}", session, PAGE);
        else
            snprintf(json, sizeof json, "{\"session\":\"%s\",\"limit\":%d,\"before\":%llu}", session, PAGE,
                     (unsigned long long)before);
        harness_reply r;
        if (!call_ok(c, &r, method, json))
            return false;
        const msgpack_object *items = msg_map_get(r.result, key);
        bool ok = items && items->type == MSGPACK_OBJECT_ARRAY;
        uint32_t n = ok ? items->via.array.size : 0;
        for (uint32_t i = 0; ok && i < n; i++) {
            uint64_t id = 0;
            ok = harness_find_u64(&items->via.array.ptr[i], id_key, &id) && (before == 0 || id < before) &&
                 take(f, &items->via.array.ptr[i]);
            before = id;
        }
        harness_reply_free(&r);
        if (!ok)
            return false;
        if (n == 0)
            return true;
    }
}

static bool read_balance(harness_conn *c, const char *session, int64_t *balance)
{
    char json[HARNESS_TOKEN_CAP + 32];
    snprintf(json, sizeof json, "{\"session\":\"%s\"}", session);
    harness_reply r;
    if (!call_ok(c, &r, "wallet.balance", json))
        return false;
    bool ok = harness_find_i64(r.result, "balance", balance);
    harness_reply_free(&r);
    return ok;
}

/* Fills f. A request whose client vanished may still commit while the lists
 * are read; read again until the balance before and after the lists agree
 * with the ledger, so the lists are one state (at most 5 s). */
static bool read_one(harness_conn *c, harness_user_final *f, const char *session)
{
    int64_t deadline = harness_now_ms() + HARNESS_IO_TIMEOUT_MS;
    for (;;) {
        f->nledger = f->nreservations = f->npayments = 0;
        f->read = true;
        int64_t after = 0, sum = 0;
        if (!read_balance(c, session, &f->balance) ||
            !read_pages(c, session, "wallet.history", "entries", "entry_id", f, take_entry) ||
            !read_pages(c, session, "reservation.list", "reservations", "reservation_id", f, take_reservation) ||
            !read_pages(c, session, "payment.list", "payments", "payment_id", f, take_payment) ||
            !read_balance(c, session, &after))
            return false;
        for (size_t i = 0; i < f->nledger; i++)
            sum += f->ledger[i].amount;
        if ((sum == f->balance && after == f->balance) || harness_now_ms() > deadline)
            return true;  /* still moving at the deadline: the checker says what does not add up */
        harness_sleep_ms(20);
    }
}

typedef struct finals_job {
    harness_history *h;
    uint16_t port;
    const harness_huser *users;
    size_t n, readers;
    harness_user_final **slots;  /* per user, made on the main thread */
    size_t *failed;              /* per reader: users it could not read */
} finals_job;

static void finals_reader(void *arg, size_t t)
{
    finals_job *job = arg;
    int err = 0;
    harness_conn *c = harness_conn_open(job->port, &err);
    for (size_t u = t; u < job->n; u += job->readers)
        job->failed[t] += !c || !read_one(c, job->slots[u], job->users[u].session);
    harness_conn_free(c);
}

void harness_history_read_finals(harness_history *h, uint16_t port, const harness_huser *users, size_t n)
{
    finals_job job = { .h = h, .port = port, .users = users, .n = n, .readers = n < READERS_MAX ? n : READERS_MAX };
    job.slots = calloc(n + 1, sizeof *job.slots);
    job.failed = calloc(READERS_MAX, sizeof *job.failed);
    if (!job.slots || !job.failed)
        fail_msg("out of memory");
    for (size_t u = 0; u < n; u++)
        if (!(job.slots[u] = harness_history_final(h, users[u].index)))
            fail_msg("out of memory");
    if (job.readers > 0)
        harness_run_threads(job.readers, finals_reader, &job);
    size_t failed = 0;
    for (size_t t = 0; t < job.readers; t++)
        failed += job.failed[t];
    free(job.slots);
    free(job.failed);
    if (failed != 0)
        fail_msg("the final state of %zu of %zu users could not be read", failed, n);
}
