/* Shared by tests/unit/test_store_check*.c: a store holding every kind of
 * record in every legal state the server produces (built through the
 * store's own write API), a collector of the checker's reports, and raw
 * record edits (store_put/store_del in a write txn) to corrupt it in
 * exactly one way. Include after <cmocka.h>.
 *
 * The sale, on performance S (seats priced 1000 * seat_no) and S2 (500 each)
 * of concert C, FX_MAX_HOLDS 2 and FX_MAX_ACTIVE 2:
 *   user 1 charges 100000 (request_id "c1"), enters the queue (seq 1), holds
 *     S seats 1 and 2 and pays for both (payment P, 3000, request_id "p1");
 *   users 2, 3, 4 enter (seqs 2, 3, 4); P frees seq 1, so seq 3 is admitted
 *     and seq 4 waits;
 *   user 2 holds S seat 4 and cancels; user 4 holds S2 seat 1, the tick
 *     expires it; user 2 holds S seat 3 and lets it lapse after the tick
 *     (so it stays HELD in storage), and user 3 holds it anew; user 3 also
 *     holds S seat 5.
 * Judged at CK_NOW: user 3's two holds are live, seqs 2 and 3 ACTIVE. */
#ifndef USHER_TESTS_STORE_CHECK_FIXTURE_H
#define USHER_TESTS_STORE_CHECK_FIXTURE_H

#include <msgpack.h>
#include "store_fixture.h"
#include "../../server/store_check.h"
#include "../../server/store_internal.h"

#define CK_NOW (FX_T0 + 2500)
#define CK_REPORTS_MAX 64

typedef struct ck_sale {
    uint64_t concert, sched, sched2;
    uint64_t paid[2];          /* user 1's reservations of seats 1 and 2 */
    uint64_t payment;
    uint64_t lapsed;           /* user 2's expired, untidied hold of seat 3 */
    uint64_t reheld;           /* user 3's live hold of seat 3 */
    uint64_t cancelled;        /* user 2's seat 4 */
    uint64_t ticked;           /* user 4's S2 seat 1, EXPIRED by the tick */
    uint64_t live5;            /* user 3's live hold of seat 5 */
} ck_sale;

typedef struct ck_reports {
    size_t n;
    char check[CK_REPORTS_MAX][40];
    char detail[CK_REPORTS_MAX][512];
} ck_reports;

static inline void ck_collect(void *ctx, const char *check, const char *detail)
{
    ck_reports *r = ctx;
    if (r->n < CK_REPORTS_MAX) {
        snprintf(r->check[r->n], sizeof r->check[r->n], "%s", check);
        snprintf(r->detail[r->n], sizeof r->detail[r->n], "%s", detail);
    }
    r->n++;
}

static inline store_check_limits ck_limits(void)
{
    return (store_check_limits){ .max_holds = FX_MAX_HOLDS, .max_active = FX_MAX_ACTIVE,
                                 .balance_limit_krw = FX_BALANCE_LIMIT };
}

/* Runs the checker on fx's store judged at now_ms; *sum (may be NULL). */
static inline ck_reports ck_run(store_fixture *fx, int64_t now_ms, store_check_summary *sum)
{
    ck_reports r = { 0 };
    store_check_summary s;
    store_check_limits lim = ck_limits();
    assert_int_equal(store_check_run(fx->st, &lim, now_ms, ck_collect, &r, &s), USHER_ERR_OK);
    assert_int_equal(s.violations, r.n);
    if (sum)
        *sum = s;
    return r;
}

static inline void ck_print(const ck_reports *r)
{
    for (size_t i = 0; i < r->n && i < CK_REPORTS_MAX; i++)
        print_message("  %s: %s\n", r->check[i], r->detail[i]);
}

static inline bool ck_has(const ck_reports *r, const char *check)
{
    for (size_t i = 0; i < r->n && i < CK_REPORTS_MAX; i++)
        if (strcmp(r->check[i], check) == 0)
            return true;
    return false;
}

static inline void ck_assert_clean(store_fixture *fx, int64_t now_ms)
{
    ck_reports r = ck_run(fx, now_ms, NULL);
    if (r.n)
        ck_print(&r);
    assert_int_equal(r.n, 0);
}

