/* Harness, final state: reads what the server holds for one user (balance,
 * the whole ledger, every reservation and payment, each list paged to its
 * end) into the history, for the checker. Main thread only: a failed read
 * fails the test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history.h"

#include <stdio.h>
#include <string.h>

#define PAGE 500

/* Adds one list element to f; `list` names which list. */
typedef void (*take_fn)(harness_user_final *f, const msgpack_object *item);

static void take_entry(harness_user_final *f, const msgpack_object *o)
{
    harness_ledger_entry e = {
        .entry_id = harness_obj_u64(o, "entry_id"),
        .charge = harness_obj_str_is(o, "kind", "CHARGE"),
        .amount = harness_obj_i64(o, "amount"),
        .balance_after = harness_obj_i64(o, "balance_after"),
    };
    if (!e.charge)
        e.payment_id = harness_obj_u64(o, "payment_id");
    if (!harness_final_add_entry(f, e))
        fail_msg("out of memory");
}

static void take_reservation(harness_user_final *f, const msgpack_object *o)
{
    harness_reservation r = {
        .reservation_id = harness_obj_u64(o, "reservation_id"),
        .schedule_id = harness_obj_u64(o, "schedule_id"),
        .seat_no = (uint32_t)harness_obj_u64(o, "seat_no"),
        .expires_at = harness_obj_i64(o, "expires_at"),
    };
    r.status = harness_obj_str_is(o, "status", "HELD")        ? 'H'
               : harness_obj_str_is(o, "status", "CONFIRMED") ? 'C'
               : harness_obj_str_is(o, "status", "EXPIRED")   ? 'E'
               : harness_obj_str_is(o, "status", "CANCELLED") ? 'X'
                                                              : '?';
    if (r.status == '?')
        fail_msg("reservation %llu has an unknown status", (unsigned long long)r.reservation_id);
    if (!harness_final_add_reservation(f, r))
        fail_msg("out of memory");
}

static void take_payment(harness_user_final *f, const msgpack_object *o)
{
    harness_payment p = { .payment_id = harness_obj_u64(o, "payment_id"), .amount = harness_obj_i64(o, "amount") };
    size_t n;
    const msgpack_object *ids = harness_obj_array(o, "reservation_ids", &n);
    if (n > HARNESS_PAY_IDS_MAX)
        fail_msg("payment %llu pays %zu reservations", (unsigned long long)p.payment_id, n);
    for (size_t i = 0; i < n; i++) {
        if (ids[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            fail_msg("payment %llu: a reservation id is not an id", (unsigned long long)p.payment_id);
        p.reservation_ids[i] = ids[i].via.u64;
    }
    p.nids = n;
    if (!harness_final_add_payment(f, p))
        fail_msg("out of memory");
}

/* Reads every page of a newest-first list: `key` holds the array, `id_key`
 * the id passed back as `before`. */
static void read_pages(harness_conn *c, const char *session, const char *method, const char *key,
                       const char *id_key, harness_user_final *f, take_fn take)
{
    uint64_t before = 0;
    for (;;) {
        harness_reply r;
        if (before == 0)
            harness_callf(c, &r, method, "{\"session\":\"%s\",\"limit\":%d}", session, PAGE);
        else
            harness_callf(c, &r, method, "{\"session\":\"%s\",\"limit\":%d,\"before\":%llu}", session,
                          PAGE, (unsigned long long)before);
        harness_expect(&r, OK);
        size_t n;
        const msgpack_object *items = harness_get_array(&r, key, &n);
        for (size_t i = 0; i < n; i++) {
            uint64_t id = harness_obj_u64(&items[i], id_key);
            if (before != 0 && id >= before)
                fail_msg("%s: %s %llu does not descend below %llu", method, id_key,
                         (unsigned long long)id, (unsigned long long)before);
            before = id;
            take(f, &items[i]);
        }
        harness_reply_free(&r);
        if (n == 0)
            return;
    }
}

/* Empties f's lists (a read that raced a late write is done again). */
static void final_clear(harness_user_final *f)
{
    f->nledger = f->nreservations = f->npayments = 0;
}

void harness_history_read_final(harness_history *h, harness_conn *c, uint32_t user,
                                const char *session)
{
    harness_user_final *f = harness_history_final(h, user);
    if (!f)
        fail_msg("out of memory");
    /* A request whose client vanished may still commit while the lists are
     * read; read again until the balance before and after the lists agree
     * with the ledger, so the lists are one state. */
    int64_t deadline = harness_now_ms() + HARNESS_IO_TIMEOUT_MS;
    for (;;) {
        final_clear(f);
        f->read = true;
        f->balance = harness_balance(c, session);
        read_pages(c, session, "wallet.history", "entries", "entry_id", f, take_entry);
        read_pages(c, session, "reservation.list", "reservations", "reservation_id", f, take_reservation);
        read_pages(c, session, "payment.list", "payments", "payment_id", f, take_payment);
        int64_t sum = 0;
        for (size_t i = 0; i < f->nledger; i++)
            sum += f->ledger[i].amount;
        if (sum == f->balance && harness_balance(c, session) == f->balance)
            return;
        if (harness_now_ms() > deadline)
            return;  /* still moving: the checker will say what does not add up */
        harness_sleep_ms(20);
    }
}
