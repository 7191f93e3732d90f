/* Harness, flows: the multi-step moves most tests start with (register,
 * charge, enter the queue until admitted, create a concert, reserve). Each
 * fails the running test, naming the step, when a step does not succeed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <string.h>

/* Fails the test unless r succeeded; names the step. */
static void need_ok(const harness_reply *r, const char *step)
{
    if (r->err != USHER_ERR_OK)
        fail_msg("%s failed: %s: %s", step, r->code, r->message ? r->message : "");
}

/* Copies string key of r into out[cap]; fails when it does not fit. */
static void copy_str(harness_reply *r, const char *key, char *out, size_t cap)
{
    const char *s = harness_get_str(r, key);
    if (strlen(s) >= cap)
        fail_msg("'%s' is %zu bytes, more than %zu", key, strlen(s), cap - 1);
    memcpy(out, s, strlen(s) + 1);
}

void harness_register(harness_conn *c, harness_user *u)
{
    harness_reply r;
    harness_call(c, "user.register", "{}", &r);
    need_ok(&r, "user.register");
    copy_str(&r, "user_id", u->user_id, sizeof u->user_id);
    copy_str(&r, "secret", u->secret, sizeof u->secret);
    copy_str(&r, "session", u->session, sizeof u->session);
    harness_reply_free(&r);
}

int64_t harness_charge(harness_conn *c, const char *session, int64_t amount)
{
    harness_reply r;
    harness_callf(c, &r, "wallet.charge", "{\"session\":\"%s\",\"amount\":%lld}", session,
                  (long long)amount);
    need_ok(&r, "wallet.charge");
    int64_t balance = harness_get_i64(&r, "balance");
    harness_reply_free(&r);
    return balance;
}

int64_t harness_balance(harness_conn *c, const char *session)
{
    harness_reply r;
    harness_callf(c, &r, "wallet.balance", "{\"session\":\"%s\"}", session);
    need_ok(&r, "wallet.balance");
    int64_t balance = harness_get_i64(&r, "balance");
    harness_reply_free(&r);
    return balance;
}

char harness_queue_state(harness_conn *c, const char *token, uint64_t *position)
{
    harness_reply r;
    harness_callf(c, &r, "queue.status", "{\"token\":\"%s\"}", token);
    need_ok(&r, "queue.status");
    char state = harness_obj_str_is(r.result, "status", "ACTIVE")    ? 'A'
                 : harness_obj_str_is(r.result, "status", "WAITING") ? 'W'
                 : harness_obj_str_is(r.result, "status", "EXPIRED") ? 'E'
                 : harness_obj_str_is(r.result, "status", "ABANDONED") ? 'X'
                                                                     : '?';
    if (position)
        *position = harness_get_u64(&r, "position");
    harness_reply_free(&r);
    if (state == '?')
        fail_msg("queue.status: unknown status");
    return state;
}

void harness_enter_until_active(harness_conn *c, const char *session, uint64_t concert_id,
                                char *token, int64_t timeout_ms)
{
    harness_reply r;
    harness_callf(c, &r, "queue.enter", "{\"session\":\"%s\",\"concert_id\":%llu}", session,
                  (unsigned long long)concert_id);
    need_ok(&r, "queue.enter");
    copy_str(&r, "token", token, HARNESS_TOKEN_CAP);
    bool active = harness_obj_str_is(r.result, "status", "ACTIVE");
    harness_reply_free(&r);
    int64_t deadline = harness_now_ms() + timeout_ms;
    while (!active) {
        char state = harness_queue_state(c, token, NULL);
        if (state == 'A')
            break;
        if (state == 'E')
            fail_msg("queue entry expired before it was admitted");
        if (harness_now_ms() > deadline)
            fail_msg("not admitted within %lld ms", (long long)timeout_ms);
        harness_sleep_ms(50);
    }
}

uint64_t harness_make_schedule(harness_conn *c, const char *admin, uint64_t concert_id,
                               uint32_t seats, int64_t price, int64_t starts_at_ms)
{
    harness_reply r;
    harness_callf(c, &r, "admin.schedule.create",
                  "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld,\"price\":%lld,"
                  "\"seats\":%u}",
                  admin, (unsigned long long)concert_id, (long long)starts_at_ms,
                  (long long)price, seats);
    need_ok(&r, "admin.schedule.create");
    uint64_t schedule_id = harness_get_u64(&r, "schedule_id");
    harness_reply_free(&r);
    return schedule_id;
}

void harness_make_concert(harness_conn *c, const char *admin, uint32_t seats, int64_t price,
                          int64_t starts_at_ms, uint64_t *concert_id, uint64_t *schedule_id)
{
    harness_reply r;
    harness_callf(c, &r, "admin.concert.create",
                  "{\"admin\":\"%s\",\"title\":\"Harness Night\",\"venue\":\"Hall 1\"}", admin);
    need_ok(&r, "admin.concert.create");
    *concert_id = harness_get_u64(&r, "concert_id");
    harness_reply_free(&r);
    *schedule_id = harness_make_schedule(c, admin, *concert_id, seats, price, starts_at_ms);
}

uint64_t harness_reserve(harness_conn *c, const char *token, uint64_t schedule_id,
                         uint32_t seat_no, int64_t *expires_at)
{
    harness_reply r;
    harness_callf(c, &r, "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%u}",
                  token, (unsigned long long)schedule_id, seat_no);
    need_ok(&r, "seat.reserve");
    uint64_t id = harness_get_u64(&r, "reservation_id");
    if (expires_at)
        *expires_at = harness_get_i64(&r, "expires_at");
    harness_reply_free(&r);
    return id;
}

void harness_shopper_new(harness_conn *c, uint64_t concert_id, int64_t balance,
                         harness_shopper *out)
{
    harness_register(c, &out->user);
    if (balance > 0)
        harness_charge(c, out->user.session, balance);
    harness_enter_until_active(c, out->user.session, concert_id, out->token, 5000);
}

void harness_tamper(char *s)
{
    size_t mid = strlen(s) / 2;
    s[mid] = s[mid] == 'A' ? 'B' : 'A';
}
