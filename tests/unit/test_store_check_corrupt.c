/* One corruption per check: the sale of store_check_fixture.h (clean, as
 * test_store_check.c shows) is broken in exactly one way, by raw record
 * edits or the store's own internal writers, and the checker must name
 * that check. The last test asserts every check in store_check_names was
 * asserted here, so no check can pass by doing nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include "store_check_fixture.h"

#define COVERED_MAX 64

/* Names the tests asserted, for the coverage test at the end. */
static const char *covered[COVERED_MAX];
static size_t covered_n;

static void expect(store_fixture *fx, const char *check)
{
    ck_assert_reported(fx, CK_NOW, check);
    if (covered_n < COVERED_MAX)
        covered[covered_n++] = check;
}

/* The ids of the sale each test starts from (set by setup_sale). */
static ck_sale built;

static int setup_sale(void **state)
{
    if (fx_setup(state) != 0)
        return -1;
    built = ck_build(*state);
    return 0;
}

static ck_sale sale(store_fixture *fx)
{
    (void)fx;
    return built;
}

#define CK_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_sale, fx_teardown)

/* ---- storage and shape ---- */

static void test_zeroed_page_is_storage_damaged(void **state)
{
    store_fixture *fx = *state;
    fx_close(fx);
    char path[640];
    snprintf(path, sizeof path, "%s/data.mdb", fx->dir);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    static const char zeroes[65536];
    assert_int_equal(pwrite(fd, zeroes, sizeof zeroes, 2 * 4096), (ssize_t)sizeof zeroes);
    close(fd);
    store_options opt = fx->opt;
    opt.read_only = true;
    assert_int_equal(store_open(&fx->st, fx->dir, &opt), USHER_ERR_OK);
    expect(fx, "storage.damaged");
}

static void test_short_seat_record_is_record_format(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[SEAT_KEY_LEN];
    ck_seat_key(key, s.sched, 7);
    ck_put(fx, DB_SEATS, key, sizeof key, "abc", 3);
    expect(fx, "record.format");
}

static void test_other_schema_stamp_is_meta_schema(void **state)
{
    store_fixture *fx = *state;
    uint32_t version = 4;
    ck_put(fx, DB_META, "schema", 6, &version, sizeof version);
    expect(fx, "meta.schema");
}

/* ---- sales ---- */

static void test_seat_outside_its_performance_is_seat_schedule(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char from[SEAT_KEY_LEN], to[SEAT_KEY_LEN];
    ck_seat_key(from, s.sched, 1);
    ck_seat_key(to, s.sched, 11);   /* the performance has 10 seats */
    rec_seat seat;
    ck_get(fx, DB_SEATS, from, sizeof from, &seat, sizeof seat);
    ck_put(fx, DB_SEATS, to, sizeof to, &seat, sizeof seat);
    expect(fx, "seat.schedule");
}

static void test_sold_seat_of_a_held_reservation_is_seat_sold_owner(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[SEAT_KEY_LEN];
    ck_seat_key(key, s.sched, 5);
    rec_seat seat;
    ck_get(fx, DB_SEATS, key, sizeof key, &seat, sizeof seat);
    seat.sold = 1;
    ck_put(fx, DB_SEATS, key, sizeof key, &seat, sizeof seat);
    expect(fx, "seat.sold_owner");
}

/* A second CONFIRMED reservation of a sold seat: the seat sold twice. */
static void test_seat_sold_twice_is_seat_sold_owner(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    rec_reservation rec = ck_get_reservation(fx, s.lapsed);   /* seat 3, user 2 */
    rec.seat_no = 1;
    rec.price_krw = 1000;
    rec.status = STORE_RES_CONFIRMED;
    rec.payment_id = s.payment;
    ck_put_reservation(fx, s.lapsed, &rec);
    expect(fx, "seat.sold_owner");
}

static void test_seat_naming_a_cancelled_hold_is_seat_hold_reservation(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    rec_reservation res = ck_get_reservation(fx, s.cancelled);
    rec_seat seat = { .reservation_id = s.cancelled, .expires_at_ms = res.expires_at_ms,
                      .user = res.user, .sold = 0 };
    unsigned char key[SEAT_KEY_LEN];
    ck_seat_key(key, s.sched, 4);
    ck_put(fx, DB_SEATS, key, sizeof key, &seat, sizeof seat);
    expect(fx, "seat.hold_reservation");
}

