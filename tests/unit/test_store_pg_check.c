/* usher-check and the operator figures on PostgreSQL (store_pg_check.c,
 * store_pg_stats.c): a sale written row by row in raw SQL, in every legal
 * state a hold and a queue entry can be in, reports nothing at any time
 * after it and gives exact figures; then each corruption, one at a time on
 * a fresh copy of that sale, is reported under its check's name.
 * Runs only against USHER_TEST_STORE (PostgreSQL); skipped otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include "store_fixture.h"
#include "../../server/store_check.h"

#define CK_NOW (FX_T0 + 2500)
#define CK_REPORTS_MAX 64

/* User n of fx_user as a bytea literal (n of one digit). */
#define U(n) "'\\x0000000" #n "a5a5a5a5a5a5a5a5a5a5a5a5'::bytea"

#define SKIP_UNLESS_PG(fx) do { if (!(fx)->pg) skip(); } while (0)

/* The sale, judged at CK_NOW (FX_T0 + 2500), with FX_MAX_HOLDS 2 and
 * FX_MAX_ACTIVE 2. Concert 1 has performances 1 (five seats at 1000 *
 * seat_no) and 2 (two at 500). User 1 charged 100000 and paid 3000 for
 * seats 1 and 2 (reservations 1, 2, payment 1); user 2 cancelled seat 4
 * (3) and let seat 3 lapse (5, still HELD, untidied), which user 3 holds
 * anew (6); user 3 also holds seat 5 (7); user 4's hold on performance 2
 * was expired by the tick (4). The queue: seq 1 (user 1) expired by the
 * payment, seqs 2 and 3 ACTIVE, seq 4 waiting. User 4 was revoked. */
static const char sql_sale[] =
    "INSERT INTO users VALUES (" U(1) ", '\\x00', 0, NULL), (" U(2) ", '\\x00', 0, NULL),"
    "  (" U(3) ", '\\x00', 0, NULL), (" U(4) ", '\\x00', 0, 1700000000100);"
    "UPDATE meta SET value = 1 WHERE name = 'revocations_version';"
    "INSERT INTO concerts VALUES (1, 'Show', 'Hall', 2);"
    "INSERT INTO schedules VALUES (1, 1, 1700086400000, 5), (2, 1, 1700172800000, 2);"
    "INSERT INTO seats (schedule_id, seat_no, price_krw)"
    "  SELECT 1, n, 1000 * n FROM generate_series(1, 5) n UNION ALL SELECT 2, n, 500 FROM generate_series(1, 2) n;"
    "INSERT INTO ledger VALUES (1, " U(1) ", 1, 100000, 100000, 1700000000000, 0),"
    "  (2, " U(1) ", 2, -3000, 97000, 1700000000200, 1);"
    "INSERT INTO wallets VALUES (" U(1) ", 97000);"
    "INSERT INTO payments VALUES (1, " U(1) ", 1, 3000, 1700000000200, '{1,2}');"
    "INSERT INTO reservations VALUES"
    "  (1, 1, 1, 1, 1000, 2, 1700000001000, " U(1) ", 1),"
    "  (2, 1, 1, 2, 2000, 2, 1700000001000, " U(1) ", 1),"
    "  (3, 1, 1, 4, 4000, 4, 1700000001300, " U(2) ", 0),"
    "  (4, 2, 1, 1, 500, 3, 1700000001400, " U(4) ", 0),"
    "  (5, 1, 1, 3, 3000, 1, 1700000001000, " U(2) ", 0),"
    "  (6, 1, 1, 3, 3000, 1, 1700000003000, " U(3) ", 0),"
    "  (7, 1, 1, 5, 5000, 1, 1700000003000, " U(3) ", 0);"
    "UPDATE seats SET sold = true, reservation_id = seat_no, user_id = " U(1)
    "  WHERE schedule_id = 1 AND seat_no IN (1, 2);"
    "UPDATE seats SET reservation_id = 6, user_id = " U(3) ", expires_at_ms = 1700000003000"
    "  WHERE schedule_id = 1 AND seat_no = 3;"
    "UPDATE seats SET reservation_id = 7, user_id = " U(3) ", expires_at_ms = 1700000003000"
    "  WHERE schedule_id = 1 AND seat_no = 5;"
    "INSERT INTO queues (concert_id, next_seq, admit_next, waiting, admitted_total, max_active_peak)"
    "  VALUES (1, 5, 4, 1, 3, 2);"
    "INSERT INTO queue_entries (concert_id, seq, user_id, ord, active_until_ms, entered_at_ms,"
    "                           seen_at_ms, expired) VALUES"
    "  (1, 1, " U(1) ", 1, 1700000005000, 1700000000000, 1700000000000, true),"
    "  (1, 2, " U(2) ", 2, 1700000005000, 1700000000000, 1700000000000, false),"
    "  (1, 3, " U(3) ", 3, 1700000005200, 1700000000000, 1700000000200, false),"
    "  (1, 4, " U(4) ", 4, 0, 1700000000000, 1700000000000, false);"
    "SELECT setval('concert_ids', 1), setval('schedule_ids', 2), setval('reservation_ids', 7),"
    "  setval('payment_ids', 1), setval('ledger_ids', 2);";

