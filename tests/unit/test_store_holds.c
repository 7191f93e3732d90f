/* Seat holds and reservations: one holder per seat, expiry by time alone,
 * own holds, HOLD_LIMIT (FX_MAX_HOLDS is 2), ranges, cancel, list, tick,
 * and two processes racing for the same seats. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/wait.h>
#include "store_fixture.h"

typedef struct holds_ctx { uint64_t concert, schedule; } holds_ctx;

static holds_ctx catalog(store_fixture *fx)
{
    holds_ctx h;
    fx_catalog(fx, 10, 1000, FX_T0 + 86400000, &h.concert, &h.schedule);
    return h;
}

static usher_err cancel(store_fixture *fx, unsigned user, uint64_t id, int64_t now_ms,
                        store_reservation *out)
{
    user_id u = fx_user(user);
    store_reservation r;
    store_txn *t = fx_write(fx);
    usher_err err = store_reservation_cancel(t, &u, id, now_ms, out ? out : &r);
    fx_commit(t);
    return err;
}

static void test_hold_creates_held_reservation_with_seat_price(void **state)
{
    store_fixture *fx = *state;
    holds_ctx h = catalog(fx);
    store_reservation r;
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 4, FX_T0, &r), USHER_ERR_OK);
    assert_true(r.reservation_id > 0);
    assert_int_equal(r.schedule_id, h.schedule);
    assert_int_equal(r.concert_id, h.concert);
    assert_int_equal(r.seat_no, 4);
    assert_int_equal(r.price_krw, 4000);
    assert_int_equal(r.status, STORE_RES_HELD);
    assert_int_equal(r.expires_at_ms, FX_T0 + FX_HOLD_TTL_MS);
    assert_int_equal(r.payment_id, 0);
    assert_false(fx_seat_available(fx, h.schedule, 4, FX_T0));
    assert_true(fx_seat_available(fx, h.schedule, 5, FX_T0));
}

static void test_hold_taken_seat_fails(void **state)
{
    store_fixture *fx = *state;
    holds_ctx h = catalog(fx);
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 1, FX_T0, NULL), USHER_ERR_OK);
    assert_int_equal(fx_hold(fx, 2, h.concert, h.schedule, 1, FX_T0 + FX_HOLD_TTL_MS - 1, NULL),
                     USHER_ERR_SEAT_UNAVAILABLE);
}

static void test_hold_expired_hold_is_free_at_once(void **state)
{
    store_fixture *fx = *state;
    holds_ctx h = catalog(fx);
    store_reservation first, second;
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 1, FX_T0, &first), USHER_ERR_OK);
    int64_t expiry = FX_T0 + FX_HOLD_TTL_MS;
    assert_true(fx_seat_available(fx, h.schedule, 1, expiry));
    assert_int_equal(fx_reservation(fx, first.reservation_id, expiry).status, STORE_RES_EXPIRED);
    assert_int_equal(fx_reservation(fx, first.reservation_id, expiry - 1).status, STORE_RES_HELD);
    assert_int_equal(fx_hold(fx, 2, h.concert, h.schedule, 1, expiry, &second), USHER_ERR_OK);
    assert_true(second.reservation_id > first.reservation_id);
    /* The old one stays EXPIRED; the tick must not free the new holder's seat. */
    store_txn *t = fx_write(fx);
    size_t expired = 0;
    assert_int_equal(store_holds_tick(t, expiry, 100, &expired), USHER_ERR_OK);
    fx_commit(t);
    assert_int_equal(expired, 1);
    assert_false(fx_seat_available(fx, h.schedule, 1, expiry));
    assert_int_equal(fx_reservation(fx, second.reservation_id, expiry).status, STORE_RES_HELD);
}

static void test_hold_own_seat_returns_same_reservation(void **state)
{
    store_fixture *fx = *state;
    holds_ctx h = catalog(fx);
    store_reservation a, b;
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 2, FX_T0, &a), USHER_ERR_OK);
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 2, FX_T0 + 10, &b), USHER_ERR_OK);
    assert_int_equal(b.reservation_id, a.reservation_id);
    assert_int_equal(b.expires_at_ms, a.expires_at_ms);
    /* It did not count twice against the limit. */
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 3, FX_T0 + 10, NULL), USHER_ERR_OK);
}

