/* The waiting queue: FIFO admission, max_active, positions, re-entry, and
 * slots freed by active_ttl (filled by the tick). Payment-freed slots are in
 * test_store_payment.c. FX_MAX_ACTIVE is 2. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "store_fixture.h"

static store_queue_entry get(store_fixture *fx, uint64_t concert_id, uint64_t seq, int64_t now_ms)
{
    store_queue_entry e;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_queue_get(t, concert_id, seq, now_ms, &e), USHER_ERR_OK);
    store_txn_end(t);
    return e;
}

static uint32_t tick(store_fixture *fx, int64_t now_ms)
{
    store_admitted admitted = { .total = 99 };
    store_txn *t = fx_write(fx);
    assert_int_equal(store_queue_tick(t, now_ms, NULL, &admitted), USHER_ERR_OK);
    fx_commit(t);
    uint32_t listed = 0;
    for (size_t i = 0; i < admitted.n; i++) listed += admitted.concert[i].admitted;
    assert_int_equal(listed, admitted.total);   /* these tests use fewer concerts than the max */
    return admitted.total;
}

static void test_queue_enter_empty_queue_is_active_at_once(void **state)
{
    store_fixture *fx = *state;
    uint64_t c = fx_concert(fx);
    store_queue_entry e = fx_enter(fx, 1, c, FX_T0);
    assert_int_equal(e.seq, 1);
    assert_int_equal(e.state, STORE_QUEUE_ACTIVE);
    assert_int_equal(e.position, 0);
    assert_int_equal(e.active_until_ms, FX_T0 + FX_ACTIVE_TTL_MS);
}

static void test_queue_admits_in_fifo_order_up_to_max_active(void **state)
{
    store_fixture *fx = *state;
    uint64_t c = fx_concert(fx);
    store_queue_entry e[6];
    for (unsigned i = 0; i < 6; i++)
        e[i] = fx_enter(fx, 10 + i, c, FX_T0 + i);
    for (unsigned i = 0; i < 6; i++)
        assert_int_equal(e[i].seq, i + 1);
    assert_int_equal(e[0].state, STORE_QUEUE_ACTIVE);
    assert_int_equal(e[1].state, STORE_QUEUE_ACTIVE);
    for (unsigned i = 2; i < 6; i++) {
        assert_int_equal(e[i].state, STORE_QUEUE_WAITING);
        assert_int_equal(e[i].position, i - 1);   /* 1, 2, 3, 4 */
        assert_int_equal(e[i].active_until_ms, 0);
    }
    /* A tick with no free slot admits nobody. */
    assert_int_equal(tick(fx, FX_T0 + 10), 0);
    assert_int_equal(get(fx, c, 3, FX_T0 + 10).state, STORE_QUEUE_WAITING);
}

static void test_queue_positions_count_only_waiting_ahead(void **state)
{
    store_fixture *fx = *state;
    uint64_t c = fx_concert(fx);
    for (unsigned i = 0; i < 5; i++)
        fx_enter(fx, 10 + i, c, FX_T0);
    /* seqs 1,2 ACTIVE; 3,4,5 WAITING at 1,2,3. After the ttl, the tick admits 3 and 4. */
    assert_int_equal(tick(fx, FX_T0 + FX_ACTIVE_TTL_MS), 2);
    int64_t now = FX_T0 + FX_ACTIVE_TTL_MS;
    assert_int_equal(get(fx, c, 1, now).state, STORE_QUEUE_EXPIRED);
    assert_int_equal(get(fx, c, 1, now).position, 0);
    assert_int_equal(get(fx, c, 3, now).state, STORE_QUEUE_ACTIVE);
    assert_int_equal(get(fx, c, 3, now).position, 0);
    assert_int_equal(get(fx, c, 5, now).state, STORE_QUEUE_WAITING);
    assert_int_equal(get(fx, c, 5, now).position, 1);
}

static void test_queue_positions_are_per_concert(void **state)
{
    store_fixture *fx = *state;
    uint64_t a = fx_concert(fx), b = fx_concert(fx);
    for (unsigned i = 0; i < 3; i++)
        fx_enter(fx, 10 + i, a, FX_T0);
    store_queue_entry e = fx_enter(fx, 99, b, FX_T0);
    assert_int_equal(e.seq, 1);
    assert_int_equal(e.state, STORE_QUEUE_ACTIVE);
    assert_int_equal(get(fx, a, 3, FX_T0).position, 1);
}

static void test_queue_reenter_returns_same_entry(void **state)
{
    store_fixture *fx = *state;
    uint64_t c = fx_concert(fx);
    store_queue_entry active = fx_enter(fx, 1, c, FX_T0);
    fx_enter(fx, 2, c, FX_T0);
    store_queue_entry waiting = fx_enter(fx, 3, c, FX_T0);
    assert_int_equal(waiting.state, STORE_QUEUE_WAITING);

    store_queue_entry again = fx_enter(fx, 1, c, FX_T0 + 100);
    assert_int_equal(again.seq, active.seq);
    assert_int_equal(again.state, STORE_QUEUE_ACTIVE);
    assert_int_equal(again.active_until_ms, active.active_until_ms);   /* not extended */
    again = fx_enter(fx, 3, c, FX_T0 + 100);
    assert_int_equal(again.seq, waiting.seq);
    assert_int_equal(again.state, STORE_QUEUE_WAITING);
    assert_int_equal(again.position, 1);
    /* Nobody was appended by the re-entries. */
    assert_int_equal(fx_enter(fx, 4, c, FX_T0 + 100).seq, 4);
}

