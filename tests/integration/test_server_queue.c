/* End to end over TCP: the waiting queue. Strict FIFO admission under
 * --max-active, admission as soon as a payment frees a slot and within one
 * --admit-interval after --active-ttl frees one, re-entry semantics. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <string.h>

#define DAY_MS 86400000LL
#define PRICE 10000
#define USERS 6

/* A user in the queue: the reply of its queue.enter. */
typedef struct queued {
    harness_user user;
    char token[HARNESS_TOKEN_CAP];
    char status;         /* 'A', 'W' or 'E' */
    uint64_t position;
} queued;

/* queue.enter for u; fills token, status and position. */
static void enter(harness_conn *c, uint64_t concert_id, queued *q)
{
    harness_reply r;
    harness_callf(c, &r, "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}", q->user.session,
                  (unsigned long long)concert_id);
    harness_expect(&r, OK);
    snprintf(q->token, sizeof q->token, "%s", harness_get_str(&r, "token"));
    q->status = harness_obj_str_is(r.result, "status", "ACTIVE")    ? 'A'
                : harness_obj_str_is(r.result, "status", "WAITING") ? 'W'
                                                                    : 'E';
    q->position = harness_get_u64(&r, "position");
    harness_reply_free(&r);
}

/* Reads every user's state; fails when an earlier WAITING user stands behind
 * a later ACTIVE one, or positions are not 1, 2, 3... among the waiting. */
static void read_states(harness_conn *c, queued *qs, size_t n)
{
    uint64_t next_position = 1;
    bool someone_waiting = false;
    for (size_t i = 0; i < n; i++) {
        qs[i].status = harness_queue_state(c, qs[i].token, &qs[i].position);
        if (qs[i].status == 'W') {
            someone_waiting = true;
            if (qs[i].position != next_position)
                fail_msg("user %zu: position %llu, expected %llu", i + 1,
                         (unsigned long long)qs[i].position, (unsigned long long)next_position);
            next_position++;
        } else if (qs[i].status == 'A' && someone_waiting) {
            fail_msg("user %zu is ACTIVE while an earlier user still waits", i + 1);
        } else if (qs[i].position != 0) {
            fail_msg("user %zu is %c with position %llu, expected 0", i + 1, qs[i].status,
                     (unsigned long long)qs[i].position);
        }
    }
}

static void test_enter_into_empty_queue_is_active_at_once(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, 50, PRICE, &v);
    queued q;
    harness_register(v.c, &q.user);
    enter(v.c, v.concert_id, &q);
    assert_int_equal(q.status, 'A');
    assert_int_equal(q.position, 0);
    harness_reply r;
    harness_callf(v.c, &r, "queue.status", "{\"token\":\"%s\"}", q.token);
    harness_expect(&r, OK);
    assert_true(harness_obj_str_is(r.result, "status", "ACTIVE"));
    assert_true(harness_get_i64(&r, "active_until") > harness_now_ms());
    harness_reply_free(&r);
    harness_callf_expect(v.c, OK, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", q.token,
                         (unsigned long long)v.concert_id);
}