static const char sql_reset[] =
    "TRUNCATE users, wallets, ledger, idem, concerts, schedules, seats, reservations, payments,"
    "  queues, queue_entries;"
    "UPDATE seats_sold_tally SET sold = 0;"
    "UPDATE meta SET value = 0 WHERE name = 'revocations_version';"
    "CREATE UNIQUE INDEX IF NOT EXISTS reservations_one_sale ON reservations (schedule_id, seat_no)"
    "  WHERE status = 2;";

/* Runs sql (several statements) on a connection of its own, committed. */
static void raw_sql(store_fixture *fx, const char *sql)
{
    PGconn *pg = PQconnectdb(fx->dir);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *r = PQexec(pg, "SET client_min_messages = warning; SET search_path = usher");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fprintf(stderr, "raw sql: %s", PQresultErrorMessage(r));
    assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
    PQclear(r);
    PQfinish(pg);
}

static void build_sale(store_fixture *fx)
{
    raw_sql(fx, sql_reset);
    raw_sql(fx, sql_sale);
}

typedef struct ck_reports {
    size_t n;
    char check[CK_REPORTS_MAX][40];
    char detail[CK_REPORTS_MAX][512];
} ck_reports;

static void ck_collect(void *ctx, const char *check, const char *detail)
{
    ck_reports *r = ctx;
    if (r->n < CK_REPORTS_MAX) {
        snprintf(r->check[r->n], sizeof r->check[r->n], "%s", check);
        snprintf(r->detail[r->n], sizeof r->detail[r->n], "%s", detail);
    }
    r->n++;
}

static ck_reports ck_run(store_fixture *fx, int64_t now_ms, store_check_summary *sum)
{
    ck_reports r = { 0 };
    store_check_limits lim = { .max_holds = FX_MAX_HOLDS, .max_active = FX_MAX_ACTIVE,
                               .balance_limit_krw = FX_BALANCE_LIMIT };
    assert_int_equal(store_check_run(fx->st, &lim, now_ms, ck_collect, &r, sum), USHER_ERR_OK);
    assert_int_equal(sum->violations, r.n);
    return r;
}

static void ck_print(const ck_reports *r)
{
    for (size_t i = 0; i < r->n && i < CK_REPORTS_MAX; i++)
        fprintf(stderr, "  %s: %s\n", r->check[i], r->detail[i]);
}

static bool ck_has(const ck_reports *r, const char *check)
{
    for (size_t i = 0; i < r->n && i < CK_REPORTS_MAX; i++)
        if (strcmp(r->check[i], check) == 0) return true;
    return false;
}

static void ck_assert_clean(store_fixture *fx, int64_t now_ms)
{
    store_check_summary sum;
    ck_reports r = ck_run(fx, now_ms, &sum);
    ck_print(&r);
    assert_int_equal(r.n, 0);
}

static void test_pg_clean_sale_reports_nothing_at_any_later_time(void **state)
{
    store_fixture *fx = *state;
    SKIP_UNLESS_PG(fx);
    build_sale(fx);
    store_check_summary sum;
    ck_reports r = ck_run(fx, CK_NOW, &sum);
    ck_print(&r);
    assert_int_equal(r.n, 0);
    assert_int_equal(sum.checks, 25);
    assert_true(sum.records > 40);
    assert_false(sum.damaged);
    assert_int_equal(sum.snapshot_ms, CK_NOW);
    assert_true(sum.snapshot_txnid > 0);
    ck_assert_clean(fx, FX_T0 + FX_HOLD_TTL_MS * 3);   /* every hold lapsed, queue still live */
    ck_assert_clean(fx, FX_T0 + 1000 * 86400000LL);    /* everything in the past */
    ck_run(fx, STORE_CHECK_NOW, &sum);
    assert_true(sum.snapshot_ms >= FX_T0);
}