static void test_queue_reenter_after_expired_goes_to_back(void **state)
{
    store_fixture *fx = *state;
    uint64_t c = fx_concert(fx);
    fx_enter(fx, 1, c, FX_T0);
    fx_enter(fx, 2, c, FX_T0 + 1);
    fx_enter(fx, 3, c, FX_T0 + 2);   /* WAITING 1 */
    int64_t later = FX_T0 + 1 + FX_ACTIVE_TTL_MS;   /* 1 and 2 have expired */
    store_queue_entry e = fx_enter(fx, 1, c, later);
    assert_int_equal(e.seq, 4);
    /* The admission run by this enter served 3 first, then the newcomer. */
    assert_int_equal(get(fx, c, 3, later).state, STORE_QUEUE_ACTIVE);
    assert_int_equal(e.state, STORE_QUEUE_ACTIVE);
    assert_int_equal(get(fx, c, 1, later).state, STORE_QUEUE_EXPIRED);
    assert_int_equal(get(fx, c, 1, later).active_until_ms, FX_T0 + FX_ACTIVE_TTL_MS);
}

static void test_queue_reenter_after_expired_waits_behind_others(void **state)
{
    store_fixture *fx = *state;
    uint64_t c = fx_concert(fx);
    fx_enter(fx, 1, c, FX_T0);
    fx_enter(fx, 2, c, FX_T0 + FX_ACTIVE_TTL_MS / 2);
    for (unsigned i = 0; i < 3; i++)
        fx_enter(fx, 10 + i, c, FX_T0 + FX_ACTIVE_TTL_MS / 2);   /* seqs 3..5 waiting */
    int64_t later = FX_T0 + FX_ACTIVE_TTL_MS;   /* only user 1 expired: one slot frees */
    store_queue_entry e = fx_enter(fx, 1, c, later);
    assert_int_equal(e.seq, 6);
    assert_int_equal(e.state, STORE_QUEUE_WAITING);
    assert_int_equal(e.position, 3);   /* behind 4 and 5; 3 took the freed slot */
    assert_int_equal(get(fx, c, 3, later).state, STORE_QUEUE_ACTIVE);
}

static void test_queue_active_expires_lazily_and_tick_fills_the_slot(void **state)
{
    store_fixture *fx = *state;
    uint64_t c = fx_concert(fx);
    fx_enter(fx, 1, c, FX_T0);
    fx_enter(fx, 2, c, FX_T0 + 1000);
    store_queue_entry w = fx_enter(fx, 3, c, FX_T0 + 1000);
    assert_int_equal(w.state, STORE_QUEUE_WAITING);

    int64_t t1 = FX_T0 + FX_ACTIVE_TTL_MS - 1;
    assert_int_equal(get(fx, c, 1, t1).state, STORE_QUEUE_ACTIVE);
    int64_t t2 = FX_T0 + FX_ACTIVE_TTL_MS;
    assert_int_equal(get(fx, c, 1, t2).state, STORE_QUEUE_EXPIRED);   /* no tick needed */
    assert_int_equal(get(fx, c, 3, t2).state, STORE_QUEUE_WAITING);
    assert_int_equal(tick(fx, t1), 0);
    assert_int_equal(tick(fx, t2), 1);
    store_queue_entry now = get(fx, c, 3, t2);
    assert_int_equal(now.state, STORE_QUEUE_ACTIVE);
    assert_int_equal(now.active_until_ms, t2 + FX_ACTIVE_TTL_MS);
    assert_int_equal(get(fx, c, 2, t2).state, STORE_QUEUE_ACTIVE);
}

static void test_queue_tick_fills_every_free_slot_of_every_concert(void **state)
{
    store_fixture *fx = *state;
    uint64_t a = fx_concert(fx), b = fx_concert(fx);
    for (unsigned i = 0; i < 5; i++) {
        fx_enter(fx, 10 + i, a, FX_T0);
        fx_enter(fx, 20 + i, b, FX_T0);
    }
    int64_t later = FX_T0 + FX_ACTIVE_TTL_MS;
    assert_int_equal(tick(fx, later), 4);
    assert_int_equal(get(fx, a, 4, later).state, STORE_QUEUE_ACTIVE);
    assert_int_equal(get(fx, b, 4, later).state, STORE_QUEUE_ACTIVE);
    assert_int_equal(get(fx, b, 5, later).position, 1);
    later += FX_ACTIVE_TTL_MS;
    assert_int_equal(tick(fx, later), 2);   /* the last one of each */
    later += FX_ACTIVE_TTL_MS;
    assert_int_equal(tick(fx, later), 0);   /* all expired; queues now idle */
    assert_int_equal(get(fx, a, 5, later).state, STORE_QUEUE_EXPIRED);
    /* An idle queue still admits a newcomer at once. */
    assert_int_equal(fx_enter(fx, 10, a, later).state, STORE_QUEUE_ACTIVE);
}

