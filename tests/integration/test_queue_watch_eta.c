/* The wait estimate against a queue admitting at a steady pace (one slot,
 * each admitted user's second running out): eta_s is nil until the server
 * has measured enough, then within 20% of the wait that really follows;
 * queue.enter (answered after a group commit) carries it too. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_notify.h"

#include <stdio.h>
#include <string.h>

#define PRICE 10000
#define STEADY "--max-active 1 --active-ttl 1s --admit-interval 100ms"
#define USERS 18

typedef struct queued {
    harness_user user;
    char token[HARNESS_TOKEN_CAP];
} queued;

/* queue.enter; returns the eta_s object type and sets *eta when an integer. */
static msgpack_object_type enter(harness_conn *c, uint64_t concert_id, queued *q, int64_t *eta)
{
    harness_register(c, &q->user);
    harness_reply r;
    harness_callf(c, &r, "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}", q->user.session,
                  (unsigned long long)concert_id);
    harness_expect(&r, OK);
    snprintf(q->token, sizeof q->token, "%s", harness_get_str(&r, "token"));
    msgpack_object_type t = MSGPACK_OBJECT_NIL;
    if (harness_has(&r, "eta_s")) {
        const msgpack_object *o = harness_get_obj(&r, "eta_s");
        t = o->type;
        if (t == MSGPACK_OBJECT_POSITIVE_INTEGER) *eta = (int64_t)o->via.u64;
    }
    harness_reply_free(&r);
    return t;
}

static void test_estimate_is_nil_then_close_to_the_real_wait(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, STEADY, 10, PRICE, &v);
    queued q[USERS];
    int64_t eta = -1;
    enter(v.c, v.concert_id, &q[0], &eta);   /* ACTIVE at once */
    /* nothing measured yet: nil */
    assert_int_equal(enter(v.c, v.concert_id, &q[1], &eta), MSGPACK_OBJECT_NIL);
    for (int i = 2; i < USERS; i++) enter(v.c, v.concert_id, &q[i], &eta);

    /* The last user's estimate, once there is one. */
    const char *token = q[USERS - 1].token;
    int64_t told = -1, told_at = 0;
    uint64_t position = 0;
    int64_t give_up = harness_mono_ms() + 15000;
    while (told < 0 && harness_mono_ms() < give_up) {
        harness_reply r;
        harness_callf(v.c, &r, "queue.status", "{\"token\":\"%s\"}", token);
        harness_expect(&r, OK);
        assert_true(harness_obj_str_is(r.result, "status", "WAITING"));
        const msgpack_object *o = harness_get_obj(&r, "eta_s");
        if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            told = (int64_t)o->via.u64;
            told_at = harness_mono_ms();
            position = harness_get_u64(&r, "position");
        } else {
            assert_int_equal(o->type, MSGPACK_OBJECT_NIL);
            harness_sleep_ms(250);
        }
        harness_reply_free(&r);
    }
    if (told < 0) fail_msg("no estimate after 15 s of steady admissions");
    assert_true(position >= 3);

    /* queue.enter, answered on the writer's commit, reports one too */
    queued late;
    int64_t late_eta = -1;
    assert_int_equal(enter(v.c, v.concert_id, &late, &late_eta), MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_true(late_eta >= told - 2);

    /* the real wait */
    harness_conn *w = harness_fx_connect(fx, v.hs->port);
    harness_callf_expect(w, OK, "queue.watch", "{\"token\":\"%s\"}", token);
    harness_note n;
    harness_expect_note(w, "queue.admitted", 60000, &n);
    harness_note_free(&n);
    double waited_s = (double)(harness_mono_ms() - told_at) / 1000.0;
    double off = ((double)told - waited_s) / waited_s;
    print_message("position %llu: told %lld s, waited %.1f s (%+.0f%%)\n", (unsigned long long)position,
                  (long long)told, waited_s, off * 100.0);
    if (off > 0.2 || off < -0.2)
        fail_msg("estimate %lld s, real wait %.1f s: off by %.0f%%", (long long)told, waited_s, off * 100.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_estimate_is_nil_then_close_to_the_real_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
