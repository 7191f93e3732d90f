/* Concerts, performances, dates with free-seat counts, and seat maps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "store_fixture.h"

static uint64_t concert(store_fixture *fx, const char *title, const char *venue)
{
    uint64_t id;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_concert_create(t, title, strlen(title), venue, strlen(venue), &id),
                     USHER_ERR_OK);
    fx_commit(t);
    return id;
}

static void test_concert_create_get_and_list_with_paging(void **state)
{
    store_fixture *fx = *state;
    uint64_t a = concert(fx, "Alpha", "Arena"), b = concert(fx, "Beta", ""),
             c = concert(fx, "Gamma", "Garden");
    store_concert out[4];
    size_t n;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_concert_get(t, b, &out[0]), USHER_ERR_OK);
    assert_int_equal(out[0].concert_id, b);
    assert_string_equal(out[0].title, "Beta");
    assert_string_equal(out[0].venue, "");
    assert_int_equal(store_concert_get(t, c + 1, &out[0]), USHER_ERR_NOT_FOUND);
    assert_int_equal(store_concert_list(t, 0, out, 4, &n), USHER_ERR_OK);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].concert_id, a);
    assert_string_equal(out[2].venue, "Garden");
    assert_int_equal(store_concert_list(t, a, out, 1, &n), USHER_ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].concert_id, b);
    assert_int_equal(store_concert_list(t, c, out, 4, &n), USHER_ERR_OK);
    assert_int_equal(n, 0);
    store_txn_end(t);
}

static void test_concert_title_of_max_length_round_trips(void **state)
{
    store_fixture *fx = *state;
    char title[STORE_TITLE_MAX + 2], venue[STORE_TITLE_MAX + 1];
    memset(title, 't', sizeof title);
    memset(venue, 'v', sizeof venue);
    uint64_t id;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_concert_create(t, title, STORE_TITLE_MAX + 1, venue, 1, &id),
                     USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(store_concert_create(t, title, 0, venue, 1, &id), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(store_concert_create(t, title, STORE_TITLE_MAX, venue, STORE_TITLE_MAX, &id),
                     USHER_ERR_OK);
    store_concert c;
    assert_int_equal(store_concert_get(t, id, &c), USHER_ERR_OK);
    fx_commit(t);
    assert_int_equal(strlen(c.title), STORE_TITLE_MAX);
    assert_int_equal(strlen(c.venue), STORE_TITLE_MAX);
}

static void test_store_is_empty_until_first_concert(void **state)
{
    store_fixture *fx = *state;
    bool empty = false;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_is_empty(t, &empty), USHER_ERR_OK);
    store_txn_end(t);
    assert_true(empty);
    concert(fx, "A", "");
    t = fx_read(fx);
    assert_int_equal(store_is_empty(t, &empty), USHER_ERR_OK);
    store_txn_end(t);
    assert_false(empty);
}

static void test_schedule_create_checks_concert_and_seats(void **state)
{
    store_fixture *fx = *state;
    uint64_t c = concert(fx, "A", "");
    int64_t prices[STORE_SEATS_MAX + 1] = { 0 };
    uint64_t id;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_schedule_create(t, c + 1, FX_T0, 10, prices, &id), USHER_ERR_NOT_FOUND);
    assert_int_equal(store_schedule_create(t, c, FX_T0, 0, prices, &id), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(store_schedule_create(t, c, FX_T0, STORE_SEATS_MAX + 1, prices, &id),
                     USHER_ERR_INVALID_ARGUMENT);
    prices[3] = -1;
    assert_int_equal(store_schedule_create(t, c, FX_T0, 10, prices, &id), USHER_ERR_INVALID_ARGUMENT);
    prices[3] = 0;
    assert_int_equal(store_schedule_create(t, c, FX_T0, STORE_SEATS_MAX, prices, &id), USHER_ERR_OK);
    store_schedule s;
    assert_int_equal(store_schedule_get(t, id, &s), USHER_ERR_OK);
    assert_int_equal(s.concert_id, c);
    assert_int_equal(s.seats, STORE_SEATS_MAX);
    assert_int_equal(s.starts_at_ms, FX_T0);
    assert_int_equal(store_schedule_get(t, id + 1, &s), USHER_ERR_NOT_FOUND);
    fx_commit(t);
}

static void test_schedule_limit_per_concert(void **state)
{
    store_fixture *fx = *state;
    uint64_t c = concert(fx, "A", ""), other = concert(fx, "B", "");
    int64_t prices[1] = { 5 };
    uint64_t id;
    store_txn *t = fx_write(fx);
    for (int i = 0; i < STORE_SCHEDULES_PER_CONCERT_MAX; i++)
        assert_int_equal(store_schedule_create(t, c, FX_T0 + i, 1, prices, &id), USHER_ERR_OK);
    assert_int_equal(store_schedule_create(t, c, FX_T0, 1, prices, &id), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(store_schedule_create(t, other, FX_T0, 1, prices, &id), USHER_ERR_OK);
    fx_commit(t);
    store_date dates[STORE_SCHEDULES_PER_CONCERT_MAX];
    size_t n;
    t = fx_read(fx);
    assert_int_equal(store_concert_dates(t, c, FX_T0 - 1, dates, STORE_SCHEDULES_PER_CONCERT_MAX, &n),
                     USHER_ERR_OK);
    store_txn_end(t);
    assert_int_equal(n, STORE_SCHEDULES_PER_CONCERT_MAX);
}

static void test_concert_dates_future_only_earliest_first_with_free_seats(void **state)
{
    store_fixture *fx = *state;
    uint64_t c = concert(fx, "A", ""), other = concert(fx, "B", "");
    uint64_t late = fx_schedule(fx, c, 5, 10, FX_T0 + 3000);
    uint64_t past = fx_schedule(fx, c, 5, 10, FX_T0 - 1);
    uint64_t now_one = fx_schedule(fx, c, 5, 10, FX_T0);
    uint64_t early = fx_schedule(fx, c, 4, 10, FX_T0 + 2000);
    fx_schedule(fx, other, 5, 10, FX_T0 + 1000);
    (void)past;
    (void)now_one;
    /* early: one live hold, one expired hold, one cancelled; late: nothing. */
    store_reservation r;
    assert_int_equal(fx_hold(fx, 1, c, early, 1, FX_T0, NULL), USHER_ERR_OK);
    assert_int_equal(fx_hold(fx, 2, c, early, 2, FX_T0 - FX_HOLD_TTL_MS, NULL), USHER_ERR_OK);
    assert_int_equal(fx_hold(fx, 3, c, early, 3, FX_T0, &r), USHER_ERR_OK);
    user_id u3 = fx_user(3);
    store_txn *t = fx_write(fx);
    assert_int_equal(store_reservation_cancel(t, &u3, r.reservation_id, FX_T0, &r), USHER_ERR_OK);
    fx_commit(t);

    store_date d[8];
    size_t n;
    t = fx_read(fx);
    assert_int_equal(store_concert_dates(t, c, FX_T0, d, 8, &n), USHER_ERR_OK);
    assert_int_equal(n, 2);   /* starts_at > now only */
    assert_int_equal(d[0].schedule.schedule_id, early);
    assert_int_equal(d[0].schedule.seats, 4);
    assert_int_equal(d[0].available, 3);
    assert_int_equal(d[1].schedule.schedule_id, late);
    assert_int_equal(d[1].available, 5);
    assert_int_equal(store_concert_dates(t, c, FX_T0, d, 1, &n), USHER_ERR_OK);
    assert_int_equal(n, 1);
    /* Once the live hold expires, the seat counts as free again. */
    assert_int_equal(store_concert_dates(t, c, FX_T0 + FX_HOLD_TTL_MS, d, 8, &n), USHER_ERR_OK);
    assert_int_equal(d[0].available, 4);
    assert_int_equal(store_concert_dates(t, other + 1, FX_T0, d, 8, &n), USHER_ERR_NOT_FOUND);
    store_txn_end(t);
}

