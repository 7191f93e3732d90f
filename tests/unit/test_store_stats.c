/* store_stats_read: seats sold and live holds are exact in every legal state
 * of a hold (live, lapsed before the tick, lapsed and taken over by a newer
 * hold, lapsed and then sold to someone else, tidied by the tick), and the
 * queue figures count waiting and live admitted entries per concert. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "store_fixture.h"

static void read_stats(store_fixture *fx, int64_t now_ms, store_stats *s)
{
    store_txn *t = fx_read(fx);
    assert_int_equal(store_stats_read(t, now_ms, s), USHER_ERR_OK);
    store_txn_end(t);
}

static void enter(store_fixture *fx, unsigned user, uint64_t concert, int64_t now_ms, store_queue_entry *e)
{
    user_id u = fx_user(user);
    store_txn *t = fx_write(fx);
    assert_int_equal(store_queue_enter(t, &u, concert, now_ms, e), USHER_ERR_OK);
    fx_commit(t);
}

static void pay(store_fixture *fx, unsigned user, uint64_t concert, uint64_t seq, uint64_t rid,
                int64_t now_ms)
{
    user_id u = fx_user(user);
    store_payment pm;
    int64_t balance;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_payment_pay(t, &u, concert, seq, &rid, 1, now_ms, &pm, &balance), USHER_ERR_OK);
    fx_commit(t);
}

static void test_stats_count_sold_seats_and_live_holds_in_every_hold_state(void **state)
{
    store_fixture *fx = *state;
    uint64_t concert, schedule;
    fx_catalog(fx, 10, 100, FX_T0 + 86400000, &concert, &schedule);
    store_stats figures, *s = &figures;
    read_stats(fx, FX_T0, s);
    assert_int_equal(s->holds_live, 0);
    assert_int_equal(s->seats_sold, 0);

    store_queue_entry e1, e2;
    enter(fx, 1, concert, FX_T0, &e1);
    enter(fx, 2, concert, FX_T0, &e2);
    fx_charge(fx, 1, 100000);
    fx_charge(fx, 2, 100000);
    store_reservation r1, r2, r3;
    assert_int_equal(fx_hold(fx, 1, concert, schedule, 1, FX_T0, &r1), USHER_ERR_OK);
    assert_int_equal(fx_hold(fx, 1, concert, schedule, 2, FX_T0, &r2), USHER_ERR_OK);
    assert_int_equal(fx_hold(fx, 2, concert, schedule, 3, FX_T0, &r3), USHER_ERR_OK);
    read_stats(fx, FX_T0 + 1, s);
    assert_int_equal(s->holds_live, 3);
    assert_int_equal(s->seats_sold, 0);

    pay(fx, 1, concert, e1.seq, r1.reservation_id, FX_T0 + 2);
    read_stats(fx, FX_T0 + 3, s);
    assert_int_equal(s->holds_live, 2);
    assert_int_equal(s->seats_sold, 1);

    /* All holds lapse; no tick yet. */
    int64_t later = FX_T0 + FX_HOLD_TTL_MS + 10;
    read_stats(fx, later, s);
    assert_int_equal(s->holds_live, 0);
    assert_int_equal(s->seats_sold, 1);

    /* Seat 2's lapsed hold is taken over by user 2, seat 3's by a new hold
     * of user 2 that is then sold. */
    store_reservation r4, r5;
    assert_int_equal(fx_hold(fx, 2, concert, schedule, 2, later, &r4), USHER_ERR_OK);
    assert_int_equal(fx_hold(fx, 2, concert, schedule, 3, later, &r5), USHER_ERR_OK);
    read_stats(fx, later + 1, s);
    assert_int_equal(s->holds_live, 2);
    assert_int_equal(s->seats_sold, 1);
    pay(fx, 2, concert, e2.seq, r5.reservation_id, later + 2);
    read_stats(fx, later + 3, s);
    assert_int_equal(s->holds_live, 1);
    assert_int_equal(s->seats_sold, 2);
    assert_false(s->scan_capped);

    /* The tick tidies the lapsed holds: the figures do not move. */
    store_txn *t = fx_write(fx);
    assert_int_equal(store_holds_tick(t, later + 4, 1000, NULL), USHER_ERR_OK);
    fx_commit(t);
    read_stats(fx, later + 5, s);
    assert_int_equal(s->holds_live, 1);
    assert_int_equal(s->seats_sold, 2);
    assert_true(s->used_bytes > 0);
    assert_int_equal(s->map_bytes, fx->pg ? 0 : fx->opt.map_size_bytes);   /* no map on PostgreSQL */
}

static void test_stats_count_waiting_and_active_queue_entries_per_concert(void **state)
{
    store_fixture *fx = *state;
    uint64_t c1, s1, c2, s2;
    fx_catalog(fx, 5, 100, FX_T0 + 86400000, &c1, &s1);
    fx_catalog(fx, 5, 100, FX_T0 + 86400000, &c2, &s2);
    store_stats figures, *s = &figures;
    store_queue_entry e;
    for (unsigned u = 1; u <= 5; u++) enter(fx, u, c1, FX_T0, &e);   /* FX_MAX_ACTIVE (2) admitted */
    enter(fx, 9, c2, FX_T0, &e);
    read_stats(fx, FX_T0 + 1, s);
    assert_int_equal(s->n_queues, 2);
    assert_int_equal(s->queues[0].concert_id, c1);
    assert_int_equal(s->queues[0].waiting, 3);
    assert_int_equal(s->queues[0].active, 2);
    assert_int_equal(s->queues[1].concert_id, c2);
    assert_int_equal(s->queues[1].waiting, 0);
    assert_int_equal(s->queues[1].active, 1);
    /* Past active_ttl the admitted entries lapse, before any tick. */
    read_stats(fx, FX_T0 + FX_ACTIVE_TTL_MS + 1, s);
    assert_int_equal(s->queues[0].active, 0);
    assert_int_equal(s->queues[0].waiting, 3);
    assert_int_equal(s->queues[1].active, 0);
    assert_false(s->queues_truncated);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_stats_count_sold_seats_and_live_holds_in_every_hold_state),
        FX_TEST(test_stats_count_waiting_and_active_queue_entries_per_concert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