static void test_waiting_users_are_admitted_strictly_in_order(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-active 2 --admit-interval 200ms --active-ttl 3s", 50, PRICE, &v);
    harness_conn *c = v.c;
    queued qs[USERS];
    for (size_t i = 0; i < USERS; i++) {
        harness_register(c, &qs[i].user);
        harness_charge(c, qs[i].user.session, 100000);
    }
    for (size_t i = 0; i < USERS; i++)
        enter(c, v.concert_id, &qs[i]);
    assert_int_equal(qs[0].status, 'A');
    assert_int_equal(qs[1].status, 'A');
    for (size_t i = 2; i < USERS; i++) {
        assert_int_equal(qs[i].status, 'W');
        assert_int_equal(qs[i].position, i - 1);
    }
    read_states(c, qs, USERS);

    /* User 1 pays: the slot goes to user 3 in the same transaction. A
     * second first, so that user 3's ACTIVE time ends a second after user
     * 2's: the reads below (one query per user) then never span both
     * expiries, whatever the machine's speed. */
    harness_sleep_ms(1000);
    uint64_t rid = harness_reserve(c, qs[0].token, v.schedule_id, 1, NULL);
    harness_callf_expect(c, OK, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         qs[0].token, (unsigned long long)rid);
    read_states(c, qs, USERS);
    assert_int_equal(qs[0].status, 'E');
    assert_int_equal(qs[1].status, 'A');
    assert_int_equal(qs[2].status, 'A');
    assert_int_equal(qs[3].position, 1);
    assert_int_equal(qs[5].position, 3);

    /* User 2's ACTIVE time runs out: user 4 is admitted within one admit
     * interval (200 ms; 750 ms of slack for scheduling on a loaded machine). */
    harness_reply r;
    harness_callf(c, &r, "queue.status", "{\"token\":\"%s\"}", qs[1].token);
    harness_expect(&r, OK);
    int64_t active_until = harness_get_i64(&r, "active_until");
    harness_reply_free(&r);
    int64_t deadline = active_until + 200 + 750;
    while (harness_now_ms() < active_until)
        harness_sleep_ms(20);
    for (;;) {
        read_states(c, qs, USERS);
        if (qs[3].status == 'A')
            break;
        if (harness_now_ms() > deadline)
            fail_msg("user 4 not admitted %lld ms after user 2 expired",
                     (long long)(harness_now_ms() - active_until));
        harness_sleep_ms(20);
    }
    assert_int_equal(qs[1].status, 'E');
    assert_int_equal(qs[0].status, 'E');
    /* At most two ACTIVE at any time. */
    int active = 0;
    for (size_t i = 0; i < USERS; i++)
        active += qs[i].status == 'A';
    assert_true(active <= 2);
    harness_callf_expect(c, TOKEN_EXPIRED, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}",
                         qs[1].token, (unsigned long long)v.concert_id);
}

static void test_reenter_while_waiting_or_active_returns_the_same_entry(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-active 1", 50, PRICE, &v);
    harness_conn *c = v.c;
    queued qs[3];
    for (size_t i = 0; i < 3; i++) {
        harness_register(c, &qs[i].user);
        enter(c, v.concert_id, &qs[i]);
    }
    assert_int_equal(qs[0].status, 'A');
    assert_int_equal(qs[1].position, 1);
    assert_int_equal(qs[2].position, 2);

    for (int round = 0; round < 3; round++) {
        queued again = qs[1];
        enter(c, v.concert_id, &again);
        assert_int_equal(again.status, 'W');
        assert_int_equal(again.position, 1);
        /* The new token names the same entry. */
        uint64_t position = 0;
        assert_int_equal(harness_queue_state(c, again.token, &position), 'W');
        assert_int_equal(position, 1);
    }
    queued active_again = qs[0];
    enter(c, v.concert_id, &active_again);
    assert_int_equal(active_again.status, 'A');
    assert_int_equal(active_again.position, 0);
    /* No duplicate pushed user 3 back. */
    read_states(c, qs, 3);
    assert_int_equal(qs[2].position, 2);
}

static void test_reenter_after_expired_goes_to_the_back(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, "--max-active 1", 50, PRICE, &v);
    harness_conn *c = v.c;
    queued qs[3];
    for (size_t i = 0; i < 3; i++) {
        harness_register(c, &qs[i].user);
        harness_charge(c, qs[i].user.session, 100000);
        enter(c, v.concert_id, &qs[i]);
    }
    uint64_t rid = harness_reserve(c, qs[0].token, v.schedule_id, 2, NULL);
    harness_callf_expect(c, OK, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         qs[0].token, (unsigned long long)rid);
    read_states(c, qs, 3);
    assert_int_equal(qs[0].status, 'E');
    assert_int_equal(qs[1].status, 'A');
    assert_int_equal(qs[2].position, 1);

    queued back = qs[0];
    enter(c, v.concert_id, &back);
    assert_int_equal(back.status, 'W');
    assert_int_equal(back.position, 2);
    assert_string_not_equal(back.token, qs[0].token);
    /* The old token stays EXPIRED. */
    assert_int_equal(harness_queue_state(c, qs[0].token, NULL), 'E');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_enter_into_empty_queue_is_active_at_once),
        HARNESS_TEST(test_waiting_users_are_admitted_strictly_in_order),
        HARNESS_TEST(test_reenter_while_waiting_or_active_returns_the_same_entry),
        HARNESS_TEST(test_reenter_after_expired_goes_to_the_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
