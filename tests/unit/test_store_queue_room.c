/* The waiting room in the store: drops of idle entries (--wait-idle) and
 * their exact positions, early expiry (--active-idle), touch, the operator
 * controls (paused, max_active, admit_rate_per_min, throttled ticks), the
 * pre-queue draw and progress versions; every scenario ends with the
 * checker finding the books balanced. FX_MAX_ACTIVE is 2. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>
#include "store_check_fixture.h"

#define WAIT_IDLE_MS 1000
#define ACTIVE_IDLE_MS 2000

/* Reopens fx's store with the idle limits (0 = off) and a tick interval. */
static void reopen(store_fixture *fx, int64_t wait_idle_ms, int64_t active_idle_ms,
                   int64_t admit_interval_ms)
{
    fx_close(fx);
    fx->opt.policy.wait_idle_ms = wait_idle_ms;
    fx->opt.policy.active_idle_ms = active_idle_ms;
    fx->opt.policy.admit_interval_ms = admit_interval_ms;
    fx_open(fx);
}

static store_queue_entry get(store_fixture *fx, uint64_t concert_id, uint64_t seq, int64_t now_ms)
{
    store_queue_entry e;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_queue_get(t, concert_id, seq, now_ms, &e), USHER_ERR_OK);
    store_txn_end(t);
    return e;
}

static uint32_t tick_opts(store_fixture *fx, int64_t now_ms, bool throttled)
{
    store_admitted admitted;
    store_tick_opts opts = { .throttled = throttled };
    store_txn *t = fx_write(fx);
    assert_int_equal(store_queue_tick(t, now_ms, &opts, &admitted), USHER_ERR_OK);
    fx_commit(t);
    return admitted.total;
}

static uint32_t tick(store_fixture *fx, int64_t now_ms) { return tick_opts(fx, now_ms, false); }

static void touch(store_fixture *fx, uint64_t concert_id, uint64_t seq, int64_t now_ms)
{
    store_txn *t = fx_write(fx);
    assert_int_equal(store_queue_touch(t, concert_id, seq, now_ms), USHER_ERR_OK);
    fx_commit(t);
}

static store_queue_progress progress(store_fixture *fx, uint64_t concert_id)
{
    store_queue_progress p;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_queue_progress_get(t, concert_id, &p), USHER_ERR_OK);
    store_txn_end(t);
    return p;
}

static store_queue_report control_set(store_fixture *fx, uint64_t concert_id,
                                      store_queue_control_change change, int64_t now_ms)
{
    store_queue_report r;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_queue_control_set(t, concert_id, &change, now_ms, &r, NULL), USHER_ERR_OK);
    fx_commit(t);
    return r;
}

/* The checker judges the store at now_ms with max_active cap. */
static void assert_books_balance(store_fixture *fx, int64_t now_ms)
{
    ck_assert_clean(fx, now_ms);
}

/* Seqs 1-2 ACTIVE, 3..12 WAITING; the even waiting ones stop polling and are
 * dropped; the odd ones move up by exactly the drops ahead of them. */
static void test_idle_waiting_entries_are_dropped_and_positions_close_up(void **state)
{
    store_fixture *fx = *state;
    reopen(fx, WAIT_IDLE_MS, 0, 1000);
    uint64_t c = fx_concert(fx);
    for (unsigned u = 1; u <= 12; u++) fx_enter(fx, u, c, FX_T0);
    store_queue_progress before = progress(fx, c);
    assert_int_equal(before.waiting, 10);
    for (uint64_t seq = 3; seq <= 12; seq += 2) touch(fx, c, seq, FX_T0 + 600);
    assert_int_equal(tick(fx, FX_T0 + 900), 0);   /* nobody idle for a second yet */
    assert_int_equal(get(fx, c, 4, FX_T0 + 900).state, STORE_QUEUE_WAITING);
    tick(fx, FX_T0 + 1200);
    for (uint64_t seq = 4; seq <= 12; seq += 2) {
        store_queue_entry e = get(fx, c, seq, FX_T0 + 1200);
        assert_int_equal(e.state, STORE_QUEUE_ABANDONED);
        assert_int_equal(e.position, 0);
    }
    for (uint64_t seq = 3, want = 1; seq <= 12; seq += 2, want++)
        assert_int_equal(get(fx, c, seq, FX_T0 + 1200).position, want);
    store_queue_progress after = progress(fx, c);
    assert_int_equal(after.waiting, 5);
    assert_true(after.version != before.version);
    /* Re-entering after the drop goes to the back. */
    store_queue_entry again = fx_enter(fx, 4, c, FX_T0 + 1300);
    assert_int_equal(again.seq, 13);
    assert_int_equal(again.state, STORE_QUEUE_WAITING);
    assert_int_equal(again.position, 6);
    assert_books_balance(fx, FX_T0 + 1300);
}

