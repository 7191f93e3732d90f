/* Scenario, a flash sale: a few thousand users, fewer seats than they want,
 * three performances, a queue with fewer ACTIVE slots than clients. Each
 * client thread serves its share of the users one after another: register,
 * charge, enter the queue and poll until admitted, pick a performance with
 * seats left, reserve one or two seats among those shown free (another
 * free one when beaten to it), pay them in one payment. Users who find the
 * house sold out leave; their slot frees when its ACTIVE time runs out.
 * Runs on every topology and ends with usher-check and the history checker
 * over the whole sale. USHER_STRESS=1 runs ten thousand users. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL
#define PERFORMANCES 3
#define PRICE 1000
#define BALANCE 3000
#define MAX_HOLDS 2
#define MAX_ACTIVE 100
#define FLASH_ARGS "--max-active 100 --active-ttl 500ms --admit-interval 50ms --max-holds 2"
#define FLASH_CHECK "--max-active 100 --max-holds 2"
#define CLIENTS 200             /* more than the ACTIVE slots, so the queue fills */
#define TRIES 4                 /* reserve attempts per user */
#define SEATS_MAX 1000

typedef struct flash_run {
    harness_crowd cw;           /* users outside the queue; concert and performance 0 */
    uint64_t schedule_ids[PERFORMANCES];
    uint32_t seats;             /* per performance */
    size_t users;
    size_t *seats_bought;       /* per client */
    size_t *seats_unpaid;       /* per client: held, then the payment failed or never went */
    size_t *timed_out;          /* per client: users whose ACTIVE time ran out before they shopped */
    usher_err *errors;          /* per client: the first unexpected error */
} flash_run;

/* One call by client j for user u; the outcome's error (INTERNAL for no
 * reply); *r is filled unless INTERNAL came back without a reply. */
