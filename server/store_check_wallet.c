/* Checks of the wallets: the ledger is the wallet (a balance is the
 * balance_after of the user's newest entry); every payment debits the ledger
 * exactly once.
 * Ledger keys are user | entry_id and ids only grow, so one walk in key
 * order replays each user's history in the order it was written. */
#include <stdlib.h>
#include "store_check_internal.h"

#define LEDGER_KEY_LEN (16 + 8)

/* A payment and how many PAYMENT ledger entries name it. */
typedef struct payment_count {
    uint64_t payment_id;
    uint32_t entries;
    uint32_t pad;
} payment_count;

typedef struct ledger_id {
    uint64_t entry_id;
    user_id user;
} ledger_id;

/* One user's entries as the walk meets them. */
typedef struct ledger_user {
    bool open;
    user_id user;
    int64_t sum;
    bool overflow;
} ledger_user;

static payment_count *find_payment(check_vec *payments, uint64_t id)
{
    size_t lo = 0, hi = payments->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        payment_count *p = check_vec_at(payments, mid);
        if (p->payment_id == id)
            return p;
        if (p->payment_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Payment ids in key order (sorted), each with no entry counted yet. */
static void collect_payments(check_run *r, check_vec *payments)
{
    check_iter it;
    check_iter_init(&it, DB_PAYMENTS, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (it.k.mv_size != 8)
            continue;   /* the sales walk reports the shape */
        payment_count p = { .payment_id = key_get_u64(it.k.mv_data) };
        if (!check_vec_push(r, payments, &p))
            break;
    }
    check_iter_end(&it);
}

static void check_payment_entry(check_run *r, const user_id *user, uint64_t entry_id,
                                const rec_ledger *e, check_vec *payments)
{
    char u[CHECK_USER_STR];
    payment_count *count = find_payment(payments, e->payment_id);
    check_payment pay;
    if (e->amount_krw > 0 || e->payment_id == 0 || !count ||
        !check_load_payment(r, e->payment_id, &pay) || !user_eq(&pay.rec.user, user)) {
        check_report(r, "ledger.entry",
                     "ledger entry %llu of user %s: PAYMENT of %lld KRW names payment %llu, which "
                     "does not exist or is another user's",
                     (unsigned long long)entry_id, check_user_str(user, u),
                     (long long)e->amount_krw, (unsigned long long)e->payment_id);
        return;
    }
    count->entries++;
    if (e->amount_krw != -pay.rec.amount_krw)
        check_report(r, "payment.ledger",
                     "payment %llu is for %lld KRW but its ledger entry %llu (user %s) moves %lld",
                     (unsigned long long)e->payment_id, (long long)pay.rec.amount_krw,
                     (unsigned long long)entry_id, check_user_str(user, u),
                     (long long)e->amount_krw);
}

static void check_entry(check_run *r, const user_id *user, uint64_t entry_id, const rec_ledger *e,
                        check_vec *payments)
{
    char u[CHECK_USER_STR];
    if (e->kind == STORE_LEDGER_PAYMENT) {
        check_payment_entry(r, user, entry_id, e, payments);
    } else if (e->kind != STORE_LEDGER_CHARGE) {
        check_report(r, "record.format", "ledger entry %llu of user %s has kind %u",
                     (unsigned long long)entry_id, check_user_str(user, u), e->kind);
    } else if (e->amount_krw <= 0 || e->payment_id != 0) {
        check_report(r, "ledger.entry",
                     "ledger entry %llu of user %s: CHARGE of %lld KRW naming payment %llu",
                     (unsigned long long)entry_id, check_user_str(user, u),
                     (long long)e->amount_krw, (unsigned long long)e->payment_id);
    }
}

static void check_ledger(check_run *r, check_vec *payments, check_vec *ids)
{
    ledger_user lu = { .open = false };
    check_iter it;
    check_iter_init(&it, DB_LEDGER, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (!check_shape(r, &it, LEDGER_KEY_LEN, sizeof(rec_ledger)))
            continue;
        user_id user;
        memcpy(user.bytes, it.k.mv_data, 16);
        uint64_t entry_id = key_get_u64((const unsigned char *)it.k.mv_data + 16);
        rec_ledger e;
        memcpy(&e, it.v.mv_data, sizeof e);
        if (!lu.open || !user_eq(&lu.user, &user))
            lu = (ledger_user){ .open = true, .user = user };
        if (__builtin_add_overflow(lu.sum, e.amount_krw, &lu.sum))
            lu.overflow = true;
        char u[CHECK_USER_STR];
        if (!lu.overflow && e.balance_after_krw != lu.sum)
            check_report(r, "ledger.running_balance",
                         "ledger entry %llu of user %s says the balance after it is %lld KRW but "
                         "the entries up to it sum to %lld",
                         (unsigned long long)entry_id, check_user_str(&user, u),
                         (long long)e.balance_after_krw, (long long)lu.sum);
        if (e.balance_after_krw < 0 || e.balance_after_krw > r->lim.balance_limit_krw)
            check_report(r, "wallet.balance_range",
                         "ledger entry %llu of user %s leaves a balance of %lld KRW, outside 0..%lld",
                         (unsigned long long)entry_id, check_user_str(&user, u),
                         (long long)e.balance_after_krw, (long long)r->lim.balance_limit_krw);
        check_entry(r, &user, entry_id, &e, payments);
        ledger_id lid = { .entry_id = entry_id, .user = user };
        check_vec_push(r, ids, &lid);
    }
    check_iter_end(&it);
}

static void check_payment_counts(check_run *r, const check_vec *payments)
{
    for (size_t i = 0; i < payments->n && !r->stop; i++) {
        const payment_count *p = check_vec_at(payments, i);
        if (p->entries != 1)
            check_report(r, "payment.ledger", "payment %llu has %u PAYMENT ledger entries, not one",
                         (unsigned long long)p->payment_id, p->entries);
    }
}

static int by_entry_id(const void *a, const void *b)
{
    const ledger_id *x = a, *y = b;
    return x->entry_id < y->entry_id ? -1 : x->entry_id > y->entry_id;
}

/* Ledger entry ids come from one counter: unique across users, and none
 * above the counter. */
static void check_entry_ids(check_run *r, check_vec *ids)
{
    check_vec_sort(ids, by_entry_id);
    uint64_t counter = check_counter(r, COUNTER_LEDGER);
    for (size_t i = 0; i < ids->n && !r->stop; i++) {
        const ledger_id *e = check_vec_at(ids, i);
        char u[CHECK_USER_STR], v[CHECK_USER_STR];
        if (i > 0) {
            const ledger_id *prev = check_vec_at(ids, i - 1);
            if (prev->entry_id == e->entry_id)
                check_report(r, "ids.unique", "ledger entry_id %llu is used by users %s and %s",
                             (unsigned long long)e->entry_id, check_user_str(&prev->user, u),
                             check_user_str(&e->user, v));
        }
        if (i + 1 == ids->n && e->entry_id > counter)
            check_report(r, "ids.counter",
                         "ledger entry %llu (user %s) is above the ledger counter %llu",
                         (unsigned long long)e->entry_id, check_user_str(&e->user, u),
                         (unsigned long long)counter);
    }
}

void store_check_wallet(check_run *r)
{
    check_vec payments, ids;
    check_vec_init(&payments, sizeof(payment_count));
    check_vec_init(&ids, sizeof(ledger_id));
    collect_payments(r, &payments);
    check_ledger(r, &payments, &ids);
    if (!r->stop) {
        check_payment_counts(r, &payments);
        check_entry_ids(r, &ids);
    }
    check_vec_free(&payments);
    check_vec_free(&ids);
}