/* A dropped entry's slot in line is skipped by admission. */
static void test_admission_skips_dropped_entries(void **state)
{
    store_fixture *fx = *state;
    reopen(fx, WAIT_IDLE_MS, 0, 1000);
    uint64_t c = fx_concert(fx);
    for (unsigned u = 1; u <= 6; u++) fx_enter(fx, u, c, FX_T0);
    touch(fx, c, 3, FX_T0 + 800);
    touch(fx, c, 6, FX_T0 + 800);
    tick(fx, FX_T0 + 1100);                       /* drops 4 and 5 */
    int64_t later = FX_T0 + FX_ACTIVE_TTL_MS;       /* 1 and 2 lapse */
    touch(fx, c, 3, later - 100);
    touch(fx, c, 6, later - 100);
    assert_int_equal(tick(fx, later), 2);
    assert_int_equal(get(fx, c, 3, later).state, STORE_QUEUE_ACTIVE);
    assert_int_equal(get(fx, c, 6, later).state, STORE_QUEUE_ACTIVE);
    assert_int_equal(get(fx, c, 4, later).state, STORE_QUEUE_ABANDONED);
    assert_int_equal(progress(fx, c).waiting, 0);
    assert_books_balance(fx, later);
}

/* An ACTIVE entry unused for --active-idle expires and its slot goes on. */
static void test_idle_active_entry_expires_early(void **state)
{
    store_fixture *fx = *state;
    reopen(fx, 0, ACTIVE_IDLE_MS, 1000);
    uint64_t c = fx_concert(fx);
    for (unsigned u = 1; u <= 3; u++) fx_enter(fx, u, c, FX_T0);
    touch(fx, c, 2, FX_T0 + 1500);
    assert_int_equal(tick(fx, FX_T0 + 2100), 1);   /* 1 unused since admission: 3 takes it */
    assert_int_equal(get(fx, c, 1, FX_T0 + 2100).state, STORE_QUEUE_EXPIRED);
    assert_int_equal(get(fx, c, 2, FX_T0 + 2100).state, STORE_QUEUE_ACTIVE);
    assert_int_equal(get(fx, c, 3, FX_T0 + 2100).state, STORE_QUEUE_ACTIVE);
    assert_books_balance(fx, FX_T0 + 2100);
}

/* Touch on an entry that ended writes nothing; an unknown one is NOT_FOUND. */
static void test_touch_of_ended_or_unknown_entry(void **state)
{
    store_fixture *fx = *state;
    reopen(fx, WAIT_IDLE_MS, 0, 1000);
    uint64_t c = fx_concert(fx);
    for (unsigned u = 1; u <= 3; u++) fx_enter(fx, u, c, FX_T0);
    tick(fx, FX_T0 + 1500);
    assert_int_equal(get(fx, c, 3, FX_T0 + 1500).state, STORE_QUEUE_ABANDONED);
    touch(fx, c, 3, FX_T0 + 1600);
    assert_int_equal(get(fx, c, 3, FX_T0 + 1600).state, STORE_QUEUE_ABANDONED);
    store_txn *t = fx_write(fx);
    assert_int_equal(store_queue_touch(t, c, 99, FX_T0), USHER_ERR_NOT_FOUND);
    store_txn_end(t);
    assert_books_balance(fx, FX_T0 + 1600);
}

/* Both idle limits 0: nobody is dropped or expired early however long. */
static void test_idle_limits_off(void **state)
{
    store_fixture *fx = *state;
    reopen(fx, 0, 0, 1000);
    uint64_t c = fx_concert(fx);
    for (unsigned u = 1; u <= 3; u++) fx_enter(fx, u, c, FX_T0);
    tick(fx, FX_T0 + FX_ACTIVE_TTL_MS - 1);
    assert_int_equal(get(fx, c, 1, FX_T0 + FX_ACTIVE_TTL_MS - 1).state, STORE_QUEUE_ACTIVE);
    assert_int_equal(get(fx, c, 3, FX_T0 + FX_ACTIVE_TTL_MS - 1).state, STORE_QUEUE_WAITING);
}

