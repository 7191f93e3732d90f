/* Clients that vanish in the middle of a request lose nothing and leave
 * nothing half-done. Many clients send a write (wallet.charge and
 * payment.pay with a request_id, seat.reserve) and close the socket at once,
 * before the reply (half with FIN, half with RST), and each also sends part
 * of a frame and closes. Afterwards every write is applied as a whole or not
 * at all: the balance is the sum of the ledger, a payment has its ledger
 * entry and its seat sold (or neither), a hold's seat is taken by it (or
 * the seat is free), a partial frame did nothing; a retry with the same
 * request_id completes each idempotent write exactly once; the server keeps
 * serving others; usher-check finds every invariant intact. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_procs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CLIENTS 100
#define SEATS (2 * CLIENTS)       /* client i holds seat 2i+1 (paid), reserves 2i+2 */
#define PRICE 100
#define SETUP_KRW 1000            /* acknowledged before the disconnects */
#define VANISHED_KRW 700          /* the charge whose client vanished */
#define PARTIAL_KRW 300           /* the charge of which only part of the frame was sent */
#define SETTLE_MS 10000

typedef struct client {
    harness_shopper sh;
    uint64_t paid_rid;            /* the hold payment.pay is sent for */
    uint32_t paid_seat;           /* its seat */
    uint32_t reserve_seat;        /* the seat seat.reserve is sent for */
    uint64_t payment_id;          /* the vanished payment, when it was applied */
    harness_conn *conn[3];        /* charge, reserve, pay: each closed right after sending */
    harness_conn *partial;        /* half a charge frame, then closed */
} client;

/* Closes with RST (SO_LINGER 0) when abort, else with FIN. */
static void vanish(harness_conn *c, bool abort)
{
    if (abort) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    harness_conn_disconnect(c);
}

/* Sends the first half of a wallet.charge frame (header included). */
static void send_half_charge(harness_conn *c, const char *session, unsigned i)
{
    char json[1024];
    snprintf(json, sizeof json, "{\"session\":\"%s\",\"amount\":%d,\"request_id\":\"pc-%u\"}",
             session, PARTIAL_KRW, i);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t at = msg_frame_begin(&sb);
    msg_pack_request_head(&pk, 1, "wallet.charge");
    size_t err_at = 0;
    assert_int_equal(msg_from_json(json, strlen(json), &pk, &err_at), USHER_ERR_OK);
    msg_frame_end(&sb, at);
    harness_send_raw(c, sb.data, sb.size / 2);
    msgpack_sbuffer_destroy(&sb);
}

/* The value of key in map o, or NULL. */
static const msgpack_object *map_get(const msgpack_object *o, const char *key)
{
    size_t len = strlen(key);
    for (uint32_t k = 0; o->type == MSGPACK_OBJECT_MAP && k < o->via.map.size; k++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[k];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == len &&
            memcmp(kv->key.via.str.ptr, key, len) == 0)
            return &kv->val;
    }
    return NULL;
}

/* Which seats of the performance are available, seen by the observer. */
static void seats_available(harness_conn *c, const char *token, uint64_t schedule_id,
                            bool available[SEATS + 1])
{
    harness_reply r;
    harness_callf(c, &r, "concert.seats", "{\"token\":\"%s\",\"schedule_id\":%llu}", token,
                  (unsigned long long)schedule_id);
    harness_expect(&r, OK);
    size_t n;
    const msgpack_object *s = harness_get_array(&r, "seats", &n);
    assert_int_equal(n, SEATS);
    for (size_t k = 0; k < n; k++) {
        const msgpack_object *a = map_get(&s[k], "available");
        assert_non_null(a);
        assert_int_equal(a->type, MSGPACK_OBJECT_BOOLEAN);
        available[harness_obj_u64(&s[k], "seat_no")] = a->via.boolean;
    }
    harness_reply_free(&r);
}

