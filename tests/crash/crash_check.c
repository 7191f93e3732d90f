/* Crash tests, the judge: see crash_check.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "crash_check.h"

#include <stdio.h>
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

typedef struct judge {
    const crash_sale *s;
    size_t ui;
    const crash_view *v;
    int64_t must_before_ns, cut_ns;
    const char *where;
    crash_tally *t;
    size_t found;
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

/* Tallies an op judged present (true) or absent against its class. */
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

static void judge_charges(judge *j)
{
    const crash_sale *s = j->s;
    const crash_view *v = j->v;
    for (size_t e = 0; e < v->nledger; e++) {
        if (v->ledger[e].kind != STORE_LEDGER_CHARGE)
            continue;
        bool known = false;
        for (size_t i = 0; i < s->nops && !known; i++)
            known = s->ops[i].kind == CRASH_OP_CHARGE && s->ops[i].user == j->ui &&
                    s->ops[i].amount_krw == v->ledger[e].amount_krw;
        if (!known)
            violation(j, "a CHARGE of %lld that no charge of the sale asked for",
                      (long long)v->ledger[e].amount_krw);
    }
    for (size_t i = 0; i < s->nops; i++) {
        const crash_op *op = &s->ops[i];
        if (op->kind != CRASH_OP_CHARGE || op->user != j->ui)
            continue;
        size_t times = 0;
        const struct crash_view_entry *hit = NULL;
        for (size_t e = 0; e < v->nledger; e++) {
            if (v->ledger[e].kind == STORE_LEDGER_CHARGE && v->ledger[e].amount_krw == op->amount_krw) {
                times++;
                hit = &v->ledger[e];
            }
        }
        op_class c = classify(op, j->must_before_ns, j->cut_ns);
        char what[96];
        snprintf(what, sizeof what, "charge %s of %lld", op->request_id, (long long)op->amount_krw);
        judge_presence(j, op, c, times, what);
        if (hit && op->outcome == CRASH_OK && hit->balance_after_krw != op->balance_krw)
            violation(j, "%s: ledger balance_after %lld, but the reply said %lld", what,
                      (long long)hit->balance_after_krw, (long long)op->balance_krw);
    }
}

static const struct crash_view_res *find_res(const crash_view *v, uint64_t rid)
{
    for (size_t r = 0; r < v->nres; r++)
        if (v->res[r].reservation_id == rid)
            return &v->res[r];
    return NULL;
}

