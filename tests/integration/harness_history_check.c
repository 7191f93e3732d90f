/* Harness, history checker: judges a recorded history against the final
 * states. Four rules (docs/DESIGN.md "Checking histories" argues them):
 * holds of one seat never provably overlap; acknowledged money is in the
 * ledger and the balance is explained by a subset of the unknown outcomes;
 * queue admissions follow sequence order; request_id retries repeat the
 * first result. Each violation is printed with its ops; nothing here fails
 * the test, the caller asserts on the count. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FOREVER INT64_MAX
#define REPORT_MAX 20           /* violations printed in full; the rest are counted */

typedef struct checker {
    const harness_history *h;
    const char *label;
    size_t violations;
    harness_check_counts counts;
    size_t *rule;               /* the count of the rule being checked */
} checker;

/* ---------------------------------------------------------------- output */

static void print_op(const harness_op *op)
{
    char params[512], result[512];
    msgpack_object_print_buffer(params, sizeof params, *op->params);
    fprintf(stderr, "    op #%zu client %u user %d %s %s sent %lld replied %lld: ", op->index, op->client,
            op->user == HARNESS_NO_USER ? -1 : (int)op->user, op->method, params, (long long)op->sent_ms,
            (long long)op->replied_ms);
    if (op->outcome == HARNESS_OP_OK) {
        if (op->result)
            msgpack_object_print_buffer(result, sizeof result, *op->result);
        else
            snprintf(result, sizeof result, "{}");
        fprintf(stderr, "OK %s\n", result);
    } else if (op->outcome == HARNESS_OP_FAILED) {
        fprintf(stderr, "%s\n", usher_err_name(op->err));
    } else {
        fprintf(stderr, "no reply\n");
    }
}

