/* Crash tests, the judge: see crash_check.h. A user's operations and
 * records are sorted by the key that matches them (a charge's amount, a
 * hold's seat, a payment's reservation), so judging stays n log n however
 * long the sale has run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "crash_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum op_class { MUST, MUST_NOT, MAY } op_class;

static op_class classify(const crash_op *op, int64_t must_before_ns, int64_t cut_ns)
{
    if (op->sent_ns > cut_ns)
        return MUST_NOT;            /* it reached the server after the cut */
    if (op->outcome == CRASH_REFUSED)
        return MUST_NOT;            /* a failed write changes nothing */
    if (op->outcome == CRASH_OK && op->acked_ns < must_before_ns)
        return MUST;
    return MAY;
}

static const char *class_name(op_class c)
{
    return c == MUST ? "acknowledged" : c == MUST_NOT ? "refused or sent after the cut" : "unanswered";
}

/* A sort key and what it points at (an op, or a record of the view). */
typedef struct keyed {
    uint64_t k1, k2;
    size_t at;
} keyed;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->k1 != y->k1) return x->k1 < y->k1 ? -1 : 1;
    if (x->k2 != y->k2) return x->k2 < y->k2 ? -1 : 1;
    return 0;
}

/* A sorted array of keys. */
typedef struct key_index {
    keyed *v;
    size_t n, cap;
} key_index;

static void index_add(key_index *ix, uint64_t k1, uint64_t k2, size_t at)
{
    if (ix->n == ix->cap) {
        ix->cap = ix->cap ? ix->cap * 2 : 64;
        ix->v = realloc(ix->v, ix->cap * sizeof *ix->v);
        if (!ix->v)
            fail_msg("out of memory");
    }
    ix->v[ix->n++] = (keyed){ k1, k2, at };
}

static void index_sort(key_index *ix)
{
    if (ix->n)
        qsort(ix->v, ix->n, sizeof *ix->v, keyed_cmp);
}

/* The first entry with key (k1, k2), or NULL; *count gets how many there are. */
static const keyed *index_find(const key_index *ix, uint64_t k1, uint64_t k2, size_t *count)
{
    keyed want = { k1, k2, 0 };
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (keyed_cmp(&ix->v[mid], &want) < 0) lo = mid + 1; else hi = mid;
    }
    size_t end = lo;
    while (end < ix->n && keyed_cmp(&ix->v[end], &want) == 0)
        end++;
    if (count)
        *count = end - lo;
    return end > lo ? &ix->v[lo] : NULL;
}

typedef struct judge {
    const crash_sale *s;
    size_t ui;
    const crash_view *v;
    int64_t must_before_ns, cut_ns;
    const char *where;
    crash_tally *t;
    size_t found;
    key_index charge_ops, hold_ops, pay_ops;      /* the user's ops by amount, seat, reservation */
    key_index ledger_charges, ledger_pays;        /* ledger entries by amount, payment_id */
    key_index res_by_seat, res_by_id;             /* reservations */
    key_index pay_by_id, pay_by_rid;              /* payments, and their reservations */
} judge;

static void violation(judge *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(judge *j, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (j->t->violations < (j->t->print_limit ? j->t->print_limit : 40))
        fprintf(stderr, "VIOLATION at %s, user %s: %s\n", j->where, j->s->users[j->ui].user_id, msg);
    j->t->violations++;
    j->found++;
}

/* Tallies an op found `times` times against its class. */
static void judge_presence(judge *j, const crash_op *op, op_class c, size_t times, const char *what)
{
    j->t->checked++;
    if (c == MUST)
        j->t->must_present++;
    if (times > 1) {
        violation(j, "%s applied %zu times", what, times);
        return;
    }
    if (c == MUST && times == 0 && j->cut_ns == INT64_MAX)
        violation(j, "%s acknowledged at %lld ns is missing", what, (long long)op->acked_ns);
    else if (c == MUST && times == 0)
        violation(j, "%s acknowledged at %lld ns is missing (cut at %lld ns, %lld us later)", what,
                  (long long)op->acked_ns, (long long)j->cut_ns,
                  (long long)((j->cut_ns - op->acked_ns) / 1000));
    else if (c == MUST_NOT && times == 1)
        violation(j, "%s is stored but was %s", what, class_name(c));
    else if (c == MAY)
        (times ? j->t->may_present++ : j->t->may_absent++);
}

static void build_indexes(judge *j)
{
    const crash_sale *s = j->s;
    const crash_view *v = j->v;
    for (size_t i = 0; i < s->nops; i++) {
        const crash_op *op = &s->ops[i];
        if (op->user != j->ui || op->kind == CRASH_OP_REGISTER)
            continue;
        if (op->kind == CRASH_OP_CHARGE)
            index_add(&j->charge_ops, (uint64_t)op->amount_krw, 0, i);
        else if (op->kind == CRASH_OP_HOLD)
            index_add(&j->hold_ops, op->schedule_id, op->seat_no, i);
        else if (op->kind == CRASH_OP_PAY)
            index_add(&j->pay_ops, op->reservation_id, 0, i);
    }
    for (size_t e = 0; e < v->nledger; e++) {
        if (v->ledger[e].kind == STORE_LEDGER_CHARGE)
            index_add(&j->ledger_charges, (uint64_t)v->ledger[e].amount_krw, 0, e);
        else
            index_add(&j->ledger_pays, v->ledger[e].payment_id, 0, e);
    }
    for (size_t r = 0; r < v->nres; r++) {
        index_add(&j->res_by_seat, v->res[r].schedule_id, v->res[r].seat_no, r);
        index_add(&j->res_by_id, v->res[r].reservation_id, 0, r);
    }
    for (size_t p = 0; p < v->npay; p++) {
        index_add(&j->pay_by_id, v->pay[p].payment_id, 0, p);
        for (size_t k = 0; k < v->pay[p].n; k++)
            index_add(&j->pay_by_rid, v->pay[p].reservation_ids[k], 0, p);
    }
    key_index *all[] = { &j->charge_ops, &j->hold_ops, &j->pay_ops, &j->ledger_charges, &j->ledger_pays,
                     &j->res_by_seat, &j->res_by_id, &j->pay_by_id, &j->pay_by_rid };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        index_sort(all[i]);
}

static void free_indexes(judge *j)
{
    key_index *all[] = { &j->charge_ops, &j->hold_ops, &j->pay_ops, &j->ledger_charges, &j->ledger_pays,
                     &j->res_by_seat, &j->res_by_id, &j->pay_by_id, &j->pay_by_rid };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]->v);
}