static usher_err call(flash_run *run, size_t j, size_t u, harness_reply *r, const char *method, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static usher_err call(flash_run *run, size_t j, size_t u, harness_reply *r, const char *method, const char *fmt, ...)
{
    char json[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof json, fmt, ap);
    va_end(ap);
    harness_outcome o = harness_hclient_call(&run->cw.clients[j], run->cw.users[u].index, r, method, "%s", json);
    if (o == HARNESS_OP_NO_REPLY) {
        memset(r, 0, sizeof *r);
        return USHER_ERR_INTERNAL;
    }
    return r->err;
}

/* The performance index to shop at (the user's favourite first), from
 * concert.dates; -1 when sold out. */
static int pick_performance(flash_run *run, size_t j, size_t u, usher_err *e)
{
    harness_reply r;
    *e = call(run, j, u, &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", run->cw.users[u].token,
              (unsigned long long)run->cw.concert_id);
    int pick = -1;
    if (*e == USHER_ERR_OK) {
        const msgpack_object *dates = msg_map_get(r.result, "dates");
        for (int k = 0; k < PERFORMANCES && pick < 0 && dates && dates->type == MSGPACK_OBJECT_ARRAY; k++) {
            int p = (int)((u + (size_t)k) % PERFORMANCES);
            for (uint32_t d = 0; d < dates->via.array.size; d++) {
                uint64_t sid = 0, available = 0;
                if (harness_find_u64(&dates->via.array.ptr[d], "schedule_id", &sid) && sid == run->schedule_ids[p] &&
                    harness_find_u64(&dates->via.array.ptr[d], "available", &available) && available > 0)
                    pick = p;
            }
        }
    }
    harness_reply_free(&r);
    return pick;
}

/* The seats of performance p shown free: into free_seats, returns how many. */
static size_t free_seats_of(flash_run *run, size_t j, size_t u, int p, uint32_t *free_seats, usher_err *e)
{
    harness_reply r;
    *e = call(run, j, u, &r, "concert.seats", "{\"token\":\"%s\",\"schedule_id\":%llu}", run->cw.users[u].token,
              (unsigned long long)run->schedule_ids[p]);
    size_t n = 0;
    const msgpack_object *seats = *e == USHER_ERR_OK ? msg_map_get(r.result, "seats") : NULL;
    for (uint32_t i = 0; seats && seats->type == MSGPACK_OBJECT_ARRAY && i < seats->via.array.size; i++) {
        const msgpack_object *available = msg_map_get(&seats->via.array.ptr[i], "available");
        uint64_t seat_no = 0;
        if (available && available->type == MSGPACK_OBJECT_BOOLEAN && available->via.boolean &&
            harness_find_u64(&seats->via.array.ptr[i], "seat_no", &seat_no))
            free_seats[n++] = (uint32_t)seat_no;
    }
    harness_reply_free(&r);
    return n;
}

/* Errors a shopper may legally meet in a sale: beaten to a seat, or its
 * ACTIVE time ran out mid-purchase. */
static bool legal(usher_err e)
{
    return e == USHER_ERR_OK || e == USHER_ERR_SEAT_UNAVAILABLE || e == USHER_ERR_TOKEN_EXPIRED ||
           e == USHER_ERR_HOLD_EXPIRED;
}

/* One user's whole visit; returns seats bought, adds held seats left
 * unpaid to *unpaid. */
static size_t shop(flash_run *run, size_t j, size_t u, unsigned *rng, usher_err *bad, size_t *unpaid,
                   size_t *timed_out)
{
    harness_hclient *c = &run->cw.clients[j];
    harness_huser *user = &run->cw.users[u];
    usher_err e = harness_hclient_register(c, user);
    if (e == USHER_ERR_OK)
        e = harness_hclient_charge(c, user, BALANCE);
    if (e == USHER_ERR_OK)
        e = harness_hclient_enter(c, user, run->cw.concert_id, 50, 60000);
    if (e != USHER_ERR_OK) {
        if (e != USHER_ERR_TOKEN_EXPIRED)  /* admitted, but too slow to use it: it happens */
            *bad = e;
        *timed_out += e == USHER_ERR_TOKEN_EXPIRED;
        return 0;
    }
    int p = pick_performance(run, j, u, &e);
    if (p < 0 || e != USHER_ERR_OK) {
        if (!legal(e))
            *bad = e;
        return 0;  /* sold out: leave; the slot frees when ACTIVE time ends */
    }
    uint32_t free_seats[SEATS_MAX];
    size_t nfree = free_seats_of(run, j, u, p, free_seats, &e);
    size_t want = 1 + u % MAX_HOLDS;
    uint64_t rids[MAX_HOLDS];
    size_t held = 0;
    for (int attempt = 0; attempt < TRIES && held < want && nfree > 0 && e == USHER_ERR_OK; attempt++) {
        size_t pick = (size_t)rand_r(rng) % nfree;
        uint32_t seat = free_seats[pick];
        free_seats[pick] = free_seats[--nfree];
        harness_reply r;
        usher_err got = call(run, j, u, &r, "seat.reserve", "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%u}",
                             user->token, (unsigned long long)run->schedule_ids[p], seat);
        if (got == USHER_ERR_OK && harness_find_u64(r.result, "reservation_id", &rids[held]))
            held++;
        else if (got != USHER_ERR_SEAT_UNAVAILABLE)
            e = got;
        harness_reply_free(&r);
    }
    if (!legal(e))
        *bad = e;
    if (held == 0 || e == USHER_ERR_TOKEN_EXPIRED) {
        *unpaid += held;
        return 0;
    }
    harness_reply r;
    char ids[64];
    if (held == 1)
        snprintf(ids, sizeof ids, "%llu", (unsigned long long)rids[0]);
    else
        snprintf(ids, sizeof ids, "%llu,%llu", (unsigned long long)rids[0], (unsigned long long)rids[1]);
    e = call(run, j, u, &r, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%s],\"request_id\":\"flash-%zu\"}",
             user->token, ids, u);
    harness_reply_free(&r);
    if (!legal(e))
        *bad = e;
    if (e != USHER_ERR_OK)
        *unpaid += held;
    return e == USHER_ERR_OK ? held : 0;
}

/* Client j serves users j, j + CLIENTS, ... one after another. */
static void flash_client(void *arg, size_t j)
{
    flash_run *run = arg;
    unsigned rng = (unsigned)j * 2654435761u + 1;
    if (harness_hclient_open_on(&run->cw.clients[j], run->cw.h, (uint32_t)j, harness_stage_server(&run->cw.st, j)) != 0) {
        run->errors[j] = USHER_ERR_INTERNAL;
        return;
    }
    for (size_t u = j; u < run->users; u += CLIENTS) {
        run->cw.users[u].index = (uint32_t)u;
        run->seats_bought[j] += shop(run, j, u, &rng, &run->errors[j], &run->seats_unpaid[j], &run->timed_out[j]);
    }
}