static void test_pg_empty_store_is_clean(void **state)
{
    store_fixture *fx = *state;
    SKIP_UNLESS_PG(fx);
    store_check_summary sum;
    ck_reports r = ck_run(fx, FX_T0, &sum);
    ck_print(&r);
    assert_int_equal(r.n, 0);
    assert_true(sum.records >= 1);   /* meta's revocations_version */
}

/* One corruption and the check that must name it. */
typedef struct corruption {
    const char *check;
    const char *sql;
} corruption;

static const corruption corruptions[] = {
    /* Seat 1 sold a second time, past the index that forbids it. */
    { "seat.sold_owner",
      "DROP INDEX reservations_one_sale;"
      "INSERT INTO reservations VALUES (8, 1, 1, 1, 1000, 2, 0, " U(2) ", 1)" },
    { "seat.sold_owner",
      "UPDATE seats SET sold = true, reservation_id = 3, user_id = " U(2)
      " WHERE schedule_id = 1 AND seat_no = 4" },
    { "seat.double_hold",
      "INSERT INTO reservations VALUES (8, 1, 1, 5, 5000, 1, 1700000003000, " U(4) ", 0)" },
    { "hold.limit",
      "INSERT INTO reservations VALUES (8, 1, 1, 4, 4000, 1, 1700000003000, " U(3) ", 0);"
      "UPDATE seats SET reservation_id = 8, user_id = " U(3) ", expires_at_ms = 1700000003000"
      " WHERE schedule_id = 1 AND seat_no = 4" },
    { "seat.hold_reservation",
      "UPDATE seats SET expires_at_ms = 1700000009000 WHERE schedule_id = 1 AND seat_no = 5" },
    { "hold.seat_backref",
      "UPDATE seats SET reservation_id = 0, user_id = NULL, expires_at_ms = 0"
      " WHERE schedule_id = 1 AND seat_no = 5" },
    { "seat.schedule", "DELETE FROM seats WHERE schedule_id = 2 AND seat_no = 2" },
    { "seat.sold_tally", "UPDATE seats_sold_tally SET sold = sold + 1 WHERE shard = 0" },
    { "reservation.schedule", "UPDATE reservations SET price_krw = 999 WHERE reservation_id = 7" },
    { "reservation.payment", "UPDATE reservations SET payment_id = 1 WHERE reservation_id = 3" },
    { "reservation.payment", "UPDATE payments SET reservation_ids = '{1,2,2}'" },
    { "payment.amount", "UPDATE payments SET amount_krw = 2000" },
    { "payment.ledger", "UPDATE ledger SET kind = 1, amount_krw = 3000, payment_id = 0 WHERE entry_id = 2" },
    { "payment.ledger", "UPDATE ledger SET amount_krw = -2000, balance_after_krw = 98000 WHERE entry_id = 2;"
                        "UPDATE wallets SET balance_krw = 98000" },
    { "ledger.entry", "UPDATE ledger SET payment_id = 1 WHERE entry_id = 1" },
    { "ledger.running_balance", "UPDATE ledger SET balance_after_krw = 96000 WHERE entry_id = 2;"
                                "UPDATE wallets SET balance_krw = 96000" },
    { "wallet.balance_range",
      "INSERT INTO ledger VALUES (3, " U(2) ", 1, 2500000, 2500000, 1700000000300, 0);"
      "INSERT INTO wallets VALUES (" U(2) ", 2500000); SELECT setval('ledger_ids', 3)" },
    { "wallet.balance", "UPDATE wallets SET balance_krw = 90000" },
    { "wallet.balance", "INSERT INTO wallets VALUES (" U(3) ", 500)" },
    { "queue.record", "UPDATE queues SET admit_next = 9" },
    { "queue.record", "DELETE FROM schedules; DELETE FROM concerts" },
    { "queue.seq_gapless", "UPDATE queue_entries SET seq = 6 WHERE seq = 4" },
    { "queue.seq_gapless", "UPDATE queues SET next_seq = 7" },
    { "queue.order", "UPDATE queue_entries SET active_until_ms = 1700000005000 WHERE seq = 4;"
                     "UPDATE queues SET waiting = 0, admitted_total = 4" },
    { "queue.order", "UPDATE queues SET admit_next = 5" },
    { "queue.counters", "UPDATE queues SET waiting = 5" },
    { "queue.draw", "UPDATE queue_entries SET ord = 7 WHERE seq = 4" },
    { "queue.draw", "UPDATE queues SET drawn = true, drawn_n = 3;"
                    "UPDATE queue_entries SET ord = 2 WHERE seq = 3" },
    { "queue.max_active",
      "UPDATE queue_entries SET active_until_ms = 1700000005000 WHERE seq = 4;"
      "UPDATE queues SET admit_next = 5, waiting = 0, admitted_total = 4" },
    { "queue.user_unique",
      "INSERT INTO queue_entries (concert_id, seq, user_id, ord, entered_at_ms, seen_at_ms)"
      " VALUES (1, 5, " U(2) ", 5, 1700000000300, 1700000000300);"
      "UPDATE queues SET next_seq = 6, waiting = 2" },
    { "concert.schedules", "UPDATE concerts SET schedules = 3" },
    { "ids.counter", "SELECT setval('payment_ids', 1, false)" },
    { "ids.counter", "SELECT setval('reservation_ids', 5)" },
    { "revocation.user", "UPDATE meta SET value = 0 WHERE name = 'revocations_version'" },
};