/* Writes a live HELD reservation with every index, as a hold would. */
static uint64_t raw_hold(store_fixture *fx, unsigned user, uint64_t concert, uint64_t sched,
                         uint32_t seat_no, int64_t price, bool take_seat)
{
    store_txn *t = fx_write(fx);
    uint64_t id;
    assert_int_equal(store_next_id(t, COUNTER_RESERVATION, &id), USHER_ERR_OK);
    rec_reservation rec = { .schedule_id = sched, .concert_id = concert, .price_krw = price,
                            .expires_at_ms = CK_NOW + 500, .user = fx_user(user),
                            .seat_no = seat_no, .status = STORE_RES_HELD };
    assert_int_equal(store_reservation_save(t, id, &rec), USHER_ERR_OK);
    unsigned char key[32];
    ck_user_id_key(key, user, id);
    assert_int_equal(store_put(t, DB_RES_BY_USER, key, 24, "", 0, 0), USHER_ERR_OK);
    key_put_u64(key + 16, sched);
    key_put_u64(key + 24, id);
    assert_int_equal(store_put(t, DB_HELD, key, 32, &rec.expires_at_ms, 8, 0), USHER_ERR_OK);
    key_put_time(key, rec.expires_at_ms);
    key_put_u64(key + 8, id);
    assert_int_equal(store_put(t, DB_HOLD_EXPIRY, key, 16, "", 0, 0), USHER_ERR_OK);
    if (take_seat) {
        rec_seat seat = { .reservation_id = id, .expires_at_ms = rec.expires_at_ms,
                          .user = rec.user };
        seat_key(key, sched, seat_no);
        assert_int_equal(store_put(t, DB_SEATS, key, SEAT_KEY_LEN, &seat, sizeof seat, 0),
                         USHER_ERR_OK);
    }
    fx_commit(t);
    return id;
}

static void test_second_live_hold_of_a_seat_is_seat_double_hold(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    raw_hold(fx, 4, s.concert, s.sched, 5, 5000, false);   /* user 3 holds seat 5 already */
    expect(fx, "seat.double_hold");
}

static void test_live_hold_without_its_seat_is_hold_seat_backref(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[SEAT_KEY_LEN];
    ck_seat_key(key, s.sched, 5);
    ck_del(fx, DB_SEATS, key, sizeof key);
    expect(fx, "hold.seat_backref");
}

static void test_third_live_hold_is_hold_limit(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    raw_hold(fx, 3, s.concert, s.sched, 6, 6000, true);   /* FX_MAX_HOLDS is 2 */
    ck_reports r = ck_run(fx, CK_NOW, NULL);
    ck_print(&r);
    assert_int_equal(r.n, 1);   /* nothing else is wrong with it */
    expect(fx, "hold.limit");
}

static void test_wrong_price_is_reservation_schedule(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    rec_reservation rec = ck_get_reservation(fx, s.live5);
    rec.price_krw = 1;
    ck_put_reservation(fx, s.live5, &rec);
    expect(fx, "reservation.schedule");
}

static void test_confirmed_without_its_payment_is_reservation_payment(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    rec_reservation rec = ck_get_reservation(fx, s.paid[1]);
    rec.payment_id = s.payment + 7;
    ck_put_reservation(fx, s.paid[1], &rec);
    expect(fx, "reservation.payment");
}

static void test_cancelled_naming_a_payment_is_reservation_payment(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    rec_reservation rec = ck_get_reservation(fx, s.cancelled);
    rec.payment_id = s.payment;
    ck_put_reservation(fx, s.cancelled, &rec);
    expect(fx, "reservation.payment");
}

static void test_payment_for_the_wrong_amount_is_payment_amount(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[8];
    ck_key_u64(key, s.payment);
    unsigned char buf[sizeof(rec_payment) + 2 * 8];
    ck_get(fx, DB_PAYMENTS, key, sizeof key, buf, sizeof buf);
    rec_payment rec;
    memcpy(&rec, buf, sizeof rec);
    rec.amount_krw += 500;
    memcpy(buf, &rec, sizeof rec);
    ck_put(fx, DB_PAYMENTS, key, sizeof key, buf, sizeof buf);
    expect(fx, "payment.amount");
}