static void judge_charges(judge *j)
{
    const crash_sale *s = j->s;
    const crash_view *v = j->v;
    for (size_t i = 0; i < j->ledger_charges.n; i++) {
        const struct crash_view_entry *e = &v->ledger[j->ledger_charges.v[i].at];
        if (!index_find(&j->charge_ops, (uint64_t)e->amount_krw, 0, NULL))
            violation(j, "a CHARGE of %lld that no charge of the sale asked for", (long long)e->amount_krw);
    }
    for (size_t i = 0; i < j->charge_ops.n; i++) {
        const crash_op *op = &s->ops[j->charge_ops.v[i].at];
        size_t times = 0;
        const keyed *hit = index_find(&j->ledger_charges, (uint64_t)op->amount_krw, 0, &times);
        char what[96];
        snprintf(what, sizeof what, "charge %s of %lld", op->request_id, (long long)op->amount_krw);
        judge_presence(j, op, classify(op, j->must_before_ns, j->cut_ns), times, what);
        if (hit && op->outcome == CRASH_OK && v->ledger[hit->at].balance_after_krw != op->balance_krw)
            violation(j, "%s: ledger balance_after %lld, but the reply said %lld", what,
                      (long long)v->ledger[hit->at].balance_after_krw, (long long)op->balance_krw);
    }
}

static const struct crash_view_res *find_res(const judge *j, uint64_t rid)
{
    const keyed *k = index_find(&j->res_by_id, rid, 0, NULL);
    return k ? &j->v->res[k->at] : NULL;
}

static void judge_holds(judge *j)
{
    const crash_sale *s = j->s;
    const crash_view *v = j->v;
    for (size_t r = 0; r < v->nres; r++) {
        const struct crash_view_res *res = &v->res[r];
        const keyed *k = index_find(&j->hold_ops, res->schedule_id, res->seat_no, NULL);
        if (!k) {
            violation(j, "reservation %llu (performance %llu seat %u) that no hold asked for",
                      (unsigned long long)res->reservation_id, (unsigned long long)res->schedule_id,
                      res->seat_no);
            continue;
        }
        const crash_op *op = &s->ops[k->at];
        if (op->outcome == CRASH_OK &&
            (op->reservation_id != res->reservation_id || op->price_krw != res->price_krw))
            violation(j, "reservation %llu of seat %u: the reply said id %llu price %lld",
                      (unsigned long long)res->reservation_id, res->seat_no,
                      (unsigned long long)op->reservation_id, (long long)op->price_krw);
    }
    for (size_t i = 0; i < j->hold_ops.n; i++) {
        const crash_op *op = &s->ops[j->hold_ops.v[i].at];
        size_t times = 0;
        index_find(&j->res_by_seat, op->schedule_id, op->seat_no, &times);
        char what[96];
        snprintf(what, sizeof what, "hold of performance %llu seat %u",
                 (unsigned long long)op->schedule_id, op->seat_no);
        judge_presence(j, op, classify(op, j->must_before_ns, j->cut_ns), times, what);
    }
}

/* A stored payment must be whole: its ledger entry, its reservations
 * CONFIRMED and pointing back, its amount their prices' sum. */