static void test_pg_each_corruption_is_reported_by_its_check(void **state)
{
    store_fixture *fx = *state;
    SKIP_UNLESS_PG(fx);
    size_t n = sizeof corruptions / sizeof corruptions[0];
    for (size_t i = 0; i < n; i++) {
        build_sale(fx);
        raw_sql(fx, corruptions[i].sql);
        store_check_summary sum;
        ck_reports r = ck_run(fx, CK_NOW, &sum);
        if (!ck_has(&r, corruptions[i].check)) {
            fprintf(stderr, "corruption %zu (%s) not reported by %s; reports:\n", i,
                    corruptions[i].sql, corruptions[i].check);
            ck_print(&r);
        }
        assert_true(ck_has(&r, corruptions[i].check));
    }
}

/* Every named check is exercised by some corruption above. */
static void test_pg_corruptions_cover_the_checks(void **state)
{
    store_fixture *fx = *state;
    SKIP_UNLESS_PG(fx);
    static const char *const run[] = {
        "seat.schedule", "seat.sold_owner", "seat.hold_reservation", "seat.double_hold",
        "seat.sold_tally", "hold.seat_backref", "hold.limit", "reservation.schedule",
        "reservation.payment", "payment.amount", "payment.ledger", "ledger.entry",
        "ledger.running_balance", "wallet.balance_range", "wallet.balance", "queue.record",
        "queue.seq_gapless", "queue.order", "queue.counters", "queue.draw", "queue.max_active",
        "queue.user_unique", "concert.schedules", "ids.counter", "revocation.user",
    };
    size_t n = sizeof corruptions / sizeof corruptions[0];
    for (size_t c = 0; c < sizeof run / sizeof run[0]; c++) {
        bool covered = false;
        for (size_t i = 0; i < n; i++)
            covered = covered || strcmp(corruptions[i].check, run[c]) == 0;
        if (!covered) fprintf(stderr, "no corruption for %s\n", run[c]);
        assert_true(covered);
    }
    build_sale(fx);
    store_check_summary sum;
    ck_run(fx, CK_NOW, &sum);
    assert_int_equal(sum.checks, sizeof run / sizeof run[0]);
}

/* ---- store_stats_read ---- */

static void read_stats(store_fixture *fx, int64_t now_ms, store_stats *s)
{
    store_txn *t = fx_read(fx);
    assert_int_equal(store_stats_read(t, now_ms, s), USHER_ERR_OK);
    store_txn_end(t);
}