static void judge_holds(judge *j)
{
    const crash_sale *s = j->s;
    const crash_view *v = j->v;
    for (size_t r = 0; r < v->nres; r++) {
        const struct crash_view_res *res = &v->res[r];
        const crash_op *op = NULL;
        for (size_t i = 0; i < s->nops && !op; i++)
            if (s->ops[i].kind == CRASH_OP_HOLD && s->ops[i].user == j->ui &&
                s->ops[i].schedule_id == res->schedule_id && s->ops[i].seat_no == res->seat_no)
                op = &s->ops[i];
        if (!op) {
            violation(j, "reservation %llu (performance %llu seat %u) that no hold asked for",
                      (unsigned long long)res->reservation_id, (unsigned long long)res->schedule_id,
                      res->seat_no);
            continue;
        }
        if (op->outcome == CRASH_OK &&
            (op->reservation_id != res->reservation_id || op->price_krw != res->price_krw))
            violation(j, "reservation %llu of seat %u: the reply said id %llu price %lld",
                      (unsigned long long)res->reservation_id, res->seat_no,
                      (unsigned long long)op->reservation_id, (long long)op->price_krw);
    }
    for (size_t i = 0; i < s->nops; i++) {
        const crash_op *op = &s->ops[i];
        if (op->kind != CRASH_OP_HOLD || op->user != j->ui)
            continue;
        size_t times = 0;
        for (size_t r = 0; r < v->nres; r++)
            times += v->res[r].schedule_id == op->schedule_id && v->res[r].seat_no == op->seat_no;
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
    for (size_t e = 0; e < v->nledger; e++)
        if (v->ledger[e].kind == STORE_LEDGER_PAYMENT && v->ledger[e].payment_id == p->payment_id) {
            entries++;
            if (v->ledger[e].amount_krw != -p->amount_krw)
                violation(j, "payment %llu of %lld has a ledger entry of %lld",
                          (unsigned long long)p->payment_id, (long long)p->amount_krw,
                          (long long)v->ledger[e].amount_krw);
        }
    if (entries != 1)
        violation(j, "payment %llu has %zu ledger entries", (unsigned long long)p->payment_id, entries);
    int64_t sum = 0;
    for (size_t k = 0; k < p->n; k++) {
        const struct crash_view_res *res = find_res(v, p->reservation_ids[k]);
        if (!res || res->status != 'C' || (res->payment_id && res->payment_id != p->payment_id)) {
            violation(j, "payment %llu: reservation %llu is %s", (unsigned long long)p->payment_id,
                      (unsigned long long)p->reservation_ids[k], res ? "not CONFIRMED by it" : "missing");
            continue;
        }
        sum += res->price_krw;
    }
    if (sum != p->amount_krw)
        violation(j, "payment %llu of %lld, but its seats cost %lld", (unsigned long long)p->payment_id,
                  (long long)p->amount_krw, (long long)sum);
}

static bool pay_has(const struct crash_view_pay *p, uint64_t rid)
{
    for (size_t k = 0; k < p->n; k++)
        if (p->reservation_ids[k] == rid)
            return true;
    return false;
}

static void judge_payments(judge *j)
{
    const crash_sale *s = j->s;
    const crash_view *v = j->v;
    for (size_t p = 0; p < v->npay; p++) {
        const struct crash_view_pay *pay = &v->pay[p];
        judge_payment_whole(j, pay);
        const crash_op *op = NULL;
        for (size_t i = 0; i < s->nops && !op; i++)
            if (s->ops[i].kind == CRASH_OP_PAY && s->ops[i].user == j->ui &&
                pay_has(pay, s->ops[i].reservation_id))
                op = &s->ops[i];
        if (!op)
            violation(j, "payment %llu that no payment request asked for", (unsigned long long)pay->payment_id);
        else if (op->outcome == CRASH_OK && (op->payment_id != pay->payment_id || op->amount_krw != pay->amount_krw))
            violation(j, "payment %llu of %lld: the reply said %llu of %lld", (unsigned long long)pay->payment_id,
                      (long long)pay->amount_krw, (unsigned long long)op->payment_id, (long long)op->amount_krw);
    }
    for (size_t e = 0; e < v->nledger; e++) {
        if (v->ledger[e].kind != STORE_LEDGER_PAYMENT)
            continue;
        bool there = false;
        for (size_t p = 0; p < v->npay && !there; p++)
            there = v->pay[p].payment_id == v->ledger[e].payment_id;
        if (!there)
            violation(j, "a PAYMENT ledger entry for payment %llu, which is missing",
                      (unsigned long long)v->ledger[e].payment_id);
    }
    for (size_t r = 0; r < v->nres; r++) {
        if (v->res[r].status != 'C')
            continue;
        bool paid = false;
        for (size_t p = 0; p < v->npay && !paid; p++)
            paid = pay_has(&v->pay[p], v->res[r].reservation_id);
        if (!paid)
            violation(j, "reservation %llu is CONFIRMED by no payment",
                      (unsigned long long)v->res[r].reservation_id);
    }
    for (size_t i = 0; i < s->nops; i++) {
        const crash_op *op = &s->ops[i];
        if (op->kind != CRASH_OP_PAY || op->user != j->ui)
            continue;
        size_t times = 0;
        for (size_t p = 0; p < v->npay; p++)
            times += pay_has(&v->pay[p], op->reservation_id);
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
    judge_charges(&j);
    judge_holds(&j);
    judge_payments(&j);
    return j.found;
}