static void test_flash_sale_of_thousands_sells_each_seat_once(void **state)
{
    size_t users = harness_stress() ? 10000 : 3000;
    uint32_t seats = SEATS_MAX;  /* per performance: 3000 in all, half what the users want */
    for (size_t t = 0; t < HARNESS_TOPOLOGIES; t++) {
        const char *topo = harness_topologies[t].name;
        flash_run run = { .users = users, .seats = seats };
        /* The crowd gives the stage, the concert and room for every user;
         * the users themselves are made by the sale's own clients. */
        harness_crowd_spec spec = { .args = FLASH_ARGS, .seats = seats, .price = PRICE, .users = 0 };
        harness_crowd_open(*state, &harness_topologies[t], &spec, &run.cw);
        free(run.cw.users);
        free(run.cw.clients);
        run.cw.users = calloc(users, sizeof *run.cw.users);
        run.cw.clients = calloc(CLIENTS, sizeof *run.cw.clients);
        run.cw.nusers = users;
        run.cw.nclients = CLIENTS;
        run.seats_bought = calloc(CLIENTS, sizeof *run.seats_bought);
        run.seats_unpaid = calloc(CLIENTS, sizeof *run.seats_unpaid);
        run.timed_out = calloc(CLIENTS, sizeof *run.timed_out);
        run.errors = calloc(CLIENTS, sizeof *run.errors);
        assert_true(run.cw.users && run.cw.clients && run.seats_bought && run.seats_unpaid && run.timed_out &&
                    run.errors);
        run.schedule_ids[0] = run.cw.schedule_id;
        for (int p = 1; p < PERFORMANCES; p++)
            run.schedule_ids[p] = harness_make_schedule(run.cw.st.setup, run.cw.st.admin, run.cw.concert_id, seats,
                                                        PRICE, harness_now_ms() + DAY_MS + p);
        int64_t started = harness_now_ms();
        harness_run_threads(CLIENTS, flash_client, &run);
        int64_t took = harness_now_ms() - started;
        size_t sold = 0, unpaid = 0, timed_out = 0;
        for (size_t j = 0; j < CLIENTS; j++) {
            if (run.errors[j] != USHER_ERR_OK)
                fail_msg("[%s] client %zu met %s", topo, j, usher_err_name(run.errors[j]));
            sold += run.seats_bought[j];
            unpaid += run.seats_unpaid[j];
            timed_out += run.timed_out[j];
        }
        /* Every seat is sold, still held by a shopper whose time ran out
         * before paying, or shown free: none twice, none lost. */
        harness_shopper observer;
        harness_shopper_new(run.cw.st.setup, run.cw.concert_id, 0, &observer);
        harness_reply r;
        harness_callf(run.cw.st.setup, &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", observer.token,
                      (unsigned long long)run.cw.concert_id);
        harness_expect(&r, OK);
        size_t n;
        const msgpack_object *dates = harness_get_array(&r, "dates", &n);
        assert_int_equal(n, PERFORMANCES);
        int64_t left = 0;
        for (size_t d = 0; d < n; d++)
            left += harness_obj_i64(&dates[d], "available");
        harness_reply_free(&r);
        print_message("[%s] flash sale: %zu users through %d clients sold %zu of %u seats in %lld ms "
                      "(%zu held unpaid, %lld free; %zu users' ACTIVE time ran out between two polls)\n", topo,
                      users, CLIENTS, sold, PERFORMANCES * seats, (long long)took, unpaid, (long long)left, timed_out);
        assert_int_equal((int64_t)(sold + unpaid) + left, (int64_t)PERFORMANCES * seats);
        free(run.seats_bought);
        free(run.seats_unpaid);
        free(run.timed_out);
        free(run.errors);
        harness_crowd_finish(&run.cw, FLASH_CHECK, "flash sale");
        harness_fx_release(*state);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_flash_sale_of_thousands_sells_each_seat_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