/* Fails unless check is among the reports (printing them all). */
static inline void ck_assert_reported(store_fixture *fx, int64_t now_ms, const char *check)
{
    ck_reports r = ck_run(fx, now_ms, NULL);
    if (!ck_has(&r, check)) {
        print_message("expected %s; got %zu reports:\n", check, r.n);
        ck_print(&r);
        fail();
    }
}

/* ---- building the sale ---- */

static inline uint64_t ck_hold(store_fixture *fx, unsigned user, const ck_sale *s, uint64_t sched,
                               uint32_t seat, int64_t now_ms)
{
    store_reservation r;
    assert_int_equal(fx_hold(fx, user, s->concert, sched, seat, now_ms, &r), USHER_ERR_OK);
    return r.reservation_id;
}

static inline store_queue_entry ck_enter(store_fixture *fx, unsigned user, uint64_t concert,
                                         int64_t now_ms)
{
    store_queue_entry e;
    user_id u = fx_user(user);
    store_txn *t = fx_write(fx);
    assert_int_equal(store_queue_enter(t, &u, concert, now_ms, &e), USHER_ERR_OK);
    fx_commit(t);
    return e;
}

/* A result the way server/methods/wallet.c packs it. */
static inline void ck_pack_charge(msgpack_sbuffer *sb, int64_t balance, int64_t charged)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "balance", 7);
    msgpack_pack_int64(&pk, balance);
    msgpack_pack_str_with_body(&pk, "charged", 7);
    msgpack_pack_int64(&pk, charged);
}

/* A result the way server/methods/payment.c packs it. */
static inline void ck_pack_pay(msgpack_sbuffer *sb, uint64_t payment_id, const uint64_t *ids,
                               size_t n, int64_t amount, int64_t balance, int64_t paid_at)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    msgpack_pack_str_with_body(&pk, "payment_id", 10);
    msgpack_pack_uint64(&pk, payment_id);
    msgpack_pack_str_with_body(&pk, "reservation_ids", 15);
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_uint64(&pk, ids[i]);
    msgpack_pack_str_with_body(&pk, "amount", 6);
    msgpack_pack_int64(&pk, amount);
    msgpack_pack_str_with_body(&pk, "balance", 7);
    msgpack_pack_int64(&pk, balance);
    msgpack_pack_str_with_body(&pk, "paid_at", 7);
    msgpack_pack_int64(&pk, paid_at);
}

static inline void ck_idem_put(store_txn *t, unsigned user, const char *method, const char *rid,
                               const msgpack_sbuffer *sb, int64_t now_ms)
{
    user_id u = fx_user(user);
    uint8_t fp[STORE_FINGERPRINT_BYTES] = { (uint8_t)user };
    assert_int_equal(store_idem_put(t, &u, method, rid, strlen(rid), fp, now_ms, sb->data,
                                    sb->size),
                     USHER_ERR_OK);
}