/* Paused: lapsed slots are not refilled, entering works, positions hold;
 * resumed: admission goes on in order. */
static void test_paused_queue_admits_nobody_and_resumes_in_order(void **state)
{
    store_fixture *fx = *state;
    reopen(fx, 0, 0, 1000);
    uint64_t c = fx_concert(fx);
    for (unsigned u = 1; u <= 4; u++) fx_enter(fx, u, c, FX_T0);
    store_queue_report r = control_set(fx, c, (store_queue_control_change){ .set_paused = true,
                                                                             .paused = true }, FX_T0);
    assert_true(r.controls.paused);
    int64_t later = FX_T0 + FX_ACTIVE_TTL_MS;
    assert_int_equal(tick(fx, later), 0);
    store_queue_entry e5 = fx_enter(fx, 5, c, later);
    assert_int_equal(e5.state, STORE_QUEUE_WAITING);
    assert_int_equal(e5.position, 3);
    assert_int_equal(get(fx, c, 3, later).position, 1);
    control_set(fx, c, (store_queue_control_change){ .set_paused = true, .paused = false }, later);
    assert_int_equal(tick(fx, later + 1), 2);
    assert_int_equal(get(fx, c, 3, later + 1).state, STORE_QUEUE_ACTIVE);
    assert_int_equal(get(fx, c, 4, later + 1).state, STORE_QUEUE_ACTIVE);
    assert_int_equal(get(fx, c, 5, later + 1).position, 1);
    assert_books_balance(fx, later + 1);
}