static void test_schedule_seats_lists_every_seat_with_price_and_availability(void **state)
{
    store_fixture *fx = *state;
    uint64_t c, s;
    fx_catalog(fx, 50, 1000, FX_T0 + 100000, &c, &s);
    assert_int_equal(fx_hold(fx, 1, c, s, 50, FX_T0, NULL), USHER_ERR_OK);
    store_seat seats[STORE_SEATS_MAX];
    size_t n;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_schedule_seats(t, s, FX_T0, seats, &n), USHER_ERR_OK);
    assert_int_equal(n, 50);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(seats[i].seat_no, i + 1);
        assert_int_equal(seats[i].price_krw, 1000 * (int64_t)(i + 1));
        assert_int_equal(seats[i].available, i != 49);
    }
    assert_int_equal(store_schedule_seats(t, s + 1, FX_T0, seats, &n), USHER_ERR_NOT_FOUND);
    store_txn_end(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_concert_create_get_and_list_with_paging),
        FX_TEST(test_concert_title_of_max_length_round_trips),
        FX_TEST(test_store_is_empty_until_first_concert),
        FX_TEST(test_schedule_create_checks_concert_and_seats),
        FX_TEST(test_schedule_limit_per_concert),
        FX_TEST(test_concert_dates_future_only_earliest_first_with_free_seats),
        FX_TEST(test_schedule_seats_lists_every_seat_with_price_and_availability),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
