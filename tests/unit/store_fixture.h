/* Shared by tests/unit/test_store_*.c: a fresh store per test, small policy
 * values so expiry is tested with explicit now_ms values, and short helpers
 * for the common setup steps. Include after <cmocka.h>.
 *
 * The conformance suite: by default the store is LMDB in a fresh temp dir
 * (removed afterwards). With USHER_TEST_STORE=postgres://... in the
 * environment (make test-postgres) it is that PostgreSQL database, emptied
 * before each test (its "usher" schema dropped; store_open migrates it
 * again), so the same tests hold both backends to one contract. fx->dir is
 * then the URL; a test of LMDB's files starts with FX_LMDB_ONLY(). */
#ifndef USHER_TESTS_STORE_FIXTURE_H
#define USHER_TESTS_STORE_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libpq-fe.h>
#include "../../server/store.h"

#define FX_HOLD_TTL_MS 1000
#define FX_ACTIVE_TTL_MS 5000
#define FX_MAX_ACTIVE 2
#define FX_MAX_HOLDS 2
#define FX_MAX_CHARGE 1000000
#define FX_BALANCE_LIMIT 2000000
#define FX_REQUEST_ID_TTL_MS 10000
#define FX_T0 1700000000000   /* a plausible now_ms */

typedef struct store_fixture {
    char dir[512];                    /* the LMDB dir, or the PostgreSQL URL */
    bool pg;
    store *st;
    store_options opt;
} store_fixture;

static inline store_options fx_options(void)
{
    store_options o = store_options_default();
    o.sync = STORE_SYNC_NONE;
    o.map_size_bytes = (size_t)256 << 20;
    o.policy.hold_ttl_ms = FX_HOLD_TTL_MS;
    o.policy.active_ttl_ms = FX_ACTIVE_TTL_MS;
    o.policy.max_active = FX_MAX_ACTIVE;
    o.policy.max_holds = FX_MAX_HOLDS;
    o.policy.max_charge_krw = FX_MAX_CHARGE;
    o.policy.balance_limit_krw = FX_BALANCE_LIMIT;
    o.policy.request_id_ttl_ms = FX_REQUEST_ID_TTL_MS;
    return o;
}

static inline void fx_open(store_fixture *fx)
{
    assert_int_equal(store_open(&fx->st, fx->dir, &fx->opt), USHER_ERR_OK);
}

static inline void fx_close(store_fixture *fx)
{
    store_close(fx->st);
    fx->st = NULL;
}

/* The PostgreSQL database of USHER_TEST_STORE, or NULL (LMDB). */
static inline const char *fx_pg_url(void)
{
    const char *url = getenv("USHER_TEST_STORE");
    return url && store_spec_is_url(url) ? url : NULL;
}

/* Empties the database at url: drops the usher schema. */
static inline bool fx_pg_empty(const char *url)
{
    PGconn *pg = PQconnectdb(url);
    bool ok = PQstatus(pg) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQexec(pg, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS usher CASCADE");
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) fprintf(stderr, "fixture: %s", PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "fixture: %s", PQerrorMessage(pg));
    }
    PQfinish(pg);
    return ok;
}

/* Skips the rest of a test of LMDB's own files or behaviour under PostgreSQL. */
#define FX_LMDB_ONLY() do { if (fx_pg_url()) { skip(); } } while (0)