/* The max_active override raises the cap; 0 goes back to the policy's. */
static void test_max_active_override(void **state)
{
    store_fixture *fx = *state;
    reopen(fx, 0, 0, 1000);
    uint64_t c = fx_concert(fx);
    for (unsigned u = 1; u <= 6; u++) fx_enter(fx, u, c, FX_T0);
    store_queue_report r = control_set(fx, c, (store_queue_control_change){ .set_max_active = true,
                                                                             .max_active = 4 }, FX_T0);
    assert_int_equal(r.max_active, 4);
    assert_int_equal(tick(fx, FX_T0 + 1), 2);
    assert_int_equal(get(fx, c, 5, FX_T0 + 1).position, 1);
    r = control_set(fx, c, (store_queue_control_change){ .set_max_active = true, .max_active = 0 },
                    FX_T0 + 1);
    assert_int_equal(r.max_active, FX_MAX_ACTIVE);
    assert_int_equal(r.active, 4);   /* lowering the cap ends nobody */
    assert_int_equal(tick(fx, FX_T0 + 2), 0);
    assert_books_balance(fx, FX_T0 + 2);
    store_txn *t = fx_write(fx);
    const char *bad = NULL;
    store_queue_control_change too_many = { .set_max_active = true, .max_active = 100001 };
    assert_int_equal(store_queue_control_set(t, c, &too_many, FX_T0, &r, &bad),
                     USHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(bad, "max_active");
    store_txn_end(t);
}

/* 600 a minute over 10 s of 100 ms ticks: 100 admitted (within one tick's
 * worth), spread evenly (at most 2 in any tick), none in bursts. */
static void test_rate_limit_spreads_admissions(void **state)
{
    store_fixture *fx = *state;
    reopen(fx, 0, 0, 100);
    uint64_t c = fx_concert(fx);
    control_set(fx, c, (store_queue_control_change){ .set_max_active = true, .max_active = 10000,
                                                     .set_rate = true, .admit_rate_per_min = 600 },
                FX_T0);
    control_set(fx, c, (store_queue_control_change){ .set_paused = true, .paused = true }, FX_T0);
    for (unsigned u = 1; u <= 300; u++) fx_enter(fx, u, c, FX_T0);
    control_set(fx, c, (store_queue_control_change){ .set_paused = true, .paused = false }, FX_T0);
    uint32_t total = 0;
    for (int64_t at = FX_T0 + 100; at <= FX_T0 + 10000; at += 100) {
        uint32_t n = tick(fx, at);
        assert_true(n <= 2);
        total += n;
    }
    assert_in_range(total, 99, 102);
    /* A quiet spell (pause) earns no burst. */
    control_set(fx, c, (store_queue_control_change){ .set_paused = true, .paused = true }, FX_T0 + 10000);
    tick(fx, FX_T0 + 40000);
    control_set(fx, c, (store_queue_control_change){ .set_paused = true, .paused = false }, FX_T0 + 40000);
    assert_true(tick(fx, FX_T0 + 40100) <= 2);
    /* Throttled: half the rate. */
    total = 0;
    for (int64_t at = FX_T0 + 40200; at <= FX_T0 + 50100; at += 100)
        total += tick_opts(fx, at, true);
    assert_in_range(total, 48, 52);
    assert_books_balance(fx, FX_T0 + 50100);
}

/* Throttled ticks fill at most half the free slots (rounded up). */
static void test_throttled_tick_fills_half_the_free_slots(void **state)
{
    store_fixture *fx = *state;
    reopen(fx, 0, 0, 1000);
    uint64_t c = fx_concert(fx);
    control_set(fx, c, (store_queue_control_change){ .set_paused = true, .paused = true }, FX_T0);
    for (unsigned u = 1; u <= 10; u++) fx_enter(fx, u, c, FX_T0);
    control_set(fx, c, (store_queue_control_change){ .set_paused = true, .paused = false,
                                                     .set_max_active = true, .max_active = 8 }, FX_T0);
    assert_int_equal(tick_opts(fx, FX_T0 + 1, true), 4);
    assert_int_equal(tick_opts(fx, FX_T0 + 2, true), 2);
    assert_int_equal(tick_opts(fx, FX_T0 + 3, true), 1);
    assert_int_equal(tick_opts(fx, FX_T0 + 4, false), 1);
    assert_books_balance(fx, FX_T0 + 4);
}

/* The pre-queue: nobody admitted before opens_at, positions unknown; the
 * draw ranks exactly the early arrivals (a permutation); later arrivals
 * come after them in FIFO order. */
static void test_pre_queue_draws_a_permutation_of_the_early_arrivals(void **state)
{
    store_fixture *fx = *state;
    reopen(fx, 0, 0, 1000);
    uint64_t c = fx_concert(fx);
    int64_t opens = FX_T0 + 10000;
    store_queue_report r;
    const char *bad = NULL;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_queue_open(t, c, FX_T0, FX_T0, &r, &bad), USHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(bad, "opens_at");
    assert_int_equal(store_queue_open(t, c, opens, FX_T0, &r, &bad), USHER_ERR_OK);
    assert_int_equal(r.controls.opens_at_ms, opens);
    fx_commit(t);
    t = fx_write(fx);
    assert_int_equal(store_queue_open(t, c, opens + 1, FX_T0, &r, &bad), USHER_ERR_INVALID_ARGUMENT);
    store_txn_end(t);
    enum { EARLY = 40 };
    for (unsigned u = 1; u <= EARLY; u++) {
        store_queue_entry e = fx_enter(fx, u, c, FX_T0 + u);
        assert_int_equal(e.state, STORE_QUEUE_WAITING);
        assert_false(e.position_known);
    }
    assert_int_equal(tick(fx, opens - 1), 0);
    assert_false(get(fx, c, 1, opens - 1).position_known);
    assert_int_equal(tick(fx, opens), FX_MAX_ACTIVE);
    bool seen[EARLY + 1] = { false };
    unsigned active = 0, moved = 0;
    for (uint64_t seq = 1; seq <= EARLY; seq++) {
        store_queue_entry e = get(fx, c, seq, opens);
        assert_true(e.position_known);
        if (e.state == STORE_QUEUE_ACTIVE) { active++; continue; }
        assert_int_equal(e.state, STORE_QUEUE_WAITING);
        assert_in_range(e.position, 1, EARLY - FX_MAX_ACTIVE);
        assert_false(seen[e.position]);
        seen[e.position] = true;
        moved += e.position != seq - FX_MAX_ACTIVE;
    }
    assert_int_equal(active, FX_MAX_ACTIVE);
    assert_true(moved > 0);   /* 1 in 38! that a fair draw keeps arrival order */
    store_queue_entry late = fx_enter(fx, EARLY + 1, c, opens + 1);
    assert_int_equal(late.seq, EARLY + 1);
    assert_int_equal(late.position, EARLY - FX_MAX_ACTIVE + 1);
    t = fx_write(fx);
    assert_int_equal(store_queue_open(t, c, opens + 5000, opens + 1, &r, &bad),
                     USHER_ERR_INVALID_ARGUMENT);   /* opened (and admitted) already */
    store_txn_end(t);
    assert_books_balance(fx, opens + 1);
}

/* The draw happens at the first write at or after opens_at even when it is
 * an enter: the new arrival is not an early one. */
static void test_pre_queue_drawn_by_first_enter_after_opening(void **state)
{
    store_fixture *fx = *state;
    reopen(fx, 0, 0, 1000);
    uint64_t c = fx_concert(fx);
    int64_t opens = FX_T0 + 1000;
    store_queue_report r;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_queue_open(t, c, opens, FX_T0, &r, NULL), USHER_ERR_OK);
    fx_commit(t);
    for (unsigned u = 1; u <= 5; u++) fx_enter(fx, u, c, FX_T0 + u);
    store_queue_entry late = fx_enter(fx, 6, c, opens);
    assert_int_equal(late.state, STORE_QUEUE_WAITING);
    assert_true(late.position_known);
    assert_int_equal(late.position, 4);   /* behind the 5 early ones, 2 admitted */
    assert_books_balance(fx, opens);
}