static inline ck_sale ck_build(store_fixture *fx)
{
    ck_sale s;
    fx_catalog(fx, 10, 1000, FX_T0 + 86400000, &s.concert, &s.sched);
    s.sched2 = fx_schedule(fx, s.concert, 10, 500, FX_T0 + 2 * 86400000);
    user_id u1 = fx_user(1);

    /* user 1: a remembered charge, then a remembered payment of two seats */
    store_txn *t = fx_write(fx);
    int64_t balance;
    assert_int_equal(store_wallet_charge(t, &u1, 100000, FX_T0, &balance), USHER_ERR_OK);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ck_pack_charge(&sb, balance, 100000);
    ck_idem_put(t, 1, "wallet.charge", "c1", &sb, FX_T0);
    msgpack_sbuffer_destroy(&sb);
    fx_commit(t);
    store_queue_entry q1 = ck_enter(fx, 1, s.concert, FX_T0);
    for (unsigned u = 2; u <= 4; u++)
        ck_enter(fx, u, s.concert, FX_T0 + 1);
    s.paid[0] = ck_hold(fx, 1, &s, s.sched, 1, FX_T0 + 5);
    s.paid[1] = ck_hold(fx, 1, &s, s.sched, 2, FX_T0 + 5);
    t = fx_write(fx);
    store_payment p;
    assert_int_equal(store_payment_pay(t, &u1, s.concert, q1.seq, s.paid, 2, FX_T0 + 10, &p,
                                       &balance),
                     USHER_ERR_OK);
    s.payment = p.payment_id;
    msgpack_sbuffer_init(&sb);
    ck_pack_pay(&sb, p.payment_id, p.reservation_ids, p.n_reservations, p.amount_krw, balance,
                p.paid_at_ms);
    ck_idem_put(t, 1, "payment.pay", "p1", &sb, FX_T0 + 10);
    msgpack_sbuffer_destroy(&sb);
    fx_commit(t);

    /* a lapsed hold whose seat is held anew; a cancel; a tick */
    s.lapsed = ck_hold(fx, 2, &s, s.sched, 3, FX_T0 + 400);
    s.cancelled = ck_hold(fx, 2, &s, s.sched, 4, FX_T0 + 100);
    user_id u2 = fx_user(2);
    store_reservation r;
    t = fx_write(fx);
    assert_int_equal(store_reservation_cancel(t, &u2, s.cancelled, FX_T0 + 200, &r), USHER_ERR_OK);
    fx_commit(t);
    s.ticked = ck_hold(fx, 4, &s, s.sched2, 1, FX_T0 + 300);
    t = fx_write(fx);
    size_t expired = 0;
    assert_int_equal(store_holds_tick(t, FX_T0 + 1350, 100, &expired), USHER_ERR_OK);
    fx_commit(t);
    assert_int_equal(expired, 1);   /* only S2 seat 1 was due; seat 3's lapse is left to time */
    s.reheld = ck_hold(fx, 3, &s, s.sched, 3, FX_T0 + 2000);
    s.live5 = ck_hold(fx, 3, &s, s.sched, 5, FX_T0 + 2000);
    return s;
}

/* ---- raw edits ---- */

static inline void ck_key_u64(unsigned char key[8], uint64_t id)
{
    key_put_u64(key, id);
}

static inline rec_reservation ck_get_reservation(store_fixture *fx, uint64_t id)
{
    rec_reservation rec;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_reservation_load(t, id, &rec), USHER_ERR_OK);
    store_txn_end(t);
    return rec;
}

static inline void ck_put_reservation(store_fixture *fx, uint64_t id, const rec_reservation *rec)
{
    store_txn *t = fx_write(fx);
    assert_int_equal(store_reservation_save(t, id, rec), USHER_ERR_OK);
    fx_commit(t);
}

static inline void ck_put(store_fixture *fx, enum store_db db, const void *key, size_t key_len,
                          const void *val, size_t val_len)
{
    store_txn *t = fx_write(fx);
    assert_int_equal(store_put(t, db, key, key_len, val, val_len, 0), USHER_ERR_OK);
    fx_commit(t);
}

/* Deletes a key, failing the test when it was not there (so a corruption
 * cannot silently do nothing). */
static inline void ck_del(store_fixture *fx, enum store_db db, const void *key, size_t key_len)
{
    store_txn *t = fx_write(fx);
    MDB_val v;
    assert_int_equal(store_get(t, db, key, key_len, &v), 0);
    assert_int_equal(store_del(t, db, key, key_len), USHER_ERR_OK);
    fx_commit(t);
}

/* Reads a value of exactly len bytes. */
static inline void ck_get(store_fixture *fx, enum store_db db, const void *key, size_t key_len,
                          void *out, size_t len)
{
    store_txn *t = fx_read(fx);
    MDB_val v;
    assert_int_equal(store_get(t, db, key, key_len, &v), 0);
    assert_int_equal(v.mv_size, len);
    memcpy(out, v.mv_data, len);
    store_txn_end(t);
}

static inline void ck_seat_key(unsigned char key[SEAT_KEY_LEN], uint64_t sched, uint32_t seat)
{
    seat_key(key, sched, seat);
}

/* user | u64: the key of res_by_user, pay_by_user and the ledger. */
static inline void ck_user_id_key(unsigned char key[24], unsigned user, uint64_t id)
{
    user_id u = fx_user(user);
    memcpy(key, u.bytes, 16);
    key_put_u64(key + 16, id);
}

/* concert | seq: the key of queue_entries and queue_active. */
static inline void ck_queue_key(unsigned char key[16], uint64_t concert, uint64_t seq)
{
    key_put_u64(key, concert);
    key_put_u64(key + 8, seq);
}

#endif
