/* End to end, the --workers supervisor: a worker killed with SIGKILL is
 * replaced by a new process while the survivor's clients see no error; a
 * crash loop makes the parent give up and exit 1; a worker killed in the
 * middle of a flash sale loses no acknowledged write and leaves the store
 * sound (usher-check). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_procs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPLACE_DEADLINE_MS 8000   /* a replacement must serve within this */
#define GIVE_UP_DEADLINE_MS 20000  /* the crash loop must end the parent within this */
#define FIND_WORKER_MS 5000        /* connections tried to meet the other worker */
#define SURVIVOR_ROUNDS 40         /* charge + balance rounds on the survivor after the kill */
#define SALE_CLIENTS_PER_WORKER 6
#define SALE_CHARGES 12            /* pipelined charges per client */
#define SALE_HOLDS 2               /* pipelined seat.reserve per client */
#define SALE_CHARGE_KRW 100

/* Waits until pid is gone (reaped by its parent); false after timeout_ms. */
static bool wait_gone(pid_t pid, int timeout_ms)
{
    int64_t deadline = harness_mono_ms() + timeout_ms;
    while (harness_proc_state(pid) != 0 && harness_proc_state(pid) != 'Z') {
        if (harness_mono_ms() > deadline)
            return false;
        harness_sleep_ms(5);
    }
    return true;
}

/* One charge, then one balance read, on c, both answered OK; returns the balance. */
static int64_t charge_and_read(harness_conn *c, const char *session, int64_t *charged)
{
    harness_reply r;
    harness_callf(c, &r, "wallet.charge", "{\"session\":\"%s\",\"amount\":10}", session);
    harness_expect(&r, OK);
    *charged += 10;
    assert_int_equal(harness_get_i64(&r, "balance"), *charged);
    harness_reply_free(&r);
    return harness_balance(c, session);
}

static void test_killed_worker_is_replaced_while_survivor_clients_see_no_error(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--workers 2");
    harness_conn *a = harness_fx_connect(fx, hs->port);
    pid_t pid_a = harness_instance_pid(a), pid_b = 0;
    harness_conn *b = harness_fx_connect_other(fx, hs->port, &pid_a, 1, FIND_WORKER_MS, &pid_b);
    assert_non_null(b);
    assert_int_equal(getpgid(pid_b), hs->pid);
    harness_user u;
    harness_register(a, &u);
    int64_t charged = 0;
    for (int i = 0; i < 5; i++) {
        int64_t balance = charge_and_read(a, u.session, &charged);
        assert_int_equal(balance, charged);
    }

    /* The kill lands while a charge is in flight on the survivor. */
    uint32_t inflight = harness_sendf(a, "wallet.charge", "{\"session\":\"%s\",\"amount\":10}", u.session);
    int64_t killed_at = harness_mono_ms();
    assert_int_equal(kill(pid_b, SIGKILL), 0);
    harness_reply r;
    harness_recv(a, inflight, &r);
    harness_expect(&r, OK);
    charged += 10;
    harness_reply_free(&r);
    harness_conn_disconnect(b);
    assert_true(wait_gone(pid_b, 5000));

    /* Keep the survivor busy while fresh connections look for a new pid. */
    pid_t avoid[2] = { pid_a, pid_b }, pid_new = 0;
    harness_conn *fresh = NULL;
    int64_t deadline = harness_mono_ms() + REPLACE_DEADLINE_MS;
    int64_t served_after_ms = -1;
    for (int round = 0; (!fresh || round < SURVIVOR_ROUNDS) && harness_mono_ms() < deadline; round++) {
        int64_t balance = charge_and_read(a, u.session, &charged);
        assert_int_equal(balance, charged);
        if (!fresh) fresh = harness_fx_connect_other(fx, hs->port, avoid, 2, 200, &pid_new);
        if (fresh && served_after_ms < 0) served_after_ms = harness_mono_ms() - killed_at;
    }
    if (!fresh) {
        harness_print_log_tail(hs, 20);
        fail_msg("no new worker served within %d ms of the kill", REPLACE_DEADLINE_MS);
    }
    printf("# worker %d killed; worker %d served %lld ms later; the survivor answered %lld charges "
           "without an error\n", (int)pid_b, (int)pid_new, (long long)served_after_ms,
           (long long)(charged / 10));
    assert_int_not_equal(pid_new, pid_b);
    assert_int_equal(getpgid(pid_new), hs->pid);
    assert_true(harness_alive(hs));
    /* The newcomer shares the data: it sees every charge and takes a new one. */
    assert_int_equal(harness_balance(fresh, u.session), charged);
    int64_t balance = charge_and_read(fresh, u.session, &charged);
    assert_int_equal(balance, charged);
    assert_int_equal(harness_balance(a, u.session), charged);

    char line[128];
    snprintf(line, sizeof line, "worker %d died (signal 9)", (int)pid_b);
    assert_true(harness_log_wait(hs, line, 1000));
    snprintf(line, sizeof line, "worker %d started", (int)pid_new);
    assert_true(harness_log_wait(hs, line, 1000));

    /* A graceful stop afterwards still ends with 0 and replaces nothing. */
    int status = harness_kill(hs, SIGTERM);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(harness_log_count(hs, "(replacement)"), 1);
}