/* Version moves on every admission and every drop. */
static void test_progress_version_moves_on_admission_and_drop(void **state)
{
    store_fixture *fx = *state;
    reopen(fx, WAIT_IDLE_MS, 0, 1000);
    uint64_t c = fx_concert(fx);
    fx_enter(fx, 1, c, FX_T0);
    uint64_t v1 = progress(fx, c).version;
    fx_enter(fx, 2, c, FX_T0);
    uint64_t v2 = progress(fx, c).version;
    assert_true(v2 != v1);   /* admitted at once */
    fx_enter(fx, 3, c, FX_T0);
    fx_enter(fx, 4, c, FX_T0);
    touch(fx, c, 3, FX_T0 + 900);
    uint64_t v3 = progress(fx, c).version;
    tick(fx, FX_T0 + 1100);   /* drops 4 */
    store_queue_progress p = progress(fx, c);
    assert_true(p.version != v3);
    assert_int_equal(p.waiting, 1);
    assert_int_equal(p.admitted_total, 2);
    assert_int_equal(p.entered_total, 4);
}

/* admin.queue.get's figures: waiting, active, oldest wait, defaults. */
static void test_control_report(void **state)
{
    store_fixture *fx = *state;
    reopen(fx, 0, 0, 1000);
    uint64_t c = fx_concert(fx);
    store_queue_report r;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_queue_control_get(t, c, FX_T0, &r), USHER_ERR_OK);
    assert_int_equal(r.waiting, 0);
    assert_int_equal(r.oldest_wait_ms, 0);
    assert_int_equal(r.max_active, FX_MAX_ACTIVE);
    assert_int_equal(store_queue_control_get(t, c + 100, FX_T0, &r), USHER_ERR_NOT_FOUND);
    store_txn_end(t);
    for (unsigned u = 1; u <= 4; u++) fx_enter(fx, u, c, FX_T0 + u * 1000);
    t = fx_read(fx);
    assert_int_equal(store_queue_control_get(t, c, FX_T0 + 5000, &r), USHER_ERR_OK);
    store_txn_end(t);
    assert_int_equal(r.waiting, 2);
    assert_int_equal(r.active, 2);
    assert_int_equal(r.admitted_total, 2);
    assert_int_equal(r.oldest_wait_ms, 2000);   /* seq 3 entered at +3 s */
}

/* 10^6 waiting with drops spread through the line: every sampled position
 * is 1 + the WAITING entries ahead, computed here from the drop pattern. */