/* What one client's wallet, payments and reservations look like. */
typedef struct account {
    int64_t balance, ledger_sum;
    unsigned charges_of[3];       /* CHARGE entries of SETUP, VANISHED, PARTIAL amounts */
    unsigned other_charges;
    unsigned payment_entries;     /* PAYMENT ledger entries */
    uint64_t payment_entry_id;    /* their payment_id (when one) */
    unsigned payments;            /* payment.list */
    uint64_t payment_id;
    uint64_t payment_rid;         /* its reservation */
    char paid_status[16];         /* status of the paid hold */
    unsigned holds_on_reserve_seat;
} account;

static void read_account(harness_conn *c, const client *cl, account *a)
{
    memset(a, 0, sizeof *a);
    a->balance = harness_balance(c, cl->sh.user.session);
    harness_reply r;
    size_t n;
    harness_callf(c, &r, "wallet.history", "{\"session\":\"%s\",\"limit\":500}", cl->sh.user.session);
    harness_expect(&r, OK);
    const msgpack_object *e = harness_get_array(&r, "entries", &n);
    for (size_t k = 0; k < n; k++) {
        int64_t amount = harness_obj_i64(&e[k], "amount");
        a->ledger_sum += amount;
        if (harness_obj_str_is(&e[k], "kind", "PAYMENT")) {
            a->payment_entries++;
            a->payment_entry_id = harness_obj_u64(&e[k], "payment_id");
            assert_int_equal(amount, -PRICE);
        } else if (amount == SETUP_KRW) a->charges_of[0]++;
        else if (amount == VANISHED_KRW) a->charges_of[1]++;
        else if (amount == PARTIAL_KRW) a->charges_of[2]++;
        else a->other_charges++;
    }
    harness_reply_free(&r);

    harness_callf(c, &r, "payment.list", "{\"session\":\"%s\"}", cl->sh.user.session);
    harness_expect(&r, OK);
    const msgpack_object *p = harness_get_array(&r, "payments", &n);
    a->payments = (unsigned)n;
    if (n == 1) {
        a->payment_id = harness_obj_u64(p, "payment_id");
        size_t m;
        const msgpack_object *ids = harness_obj_array(p, "reservation_ids", &m);
        assert_int_equal(m, 1);
        a->payment_rid = ids[0].via.u64;
        assert_int_equal(harness_obj_i64(p, "amount"), PRICE);
    }
    harness_reply_free(&r);

    harness_callf(c, &r, "reservation.list", "{\"session\":\"%s\"}", cl->sh.user.session);
    harness_expect(&r, OK);
    const msgpack_object *res = harness_get_array(&r, "reservations", &n);
    for (size_t k = 0; k < n; k++) {
        uint64_t rid = harness_obj_u64(&res[k], "reservation_id");
        const msgpack_object *st = map_get(&res[k], "status");
        assert_non_null(st);
        if (rid == cl->paid_rid) {
            snprintf(a->paid_status, sizeof a->paid_status, "%.*s", (int)st->via.str.size,
                     st->via.str.ptr);
        } else {
            assert_int_equal(harness_obj_u64(&res[k], "seat_no"), cl->reserve_seat);
            assert_true(harness_obj_str_is(&res[k], "status", "HELD"));
            a->holds_on_reserve_seat++;
        }
    }
    harness_reply_free(&r);
}

/* Every write of the client is whole or absent; the partial frame did nothing. */
static void expect_whole_or_absent(const client *cl, const account *a, const bool available[])
{
    assert_int_equal(a->balance, a->ledger_sum);
    assert_int_equal(a->charges_of[0], 1);
    assert_in_range(a->charges_of[1], 0, 1);
    assert_int_equal(a->charges_of[2], 0);
    assert_int_equal(a->other_charges, 0);
    assert_in_range(a->payments, 0, 1);
    assert_int_equal(a->payment_entries, a->payments);
    if (a->payments == 1) {        /* paid: entry, seat sold, hold CONFIRMED */
        assert_int_equal(a->payment_entry_id, a->payment_id);
        assert_int_equal(a->payment_rid, cl->paid_rid);
        assert_string_equal(a->paid_status, "CONFIRMED");
    } else {                       /* not paid: the hold is still the user's */
        assert_string_equal(a->paid_status, "HELD");
    }
    assert_false(available[cl->paid_seat]);   /* held by the client, or sold to it */
    assert_in_range(a->holds_on_reserve_seat, 0, 1);
    assert_int_equal(available[cl->reserve_seat], a->holds_on_reserve_seat == 0);
}

