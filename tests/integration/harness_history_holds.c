/* Harness, history checker, the hold rule: two holds of one seat are never
 * both provably live at one instant; every acknowledged hold, payment and
 * cancel agrees with its owner's final reservations; no seat is sold twice. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------- holds */

static int hold_by_rid(const void *a, const void *b)
{
    uint64_t x = ((const hold *)a)->rid, y = ((const hold *)b)->rid;
    return x < y ? -1 : x > y;
}

hold *hcheck_hold_find(const hold_index *ix, uint64_t rid)
{
    hold key = { .rid = rid };
    return ix->n ? bsearch(&key, ix->items, ix->n, sizeof key, hold_by_rid) : NULL;
}

/* Gathers every acknowledged hold by reservation_id; the same id seen twice
 * (the same user reserving a seat they hold) must tell the same hold. */
static bool holds_collect(checker *k, hold_index *ix)
{
    const harness_history *h = k->h;
    for (size_t i = 0; i < harness_history_count(h); i++) {
        const harness_op *op = harness_history_op(h, i);
        if (!hcheck_is(op, "seat.reserve") || op->outcome != HARNESS_OP_OK)
            continue;
        hold x = { .user = op->user, .certain_from = op->replied_ms, .ends_by = FOREVER, .first = op };
        int64_t seat = 0;
        if (!harness_find_u64(op->result, "reservation_id", &x.rid) ||
            !harness_find_u64(op->result, "schedule_id", &x.schedule_id) ||
            !harness_find_i64(op->result, "seat_no", &seat) ||
            !harness_find_i64(op->result, "expires_at", &x.expires_at) ||
            !harness_find_i64(op->result, "price", &x.price)) {
            hcheck_violation(k, op, NULL, "a seat.reserve success lacks a field of its result");
            continue;
        }
        x.seat_no = (uint32_t)seat;
        if (ix->n == ix->cap) {
            ix->cap = ix->cap ? ix->cap * 2 : 256;
            hold *grown = realloc(ix->items, ix->cap * sizeof *grown);
            if (!grown)
                return false;
            ix->items = grown;
        }
        ix->items[ix->n++] = x;
    }
    if (ix->n)
        qsort(ix->items, ix->n, sizeof *ix->items, hold_by_rid);
    size_t out = 0;
    for (size_t i = 0; i < ix->n; i++) {
        hold *x = &ix->items[i];
        if (out > 0 && ix->items[out - 1].rid == x->rid) {
            hold *kept = &ix->items[out - 1];
            if (kept->user != x->user || kept->schedule_id != x->schedule_id || kept->seat_no != x->seat_no ||
                kept->expires_at != x->expires_at)
                hcheck_violation(k, kept->first, x->first,
                          "reservation %llu was returned twice as different holds (user, seat or expires_at)",
                          (unsigned long long)x->rid);
            if (x->certain_from < kept->certain_from) {
                kept->certain_from = x->certain_from;
                kept->first = x->first;
            }
            continue;
        }
        ix->items[out++] = *x;
    }
    ix->n = out;
    return true;
}

/* Marks what cancels and payments did to the holds. A cancel that may have
 * run (acknowledged or unanswered) may have ended the hold as early as it
 * was sent; an acknowledged payment sold the seat for good. */