/* ---- wallets and retries ---- */

/* user 1's ledger: entry 1 the charge, entry 2 the payment. */
static void ledger_entry_key(unsigned char key[24], unsigned user, uint64_t entry_id)
{
    ck_user_id_key(key, user, entry_id);
}

static void test_payment_without_ledger_entry_is_payment_ledger(void **state)
{
    store_fixture *fx = *state;
    unsigned char key[24];
    ledger_entry_key(key, 1, 2);
    rec_ledger e;
    ck_get(fx, DB_LEDGER, key, sizeof key, &e, sizeof e);
    assert_int_equal(e.kind, STORE_LEDGER_PAYMENT);
    /* Turn the debit into a charge of the same effect on nothing else. */
    ck_del(fx, DB_LEDGER, key, sizeof key);
    expect(fx, "payment.ledger");
}

static void test_charge_naming_a_payment_is_ledger_entry(void **state)
{
    store_fixture *fx = *state;
    unsigned char key[24];
    ledger_entry_key(key, 1, 1);
    rec_ledger e;
    ck_get(fx, DB_LEDGER, key, sizeof key, &e, sizeof e);
    assert_int_equal(e.kind, STORE_LEDGER_CHARGE);
    e.payment_id = 5;
    ck_put(fx, DB_LEDGER, key, sizeof key, &e, sizeof e);
    expect(fx, "ledger.entry");
}

static void test_wrong_balance_after_is_ledger_running_balance(void **state)
{
    store_fixture *fx = *state;
    unsigned char key[24];
    ledger_entry_key(key, 1, 1);
    rec_ledger e;
    ck_get(fx, DB_LEDGER, key, sizeof key, &e, sizeof e);
    e.balance_after_krw += 1;
    ck_put(fx, DB_LEDGER, key, sizeof key, &e, sizeof e);
    expect(fx, "ledger.running_balance");
}

/* A charge past the limit, written the way a charge is but without the
 * limit check: the ledger sums up, only the limit is broken. */
static void test_balance_past_the_limit_is_wallet_balance_range(void **state)
{
    store_fixture *fx = *state;
    user_id u = fx_user(2);
    store_txn *t = fx_write(fx);
    int64_t after;
    assert_int_equal(store_wallet_append(t, &u, STORE_LEDGER_CHARGE, FX_BALANCE_LIMIT + 1,
                                         FX_T0, 0, &after),
                     USHER_ERR_OK);
    fx_commit(t);
    ck_reports r = ck_run(fx, CK_NOW, NULL);
    ck_print(&r);
    assert_int_equal(r.n, 1);
    expect(fx, "wallet.balance_range");
}

static void test_remembered_result_of_a_missing_payment_is_idem_result_ref(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ck_pack_pay(&sb, s.payment + 40, s.paid, 2, 3000, 97000, FX_T0 + 10);
    store_txn *t = fx_write(fx);
    ck_idem_put(t, 1, "payment.pay", "p2", &sb, FX_T0 + 20);
    fx_commit(t);
    msgpack_sbuffer_destroy(&sb);
    ck_reports r = ck_run(fx, CK_NOW, NULL);
    ck_print(&r);
    assert_int_equal(r.n, 1);
    expect(fx, "idem.result_ref");
}

static void test_remembered_charge_not_in_the_ledger_is_idem_result_ref(void **state)
{
    store_fixture *fx = *state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ck_pack_charge(&sb, 5000, 5000);   /* user 2 never charged */
    store_txn *t = fx_write(fx);
    ck_idem_put(t, 2, "wallet.charge", "c9", &sb, FX_T0 + 20);
    fx_commit(t);
    msgpack_sbuffer_destroy(&sb);
    expect(fx, "idem.result_ref");
}

