/* usherd --demo on a data dir whose demo performances have all passed
 * still serves a sale: it adds three future performances to the demo
 * concert, says so in the log, and does it once (a later start finds a
 * future one and adds nothing). A concert 1 that is not the demo's is left
 * as it is. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_procs.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "../../server/store.h"

#define DAY_MS 86400000LL
#define SEATS 10

/* Writes concert 1 (title, venue) with two performances that have passed
 * into the stopped server's store. */
static void make_past_concert(const char *data_dir, const char *title, const char *venue)
{
    store_options opt = store_options_default();
    store *st;
    assert_int_equal(store_open(&st, data_dir, &opt), USHER_ERR_OK);
    store_txn *t;
    uint64_t concert_id, schedule_id;
    int64_t prices[SEATS];
    for (int i = 0; i < SEATS; i++) prices[i] = 5000;
    assert_int_equal(store_write_begin(st, &t), USHER_ERR_OK);
    assert_int_equal(store_concert_create(t, title, strlen(title), venue, strlen(venue), &concert_id),
                     USHER_ERR_OK);
    assert_int_equal(concert_id, 1);
    for (int i = 1; i <= 2; i++)
        assert_int_equal(store_schedule_create(t, concert_id, harness_now_ms() - i * DAY_MS, SEATS,
                                               prices, &schedule_id), USHER_ERR_OK);
    assert_int_equal(store_txn_commit(t), USHER_ERR_OK);
    store_close(st);
}

/* concert.dates of concert 1 (all of them in the future by definition). */
static size_t future_dates(harness_conn *c)
{
    harness_shopper sh;
    harness_shopper_new(c, 1, 0, &sh);
    harness_reply r;
    harness_callf(c, &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":1}", sh.token);
    harness_expect(&r, OK);
    size_t n;
    const msgpack_object *dates = harness_get_array(&r, "dates", &n);
    for (size_t i = 0; i < n; i++) {
        assert_true(harness_obj_i64(&dates[i], "starts_at") > harness_now_ms());
        assert_int_equal(harness_obj_u64(&dates[i], "available"), 50);
    }
    harness_reply_free(&r);
    return n;
}

/* A fresh server without --demo (it makes the key), stopped. */
static harness_server *stopped_server(harness_fixture *fx)
{
    harness_server *hs = harness_fx_start(fx, NULL);
    assert_true(harness_kill(hs, SIGTERM) >= 0);
    return hs;
}

static void test_demo_adds_future_performances_when_all_have_passed(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = stopped_server(fx);
    make_past_concert(hs->data_dir, "Usher Demo Night", "Seoul Arts Center");
    snprintf(hs->extra_args, sizeof hs->extra_args, "--demo");
    harness_restart(hs);
    const char *said = "demo: every performance of concert 1 had passed; added 3 dates from ";
    assert_true(harness_log_wait(hs, said, 3000));
    harness_conn *c = harness_fx_connect(fx, hs->port);
    assert_int_equal(future_dates(c), 3);
    harness_conn_disconnect(c);

    /* Once: the next start finds future performances and adds nothing. */
    assert_true(harness_kill(hs, SIGTERM) >= 0);
    harness_restart(hs);
    c = harness_fx_connect(fx, hs->port);
    assert_int_equal(future_dates(c), 3);
    assert_int_equal(harness_log_count(hs, said), 1);
    assert_int_equal(harness_log_count(hs, "demo concert created"), 0);
}

static void test_demo_leaves_a_concert_that_is_not_its_own(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = stopped_server(fx);
    make_past_concert(hs->data_dir, "Our Own Show", "Hall 2");
    snprintf(hs->extra_args, sizeof hs->extra_args, "--demo");
    harness_restart(hs);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_shopper sh;
    harness_shopper_new(c, 1, 0, &sh);
    harness_reply r;
    harness_callf(c, &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":1}", sh.token);
    size_t n;
    harness_get_array(&r, "dates", &n);
    assert_int_equal(n, 0);
    harness_reply_free(&r);
    assert_int_equal(harness_log_count(hs, "demo:"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_demo_adds_future_performances_when_all_have_passed),
        HARNESS_TEST(test_demo_leaves_a_concert_that_is_not_its_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