static long count_in_log(const harness_server *hs, const char *pattern)
{
    return (long)harness_log_count(hs, pattern);
}

/* Waits until the server has closed every connection but the observer's,
 * then makes one write: the writer runs batches in order, so once it is
 * answered every request read from a vanished client is committed or refused. */
static void settle(harness_server *hs, harness_conn *observer, const char *session, long opened)
{
    int64_t deadline = harness_now_ms() + SETTLE_MS;
    while (count_in_log(hs, "conn_open ") < opened || count_in_log(hs, "conn_close ") < opened - 1) {
        if (harness_now_ms() > deadline) {
            harness_print_log_tail(hs, 20);
            fail_msg("the server did not close the vanished clients' connections within %d ms",
                     SETTLE_MS);
        }
        harness_sleep_ms(20);
    }
    /* On PostgreSQL requests run on many database threads, so the
     * observer's charge below may finish before a vanished client's write
     * that was read earlier: there, wait until no request has finished
     * for half a second (each writes its log line when it does). */
    if (harness_store_is_url(hs->data_dir)) {
        long seen = -1, now;
        int64_t quiet_since = harness_now_ms();
        while ((now = count_in_log(hs, " request method=")) != seen ||
               harness_now_ms() - quiet_since < 500) {
            if (now != seen) { seen = now; quiet_since = harness_now_ms(); }
            if (harness_now_ms() > deadline) fail_msg("the server's requests did not settle");
            harness_sleep_ms(50);
        }
    }
    harness_charge(observer, session, 1);
}