static void test_idem_without_age_entry_is_idem_age_index(void **state)
{
    store_fixture *fx = *state;
    unsigned char key[8 + 16 + 16];
    user_id u = fx_user(1);
    key_put_time(key, FX_T0);
    memcpy(key + 8, u.bytes, 16);
    memcpy(key + 24, "wallet.charge", 13);
    key[37] = 0;
    memcpy(key + 38, "c1", 2);
    ck_del(fx, DB_IDEM_AGE, key, 40);
    expect(fx, "idem.age_index");
}

/* ---- queues ---- */

static rec_queue get_queue(store_fixture *fx, uint64_t concert)
{
    unsigned char key[8];
    ck_key_u64(key, concert);
    rec_queue q;
    ck_get(fx, DB_QUEUES, key, sizeof key, &q, sizeof q);
    return q;
}

static void put_queue(store_fixture *fx, uint64_t concert, const rec_queue *q)
{
    unsigned char key[8];
    ck_key_u64(key, concert);
    ck_put(fx, DB_QUEUES, key, sizeof key, q, sizeof *q);
}

/* The queue_idle key of an entry as it is now. */
static void idle_key_of(unsigned char key[QUEUE_IDLE_KEY_LEN], const rec_queue_entry *e,
                        uint64_t concert, uint64_t seq)
{
    key[0] = e->active_until_ms ? QUEUE_IDLE_ACTIVE : QUEUE_IDLE_WAITING;
    key_put_time(key + 1, e->seen_at_ms);
    ck_queue_key(key + 9, concert, seq);
}

static void test_admit_next_past_next_seq_is_queue_record(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    rec_queue q = get_queue(fx, s.concert);
    q.admit_next = q.next_seq + 1;
    put_queue(fx, s.concert, &q);
    expect(fx, "queue.record");
}

static void test_missing_entry_is_queue_seq_gapless(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[16];
    ck_queue_key(key, s.concert, 1);   /* expired: no index names it */
    ck_del(fx, DB_QUEUE_ENTRIES, key, sizeof key);
    expect(fx, "queue.seq_gapless");
}

static void test_waiting_entry_with_an_admission_is_queue_order(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[16];
    ck_queue_key(key, s.concert, 4);
    rec_queue_entry e;
    ck_get(fx, DB_QUEUE_ENTRIES, key, sizeof key, &e, sizeof e);
    assert_int_equal(e.active_until_ms, 0);
    e.active_until_ms = FX_T0 + FX_ACTIVE_TTL_MS;
    ck_put(fx, DB_QUEUE_ENTRIES, key, sizeof key, &e, sizeof e);
    expect(fx, "queue.order");
}

/* Admits seq 4 the way admission does, past the two live slots. */
static void test_third_active_entry_is_queue_max_active(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[16];
    ck_queue_key(key, s.concert, 4);
    rec_queue_entry e;
    ck_get(fx, DB_QUEUE_ENTRIES, key, sizeof key, &e, sizeof e);
    unsigned char idle[QUEUE_IDLE_KEY_LEN];
    idle_key_of(idle, &e, s.concert, 4);
    ck_del(fx, DB_QUEUE_IDLE, idle, sizeof idle);
    e.active_until_ms = FX_T0 + FX_ACTIVE_TTL_MS;
    ck_put(fx, DB_QUEUE_ENTRIES, key, sizeof key, &e, sizeof e);
    ck_put(fx, DB_QUEUE_ACTIVE, key, sizeof key, &e.active_until_ms, sizeof e.active_until_ms);
    idle_key_of(idle, &e, s.concert, 4);
    ck_put(fx, DB_QUEUE_IDLE, idle, sizeof idle, "", 0);
    rec_queue q = get_queue(fx, s.concert);
    q.admit_next = 5;
    q.waiting--;
    q.admitted_total++;
    put_queue(fx, s.concert, &q);
    ck_reports r = ck_run(fx, CK_NOW, NULL);
    ck_print(&r);
    assert_int_equal(r.n, 1);
    expect(fx, "queue.max_active");
}