static inline int fx_setup(void **state)
{
    store_fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    if (fx_pg_url()) {
        fx->pg = true;
        snprintf(fx->dir, sizeof fx->dir, "%s", fx_pg_url());
        if (!fx_pg_empty(fx->dir)) {
            free(fx);
            return -1;
        }
    } else {
        strcpy(fx->dir, "/tmp/usher-store-XXXXXX");
        if (!mkdtemp(fx->dir)) {
            free(fx);
            return -1;
        }
    }
    fx->opt = fx_options();
    if (store_open(&fx->st, fx->dir, &fx->opt) != USHER_ERR_OK) {
        if (!fx->pg) rmdir(fx->dir);
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static inline int fx_remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static inline int fx_teardown(void **state)
{
    store_fixture *fx = *state;
    if (fx->st)
        store_close(fx->st);
    if (!fx->pg) nftw(fx->dir, fx_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

#define FX_TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

static inline user_id fx_user(unsigned n)
{
    user_id u;
    memset(&u, 0xA5, sizeof u);
    u.bytes[0] = (uint8_t)(n >> 24);
    u.bytes[1] = (uint8_t)(n >> 16);
    u.bytes[2] = (uint8_t)(n >> 8);
    u.bytes[3] = (uint8_t)n;
    return u;
}

static inline store_txn *fx_write(store_fixture *fx)
{
    store_txn *t = NULL;
    assert_int_equal(store_write_begin(fx->st, &t), USHER_ERR_OK);
    return t;
}

static inline store_txn *fx_read(store_fixture *fx)
{
    store_txn *t = NULL;
    assert_int_equal(store_read_begin(fx->st, &t), USHER_ERR_OK);
    return t;
}

static inline void fx_commit(store_txn *t)
{
    assert_int_equal(store_txn_commit(t), USHER_ERR_OK);
}

/* A concert with no performances; its id. */
static inline uint64_t fx_concert(store_fixture *fx)
{
    uint64_t id;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_concert_create(t, "Q", 1, "", 0, &id), USHER_ERR_OK);
    fx_commit(t);
    return id;
}

/* store_queue_enter of user n into concert_id at now_ms, committed. */
static inline store_queue_entry fx_enter(store_fixture *fx, unsigned user, uint64_t concert_id,
                                         int64_t now_ms)
{
    store_queue_entry e;
    user_id u = fx_user(user);
    store_txn *t = fx_write(fx);
    assert_int_equal(store_queue_enter(t, &u, concert_id, now_ms, &e), USHER_ERR_OK);
    fx_commit(t);
    assert_memory_equal(e.user.bytes, u.bytes, 16);
    return e;
}

/* A concert with one performance of `seats` seats, seat i priced price * i. */
static inline void fx_catalog(store_fixture *fx, uint32_t seats, int64_t price, int64_t starts_at_ms,
                              uint64_t *concert_id, uint64_t *schedule_id)
{
    int64_t prices[STORE_SEATS_MAX];
    for (uint32_t i = 0; i < seats; i++)
        prices[i] = price * (int64_t)(i + 1);
    store_txn *t = fx_write(fx);
    assert_int_equal(store_concert_create(t, "Show", 4, "Hall", 4, concert_id), USHER_ERR_OK);
    assert_int_equal(store_schedule_create(t, *concert_id, starts_at_ms, seats, prices, schedule_id),
                     USHER_ERR_OK);
    fx_commit(t);
}

/* Another performance of an existing concert, every seat at price. */
static inline uint64_t fx_schedule(store_fixture *fx, uint64_t concert_id, uint32_t seats,
                                   int64_t price, int64_t starts_at_ms)
{
    int64_t prices[STORE_SEATS_MAX];
    for (uint32_t i = 0; i < seats; i++)
        prices[i] = price;
    uint64_t id = 0;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_schedule_create(t, concert_id, starts_at_ms, seats, prices, &id),
                     USHER_ERR_OK);
    fx_commit(t);
    return id;
}

/* Holds a seat in its own write txn; returns the error, *out when OK. */
static inline usher_err fx_hold(store_fixture *fx, unsigned user, uint64_t concert_id,
                                uint64_t schedule_id, uint32_t seat_no, int64_t now_ms,
                                store_reservation *out)
{
    store_reservation r;
    user_id u = fx_user(user);
    store_txn *t = fx_write(fx);
    usher_err err = store_seat_hold(t, &u, concert_id, schedule_id, seat_no, now_ms, out ? out : &r, NULL);
    if (err == USHER_ERR_OK)
        fx_commit(t);
    else
        store_txn_end(t);
    return err;
}

static inline void fx_charge(store_fixture *fx, unsigned user, int64_t amount_krw)
{
    user_id u = fx_user(user);
    int64_t after;
    store_txn *t = fx_write(fx);
    assert_int_equal(store_wallet_charge(t, &u, amount_krw, FX_T0, &after), USHER_ERR_OK);
    fx_commit(t);
}

/* The balance of any user of any open store, read in a snapshot of its own. */
static inline int64_t fx_balance_of(store *st, const user_id *u)
{
    store_txn *t;
    int64_t balance = -1;
    assert_int_equal(store_read_begin(st, &t), USHER_ERR_OK);
    assert_int_equal(store_wallet_balance(t, u, &balance), USHER_ERR_OK);
    store_txn_end(t);
    return balance;
}

static inline int64_t fx_balance(store_fixture *fx, unsigned user)
{
    user_id u = fx_user(user);
    return fx_balance_of(fx->st, &u);
}

/* Whether seat seat_no of a performance is free as of now_ms. */
static inline bool fx_seat_available(store_fixture *fx, uint64_t schedule_id, uint32_t seat_no,
                                     int64_t now_ms)
{
    store_seat seats[STORE_SEATS_MAX];
    size_t n;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_schedule_seats(t, schedule_id, now_ms, seats, &n), USHER_ERR_OK);
    store_txn_end(t);
    assert_true(seat_no >= 1 && seat_no <= n);
    return seats[seat_no - 1].available;
}

static inline store_reservation fx_reservation(store_fixture *fx, uint64_t id, int64_t now_ms)
{
    store_reservation r;
    store_txn *t = fx_read(fx);
    assert_int_equal(store_reservation_get(t, id, now_ms, &r), USHER_ERR_OK);
    store_txn_end(t);
    return r;
}

#endif