static void test_workers_dying_fast_again_and_again_make_the_parent_give_up(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--workers 2");
    pid_t killed[64];
    int kills = 0, status = 0;
    bool exited = false;
    int64_t deadline = harness_mono_ms() + GIVE_UP_DEADLINE_MS;
    while (!exited && harness_mono_ms() < deadline) {
        pid_t kids[8];
        size_t n = harness_children(hs->pid, kids, 8);
        for (size_t i = 0; i < n; i++) {
            bool again = false;
            for (int k = 0; k < kills; k++)
                again |= killed[k] == kids[i];
            if (kill(kids[i], SIGKILL) == 0 && !again && kills < 64)
                killed[kills++] = kids[i];
        }
        exited = waitpid(hs->pid, &status, WNOHANG) == hs->pid;
        if (!exited)
            harness_sleep_ms(10);
    }
    if (!exited)
        harness_print_log_tail(hs, 30);
    assert_true(exited);
    pid_t pgid = hs->pid;
    hs->pid = 0;        /* reaped here; the fixture must not signal it again */
    kill(-pgid, SIGKILL);
    printf("# crash loop: %d workers killed before the parent gave up\n", kills);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_true(kills >= 5);
    assert_true(harness_log_count(hs, "giving up") == 1);
    assert_true(harness_log_count(hs, "exiting with status 1") == 1);
}

/* ----------------------------------------------------- the flash sale */

typedef struct sale_client {
    harness_conn *c;
    pid_t worker;
    harness_shopper sh;
    uint32_t charge_msgid[SALE_CHARGES];
    uint32_t hold_msgid[SALE_HOLDS];
    uint32_t seat[SALE_HOLDS];
    int charges_acked;
    uint64_t hold_acked[SALE_HOLDS];   /* reservation ids, 0 when not acknowledged */
    int replies;
    bool closed;
} sale_client;

/* Sends writes [from, to) of one client, pipelined: charges first, then holds. */
static void sale_send(sale_client *sc, const harness_venue *v, int from, int to)
{
    for (int op = from; op < to; op++) {
        if (op < SALE_CHARGES) {
            sc->charge_msgid[op] = harness_sendf(sc->c, "wallet.charge",
                                                 "{\"session\":\"%s\",\"amount\":%d}",
                                                 sc->sh.user.session, SALE_CHARGE_KRW);
            continue;
        }
        int k = op - SALE_CHARGES;
        sc->hold_msgid[k] = harness_sendf(sc->c, "seat.reserve",
                                          "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%u}",
                                          sc->sh.token, (unsigned long long)v->schedule_id,
                                          sc->seat[k]);
    }
}

/* Records one reply of sc's writes. */
static void sale_note(sale_client *sc, const harness_reply *r)
{
    sc->replies++;
    if (r->err != USHER_ERR_OK)
        return;
    for (int k = 0; k < SALE_CHARGES; k++)
        if (r->msgid == sc->charge_msgid[k])
            sc->charges_acked++;
    for (int k = 0; k < SALE_HOLDS; k++)
        if (r->msgid == sc->hold_msgid[k])
            sc->hold_acked[k] = harness_get_u64(r, "reservation_id");
}

/* Reads replies until all came or the connection died. must_all: every
 * reply must arrive and be OK. */
static void sale_collect(sale_client *sc, bool must_all)
{
    while (sc->replies < SALE_CHARGES + SALE_HOLDS) {
        harness_reply r;
        harness_io io = harness_read_reply(sc->c, &r);
        if (io != HARNESS_IO_OK) {
            if (must_all)
                fail_msg("a survivor's client lost its connection (io %d) after %d replies", io,
                         sc->replies);
            sc->closed = true;
            return;
        }
        if (must_all && r.err != USHER_ERR_OK)
            fail_msg("a survivor's client got %s: %s", r.code, r.message ? r.message : "");
        sale_note(sc, &r);
        harness_reply_free(&r);
    }
}

