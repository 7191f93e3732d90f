/* Harness, history checker, the money rules: every acknowledged charge and
 * payment is in the ledger (and payment.list), the ledger runs and holds
 * nothing nobody sent, each balance is the acknowledged net plus a subset of
 * the unanswered requests, and every request_id retry repeated the first
 * result. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    size_t n = hcheck_pay_ids(op, ids, HARNESS_PAY_IDS_MAX);
    *amount = 0;
    for (size_t i = 0; i < n; i++) {
        const hold *x = hcheck_hold_find(ix, ids[i]);
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
        bool payment = hcheck_is(op, "payment.pay");
        if ((!payment && !hcheck_is(op, "wallet.charge")) || op->user == HARNESS_NO_USER)
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
            if (g->first_ok && !hcheck_obj_equal(g->first_ok->result, op->result)) {
                k->rule = &k->counts.retries;
                hcheck_violation(k, g->first_ok, op, "a retry of request_id '%.*s' returned another result",
                          (int)g->request_id_len, g->request_id);
                k->rule = &k->counts.money;
            }
            if (!g->first_ok) {
                g->first_ok = op;
                g->acked = true;
                g->unknown = false;
                g->amount_known = harness_find_i64(op->result, payment ? "amount" : "charged", &g->amount);
                if (!g->amount_known)
                    hcheck_violation(k, op, NULL, "a %s success lacks its amount", op->method);
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
    if (f->nledger) {
        memcpy(sorted, f->ledger, f->nledger * sizeof *sorted);
        qsort(sorted, f->nledger, sizeof *sorted, entry_by_id);
    }
    int64_t running = 0;
    for (size_t i = 0; i < f->nledger; i++) {
        running += sorted[i].amount;
        if (sorted[i].balance_after != running || running < 0) {
            hcheck_violation(k, NULL, NULL, "user %u: ledger entry %llu says balance %lld, the entries sum to %lld", u,
                      (unsigned long long)sorted[i].entry_id, (long long)sorted[i].balance_after,
                      (long long)running);
            return;
        }
    }
    if (running != f->balance)
        hcheck_violation(k, NULL, NULL, "user %u: balance %lld, ledger sums to %lld", u, (long long)f->balance,
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
    size_t n = hcheck_pay_ids(g->first_ok, ids, HARNESS_PAY_IDS_MAX);
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
                hcheck_violation(k, g->first_ok, NULL, "user %u: an acknowledged %s is not in the ledger", u,
                          g->payment ? "payment" : "charge");
            if (g->payment && !payment_listed(f, g))
                hcheck_violation(k, g->first_ok, NULL,
                                 "user %u: an acknowledged payment is not in payment.list as told", u);
        } else if (g->unknown) {
            unknown_charges += !g->payment;
            unknown_payments += g->payment;
            if (!g->amount_known) {
                judgeable = false;
            } else if (nunknown == HARNESS_UNKNOWNS_MAX) {
                hcheck_violation(k, g->some, NULL, "user %u: more than %d unanswered charges and payments to judge", u,
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
        hcheck_violation(k, NULL, NULL,
                  "user %u: the ledger holds %zu charges and %zu payments beyond the acknowledged ones, "
                  "but only %zu and %zu went unanswered", u, extra_charges, extra_payments, unknown_charges,
                  unknown_payments);
    if (judgeable && !subset_sums_to(unknowns, nunknown, f->balance - net))
        hcheck_violation(k, NULL, NULL,
                  "user %u: balance %lld is acknowledged net %lld plus %lld, which no subset of the %zu "
                  "unanswered ops makes", u, (long long)f->balance, (long long)net, (long long)(f->balance - net),
                  nunknown);
done:
    free(sorted);
    free(used);
}

bool hcheck_money(checker *k, const hold_index *ix)
{
    money_ops m = { 0 };
    bool ok = money_collect(k, ix, &m);
    for (uint32_t u = 0; ok && u < harness_history_users(k->h); u++) {
        const harness_user_final *f = harness_history_final_of(k->h, u);
        if (f)
            money_check_user(k, u, f, &m);
    }
    free(m.items);
    return ok;
}