static void judge_payment_whole(judge *j, const struct crash_view_pay *p)
{
    const crash_view *v = j->v;
    size_t entries = 0;
    const keyed *k = index_find(&j->ledger_pays, p->payment_id, 0, &entries);
    for (size_t e = 0; k && e < entries; e++)
        if (v->ledger[k[e].at].amount_krw != -p->amount_krw)
            violation(j, "payment %llu of %lld has a ledger entry of %lld", (unsigned long long)p->payment_id,
                      (long long)p->amount_krw, (long long)v->ledger[k[e].at].amount_krw);
    if (entries != 1)
        violation(j, "payment %llu has %zu ledger entries", (unsigned long long)p->payment_id, entries);
    int64_t sum = 0;
    for (size_t r = 0; r < p->n; r++) {
        const struct crash_view_res *res = find_res(j, p->reservation_ids[r]);
        if (!res || res->status != 'C' || (res->payment_id && res->payment_id != p->payment_id)) {
            violation(j, "payment %llu: reservation %llu is %s", (unsigned long long)p->payment_id,
                      (unsigned long long)p->reservation_ids[r], res ? "not CONFIRMED by it" : "missing");
            continue;
        }
        sum += res->price_krw;
    }
    if (sum != p->amount_krw)
        violation(j, "payment %llu of %lld, but its seats cost %lld", (unsigned long long)p->payment_id,
                  (long long)p->amount_krw, (long long)sum);
}

static void judge_payments(judge *j)
{
    const crash_sale *s = j->s;
    const crash_view *v = j->v;
    for (size_t p = 0; p < v->npay; p++) {
        const struct crash_view_pay *pay = &v->pay[p];
        judge_payment_whole(j, pay);
        const crash_op *op = NULL;
        for (size_t r = 0; r < pay->n && !op; r++) {
            const keyed *k = index_find(&j->pay_ops, pay->reservation_ids[r], 0, NULL);
            op = k ? &s->ops[k->at] : NULL;
        }
        if (!op)
            violation(j, "payment %llu that no payment request asked for", (unsigned long long)pay->payment_id);
        else if (op->outcome == CRASH_OK && (op->payment_id != pay->payment_id || op->amount_krw != pay->amount_krw))
            violation(j, "payment %llu of %lld: the reply said %llu of %lld", (unsigned long long)pay->payment_id,
                      (long long)pay->amount_krw, (unsigned long long)op->payment_id, (long long)op->amount_krw);
    }
    for (size_t i = 0; i < j->ledger_pays.n; i++) {
        const struct crash_view_entry *e = &v->ledger[j->ledger_pays.v[i].at];
        if (!index_find(&j->pay_by_id, e->payment_id, 0, NULL))
            violation(j, "a PAYMENT ledger entry for payment %llu, which is missing",
                      (unsigned long long)e->payment_id);
    }
    for (size_t r = 0; r < v->nres; r++)
        if (v->res[r].status == 'C' && !index_find(&j->pay_by_rid, v->res[r].reservation_id, 0, NULL))
            violation(j, "reservation %llu is CONFIRMED by no payment",
                      (unsigned long long)v->res[r].reservation_id);
    for (size_t i = 0; i < j->pay_ops.n; i++) {
        const crash_op *op = &s->ops[j->pay_ops.v[i].at];
        size_t times = 0;
        index_find(&j->pay_by_rid, op->reservation_id, 0, &times);
        char what[96];
        snprintf(what, sizeof what, "payment %s of reservation %llu", op->request_id,
                 (unsigned long long)op->reservation_id);
        judge_presence(j, op, classify(op, j->must_before_ns, j->cut_ns), times, what);
    }
}

size_t crash_check_user(const crash_sale *s, size_t ui, const crash_view *v, int64_t must_before_ns,
                        int64_t cut_ns, const char *where, crash_tally *t)
{
    judge j = { .s = s, .ui = ui, .v = v, .must_before_ns = must_before_ns, .cut_ns = cut_ns,
                .where = where, .t = t };
    for (size_t i = 0; i < s->nops; i++) {
        const crash_op *op = &s->ops[i];
        if (op->kind == CRASH_OP_REGISTER && op->user == ui && op->outcome == CRASH_OK)
            judge_presence(&j, op, classify(op, must_before_ns, cut_ns), v->exists ? 1 : 0, "user.register");
    }
    int64_t sum = 0;
    for (size_t e = 0; e < v->nledger; e++)
        sum += v->ledger[e].amount_krw;
    if (sum != v->balance_krw)
        violation(&j, "balance %lld, but the ledger sums to %lld", (long long)v->balance_krw, (long long)sum);
    build_indexes(&j);
    judge_charges(&j);
    judge_holds(&j);
    judge_payments(&j);
    free_indexes(&j);
    return j.found;
}