static void holds_apply_cancels_and_payments(checker *k, hold_index *ix)
{
    const harness_history *h = k->h;
    for (size_t i = 0; i < harness_history_count(h); i++) {
        const harness_op *op = harness_history_op(h, i);
        if (op->outcome == HARNESS_OP_FAILED)
            continue;
        if (hcheck_is(op, "reservation.cancel")) {
            uint64_t rid;
            hold *x = harness_find_u64(op->params, "reservation_id", &rid) ? hcheck_hold_find(ix, rid) : NULL;
            if (!x)
                continue;
            if (op->sent_ms < x->ends_by)
                x->ends_by = op->sent_ms;
            if (op->outcome == HARNESS_OP_OK) {
                x->cancelled = true;
                x->cancel = op;
            }
        } else if (hcheck_is(op, "payment.pay") && op->outcome == HARNESS_OP_OK) {
            uint64_t ids[HARNESS_PAY_IDS_MAX];
            size_t n = hcheck_pay_ids(op, ids, HARNESS_PAY_IDS_MAX);
            for (size_t j = 0; j < n; j++) {
                hold *x = hcheck_hold_find(ix, ids[j]);
                if (x && x->paid && x->paid != op) {
                    uint64_t a = 0, b = 0;
                    harness_find_u64(x->paid->result, "payment_id", &a);
                    harness_find_u64(op->result, "payment_id", &b);
                    if (a != b)
                        hcheck_violation(k, x->paid, op, "reservation %llu was paid by two payments",
                                  (unsigned long long)ids[j]);
                }
                if (x)
                    x->paid = op;
            }
        }
    }
    for (size_t i = 0; i < ix->n; i++)
        if (ix->items[i].cancelled && ix->items[i].paid)
            hcheck_violation(k, ix->items[i].cancel, ix->items[i].paid,
                      "reservation %llu was both cancelled and paid", (unsigned long long)ix->items[i].rid);
}

/* The instant until which x was certainly live (or sold). */
static int64_t hold_certain_until(const hold *x)
{
    if (x->paid)
        return FOREVER;
    return x->expires_at < x->ends_by ? x->expires_at : x->ends_by;
}

static int hold_by_seat_then_start(const void *a, const void *b)
{
    const hold *x = *(const hold *const *)a, *y = *(const hold *const *)b;
    if (x->schedule_id != y->schedule_id)
        return x->schedule_id < y->schedule_id ? -1 : 1;
    if (x->seat_no != y->seat_no)
        return x->seat_no < y->seat_no ? -1 : 1;
    return x->certain_from < y->certain_from ? -1 : x->certain_from > y->certain_from;
}

/* Two holds of one seat overlap provably when both were certainly live at
 * one instant: the later one's reply came before the earlier one could have
 * ended (by expiry, a cancel being sent, never once it was paid). */