static void test_queue_unknown_concert_or_seq_not_found(void **state)
{
    store_fixture *fx = *state;
    uint64_t c = fx_concert(fx);
    user_id u = fx_user(1);
    store_queue_entry e;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_queue_enter(t, &u, c + 1, FX_T0, &e), USHER_ERR_NOT_FOUND);
    assert_int_equal(store_queue_get(t, c, 1, FX_T0, &e), USHER_ERR_NOT_FOUND);
    assert_int_equal(store_queue_enter(t, &u, c, FX_T0, &e), USHER_ERR_OK);
    assert_int_equal(store_queue_get(t, c, 2, FX_T0, &e), USHER_ERR_NOT_FOUND);
    assert_int_equal(store_queue_get(t, c + 1, 1, FX_T0, &e), USHER_ERR_NOT_FOUND);
    fx_commit(t);
}

static void test_queue_many_entries_keep_exact_order(void **state)
{
    store_fixture *fx = *state;
    uint64_t c = fx_concert(fx);
    store_txn *t = fx_write(fx);
    for (unsigned i = 0; i < 300; i++) {
        user_id u = fx_user(1000 + i);
        store_queue_entry e;
        assert_int_equal(store_queue_enter(t, &u, c, FX_T0, &e), USHER_ERR_OK);
        assert_int_equal(e.seq, i + 1);
        assert_int_equal(e.position, i < FX_MAX_ACTIVE ? 0 : i + 1 - FX_MAX_ACTIVE);
    }
    fx_commit(t);
    /* Each ttl round admits exactly the next two in seq order. */
    int64_t now = FX_T0;
    for (unsigned round = 1; round <= 5; round++) {
        now += FX_ACTIVE_TTL_MS;
        assert_int_equal(tick(fx, now), 2);
        for (unsigned seq = 1; seq <= 2 * round + 2; seq++) {
            store_queue_state want = seq <= 2 * round ? STORE_QUEUE_EXPIRED : STORE_QUEUE_ACTIVE;
            assert_int_equal(get(fx, c, seq, now).state, want);
        }
        assert_int_equal(get(fx, c, 2 * round + 3, now).position, 1);
    }
}

static store_queue_progress progress(store_fixture *fx, uint64_t concert_id)
{
    store_queue_progress p;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_queue_progress_get(t, concert_id, &p), USHER_ERR_OK);
    store_txn_end(t);
    assert_int_equal(p.concert_id, concert_id);
    return p;
}

/* Progress counts what was entered, admitted and is waiting, and its version
 * moves with an admission but not with a new arrival at the back. */
static void test_queue_progress_follows_admissions(void **state)
{
    store_fixture *fx = *state;
    uint64_t c = fx_concert(fx);
    store_queue_progress p = progress(fx, c);
    assert_int_equal(p.entered_total, 0);
    assert_int_equal(p.waiting, 0);
    for (unsigned i = 0; i < 5; i++)
        fx_enter(fx, 40 + i, c, FX_T0 + i);
    p = progress(fx, c);
    assert_int_equal(p.entered_total, 5);
    assert_int_equal(p.admitted_total, 2);        /* FX_MAX_ACTIVE */
    assert_int_equal(p.waiting, 3);
    uint64_t v = p.version;
    fx_enter(fx, 50, c, FX_T0 + 6);
    assert_int_equal(progress(fx, c).version, v);  /* an arrival behind moves no position */
    assert_int_equal(tick(fx, FX_T0 + FX_ACTIVE_TTL_MS + 1), 2);
    p = progress(fx, c);
    assert_int_equal(p.admitted_total, 4);
    assert_int_equal(p.waiting, 2);
    assert_true(p.version != v);
    store_txn *t = fx_read(fx);
    assert_int_equal(store_queue_progress_get(t, 999999, &p), USHER_ERR_NOT_FOUND);
    store_txn_end(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_queue_enter_empty_queue_is_active_at_once),
        FX_TEST(test_queue_admits_in_fifo_order_up_to_max_active),
        FX_TEST(test_queue_positions_count_only_waiting_ahead),
        FX_TEST(test_queue_positions_are_per_concert),
        FX_TEST(test_queue_reenter_returns_same_entry),
        FX_TEST(test_queue_reenter_after_expired_goes_to_back),
        FX_TEST(test_queue_reenter_after_expired_waits_behind_others),
        FX_TEST(test_queue_active_expires_lazily_and_tick_fills_the_slot),
        FX_TEST(test_queue_tick_fills_every_free_slot_of_every_concert),
        FX_TEST(test_queue_unknown_concert_or_seq_not_found),
        FX_TEST(test_queue_many_entries_keep_exact_order),
        FX_TEST(test_queue_progress_follows_admissions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