/* User 2 (ACTIVE at seq 2) appended again as if re-entering made a new entry. */
static void test_second_live_entry_is_queue_user_unique(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    rec_queue q = get_queue(fx, s.concert);
    uint64_t seq = q.next_seq++;
    q.waiting++;
    rec_queue_entry e = { .user = fx_user(2), .order = seq, .entered_at_ms = FX_T0,
                          .seen_at_ms = FX_T0 };
    unsigned char key[24], idle[QUEUE_IDLE_KEY_LEN];
    ck_queue_key(key, s.concert, seq);
    ck_put(fx, DB_QUEUE_ENTRIES, key, 16, &e, sizeof e);
    idle_key_of(idle, &e, s.concert, seq);
    ck_put(fx, DB_QUEUE_IDLE, idle, sizeof idle, "", 0);
    put_queue(fx, s.concert, &q);
    key_put_u64(key, s.concert);
    memcpy(key + 8, e.user.bytes, 16);
    ck_put(fx, DB_QUEUE_USERS, key, 24, &seq, sizeof seq);
    ck_reports r = ck_run(fx, CK_NOW, NULL);
    ck_print(&r);
    assert_int_equal(r.n, 1);
    expect(fx, "queue.user_unique");
}

/* ---- indexes and ids ---- */

static void test_wrong_performance_count_is_concert_schedules(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[8];
    ck_key_u64(key, s.concert);
    unsigned char buf[sizeof(rec_concert) + 8];   /* "Show" and "Hall" */
    ck_get(fx, DB_CONCERTS, key, sizeof key, buf, sizeof buf);
    rec_concert rec;
    memcpy(&rec, buf, sizeof rec);
    assert_int_equal(rec.schedules, 2);
    rec.schedules = 3;
    memcpy(buf, &rec, sizeof rec);
    ck_put(fx, DB_CONCERTS, key, sizeof key, buf, sizeof buf);
    expect(fx, "concert.schedules");
}

static void test_missing_res_by_user_is_index_res_by_user(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[24];
    ck_user_id_key(key, 4, s.ticked);
    ck_del(fx, DB_RES_BY_USER, key, sizeof key);
    expect(fx, "index.res_by_user");
}

static void test_missing_pay_by_user_is_index_pay_by_user(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[24];
    ck_user_id_key(key, 1, s.payment);
    ck_del(fx, DB_PAY_BY_USER, key, sizeof key);
    expect(fx, "index.pay_by_user");
}

static void test_missing_held_key_is_index_held(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[32];
    ck_user_id_key(key, 2, s.sched);   /* user 2's lapsed, untidied hold */
    key_put_u64(key + 24, s.lapsed);
    ck_del(fx, DB_HELD, key, sizeof key);
    expect(fx, "index.held");
}

static void test_missing_expiry_key_is_index_hold_expiry(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    rec_reservation rec = ck_get_reservation(fx, s.live5);
    unsigned char key[16];
    key_put_time(key, rec.expires_at_ms);
    key_put_u64(key + 8, s.live5);
    ck_del(fx, DB_HOLD_EXPIRY, key, sizeof key);
    expect(fx, "index.hold_expiry");
}

static void test_missing_date_is_index_dates(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[24];
    key_put_u64(key, s.concert);
    key_put_time(key + 8, FX_T0 + 2 * 86400000);
    key_put_u64(key + 16, s.sched2);
    ck_del(fx, DB_DATES, key, sizeof key);
    expect(fx, "index.dates");
}

static void test_queue_user_naming_another_entry_is_index_queue_users(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[24];
    user_id u = fx_user(2);
    key_put_u64(key, s.concert);
    memcpy(key + 8, u.bytes, 16);
    uint64_t seq = 3;   /* user 3's */
    ck_put(fx, DB_QUEUE_USERS, key, sizeof key, &seq, sizeof seq);
    expect(fx, "index.queue_users");
}

static void test_missing_active_key_is_index_queue_active(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[16];
    ck_queue_key(key, s.concert, 2);
    ck_del(fx, DB_QUEUE_ACTIVE, key, sizeof key);
    expect(fx, "index.queue_active");
}

static void test_missing_busy_key_is_index_queue_busy(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[8];
    ck_key_u64(key, s.concert);
    ck_del(fx, DB_QUEUE_BUSY, key, sizeof key);
    expect(fx, "index.queue_busy");
}