static void test_hold_limit_counts_live_holds_per_performance(void **state)
{
    store_fixture *fx = *state;
    holds_ctx h = catalog(fx);
    uint64_t other = fx_schedule(fx, h.concert, 5, 10, FX_T0 + 99999999);
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 1, FX_T0, NULL), USHER_ERR_OK);
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 2, FX_T0 + 500, NULL), USHER_ERR_OK);
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 3, FX_T0 + 500, NULL),
                     USHER_ERR_HOLD_LIMIT);
    assert_true(fx_seat_available(fx, h.schedule, 3, FX_T0 + 500));
    /* Another performance and another user have their own limits. */
    assert_int_equal(fx_hold(fx, 1, h.concert, other, 1, FX_T0 + 500, NULL), USHER_ERR_OK);
    assert_int_equal(fx_hold(fx, 2, h.concert, h.schedule, 3, FX_T0 + 500, NULL), USHER_ERR_OK);
    /* Once the first hold expires, a slot frees without any tick. */
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 4, FX_T0 + FX_HOLD_TTL_MS, NULL),
                     USHER_ERR_OK);
}

static void test_hold_cancelled_hold_frees_the_limit(void **state)
{
    store_fixture *fx = *state;
    holds_ctx h = catalog(fx);
    store_reservation a;
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 1, FX_T0, &a), USHER_ERR_OK);
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 2, FX_T0, NULL), USHER_ERR_OK);
    assert_int_equal(cancel(fx, 1, a.reservation_id, FX_T0, NULL), USHER_ERR_OK);
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 3, FX_T0, NULL), USHER_ERR_OK);
}

static void test_hold_seat_outside_range_is_invalid(void **state)
{
    store_fixture *fx = *state;
    holds_ctx h = catalog(fx);
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 0, FX_T0, NULL),
                     USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 11, FX_T0, NULL),
                     USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 10, FX_T0, NULL), USHER_ERR_OK);
}

static void test_hold_names_the_bad_parameter_and_refuses_a_started_performance(void **state)
{
    store_fixture *fx = *state;
    holds_ctx h = catalog(fx);
    uint64_t soon = fx_schedule(fx, h.concert, 5, 10, FX_T0 + 1000);
    user_id u = fx_user(1);
    store_reservation r;
    const char *bad = NULL;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_seat_hold(t, &u, h.concert, h.schedule, 11, FX_T0, &r, &bad),
                     USHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(bad, "seat_no");
    bad = NULL;
    assert_int_equal(store_seat_hold(t, &u, h.concert, soon, 1, FX_T0 + 1000, &r, &bad),
                     USHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(bad, "schedule_id");
    assert_int_equal(store_seat_hold(t, &u, h.concert, soon, 1, FX_T0 + 999, &r, NULL), USHER_ERR_OK);
    store_txn_end(t);
}

static void test_hold_other_concert_forbidden_unknown_schedule_not_found(void **state)
{
    store_fixture *fx = *state;
    holds_ctx h = catalog(fx);
    holds_ctx other = catalog(fx);
    assert_int_equal(fx_hold(fx, 1, other.concert, h.schedule, 1, FX_T0, NULL),
                     USHER_ERR_FORBIDDEN);
    assert_int_equal(fx_hold(fx, 1, h.concert, other.schedule + 1, 1, FX_T0, NULL),
                     USHER_ERR_NOT_FOUND);
}

static void test_cancel_live_hold_frees_seat_and_repeats(void **state)
{
    store_fixture *fx = *state;
    holds_ctx h = catalog(fx);
    store_reservation r, c;
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 5, FX_T0, &r), USHER_ERR_OK);
    assert_int_equal(cancel(fx, 1, r.reservation_id, FX_T0 + 1, &c), USHER_ERR_OK);
    assert_int_equal(c.status, STORE_RES_CANCELLED);
    assert_int_equal(c.reservation_id, r.reservation_id);
    assert_true(fx_seat_available(fx, h.schedule, 5, FX_T0 + 1));
    /* Cancelling again returns the same, even after the hold would have expired. */
    assert_int_equal(cancel(fx, 1, r.reservation_id, FX_T0 + 5 * FX_HOLD_TTL_MS, &c), USHER_ERR_OK);
    assert_int_equal(c.status, STORE_RES_CANCELLED);
    assert_int_equal(fx_reservation(fx, r.reservation_id, FX_T0 + 9 * FX_HOLD_TTL_MS).status,
                     STORE_RES_CANCELLED);
    /* Someone else may take the seat at once. */
    assert_int_equal(fx_hold(fx, 2, h.concert, h.schedule, 5, FX_T0 + 2, NULL), USHER_ERR_OK);
}