static void vanished_clients_writes_are_whole_or_absent(harness_fixture *fx, const char *args)
{
    harness_venue v;
    harness_venue_open(fx, args, SEATS, PRICE, &v);
    harness_shopper observer;
    harness_shopper_new(v.c, v.concert_id, 0, &observer);
    static client cl[CLIENTS];
    for (unsigned i = 0; i < CLIENTS; i++) {
        harness_shopper_new(v.c, v.concert_id, SETUP_KRW, &cl[i].sh);
        cl[i].paid_seat = 2 * i + 1;
        cl[i].reserve_seat = 2 * i + 2;
        cl[i].paid_rid = harness_reserve(v.c, cl[i].sh.token, v.schedule_id, cl[i].paid_seat, NULL);
    }
    long opened_before = count_in_log(v.hs, "conn_open ");

    /* Everybody connects, sends, and vanishes before any reply. */
    for (unsigned i = 0; i < CLIENTS; i++) {
        for (int k = 0; k < 3; k++) cl[i].conn[k] = harness_fx_connect(fx, v.hs->port);
        cl[i].partial = harness_fx_connect(fx, v.hs->port);
    }
    for (unsigned i = 0; i < CLIENTS; i++) {
        harness_sendf(cl[i].conn[0], "wallet.charge",
                      "{\"session\":\"%s\",\"amount\":%d,\"request_id\":\"dc-%u\"}",
                      cl[i].sh.user.session, VANISHED_KRW, i);
        harness_sendf(cl[i].conn[1], "seat.reserve",
                      "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%u}", cl[i].sh.token,
                      (unsigned long long)v.schedule_id, cl[i].reserve_seat);
        harness_sendf(cl[i].conn[2], "payment.pay",
                      "{\"token\":\"%s\",\"reservation_ids\":[%llu],\"request_id\":\"dp-%u\"}",
                      cl[i].sh.token, (unsigned long long)cl[i].paid_rid, i);
        send_half_charge(cl[i].partial, cl[i].sh.user.session, i);
        if (i % 4 == 0)            /* some vanish at once, the rest after everybody sent */
            for (int k = 0; k < 3; k++) vanish(cl[i].conn[k], i % 8 == 0);
    }
    for (unsigned i = 0; i < CLIENTS; i++) {
        for (int k = 0; k < 3; k++)
            if (cl[i].conn[k]->fd >= 0) vanish(cl[i].conn[k], i % 2 == 1);
        vanish(cl[i].partial, i % 2 == 0);
    }
    settle(v.hs, v.c, observer.user.session, opened_before + 4 * CLIENTS);

    /* The server is healthy for others. */
    assert_true(harness_alive(v.hs));
    harness_reply r;
    assert_int_equal(harness_call(v.c, "sys.ping", "{}", &r), USHER_ERR_OK);
    harness_reply_free(&r);
    harness_user newcomer;
    harness_register(v.c, &newcomer);
    assert_int_equal(harness_charge(v.c, newcomer.session, 5), 5);

    /* Each vanished write is whole or absent. */
    static bool available[SEATS + 1];
    seats_available(v.c, observer.token, v.schedule_id, available);
    unsigned charged = 0, paid = 0, held = 0;
    for (unsigned i = 0; i < CLIENTS; i++) {
        account a;
        read_account(v.c, &cl[i], &a);
        expect_whole_or_absent(&cl[i], &a, available);
        cl[i].payment_id = a.payments == 1 ? a.payment_id : 0;
        charged += a.charges_of[1];
        paid += a.payments;
        held += a.holds_on_reserve_seat;
    }
    fprintf(stderr, "%u clients vanished: %u charges, %u payments, %u holds applied; "
            "%u partial frames applied none\n", CLIENTS, charged, paid, held, CLIENTS);
    harness_usher_check(v.hs->data_dir, NULL);

    /* A retry with the same request_id completes each idempotent write once. */
    for (unsigned i = 0; i < CLIENTS; i++) {
        harness_callf_expect(v.c, OK, "wallet.charge",
                             "{\"session\":\"%s\",\"amount\":%d,\"request_id\":\"dc-%u\"}",
                             cl[i].sh.user.session, VANISHED_KRW, i);
        harness_callf_expect(v.c, OK, "wallet.charge",
                             "{\"session\":\"%s\",\"amount\":%d,\"request_id\":\"pc-%u\"}",
                             cl[i].sh.user.session, PARTIAL_KRW, i);
        harness_callf_expect(v.c, OK, "payment.pay",
                             "{\"token\":\"%s\",\"reservation_ids\":[%llu],\"request_id\":\"dp-%u\"}",
                             cl[i].sh.token, (unsigned long long)cl[i].paid_rid, i);
    }
    seats_available(v.c, observer.token, v.schedule_id, available);
    for (unsigned i = 0; i < CLIENTS; i++) {
        account a;
        read_account(v.c, &cl[i], &a);
        assert_int_equal(a.balance, SETUP_KRW + VANISHED_KRW + PARTIAL_KRW - PRICE);
        assert_int_equal(a.balance, a.ledger_sum);
        assert_int_equal(a.charges_of[1], 1);
        assert_int_equal(a.charges_of[2], 1);
        assert_int_equal(a.payments, 1);
        assert_int_equal(a.payment_entries, 1);
        assert_int_equal(a.payment_entry_id, a.payment_id);
        if (cl[i].payment_id) assert_int_equal(a.payment_id, cl[i].payment_id);   /* replayed */
        assert_string_equal(a.paid_status, "CONFIRMED");
        assert_false(available[cl[i].paid_seat]);
    }
    harness_usher_check(v.hs->data_dir, NULL);
}

static void test_vanished_clients_writes_are_whole_or_absent(void **state)
{
    vanished_clients_writes_are_whole_or_absent(*state, "--max-active 1000");
}

/* The same with the clients spread over two workers by the kernel. */
static void test_vanished_clients_writes_are_whole_or_absent_on_two_workers(void **state)
{
    vanished_clients_writes_are_whole_or_absent(*state, "--max-active 1000 --workers 2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_vanished_clients_writes_are_whole_or_absent),
        HARNESS_TEST(test_vanished_clients_writes_are_whole_or_absent_on_two_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