static void test_positions_exact_at_a_million_with_drops(void **state)
{
    store_fixture *fx = *state;
    fx_close(fx);
    fx->opt.map_size_bytes = (size_t)2 << 30;
    reopen(fx, 5000, 0, 1000);
    uint64_t c = fx_concert(fx);
    /* On PostgreSQL every enter is a few round trips and one transaction
     * may not update the queue row 50,000 times cheaply (its old versions
     * pile up until the commit), so the same assertions run at 20,000
     * entries in small transactions there: its positions come from the
     * same formula, with no blocks whose edges need a million to reach. */
    enum { DROP_EVERY = 997 };
    const unsigned N = fx->pg ? 20000 : 1000000, BATCH = fx->pg ? 500 : 50000;
    for (unsigned base = 0; base < N; base += BATCH) {
        store_txn *t = fx_write(fx);
        for (unsigned i = base; i < base + BATCH; i++) {
            unsigned seq = i + 1;   /* users enter in seq order */
            user_id u = fx_user(seq);
            int64_t at = seq % DROP_EVERY == 0 ? FX_T0 : FX_T0 + 10000;
            store_queue_entry e;
            assert_int_equal(store_queue_enter(t, &u, c, at, &e), USHER_ERR_OK);
            assert_int_equal(e.seq, seq);
        }
        fx_commit(t);
    }
    tick(fx, FX_T0 + 6000);   /* drops exactly the multiples of DROP_EVERY (1003 of them) */
    store_queue_progress p = progress(fx, c);
    uint64_t dropped = N / DROP_EVERY;
    assert_int_equal(p.waiting, N - FX_MAX_ACTIVE - dropped);
    static const uint64_t samples[] = { 3, 996, 998, 1023, 1024, 1025, 2047, 4096, 65537,
                                        500000, 999000, 999999, 1000000 };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        uint64_t seq = samples[i] == 1000000 ? N : samples[i];
        if (seq > N) continue;
        store_queue_entry e = get(fx, c, seq, FX_T0 + 6000);
        if (seq % DROP_EVERY == 0) {
            assert_int_equal(e.state, STORE_QUEUE_ABANDONED);
            continue;
        }
        uint64_t ahead_dropped = (seq - 1) / DROP_EVERY;   /* multiples below seq */
        assert_int_equal(e.state, STORE_QUEUE_WAITING);
        assert_int_equal(e.position, seq - FX_MAX_ACTIVE - ahead_dropped);
    }
    /* A figure, not an assertion: the cost of one position read at this size. */
    struct timespec t0, t1;
    store_txn *t = fx_read(fx);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t sum = 0;
    const unsigned READS = fx->pg ? 2000 : 100000;
    for (unsigned i = 0; i < READS; i++) {
        store_queue_entry e;
        uint64_t seq = 3 + (uint64_t)i * 7919 % (N - 2);
        assert_int_equal(store_queue_get(t, c, seq, FX_T0 + 6000, &e), USHER_ERR_OK);
        sum += e.position;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    store_txn_end(t);
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / READS;
    print_message("store_queue_get at %u waiting with %llu drops: %.2f us per read (sum %llu)\n",
                  (unsigned)N, (unsigned long long)dropped, us, (unsigned long long)sum);
    assert_books_balance(fx, FX_T0 + 6000);
}

/* A run of drops longer than a block: the report's oldest wait and the next
 * admission both find the first entry still there. */
static void test_long_run_of_drops_is_passed(void **state)
{
    store_fixture *fx = *state;
    reopen(fx, WAIT_IDLE_MS, 0, 1000);
    uint64_t c = fx_concert(fx);
    enum { N = 3000, GONE = 2500 };
    store_txn *t = fx_write(fx);
    for (unsigned seq = 1; seq <= N; seq++) {
        user_id u = fx_user(seq);
        store_queue_entry e;
        int64_t at = seq <= FX_MAX_ACTIVE + GONE ? FX_T0 : FX_T0 + 1500;
        assert_int_equal(store_queue_enter(t, &u, c, at, &e), USHER_ERR_OK);
    }
    fx_commit(t);
    tick(fx, FX_T0 + 1200);   /* drops seqs 3..2502 */
    uint64_t first = FX_MAX_ACTIVE + GONE + 1;
    assert_int_equal(get(fx, c, first, FX_T0 + 1200).position, 1);
    store_queue_report r;
    t = fx_read(fx);
    assert_int_equal(store_queue_control_get(t, c, FX_T0 + 2000, &r), USHER_ERR_OK);
    store_txn_end(t);
    assert_int_equal(r.waiting, N - FX_MAX_ACTIVE - GONE);
    assert_int_equal(r.oldest_wait_ms, 500);
    int64_t later = FX_T0 + FX_ACTIVE_TTL_MS;
    for (uint64_t seq = first; seq <= N; seq++) touch(fx, c, seq, later - 100);
    assert_int_equal(tick(fx, later), 2);
    assert_int_equal(get(fx, c, first, later).state, STORE_QUEUE_ACTIVE);
    assert_int_equal(get(fx, c, first + 1, later).state, STORE_QUEUE_ACTIVE);
    assert_int_equal(get(fx, c, first + 2, later).position, 1);
    assert_books_balance(fx, later);
}