static void test_counter_behind_its_ids_is_ids_counter(void **state)
{
    store_fixture *fx = *state;
    uint64_t last = 1;
    ck_put(fx, DB_META, "id.reservation", 14, &last, sizeof last);
    ck_reports r = ck_run(fx, CK_NOW, NULL);
    ck_print(&r);
    assert_int_equal(r.n, 1);
    expect(fx, "ids.counter");
}

/* User 5 gets an entry under user 1's entry id 1, consistent on its own. */
static void test_entry_id_under_two_users_is_ids_unique(void **state)
{
    store_fixture *fx = *state;
    unsigned char key[24];
    ledger_entry_key(key, 5, 1);
    rec_ledger e = { .amount_krw = 10, .balance_after_krw = 10, .at_ms = FX_T0,
                     .kind = STORE_LEDGER_CHARGE };
    ck_put(fx, DB_LEDGER, key, sizeof key, &e, sizeof e);
    ck_reports r = ck_run(fx, CK_NOW, NULL);
    ck_print(&r);
    assert_int_equal(r.n, 1);
    expect(fx, "ids.unique");
}

/* ---- revocations ---- */

static void test_revocation_of_an_unknown_user_is_revocation_user(void **state)
{
    store_fixture *fx = *state;
    user_id nobody = fx_user(77);
    int64_t at = FX_T0;
    uint64_t version = 1;
    ck_put(fx, DB_REVOCATIONS, nobody.bytes, sizeof nobody.bytes, &at, sizeof at);
    ck_put(fx, DB_REVOCATIONS, "version", 7, &version, sizeof version);
    expect(fx, "revocation.user");
}

static void test_waiting_count_off_by_one_is_queue_counters(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    rec_queue q = get_queue(fx, s.concert);
    q.waiting++;
    put_queue(fx, s.concert, &q);
    ck_reports r = ck_run(fx, CK_NOW, NULL);
    ck_print(&r);
    assert_int_equal(r.n, 1);
    expect(fx, "queue.counters");
}

/* Seq 4 waits in a queue without a pre-queue, yet has no order. */
static void test_entry_without_order_is_queue_draw(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[16];
    ck_queue_key(key, s.concert, 4);
    rec_queue_entry e;
    ck_get(fx, DB_QUEUE_ENTRIES, key, sizeof key, &e, sizeof e);
    assert_int_equal(e.order, 4);
    e.order = 0;
    ck_put(fx, DB_QUEUE_ENTRIES, key, sizeof key, &e, sizeof e);
    ck_reports r = ck_run(fx, CK_NOW, NULL);
    ck_print(&r);
    assert_int_equal(r.n, 1);
    expect(fx, "queue.draw");
}

static void test_waiting_entry_missing_from_idle_is_queue_idle(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    unsigned char key[16], idle[QUEUE_IDLE_KEY_LEN];
    ck_queue_key(key, s.concert, 4);
    rec_queue_entry e;
    ck_get(fx, DB_QUEUE_ENTRIES, key, sizeof key, &e, sizeof e);
    idle_key_of(idle, &e, s.concert, 4);
    ck_del(fx, DB_QUEUE_IDLE, idle, sizeof idle);
    ck_reports r = ck_run(fx, CK_NOW, NULL);
    ck_print(&r);
    assert_int_equal(r.n, 1);
    expect(fx, "index.queue_idle");
}

/* Order 4 marked dropped (with its Fenwick sums) though seq 4 still waits. */
static void test_drop_mark_of_a_waiting_entry_is_queue_drops(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    rec_queue_drops b = { .count = 1 };
    b.bits[0] = UINT64_C(1) << 4;
    unsigned char key[16];
    ck_queue_key(key, s.concert, 0);
    ck_put(fx, DB_QUEUE_DROPS, key, sizeof key, &b, sizeof b);
    for (uint64_t node = 1; node <= QUEUE_DROP_NODES; node += node & (~node + 1)) {
        uint64_t one = 1;
        ck_queue_key(key, s.concert, node);
        ck_put(fx, DB_QUEUE_DROP_SUMS, key, sizeof key, &one, sizeof one);
    }
    ck_reports r = ck_run(fx, CK_NOW, NULL);
    ck_print(&r);
    assert_int_equal(r.n, 1);
    expect(fx, "index.queue_drops");
}