static void test_cancel_refusals(void **state)
{
    store_fixture *fx = *state;
    holds_ctx h = catalog(fx);
    store_reservation r;
    assert_int_equal(fx_hold(fx, 1, h.concert, h.schedule, 5, FX_T0, &r), USHER_ERR_OK);
    assert_int_equal(cancel(fx, 2, r.reservation_id, FX_T0, NULL), USHER_ERR_FORBIDDEN);
    assert_int_equal(cancel(fx, 1, r.reservation_id + 1, FX_T0, NULL), USHER_ERR_NOT_FOUND);
    assert_int_equal(cancel(fx, 1, r.reservation_id, FX_T0 + FX_HOLD_TTL_MS, NULL),
                     USHER_ERR_HOLD_EXPIRED);
    assert_int_equal(fx_reservation(fx, r.reservation_id, FX_T0).status, STORE_RES_HELD);
}

static void test_reservation_list_newest_first_with_paging(void **state)
{
    store_fixture *fx = *state;
    holds_ctx h = catalog(fx);
    uint64_t s2 = fx_schedule(fx, h.concert, 10, 5, FX_T0 + 999999);
    uint64_t ids[4];
    store_reservation r;
    for (uint32_t i = 0; i < 4; i++) {
        uint64_t sched = i < 2 ? h.schedule : s2;
        assert_int_equal(fx_hold(fx, 7, h.concert, sched, i + 1, FX_T0, &r), USHER_ERR_OK);
        ids[i] = r.reservation_id;
        assert_int_equal(fx_hold(fx, 8, h.concert, sched, i + 5, FX_T0, NULL), USHER_ERR_OK);
    }
    assert_int_equal(cancel(fx, 7, ids[1], FX_T0, NULL), USHER_ERR_OK);
    user_id u = fx_user(7);
    store_reservation out[10];
    size_t n;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_reservation_list(t, &u, 0, FX_T0, out, 10, &n), USHER_ERR_OK);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(out[i].reservation_id, ids[3 - i]);
    assert_int_equal(out[2].status, STORE_RES_CANCELLED);
    assert_int_equal(out[0].status, STORE_RES_HELD);
    assert_int_equal(store_reservation_list(t, &u, ids[2], FX_T0, out, 1, &n), USHER_ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].reservation_id, ids[1]);
    assert_int_equal(store_reservation_list(t, &u, ids[0], FX_T0, out, 10, &n), USHER_ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_reservation_list(t, &u, 0, FX_T0 + FX_HOLD_TTL_MS, out, 10, &n),
                     USHER_ERR_OK);
    assert_int_equal(out[0].status, STORE_RES_EXPIRED);
    user_id nobody = fx_user(99);
    assert_int_equal(store_reservation_list(t, &nobody, 0, FX_T0, out, 10, &n), USHER_ERR_OK);
    assert_int_equal(n, 0);
    store_txn_end(t);
}

static void test_holds_tick_expires_due_holds_up_to_max(void **state)
{
    store_fixture *fx = *state;
    holds_ctx h = catalog(fx);
    store_reservation r[4];
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(fx_hold(fx, 1 + i, h.concert, h.schedule, i + 1, FX_T0 + i * 100, &r[i]),
                         USHER_ERR_OK);
    int64_t now = FX_T0 + 100 + FX_HOLD_TTL_MS;   /* the first two are due */
    size_t expired = 0;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_holds_tick(t, now, 1, &expired), USHER_ERR_OK);
    assert_int_equal(expired, 1);
    assert_int_equal(store_holds_tick(t, now, 10, &expired), USHER_ERR_OK);
    assert_int_equal(expired, 1);
    assert_int_equal(store_holds_tick(t, now, 10, &expired), USHER_ERR_OK);
    assert_int_equal(expired, 0);
    fx_commit(t);
    /* Stored status is EXPIRED even when read "before" the expiry time. */
    assert_int_equal(fx_reservation(fx, r[0].reservation_id, FX_T0).status, STORE_RES_EXPIRED);
    assert_int_equal(fx_reservation(fx, r[1].reservation_id, FX_T0).status, STORE_RES_EXPIRED);
    assert_int_equal(fx_reservation(fx, r[2].reservation_id, FX_T0).status, STORE_RES_HELD);
    assert_true(fx_seat_available(fx, h.schedule, 1, FX_T0));
    assert_false(fx_seat_available(fx, h.schedule, 3, FX_T0));
    assert_int_equal(cancel(fx, 1, r[0].reservation_id, FX_T0, NULL), USHER_ERR_HOLD_EXPIRED);
}