/* A schema 2 dir's queue (16-byte records, 32-byte entries) opened by a
 * writer: rewritten, stamped 3, positions and states as before, the books
 * balance. */
static void test_schema_2_queue_is_upgraded_on_open(void **state)
{
    FX_LMDB_ONLY();   /* an LMDB schema 2 data dir: no such thing on PostgreSQL */
    store_fixture *fx = *state;
    uint64_t c = fx_concert(fx);
    for (unsigned u = 1; u <= 5; u++) fx_enter(fx, u, c, FX_T0);
    MDB_txn *raw;
    assert_int_equal(mdb_txn_begin(fx->st->env, NULL, 0, &raw), 0);
    MDB_dbi entries = fx->st->dbi[DB_QUEUE_ENTRIES], queues = fx->st->dbi[DB_QUEUES];
    assert_int_equal(mdb_drop(raw, fx->st->dbi[DB_QUEUE_IDLE], 0), 0);
    for (uint64_t seq = 1; seq <= 5; seq++) {
        unsigned char key[16];
        ck_queue_key(key, c, seq);
        MDB_val k = { 16, key }, v;
        assert_int_equal(mdb_get(raw, entries, &k, &v), 0);
        rec_queue_entry e;
        memcpy(&e, v.mv_data, sizeof e);
        struct { user_id user; int64_t until; uint32_t expired, pad; } old = {
            .user = e.user, .until = e.active_until_ms };
        v = (MDB_val){ sizeof old, &old };
        assert_int_equal(mdb_put(raw, entries, &k, &v, 0), 0);
    }
    unsigned char qk[8];
    ck_key_u64(qk, c);
    uint64_t old_q[2] = { 6, 3 };
    MDB_val k = { 8, qk }, v = { sizeof old_q, old_q };
    assert_int_equal(mdb_put(raw, queues, &k, &v, 0), 0);
    uint32_t v2 = 2;
    MDB_val sk = { 6, "schema" }, sv = { sizeof v2, &v2 };
    assert_int_equal(mdb_put(raw, fx->st->dbi[DB_META], &sk, &sv, 0), 0);
    assert_int_equal(mdb_txn_commit(raw), 0);
    fx_close(fx);
    fx_open(fx);
    assert_int_equal(get(fx, c, 1, FX_T0 + 1).state, STORE_QUEUE_ACTIVE);
    assert_int_equal(get(fx, c, 5, FX_T0 + 1).position, 3);
    store_queue_progress p = progress(fx, c);
    assert_int_equal(p.waiting, 3);
    assert_int_equal(p.admitted_total, 2);
    assert_books_balance(fx, FX_T0 + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_idle_waiting_entries_are_dropped_and_positions_close_up),
        FX_TEST(test_admission_skips_dropped_entries),
        FX_TEST(test_idle_active_entry_expires_early),
        FX_TEST(test_touch_of_ended_or_unknown_entry),
        FX_TEST(test_idle_limits_off),
        FX_TEST(test_paused_queue_admits_nobody_and_resumes_in_order),
        FX_TEST(test_max_active_override),
        FX_TEST(test_rate_limit_spreads_admissions),
        FX_TEST(test_throttled_tick_fills_half_the_free_slots),
        FX_TEST(test_pre_queue_draws_a_permutation_of_the_early_arrivals),
        FX_TEST(test_pre_queue_drawn_by_first_enter_after_opening),
        FX_TEST(test_progress_version_moves_on_admission_and_drop),
        FX_TEST(test_control_report),
        FX_TEST(test_positions_exact_at_a_million_with_drops),
        FX_TEST(test_schema_2_queue_is_upgraded_on_open),
        FX_TEST(test_long_run_of_drops_is_passed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