/* A Fenwick sum that disagrees with its blocks. */
static void test_wrong_drop_sum_is_queue_drops(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = sale(fx);
    uint64_t two = 2;
    unsigned char key[16];
    ck_queue_key(key, s.concert, 8);
    ck_put(fx, DB_QUEUE_DROP_SUMS, key, sizeof key, &two, sizeof two);
    expect(fx, "index.queue_drops");
}

/* ---- coverage ---- */

static void test_every_check_was_asserted_above(void **state)
{
    (void)state;
    size_t n;
    const store_check_info *info = store_check_names(&n);
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t j = 0; j < covered_n && !seen; j++)
            seen = strcmp(covered[j], info[i].name) == 0;
        if (!seen)
            fail_msg("no test corrupts the store for %s", info[i].name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CK_TEST(test_zeroed_page_is_storage_damaged),
        CK_TEST(test_revocation_of_an_unknown_user_is_revocation_user),
        CK_TEST(test_short_seat_record_is_record_format),
        CK_TEST(test_other_schema_stamp_is_meta_schema),
        CK_TEST(test_seat_outside_its_performance_is_seat_schedule),
        CK_TEST(test_sold_seat_of_a_held_reservation_is_seat_sold_owner),
        CK_TEST(test_seat_sold_twice_is_seat_sold_owner),
        CK_TEST(test_seat_naming_a_cancelled_hold_is_seat_hold_reservation),
        CK_TEST(test_second_live_hold_of_a_seat_is_seat_double_hold),
        CK_TEST(test_live_hold_without_its_seat_is_hold_seat_backref),
        CK_TEST(test_third_live_hold_is_hold_limit),
        CK_TEST(test_wrong_price_is_reservation_schedule),
        CK_TEST(test_confirmed_without_its_payment_is_reservation_payment),
        CK_TEST(test_cancelled_naming_a_payment_is_reservation_payment),
        CK_TEST(test_payment_for_the_wrong_amount_is_payment_amount),
        CK_TEST(test_payment_without_ledger_entry_is_payment_ledger),
        CK_TEST(test_charge_naming_a_payment_is_ledger_entry),
        CK_TEST(test_wrong_balance_after_is_ledger_running_balance),
        CK_TEST(test_balance_past_the_limit_is_wallet_balance_range),
        CK_TEST(test_remembered_result_of_a_missing_payment_is_idem_result_ref),
        CK_TEST(test_remembered_charge_not_in_the_ledger_is_idem_result_ref),
        CK_TEST(test_idem_without_age_entry_is_idem_age_index),
        CK_TEST(test_admit_next_past_next_seq_is_queue_record),
        CK_TEST(test_waiting_count_off_by_one_is_queue_counters),
        CK_TEST(test_entry_without_order_is_queue_draw),
        CK_TEST(test_waiting_entry_missing_from_idle_is_queue_idle),
        CK_TEST(test_drop_mark_of_a_waiting_entry_is_queue_drops),
        CK_TEST(test_wrong_drop_sum_is_queue_drops),
        CK_TEST(test_missing_entry_is_queue_seq_gapless),
        CK_TEST(test_waiting_entry_with_an_admission_is_queue_order),
        CK_TEST(test_third_active_entry_is_queue_max_active),
        CK_TEST(test_second_live_entry_is_queue_user_unique),
        CK_TEST(test_wrong_performance_count_is_concert_schedules),
        CK_TEST(test_missing_res_by_user_is_index_res_by_user),
        CK_TEST(test_missing_pay_by_user_is_index_pay_by_user),
        CK_TEST(test_missing_held_key_is_index_held),
        CK_TEST(test_missing_expiry_key_is_index_hold_expiry),
        CK_TEST(test_missing_date_is_index_dates),
        CK_TEST(test_queue_user_naming_another_entry_is_index_queue_users),
        CK_TEST(test_missing_active_key_is_index_queue_active),
        CK_TEST(test_missing_busy_key_is_index_queue_busy),
        CK_TEST(test_counter_behind_its_ids_is_ids_counter),
        CK_TEST(test_entry_id_under_two_users_is_ids_unique),
        cmocka_unit_test(test_every_check_was_asserted_above),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