static void test_pg_stats_of_the_sale(void **state)
{
    store_fixture *fx = *state;
    SKIP_UNLESS_PG(fx);
    static store_stats s;
    read_stats(fx, FX_T0, &s);
    assert_int_equal(s.holds_live, 0);
    assert_int_equal(s.seats_sold, 0);
    assert_int_equal(s.n_queues, 0);
    build_sale(fx);
    read_stats(fx, CK_NOW, &s);
    assert_int_equal(s.holds_live, 2);   /* 6 and 7; 5 lapsed before the tick */
    assert_int_equal(s.seats_sold, 2);
    assert_true(s.used_bytes > 0);
    assert_int_equal(s.map_bytes, 0);
    assert_false(s.scan_capped);
    assert_false(s.queues_truncated);
    assert_int_equal(s.n_queues, 1);
    assert_int_equal(s.queues[0].concert_id, 1);
    assert_int_equal(s.queues[0].waiting, 1);
    assert_int_equal(s.queues[0].active, 2);
    /* Every hold and admission lapsed, nothing tidied. */
    read_stats(fx, FX_T0 + 1000 * 86400000LL, &s);
    assert_int_equal(s.holds_live, 0);
    assert_int_equal(s.seats_sold, 2);
    assert_int_equal(s.queues[0].active, 0);
    assert_int_equal(s.queues[0].waiting, 1);
    /* A sale and an unsale on other connections move the tally. */
    raw_sql(fx, "UPDATE seats SET sold = true WHERE schedule_id = 2");
    raw_sql(fx, "UPDATE seats SET sold = false WHERE schedule_id = 2 AND seat_no = 1");
    read_stats(fx, CK_NOW, &s);
    assert_int_equal(s.seats_sold, 3);
}

static void test_pg_stats_cut_the_queue_list(void **state)
{
    store_fixture *fx = *state;
    SKIP_UNLESS_PG(fx);
    raw_sql(fx, "INSERT INTO queues (concert_id, waiting) SELECT g, g FROM generate_series(1, 1030) g");
    static store_stats s;
    read_stats(fx, FX_T0, &s);
    assert_int_equal(s.n_queues, STORE_STATS_QUEUES_MAX);
    assert_true(s.queues_truncated);
    assert_int_equal(s.queues[0].concert_id, 1);
    assert_int_equal(s.queues[STORE_STATS_QUEUES_MAX - 1].concert_id, STORE_STATS_QUEUES_MAX);
    assert_int_equal(s.queues[STORE_STATS_QUEUES_MAX - 1].waiting, STORE_STATS_QUEUES_MAX);
}

/* Sales on several connections at once, each a transaction that sells
 * seats (bare rows, no reservation) and waits before it commits: the
 * tally's shards lose nothing. */
typedef struct seller {
    const char *url;
    int no;
    bool ok;
} seller;

static void *sell(void *arg)
{
    seller *w = arg;
    PGconn *pg = PQconnectdb(w->url);
    char sql[256];
    snprintf(sql, sizeof sql,
             "BEGIN; UPDATE usher.seats SET sold = true WHERE schedule_id = 3 AND seat_no %% 8 = %d;"
             " SELECT pg_sleep(0.05); COMMIT", w->no);
    PGresult *r = PQexec(pg, sql);
    w->ok = PQstatus(pg) == CONNECTION_OK && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQfinish(pg);
    return NULL;
}

static void test_pg_concurrent_sales_keep_the_tally(void **state)
{
    store_fixture *fx = *state;
    SKIP_UNLESS_PG(fx);
    build_sale(fx);
    raw_sql(fx, "INSERT INTO schedules VALUES (3, 1, 1700086400000, 1000);"
                "UPDATE concerts SET schedules = 3;"
                "INSERT INTO seats (schedule_id, seat_no, price_krw)"
                "  SELECT 3, n, 100 FROM generate_series(1, 1000) n");
    pthread_t th[8];
    seller w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (seller){ .url = fx->dir, .no = i };
        assert_int_equal(pthread_create(&th[i], NULL, sell, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_true(w[i].ok);
    }
    static store_stats s;
    read_stats(fx, CK_NOW, &s);
    assert_int_equal(s.seats_sold, 2 + 1000);
    store_check_summary sum;
    ck_reports r = ck_run(fx, CK_NOW, &sum);   /* seats sold without a sale: seat.sold_owner */
    assert_true(ck_has(&r, "seat.sold_owner"));
    assert_false(ck_has(&r, "seat.sold_tally"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_pg_clean_sale_reports_nothing_at_any_later_time),
        FX_TEST(test_pg_empty_store_is_clean),
        FX_TEST(test_pg_each_corruption_is_reported_by_its_check),
        FX_TEST(test_pg_corruptions_cover_the_checks),
        FX_TEST(test_pg_stats_of_the_sale),
        FX_TEST(test_pg_stats_cut_the_queue_list),
        FX_TEST(test_pg_concurrent_sales_keep_the_tally),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