/* Counts one violation and prints it with up to two ops (NULL for none). */
static void violation(checker *k, const harness_op *a, const harness_op *b, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void violation(checker *k, const harness_op *a, const harness_op *b, const char *fmt, ...)
{
    ++*k->rule;
    if (++k->violations > REPORT_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: VIOLATION: ", k->label);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (a)
        print_op(a);
    if (b)
        print_op(b);
}

static bool is(const harness_op *op, const char *method)
{
    return strcmp(op->method, method) == 0;
}

/* Deep equality of two msgpack objects; maps compare regardless of order. */
static bool obj_equal(const msgpack_object *a, const msgpack_object *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case MSGPACK_OBJECT_MAP:
        if (a->via.map.size != b->via.map.size)
            return false;
        for (uint32_t i = 0; i < a->via.map.size; i++) {
            const msgpack_object_kv *kv = &a->via.map.ptr[i];
            const msgpack_object *other = NULL;
            for (uint32_t j = 0; j < b->via.map.size && !other; j++)
                if (msgpack_object_equal(kv->key, b->via.map.ptr[j].key))
                    other = &b->via.map.ptr[j].val;
            if (!other || !obj_equal(&kv->val, other))
                return false;
        }
        return true;
    case MSGPACK_OBJECT_ARRAY:
        if (a->via.array.size != b->via.array.size)
            return false;
        for (uint32_t i = 0; i < a->via.array.size; i++)
            if (!obj_equal(&a->via.array.ptr[i], &b->via.array.ptr[i]))
                return false;
        return true;
    default:
        return msgpack_object_equal(*a, *b);
    }
}

/* ----------------------------------------------------------------- holds */

typedef struct hold {
    uint64_t rid, schedule_id;
    uint32_t seat_no, user;
    int64_t expires_at, price;
    int64_t certain_from;       /* earliest reply that showed it: live from here */
    int64_t ends_by;            /* earliest sent of a cancel that may have ended it */
    const harness_op *first, *cancel, *paid;
    bool cancelled;             /* a cancel was acknowledged */
} hold;

typedef struct hold_index {
    hold *items;
    size_t n, cap;
} hold_index;

static int hold_by_rid(const void *a, const void *b)
{
    uint64_t x = ((const hold *)a)->rid, y = ((const hold *)b)->rid;
    return x < y ? -1 : x > y;
}

static hold *hold_find(const hold_index *ix, uint64_t rid)
{
    hold key = { .rid = rid };
    return bsearch(&key, ix->items, ix->n, sizeof key, hold_by_rid);
}

/* Gathers every acknowledged hold by reservation_id; the same id seen twice
 * (the same user reserving a seat they hold) must tell the same hold. */
static bool holds_collect(checker *k, hold_index *ix)
{
    const harness_history *h = k->h;
    for (size_t i = 0; i < harness_history_count(h); i++) {
        const harness_op *op = harness_history_op(h, i);
        if (!is(op, "seat.reserve") || op->outcome != HARNESS_OP_OK)
            continue;
        hold x = { .user = op->user, .certain_from = op->replied_ms, .ends_by = FOREVER, .first = op };
        int64_t seat = 0;
        if (!harness_find_u64(op->result, "reservation_id", &x.rid) ||
            !harness_find_u64(op->result, "schedule_id", &x.schedule_id) ||
            !harness_find_i64(op->result, "seat_no", &seat) ||
            !harness_find_i64(op->result, "expires_at", &x.expires_at) ||
            !harness_find_i64(op->result, "price", &x.price)) {
            violation(k, op, NULL, "a seat.reserve success lacks a field of its result");
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
    qsort(ix->items, ix->n, sizeof *ix->items, hold_by_rid);
    size_t out = 0;
    for (size_t i = 0; i < ix->n; i++) {
        hold *x = &ix->items[i];
        if (out > 0 && ix->items[out - 1].rid == x->rid) {
            hold *kept = &ix->items[out - 1];
            if (kept->user != x->user || kept->schedule_id != x->schedule_id || kept->seat_no != x->seat_no ||
                kept->expires_at != x->expires_at)
                violation(k, kept->first, x->first,
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

/* Reservation ids of a payment op: from its params; n gets the count. */
static size_t pay_ids(const harness_op *op, uint64_t *ids, size_t cap)
{
    const msgpack_object *v = msg_map_get(op->params, "reservation_ids");
    if (!v || v->type != MSGPACK_OBJECT_ARRAY)
        return 0;
    size_t n = 0;
    for (uint32_t i = 0; i < v->via.array.size && n < cap; i++)
        if (v->via.array.ptr[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            ids[n++] = v->via.array.ptr[i].via.u64;
    return n;
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
        if (is(op, "reservation.cancel")) {
            uint64_t rid;
            hold *x = harness_find_u64(op->params, "reservation_id", &rid) ? hold_find(ix, rid) : NULL;
            if (!x)
                continue;
            if (op->sent_ms < x->ends_by)
                x->ends_by = op->sent_ms;
            if (op->outcome == HARNESS_OP_OK) {
                x->cancelled = true;
                x->cancel = op;
            }
        } else if (is(op, "payment.pay") && op->outcome == HARNESS_OP_OK) {
            uint64_t ids[HARNESS_PAY_IDS_MAX];
            size_t n = pay_ids(op, ids, HARNESS_PAY_IDS_MAX);
            for (size_t j = 0; j < n; j++) {
                hold *x = hold_find(ix, ids[j]);
                if (x && x->paid && x->paid != op) {
                    uint64_t a = 0, b = 0;
                    harness_find_u64(x->paid->result, "payment_id", &a);
                    harness_find_u64(op->result, "payment_id", &b);
                    if (a != b)
                        violation(k, x->paid, op, "reservation %llu was paid by two payments",
                                  (unsigned long long)ids[j]);
                }
                if (x)
                    x->paid = op;
            }
        }
    }
    for (size_t i = 0; i < ix->n; i++)
        if (ix->items[i].cancelled && ix->items[i].paid)
            violation(k, ix->items[i].cancel, ix->items[i].paid,
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
                violation(k, a->first, b->first,
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
        if (!is(op, "payment.pay") || op->outcome == HARNESS_OP_FAILED)
            continue;
        if (*n + HARNESS_PAY_IDS_MAX > cap) {
            cap = cap ? cap * 2 : 1024;
            uint64_t *grown = realloc(ids, cap * sizeof *grown);
            if (!grown)
                break;
            ids = grown;
        }
        *n += pay_ids(op, ids + *n, HARNESS_PAY_IDS_MAX);
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
            violation(k, x->first, NULL, "acknowledged hold %llu is missing from its owner's reservations",
                      (unsigned long long)x->rid);
            continue;
        }
        if (r->schedule_id != x->schedule_id || r->seat_no != x->seat_no || r->expires_at != x->expires_at)
            violation(k, x->first, NULL, "reservation %llu reads another seat or expiry than its hold said",
                      (unsigned long long)x->rid);
        if (x->paid && r->status != 'C')
            violation(k, x->paid, NULL, "reservation %llu was paid but reads %c", (unsigned long long)x->rid,
                      r->status);
        if (x->cancelled && r->status != 'X')
            violation(k, x->cancel, NULL, "reservation %llu was cancelled but reads %c",
                      (unsigned long long)x->rid, r->status);
        if (r->status == 'X' && x->ends_by == FOREVER)
            violation(k, x->first, NULL, "reservation %llu reads CANCELLED but nobody cancelled it",
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
                violation(k, NULL, NULL, "user %u: reservation %llu reads CONFIRMED but no payment named it", u,
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
            violation(k, NULL, NULL, "performance %llu seat %u was sold twice: reservations %llu and %llu",
                      (unsigned long long)sold[i].schedule_id, sold[i].seat_no,
                      (unsigned long long)sold[i - 1].rid, (unsigned long long)sold[i].rid);
    free(sold);
    free(payable);
}

/* ----------------------------------------------------------------- money */

/* One logical charge or payment: the ops of one (user, method, request_id),
 * or one op without a request_id. */
typedef struct money_op {
    const harness_op *first_ok; /* the acknowledged attempt, if any */
    const harness_op *some;     /* any attempt, for reports */
    uint32_t user;
    bool payment;
    bool acked, unknown;        /* acknowledged; else no attempt answered and one went unanswered */
    int64_t amount;             /* positive */
    bool amount_known;
    const char *request_id;
    size_t request_id_len;
} money_op;

typedef struct money_ops {
    money_op *items;
    size_t n;
} money_ops;

/* A money op with its grouping key. */
typedef struct keyed_op {
    const harness_op *op;
    bool payment;
    const char *request_id;     /* NULL: a group of its own */
    size_t request_id_len;
} keyed_op;

/* Orders ops so each (user, method, request_id) is one run, in history
 * order within it; ops without a request_id stay apart, in history order. */
static int keyed_cmp(const void *pa, const void *pb)
{
    const keyed_op *a = pa, *b = pb;
    if (!a->request_id != !b->request_id)
        return a->request_id ? -1 : 1;
    if (a->request_id) {
        if (a->op->user != b->op->user)
            return a->op->user < b->op->user ? -1 : 1;
        if (a->payment != b->payment)
            return a->payment ? 1 : -1;
        if (a->request_id_len != b->request_id_len)
            return a->request_id_len < b->request_id_len ? -1 : 1;
        int c = memcmp(a->request_id, b->request_id, a->request_id_len);
        if (c != 0)
            return c;
    }
    return a->op->index < b->op->index ? -1 : a->op->index > b->op->index;
}

static bool same_key(const keyed_op *a, const keyed_op *b)
{
    return a->request_id && b->request_id && a->op->user == b->op->user && a->payment == b->payment &&
           a->request_id_len == b->request_id_len && memcmp(a->request_id, b->request_id, a->request_id_len) == 0;
}

/* The price of a payment that got no reply, from the holds it names. */
static bool payment_amount_from_holds(const harness_op *op, const hold_index *ix, int64_t *amount)
{
    uint64_t ids[HARNESS_PAY_IDS_MAX];
    size_t n = pay_ids(op, ids, HARNESS_PAY_IDS_MAX);
    *amount = 0;
    for (size_t i = 0; i < n; i++) {
        const hold *x = hold_find(ix, ids[i]);
        if (!x)
            return false;
        *amount += x->price;
    }
    return n > 0;
}

/* Groups charges and payments, and checks that every acknowledged retry of
 * one request_id returned the first result. */
static bool money_collect(checker *k, const hold_index *ix, money_ops *m)
{
    const harness_history *h = k->h;
    keyed_op *ops = malloc((harness_history_count(h) + 1) * sizeof *ops);
    m->items = malloc((harness_history_count(h) + 1) * sizeof *m->items);
    if (!ops || !m->items) {
        free(ops);
        return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < harness_history_count(h); i++) {
        const harness_op *op = harness_history_op(h, i);
        bool payment = is(op, "payment.pay");
        if ((!payment && !is(op, "wallet.charge")) || op->user == HARNESS_NO_USER)
            continue;
        keyed_op *ko = &ops[n++];
        *ko = (keyed_op){ .op = op, .payment = payment };
        if (!harness_find_str(op->params, "request_id", &ko->request_id, &ko->request_id_len))
            ko->request_id = NULL;
    }
    qsort(ops, n, sizeof *ops, keyed_cmp);
    for (size_t i = 0; i < n; i++) {
        const harness_op *op = ops[i].op;
        bool payment = ops[i].payment;
        if (i == 0 || !same_key(&ops[i - 1], &ops[i]))
            m->items[m->n++] = (money_op){ .some = op, .user = op->user, .payment = payment,
                                           .request_id = ops[i].request_id,
                                           .request_id_len = ops[i].request_id_len };
        money_op *g = &m->items[m->n - 1];
        if (op->outcome == HARNESS_OP_OK) {
            if (g->first_ok && !obj_equal(g->first_ok->result, op->result)) {
                k->rule = &k->counts.retries;
                violation(k, g->first_ok, op, "a retry of request_id '%.*s' returned another result",
                          (int)g->request_id_len, g->request_id);
                k->rule = &k->counts.money;
            }
            if (!g->first_ok) {
                g->first_ok = op;
                g->acked = true;
                g->unknown = false;
                g->amount_known = harness_find_i64(op->result, payment ? "amount" : "charged", &g->amount);
                if (!g->amount_known)
                    violation(k, op, NULL, "a %s success lacks its amount", op->method);
            }
        } else if (op->outcome == HARNESS_OP_NO_REPLY && !g->acked && !g->unknown) {
            g->unknown = true;
            g->amount_known = payment ? payment_amount_from_holds(op, ix, &g->amount)
                                      : harness_find_i64(op->params, "amount", &g->amount);
        }
    }
    free(ops);
    return true;
}

static int entry_by_id(const void *a, const void *b)
{
    uint64_t x = ((const harness_ledger_entry *)a)->entry_id, y = ((const harness_ledger_entry *)b)->entry_id;
    return x < y ? -1 : x > y;
}

/* The ledger runs: in entry_id order each balance_after is the running sum,
 * never below zero, and the last is the balance. */
static void ledger_check_runs(checker *k, uint32_t u, const harness_user_final *f, harness_ledger_entry *sorted)
{
    memcpy(sorted, f->ledger, f->nledger * sizeof *sorted);
    qsort(sorted, f->nledger, sizeof *sorted, entry_by_id);
    int64_t running = 0;
    for (size_t i = 0; i < f->nledger; i++) {
        running += sorted[i].amount;
        if (sorted[i].balance_after != running || running < 0) {
            violation(k, NULL, NULL, "user %u: ledger entry %llu says balance %lld, the entries sum to %lld", u,
                      (unsigned long long)sorted[i].entry_id, (long long)sorted[i].balance_after,
                      (long long)running);
            return;
        }
    }
    if (running != f->balance)
        violation(k, NULL, NULL, "user %u: balance %lld, ledger sums to %lld", u, (long long)f->balance,
                  (long long)running);
}

/* Finds and marks the unused ledger entry an acknowledged op made. */
static bool ledger_take(const harness_user_final *f, bool *used, const money_op *g)
{
    int64_t balance = 0;
    uint64_t payment_id = 0;
    if (!harness_find_i64(g->first_ok->result, "balance", &balance))
        return false;
    if (g->payment && !harness_find_u64(g->first_ok->result, "payment_id", &payment_id))
        return false;
    for (size_t i = 0; i < f->nledger; i++) {
        const harness_ledger_entry *e = &f->ledger[i];
        if (used[i] || e->charge == g->payment || e->balance_after != balance)
            continue;
        if (g->payment ? e->payment_id == payment_id && e->amount == -g->amount : e->amount == g->amount) {
            used[i] = true;
            return true;
        }
    }
    return false;
}

/* An acknowledged payment is in payment.list with its amount and ids. */
static bool payment_listed(const harness_user_final *f, const money_op *g)
{
    uint64_t payment_id = 0;
    harness_find_u64(g->first_ok->result, "payment_id", &payment_id);
    uint64_t ids[HARNESS_PAY_IDS_MAX];
    size_t n = pay_ids(g->first_ok, ids, HARNESS_PAY_IDS_MAX);
    for (size_t i = 0; i < f->npayments; i++) {
        const harness_payment *p = &f->payments[i];
        if (p->payment_id != payment_id)
            continue;
        bool same = p->amount == g->amount && p->nids == n;
        for (size_t a = 0; same && a < n; a++) {
            bool found = false;
            for (size_t b = 0; b < p->nids && !found; b++)
                found = p->reservation_ids[b] == ids[a];
            same = found;
        }
        return same;
    }
    return false;
}

/* True when some subset of values[0..n) sums to target. */
static bool subset_sums_to(const int64_t *values, size_t n, int64_t target)
{
    for (uint32_t mask = 0; mask < (1u << n); mask++) {
        int64_t sum = 0;
        for (size_t i = 0; i < n; i++)
            if (mask & (1u << i))
                sum += values[i];
        if (sum == target)
            return true;
    }
    return false;
}

/* One wallet: acknowledged ops are in the ledger (and payment.list), the
 * ledger holds nothing nobody sent, and the balance is the acknowledged net
 * plus a subset of the unanswered ops. */
static void money_check_user(checker *k, uint32_t u, const harness_user_final *f, const money_ops *m)
{
    harness_ledger_entry *sorted = malloc((f->nledger + 1) * sizeof *sorted);
    bool *used = calloc(f->nledger + 1, sizeof *used);
    if (!sorted || !used)
        goto done;
    ledger_check_runs(k, u, f, sorted);
    int64_t net = 0, unknowns[HARNESS_UNKNOWNS_MAX];
    size_t nunknown = 0, unknown_charges = 0, unknown_payments = 0;
    bool judgeable = true;
    for (size_t i = 0; i < m->n; i++) {
        const money_op *g = &m->items[i];
        if (g->user != u)
            continue;
        if (g->acked) {
            net += g->payment ? -g->amount : g->amount;
            if (!ledger_take(f, used, g))
                violation(k, g->first_ok, NULL, "user %u: an acknowledged %s is not in the ledger", u,
                          g->payment ? "payment" : "charge");
            if (g->payment && !payment_listed(f, g))
                violation(k, g->first_ok, NULL, "user %u: an acknowledged payment is not in payment.list as told", u);
        } else if (g->unknown) {
            unknown_charges += !g->payment;
            unknown_payments += g->payment;
            if (!g->amount_known) {
                judgeable = false;
            } else if (nunknown == HARNESS_UNKNOWNS_MAX) {
                violation(k, g->some, NULL, "user %u: more than %d unanswered charges and payments to judge", u,
                          HARNESS_UNKNOWNS_MAX);
                judgeable = false;
            } else {
                unknowns[nunknown++] = g->payment ? -g->amount : g->amount;
            }
        }
    }
    size_t extra_charges = 0, extra_payments = 0;
    for (size_t i = 0; i < f->nledger; i++)
        if (!used[i]) {
            extra_charges += f->ledger[i].charge;
            extra_payments += !f->ledger[i].charge;
        }
    if (extra_charges > unknown_charges || extra_payments > unknown_payments)
        violation(k, NULL, NULL,
                  "user %u: the ledger holds %zu charges and %zu payments beyond the acknowledged ones, "
                  "but only %zu and %zu went unanswered", u, extra_charges, extra_payments, unknown_charges,
                  unknown_payments);
    if (judgeable && !subset_sums_to(unknowns, nunknown, f->balance - net))
        violation(k, NULL, NULL,
                  "user %u: balance %lld is acknowledged net %lld plus %lld, which no subset of the %zu "
                  "unanswered ops makes", u, (long long)f->balance, (long long)net, (long long)(f->balance - net),
                  nunknown);
done:
    free(sorted);
    free(used);
}

/* ----------------------------------------------------------------- queue */

typedef struct queue_seen {
    uint64_t concert_id, seq;
    uint32_t user;
    int64_t admitted_by;        /* earliest reply showing it admitted (FOREVER: never) */
    int64_t waiting_at;         /* latest send of a request that found it WAITING (-1: never) */
    const harness_op *admitted_op, *waiting_op, *owner_op;
} queue_seen;

/* One thing an op tells about one queue entry. */
typedef enum queue_fact { FACT_OWNER, FACT_WAITING, FACT_ADMITTED } queue_fact;

typedef struct queue_obs {
    uint64_t concert_id, seq;
    queue_fact fact;
    const harness_op *op;
} queue_obs;

typedef struct queue_obs_list {
    queue_obs *items;
    size_t n, cap;
} queue_obs_list;

/* Adds a fact about the entry the token string in map o (key) names. */
static bool obs_add(queue_obs_list *l, const msgpack_object *o, const char *key, queue_fact fact,
                    const harness_op *op)
{
    const char *s;
    size_t len;
    uint64_t concert_id, seq;
    if (!harness_find_str(o, key, &s, &len) || !harness_queue_token_entry(s, len, &concert_id, &seq))
        return true;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        queue_obs *grown = realloc(l->items, l->cap * sizeof *grown);
        if (!grown)
            return false;
        l->items = grown;
    }
    l->items[l->n++] = (queue_obs){ concert_id, seq, fact, op };
    return true;
}

static bool status_is(const harness_op *op, const char *status)
{
    const char *s;
    size_t len;
    return harness_find_str(op->result, "status", &s, &len) && len == strlen(status) && memcmp(s, status, len) == 0;
}

/* What one op tells about a queue entry: queue.enter and queue.status
 * replies say WAITING or admitted (ACTIVE, or EXPIRED with active_until);
 * a reserve or seat listing that succeeded ran while ACTIVE; QUEUE_WAITING
 * from any protected method means WAITING. */
static bool queue_observe(queue_obs_list *l, const harness_op *op)
{
    bool enter = is(op, "queue.enter"), status = is(op, "queue.status");
    bool protected_read = is(op, "seat.reserve") || is(op, "concert.seats") || is(op, "concert.dates");
    if (op->outcome == HARNESS_OP_FAILED)
        return op->err != USHER_ERR_QUEUE_WAITING || obs_add(l, op->params, "token", FACT_WAITING, op);
    if (op->outcome != HARNESS_OP_OK)
        return true;
    if (protected_read)
        return obs_add(l, op->params, "token", FACT_ADMITTED, op);
    if (!enter && !status)
        return true;
    const msgpack_object *where = enter ? op->result : op->params;
    if (enter && !obs_add(l, where, "token", FACT_OWNER, op))
        return false;
    if (status_is(op, "WAITING"))
        return obs_add(l, where, "token", FACT_WAITING, op);
    if (status_is(op, "ACTIVE") || msg_map_get(op->result, "active_until"))
        return obs_add(l, where, "token", FACT_ADMITTED, op);
    return true;
}

static int obs_by_entry(const void *a, const void *b)
{
    const queue_obs *x = a, *y = b;
    if (x->concert_id != y->concert_id)
        return x->concert_id < y->concert_id ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return x->op->index < y->op->index ? -1 : x->op->index > y->op->index;
}

/* Folds the facts, sorted by entry, into one queue_seen per entry. */
static queue_seen *queue_fold(checker *k, queue_obs_list *l, size_t *n)
{
    queue_seen *seen = malloc((l->n + 1) * sizeof *seen);
    *n = 0;
    if (!seen)
        return NULL;
    qsort(l->items, l->n, sizeof *l->items, obs_by_entry);
    for (size_t i = 0; i < l->n; i++) {
        const queue_obs *o = &l->items[i];
        if (*n == 0 || seen[*n - 1].concert_id != o->concert_id || seen[*n - 1].seq != o->seq)
            seen[(*n)++] = (queue_seen){ .concert_id = o->concert_id, .seq = o->seq, .user = HARNESS_NO_USER,
                                         .admitted_by = FOREVER, .waiting_at = -1 };
        queue_seen *e = &seen[*n - 1];
        if (o->fact == FACT_OWNER) {
            if (e->user != HARNESS_NO_USER && e->user != o->op->user)
                violation(k, e->owner_op, o->op, "queue entry %llu of concert %llu was given to two users",
                          (unsigned long long)e->seq, (unsigned long long)e->concert_id);
            if (e->user == HARNESS_NO_USER) {
                e->user = o->op->user;
                e->owner_op = o->op;
            }
        } else if (o->fact == FACT_WAITING && o->op->sent_ms > e->waiting_at) {
            e->waiting_at = o->op->sent_ms;
            e->waiting_op = o->op;
        } else if (o->fact == FACT_ADMITTED && o->op->replied_ms < e->admitted_by) {
            e->admitted_by = o->op->replied_ms;
            e->admitted_op = o->op;
        }
    }
    return seen;
}

/* Admission is in sequence order: an entry seen admitted before an earlier
 * one (of the same concert) was still seen WAITING is a violation; so is an
 * entry seen WAITING after it was seen admitted. "Before" is strict: times
 * are whole milliseconds, so a request sent in the millisecond a reply came
 * may have left before that reply arrived. */
static void queue_check(checker *k)
{
    queue_obs_list l = { 0 };
    for (size_t i = 0; i < harness_history_count(k->h); i++)
        if (!queue_observe(&l, harness_history_op(k->h, i))) {
            violation(k, NULL, NULL, "out of memory while checking the queue");
            free(l.items);
            return;
        }
    size_t n = 0;
    queue_seen *q = queue_fold(k, &l, &n);
    const queue_seen *later = NULL;  /* the earliest-admitted entry behind the current one */
    for (size_t i = n; q && i-- > 0;) {
        const queue_seen *e = &q[i];
        if (i + 1 < n && q[i + 1].concert_id != e->concert_id)
            later = NULL;
        if (e->waiting_at >= 0 && e->waiting_at > e->admitted_by)
            violation(k, e->admitted_op, e->waiting_op, "queue entry %llu of concert %llu waits again after it was admitted",
                      (unsigned long long)e->seq, (unsigned long long)e->concert_id);
        if (later && e->waiting_at >= 0 && e->waiting_at > later->admitted_by)
            violation(k, later->admitted_op, e->waiting_op,
                      "concert %llu: entry %llu was admitted while the earlier entry %llu still waited",
                      (unsigned long long)e->concert_id, (unsigned long long)later->seq,
                      (unsigned long long)e->seq);
        if (!later || e->admitted_by < later->admitted_by)
            later = e;
    }
    free(q);
    free(l.items);
}

/* ---------------------------------------------------------------- driver */

size_t harness_history_check(const harness_history *h, const char *label, harness_check_counts *counts)
{
    checker k = { .h = h, .label = label };
    k.rule = &k.counts.holds;
    hold_index ix = { 0 };
    money_ops m = { 0 };
    if (!holds_collect(&k, &ix)) {
        violation(&k, NULL, NULL, "out of memory while checking");
        goto done;
    }
    holds_apply_cancels_and_payments(&k, &ix);
    holds_check_overlaps(&k, &ix);
    holds_check_final(&k, &ix);
    k.rule = &k.counts.money;
    if (!money_collect(&k, &ix, &m)) {
        violation(&k, NULL, NULL, "out of memory while checking");
        goto done;
    }
    for (uint32_t u = 0; u < harness_history_users(h); u++) {
        const harness_user_final *f = harness_history_final_of(h, u);
        if (f)
            money_check_user(&k, u, f, &m);
    }
    k.rule = &k.counts.queue;
    queue_check(&k);
done:
    if (k.violations > REPORT_MAX)
        fprintf(stderr, "%s: ... and %zu more violations\n", label, k.violations - REPORT_MAX);
    fprintf(stderr, "%s: history of %zu ops checked: %zu violations (holds %zu, money %zu, queue %zu, retries %zu)\n",
            label, harness_history_count(h), k.violations, k.counts.holds, k.counts.money, k.counts.queue,
            k.counts.retries);
    if (counts)
        *counts = k.counts;
    free(ix.items);
    free(m.items);
    return k.violations;
}