/* Child process: 200 attempts, each its own write txn (with a child txn as
 * the server does), each by a different user, on seats 1..10 in turn.
 * Exit status: how many holds it won. */
static int race_child(const char *dir, unsigned proc, uint64_t concert, uint64_t schedule,
                      int go_fd)
{
    store_options o = fx_options();
    store *st = NULL;
    if (store_open(&st, dir, &o) != USHER_ERR_OK)
        return 255;
    char go;
    if (read(go_fd, &go, 1) != 1)
        return 254;
    int won = 0;
    for (unsigned i = 0; i < 200; i++) {
        user_id u = fx_user(proc * 1000 + i);
        store_txn *t = NULL, *child = NULL;
        store_reservation r;
        if (store_write_begin(st, &t) != USHER_ERR_OK || store_child_begin(t, &child) != USHER_ERR_OK)
            return 253;
        usher_err err = store_seat_hold(child, &u, concert, schedule, i % 10 + 1, FX_T0, &r, NULL);
        if (err == USHER_ERR_OK) {
            if (store_txn_commit(child) != USHER_ERR_OK)
                return 252;
            won++;
        } else if (err == USHER_ERR_SEAT_UNAVAILABLE) {
            store_txn_end(child);
        } else {
            return 251;
        }
        if (store_txn_commit(t) != USHER_ERR_OK)
            return 250;
    }
    store_close(st);
    return won;
}

static void test_hold_two_processes_race_for_ten_seats(void **state)
{
    store_fixture *fx = *state;
    holds_ctx h = catalog(fx);
    fx_close(fx);   /* each process opens its own env after fork */
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pids[2];
    for (unsigned p = 0; p < 2; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            close(go[1]);
            _exit(race_child(fx->dir, p + 1, h.concert, h.schedule, go[0]));
        }
    }
    close(go[0]);
    assert_int_equal(write(go[1], "gg", 2), 2);   /* both start at once */
    close(go[1]);
    int won = 0;
    for (unsigned p = 0; p < 2; p++) {
        int status;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        assert_true(WEXITSTATUS(status) <= 10);
        won += WEXITSTATUS(status);
    }
    assert_int_equal(won, 10);

    fx_open(fx);
    store_seat seats[STORE_SEATS_MAX];
    size_t n;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_schedule_seats(t, h.schedule, FX_T0, seats, &n), USHER_ERR_OK);
    for (size_t i = 0; i < n; i++)
        assert_false(seats[i].available);
    /* Exactly ten reservations exist, one per seat. */
    bool seen[11] = { false };
    for (uint64_t id = 1; id <= 10; id++) {
        store_reservation r;
        assert_int_equal(store_reservation_get(t, id, FX_T0, &r), USHER_ERR_OK);
        assert_false(seen[r.seat_no]);
        seen[r.seat_no] = true;
    }
    store_reservation r;
    assert_int_equal(store_reservation_get(t, 11, FX_T0, &r), USHER_ERR_NOT_FOUND);
    store_txn_end(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_hold_creates_held_reservation_with_seat_price),
        FX_TEST(test_hold_taken_seat_fails),
        FX_TEST(test_hold_expired_hold_is_free_at_once),
        FX_TEST(test_hold_own_seat_returns_same_reservation),
        FX_TEST(test_hold_limit_counts_live_holds_per_performance),
        FX_TEST(test_hold_cancelled_hold_frees_the_limit),
        FX_TEST(test_hold_seat_outside_range_is_invalid),
        FX_TEST(test_hold_names_the_bad_parameter_and_refuses_a_started_performance),
        FX_TEST(test_hold_other_concert_forbidden_unknown_schedule_not_found),
        FX_TEST(test_cancel_live_hold_frees_seat_and_repeats),
        FX_TEST(test_cancel_refusals),
        FX_TEST(test_reservation_list_newest_first_with_paging),
        FX_TEST(test_holds_tick_expires_due_holds_up_to_max),
        FX_TEST(test_hold_two_processes_race_for_ten_seats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
