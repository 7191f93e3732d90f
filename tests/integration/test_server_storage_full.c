/* A full store (the LMDB map, --map-size) refuses the writes that do not fit
 * with STORAGE_FULL, writes nothing of them, and keeps serving reads and the
 * writes that still fit; the server stays up and says why in its log. A
 * restart with the same map still refuses; one with a larger map writes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_procs.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BURST 100
#define MAX_CONCERTS 60
#define PERFORMANCES_PER_CONCERT 500

/* Creates 1000-seat performances of concert_id in pipelined bursts; returns
 * how many were created, stopping at the first STORAGE_FULL (*full set). */
static unsigned fill_concert(harness_conn *c, const char *admin, uint64_t concert_id, bool *full)
{
    unsigned created = 0;
    for (unsigned base = 0; base < PERFORMANCES_PER_CONCERT && !*full; base += BURST) {
        uint32_t first = 0;
        for (unsigned i = 0; i < BURST; i++) {
            uint32_t id = harness_sendf(c, "admin.schedule.create",
                                        "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld,"
                                        "\"seats\":1000,\"price\":5}",
                                        admin, (unsigned long long)concert_id,
                                        (long long)(harness_now_ms() + 86400000LL + base + i));
            if (i == 0) first = id;
        }
        for (unsigned i = 0; i < BURST; i++) {
            harness_reply r;
            usher_err e = harness_recv(c, first + i, &r);
            if (e == USHER_ERR_OK) created++;
            else if (e == USHER_ERR_STORAGE_FULL) *full = true;
            else fail_msg("unexpected %s: %s", r.code, r.message ? r.message : "");
            harness_reply_free(&r);
        }
    }
    return created;
}

static void test_full_store_refuses_writes_with_storage_full_until_the_map_grows(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--map-size 64 --max-active 1000");
    harness_conn *c = harness_fx_connect(fx, hs->port);
    const char *admin = harness_admin_token(hs);
    harness_user u;
    harness_register(c, &u);
    harness_charge(c, u.session, 1000);

    bool full = false;
    uint64_t concert_id = 0;
    unsigned created = 0;
    for (int n = 0; n < MAX_CONCERTS && !full; n++) {
        harness_reply r;
        harness_callf(c, &r, "admin.concert.create", "{\"admin\":\"%s\",\"title\":\"fill %d\"}", admin, n);
        if (r.err == USHER_ERR_STORAGE_FULL) { full = true; harness_reply_free(&r); break; }
        harness_expect(&r, OK);
        concert_id = harness_get_u64(&r, "concert_id");
        harness_reply_free(&r);
        created = fill_concert(c, admin, concert_id, &full);
    }
    assert_true(full);

    /* Reads go on, and so does the server. */
    harness_reply r;
    assert_int_equal(harness_call(c, "sys.ping", "{}", &r), USHER_ERR_OK);
    harness_reply_free(&r);
    assert_int_equal(harness_call(c, "concert.list", "{\"limit\":1}", &r), USHER_ERR_OK);
    harness_reply_free(&r);
    assert_int_equal(harness_balance(c, u.session), 1000);
    assert_true(harness_alive(hs));

    /* The refused performances left nothing behind: the concert that filled
     * up lists exactly the ones acknowledged. */
    harness_shopper sh;
    harness_shopper_new(c, concert_id, 0, &sh);
    harness_callf(c, &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", sh.token,
                  (unsigned long long)concert_id);
    harness_expect(&r, OK);
    size_t n;
    harness_get_array(&r, "dates", &n);
    assert_int_equal(n, created);
    harness_reply_free(&r);

    /* The operator is told why. */
    assert_true(harness_log_count(hs, "raise --map-size") > 0);

    /* It does not clear by restarting with the same map: a few more
     * performances fill it again (the first fill took thousands). */
    harness_kill(hs, SIGTERM);
    harness_restart(hs);
    c = harness_fx_connect(fx, hs->port);
    bool full_again = false;
    unsigned again = fill_concert(c, admin, concert_id, &full_again);
    assert_true(full_again);
    assert_true(again < BURST);
    /* ... but a larger map takes writes again, and nothing acknowledged is lost. */
    harness_kill(hs, SIGTERM);
    snprintf(hs->extra_args, sizeof hs->extra_args, "--map-size 128 --max-active 1000");
    harness_restart(hs);
    c = harness_fx_connect(fx, hs->port);
    harness_callf(c, &r, "admin.concert.create", "{\"admin\":\"%s\",\"title\":\"after\"}", admin);
    harness_expect(&r, OK);
    harness_reply_free(&r);
    assert_int_equal(harness_balance(c, u.session), 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_full_store_refuses_writes_with_storage_full_until_the_map_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