/* Checks on a live connection that what sc saw acknowledged is stored. */
static void sale_verify(harness_conn *c, const sale_client *sc)
{
    int64_t balance = harness_balance(c, sc->sh.user.session);
    assert_true(balance >= (int64_t)sc->charges_acked * SALE_CHARGE_KRW);
    assert_true(balance <= (int64_t)SALE_CHARGES * SALE_CHARGE_KRW);
    assert_int_equal(balance % SALE_CHARGE_KRW, 0);
    harness_reply r;
    harness_callf(c, &r, "reservation.list", "{\"session\":\"%s\"}", sc->sh.user.session);
    harness_expect(&r, OK);
    size_t n = 0;
    const msgpack_object *list = harness_get_array(&r, "reservations", &n);
    for (int k = 0; k < SALE_HOLDS; k++) {
        if (!sc->hold_acked[k])
            continue;
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found |= harness_obj_u64(&list[i], "reservation_id") == sc->hold_acked[k] &&
                     harness_obj_u64(&list[i], "seat_no") == sc->seat[k];
        assert_true(found);
    }
    harness_reply_free(&r);
}

static void test_worker_killed_mid_flash_sale_loses_no_acknowledged_write(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    enum { N = 2 * SALE_CLIENTS_PER_WORKER };
    harness_venue_open(fx, "--workers 2 --max-active 200 --hold-ttl 10m", N * SALE_HOLDS, 500, &v);
    pid_t pids[2] = { harness_instance_pid(v.c), 0 };
    harness_conn *other = harness_fx_connect_other(fx, v.hs->port, pids, 1, FIND_WORKER_MS, &pids[1]);
    assert_non_null(other);
    harness_conn_disconnect(other);

    /* Spread the clients: the same number on each worker. */
    sale_client sc[N];
    memset(sc, 0, sizeof sc);
    int on[2] = { 0, 0 }, made = 0;
    while (made < N) {
        harness_conn *c = harness_fx_connect(fx, v.hs->port);
        pid_t p = harness_instance_pid(c);
        int w = p == pids[0] ? 0 : 1;
        if (on[w] == SALE_CLIENTS_PER_WORKER) {
            harness_conn_disconnect(c);
            continue;
        }
        on[w]++;
        sale_client *s = &sc[made];
        s->c = c;
        s->worker = p;
        harness_shopper_new(c, v.concert_id, 0, &s->sh);
        for (int k = 0; k < SALE_HOLDS; k++)
            s->seat[k] = (uint32_t)(made * SALE_HOLDS + k + 1);
        made++;
    }

    /* Writes in flight on both workers: the survivor's clients send all of
     * theirs, the victim's half; once the victim has answered one, its
     * clients send the rest and the victim is killed at once. */
    enum { OPS = SALE_CHARGES + SALE_HOLDS };
    int victim = -1;
    for (int i = 0; i < N; i++) {
        sale_send(&sc[i], &v, 0, sc[i].worker == pids[0] ? OPS : OPS / 2);
        if (sc[i].worker == pids[1] && victim < 0)
            victim = i;
    }
    harness_reply first;
    assert_int_equal(harness_read_reply(sc[victim].c, &first), HARNESS_IO_OK);
    sale_note(&sc[victim], &first);
    harness_reply_free(&first);
    for (int i = 0; i < N; i++)
        if (sc[i].worker == pids[1])
            sale_send(&sc[i], &v, OPS / 2, OPS);
    assert_int_equal(kill(pids[1], SIGKILL), 0);

    int acked = 0, lost_conns = 0;
    for (int i = 0; i < N; i++) {
        sale_collect(&sc[i], sc[i].worker == pids[0]);
        acked += sc[i].charges_acked;
        lost_conns += sc[i].closed;
    }
    printf("# flash sale: %d charges acknowledged of %d sent, %d connections lost with the worker\n",
           acked, N * SALE_CHARGES, lost_conns);
    assert_true(wait_gone(pids[1], 5000));
    assert_true(harness_alive(v.hs));

    /* Every acknowledged write is stored, seen from the survivor. */
    harness_conn *check = NULL;
    for (int i = 0; i < N && !check; i++)
        if (sc[i].worker == pids[0])
            check = sc[i].c;
    for (int i = 0; i < N; i++)
        sale_verify(check, &sc[i]);
    harness_usher_check(v.hs->data_dir, NULL);

    /* The sale goes on: the replacement serves a new client. */
    pid_t avoid[2] = { pids[0], pids[1] }, pid_new = 0;
    harness_conn *fresh = harness_fx_connect_other(fx, v.hs->port, avoid, 2, REPLACE_DEADLINE_MS, &pid_new);
    assert_non_null(fresh);
    for (int i = 0; i < N; i++)
        sale_verify(fresh, &sc[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_killed_worker_is_replaced_while_survivor_clients_see_no_error),
        HARNESS_TEST(test_workers_dying_fast_again_and_again_make_the_parent_give_up),
        HARNESS_TEST(test_worker_killed_mid_flash_sale_loses_no_acknowledged_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