static void holds_check_overlaps(checker *k, const hold_index *ix)
{
    const hold **by_seat = malloc((ix->n + 1) * sizeof *by_seat);
    if (!by_seat)
        return;
    for (size_t i = 0; i < ix->n; i++)
        by_seat[i] = &ix->items[i];
    qsort(by_seat, ix->n, sizeof *by_seat, hold_by_seat_then_start);
    for (size_t i = 0; i < ix->n; i++) {
        const hold *a = by_seat[i];
        int64_t a_until = hold_certain_until(a);
        for (size_t j = i + 1; j < ix->n; j++) {
            const hold *b = by_seat[j];
            if (b->schedule_id != a->schedule_id || b->seat_no != a->seat_no)
                break;
            int64_t b_until = hold_certain_until(b);
            int64_t until = a_until < b_until ? a_until : b_until;
            if (b->certain_from < until)
                hcheck_violation(k, a->first, b->first,
                          "performance %llu seat %u: holds %llu and %llu were both live at %lld",
                          (unsigned long long)a->schedule_id, a->seat_no, (unsigned long long)a->rid,
                          (unsigned long long)b->rid, (long long)b->certain_from);
        }
    }
    free(by_seat);
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The reservation ids named by payment ops that may have run (acknowledged
 * or unanswered), sorted; *n gets the count. NULL when there are none. */
static uint64_t *payable_ids(const harness_history *h, size_t *n)
{
    uint64_t *ids = NULL;
    size_t cap = 0;
    *n = 0;
    for (size_t i = 0; i < harness_history_count(h); i++) {
        const harness_op *op = harness_history_op(h, i);
        if (!hcheck_is(op, "payment.pay") || op->outcome == HARNESS_OP_FAILED)
            continue;
        if (*n + HARNESS_PAY_IDS_MAX > cap) {
            cap = cap ? cap * 2 : 1024;
            uint64_t *grown = realloc(ids, cap * sizeof *grown);
            if (!grown)
                break;
            ids = grown;
        }
        *n += hcheck_pay_ids(op, ids + *n, HARNESS_PAY_IDS_MAX);
    }
    if (ids)
        qsort(ids, *n, sizeof *ids, u64_cmp);
    return ids;
}

static const harness_reservation *final_reservation(const harness_user_final *f, uint64_t rid)
{
    for (size_t i = 0; i < f->nreservations; i++)
        if (f->reservations[i].reservation_id == rid)
            return &f->reservations[i];
    return NULL;
}

typedef struct sold_seat {
    uint64_t schedule_id, rid;
    uint32_t seat_no, user;
} sold_seat;

static int sold_by_seat(const void *a, const void *b)
{
    const sold_seat *x = a, *y = b;
    if (x->schedule_id != y->schedule_id)
        return x->schedule_id < y->schedule_id ? -1 : 1;
    return x->seat_no < y->seat_no ? -1 : x->seat_no > y->seat_no;
}

/* Every acknowledged hold is in its owner's final list as it was told, in a
 * status its acknowledged cancel or payment explains; no CONFIRMED seat
 * without a payment that may have made it; no seat CONFIRMED twice. */
static void holds_check_final(checker *k, const hold_index *ix)
{
    const harness_history *h = k->h;
    for (size_t i = 0; i < ix->n; i++) {
        const hold *x = &ix->items[i];
        const harness_user_final *f = harness_history_final_of(h, x->user);
        if (!f)
            continue;
        const harness_reservation *r = final_reservation(f, x->rid);
        if (!r) {
            hcheck_violation(k, x->first, NULL, "acknowledged hold %llu is missing from its owner's reservations",
                      (unsigned long long)x->rid);
            continue;
        }
        if (r->schedule_id != x->schedule_id || r->seat_no != x->seat_no || r->expires_at != x->expires_at)
            hcheck_violation(k, x->first, NULL, "reservation %llu reads another seat or expiry than its hold said",
                      (unsigned long long)x->rid);
        if (x->paid && r->status != 'C')
            hcheck_violation(k, x->paid, NULL, "reservation %llu was paid but reads %c", (unsigned long long)x->rid,
                      r->status);
        if (x->cancelled && r->status != 'X')
            hcheck_violation(k, x->cancel, NULL, "reservation %llu was cancelled but reads %c",
                      (unsigned long long)x->rid, r->status);
        if (r->status == 'X' && x->ends_by == FOREVER)
            hcheck_violation(k, x->first, NULL, "reservation %llu reads CANCELLED but nobody cancelled it",
                      (unsigned long long)x->rid);
    }
    size_t nsold = 0, cap = 0, npayable = 0;
    sold_seat *sold = NULL;
    uint64_t *payable = payable_ids(h, &npayable);
    for (uint32_t u = 0; u < harness_history_users(h); u++) {
        const harness_user_final *f = harness_history_final_of(h, u);
        if (!f)
            continue;
        for (size_t i = 0; i < f->nreservations; i++) {
            const harness_reservation *r = &f->reservations[i];
            if (r->status != 'C')
                continue;
            if (!payable || !bsearch(&r->reservation_id, payable, npayable, sizeof *payable, u64_cmp))
                hcheck_violation(k, NULL, NULL, "user %u: reservation %llu reads CONFIRMED but no payment named it", u,
                          (unsigned long long)r->reservation_id);
            if (nsold == cap) {
                cap = cap ? cap * 2 : 256;
                sold_seat *grown = realloc(sold, cap * sizeof *grown);
                if (!grown)
                    break;
                sold = grown;
            }
            sold[nsold++] = (sold_seat){ r->schedule_id, r->reservation_id, r->seat_no, u };
        }
    }
    if (sold)
        qsort(sold, nsold, sizeof *sold, sold_by_seat);
    for (size_t i = 1; i < nsold; i++)
        if (sold[i].schedule_id == sold[i - 1].schedule_id && sold[i].seat_no == sold[i - 1].seat_no)
            hcheck_violation(k, NULL, NULL, "performance %llu seat %u was sold twice: reservations %llu and %llu",
                      (unsigned long long)sold[i].schedule_id, sold[i].seat_no,
                      (unsigned long long)sold[i - 1].rid, (unsigned long long)sold[i].rid);
    free(sold);
    free(payable);
}

bool hcheck_holds(checker *k, hold_index *ix)
{
    if (!holds_collect(k, ix))
        return false;
    holds_apply_cancels_and_payments(k, ix);
    holds_check_overlaps(k, ix);
    holds_check_final(k, ix);
    return true;
}
