/* usher-check end to end: exit 2 when it cannot run (no dir, not a usher
 * data dir, bad flags); exit 0 on the data dir of two live usherd processes
 * while their clients hold, cancel, let lapse, charge and pay with retries;
 * exit 1 on copies of that dir broken by a raw record edit, cut to half, or
 * overwritten with 64 KiB of zeroes, which usherd then refuses to open. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "../../server/store_internal.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY_MS 86400000LL
#define SHOPPERS 24
#define CHECK_ARGS "--max-holds 4 --max-active 100"

static void check_bin(char *out, size_t cap)
{
    harness_program_path("USHER_CHECK_BIN", "usher-check", out, cap);
    if (access(out, X_OK) != 0)
        fail_msg("usher-check not found at %s", out);
}

/* Runs usher-check with args; returns its exit status, output in out. */
static int run_check(char *out, size_t cap, const char *args)
{
    char bin[512];
    check_bin(bin, sizeof bin);
    return harness_shell(out, cap, "'%s' %s 2>&1", bin, args);
}

static void test_exit_2_when_it_cannot_run(void **state)
{
    (void)state;
    static char out[8192];
    char root[] = "/tmp/usher-uc-XXXXXX";
    assert_non_null(mkdtemp(root));
    char args[512];

    char path[256];
    snprintf(path, sizeof path, "%s/missing", root);
    snprintf(args, sizeof args, "--data '%s'", path);
    assert_int_equal(run_check(out, sizeof out, args), 2);
    assert_non_null(strstr(out, "no such data dir"));
    assert_int_equal(access(path, F_OK), -1);   /* nothing created */

    snprintf(args, sizeof args, "--data '%s'", root);   /* an empty dir */
    assert_int_equal(run_check(out, sizeof out, args), 2);
    assert_non_null(strstr(out, "not a usher data dir"));

    snprintf(path, sizeof path, "%s/data.mdb", root);   /* a file that is no LMDB */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 2000; i++)
        fputs("this is not a database\n", f);
    fclose(f);
    assert_int_equal(run_check(out, sizeof out, args), 2);
    assert_non_null(strstr(out, "not a usher data dir"));

    assert_int_equal(run_check(out, sizeof out, "--max-holds 2"), 2);   /* no --data */
    assert_non_null(strstr(out, "--data DIR is required"));
    snprintf(args, sizeof args, "--data '%s' --max-holds 17", root);
    assert_int_equal(run_check(out, sizeof out, args), 2);
    assert_int_equal(run_check(out, sizeof out, "--data x --frobnicate"), 2);
    assert_int_equal(run_check(out, sizeof out, "--help"), 0);
    assert_non_null(strstr(out, "exit status"));
    assert_int_equal(run_check(out, sizeof out, "--list"), 0);
    assert_non_null(strstr(out, "seat.sold_owner"));
    harness_shell(out, sizeof out, "rm -rf '%s'", root);
}

/* ---- a live sale ---- */

typedef struct shopper {
    harness_conn *c;
    harness_shopper sh;
    uint64_t held[4];
    size_t n_held;
    uint32_t msgid[4];
    size_t n_sent;
} shopper;

static void send_reserve(shopper *s, uint64_t schedule_id, uint32_t seat)
{
    s->msgid[s->n_sent++] = harness_sendf(s->c, "seat.reserve",
                                          "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%u}",
                                          s->sh.token, (unsigned long long)schedule_id, seat);
}

static void send_charge(shopper *s, const char *request_id)
{
    s->msgid[s->n_sent++] = harness_sendf(s->c, "wallet.charge",
                                          "{\"session\":\"%s\",\"amount\":1000,\"request_id\":\"%s\"}",
                                          s->sh.user.session, request_id);
}

/* Reads this round's replies: every one OK or a refusal a sale produces;
 * holds are remembered for the next rounds. Returns the OK count. */
static int read_round(shopper *s)
{
    int ok = 0;
    for (size_t i = 0; i < s->n_sent; i++) {
        harness_reply r;
        usher_err e = harness_recv(s->c, s->msgid[i], &r);
        if (e == USHER_ERR_OK) {
            ok++;
            if (harness_has(&r, "expires_at") && s->n_held < 4)
                s->held[s->n_held++] = harness_get_u64(&r, "reservation_id");
        } else if (e != USHER_ERR_SEAT_UNAVAILABLE && e != USHER_ERR_HOLD_LIMIT &&
                   e != USHER_ERR_HOLD_EXPIRED && e != USHER_ERR_TOKEN_EXPIRED) {
            fail_msg("unexpected %s: %s", r.code, r.message ? r.message : "");
        }
        harness_reply_free(&r);
    }
    s->n_sent = 0;
    return ok;
}

/* Every shopper's requests are in flight while usher-check reads the dir. */
static int check_during(shopper *s, size_t n, const char *data_dir)
{
    harness_usher_check(data_dir, CHECK_ARGS);
    int ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += read_round(&s[i]);
    return ok;
}

/* Two usherd processes on one dir, shoppers spread over both. */
static harness_server *live_sale(harness_fixture *fx, shopper *s)
{
    harness_server *a = harness_fx_start(fx, "--hold-ttl 2s");
    harness_server *b = harness_fx_start_shared(fx, a, "--hold-ttl 2s");
    harness_conn *admin = harness_fx_connect(fx, a->port);
    uint64_t concert, sched;
    harness_make_concert(admin, harness_admin_token(a), 40, 1000, harness_now_ms() + DAY_MS,
                         &concert, &sched);
    for (size_t i = 0; i < SHOPPERS; i++) {
        s[i].c = harness_fx_connect(fx, i % 2 ? b->port : a->port);
        harness_shopper_new(s[i].c, concert, 20000, &s[i].sh);
    }
    harness_usher_check(a->data_dir, CHECK_ARGS);

    /* Round 1: contended holds on seats 1..12, own seats 13..36, a charge. */
    for (size_t i = 0; i < SHOPPERS; i++) {
        send_reserve(&s[i], sched, (uint32_t)(i % 12) + 1);
        send_reserve(&s[i], sched, (uint32_t)i + 13);
        send_charge(&s[i], "c1");
    }
    assert_true(check_during(s, SHOPPERS, a->data_dir) >= SHOPPERS * 2);

    /* Round 2: cancels, replayed charges, more contention. */
    for (size_t i = 0; i < SHOPPERS; i++) {
        if (i % 3 == 0 && s[i].n_held) {
            s[i].msgid[s[i].n_sent++] = harness_sendf(
                s[i].c, "reservation.cancel", "{\"session\":\"%s\",\"reservation_id\":%llu}",
                s[i].sh.user.session, (unsigned long long)s[i].held[--s[i].n_held]);
        }
        send_charge(&s[i], "c1");
        send_reserve(&s[i], sched, (uint32_t)(SHOPPERS - 1 - i) % 12 + 1);
    }
    check_during(s, SHOPPERS, a->data_dir);

    /* Every hold lapses; a third of the shoppers take seats anew over them. */
    harness_sleep_ms(2100);
    harness_usher_check(a->data_dir, CHECK_ARGS);
    for (size_t i = 0; i < SHOPPERS; i++) {
        s[i].n_held = 0;
        if (i % 3 == 1)
            send_reserve(&s[i], sched, (uint32_t)(i % 12) + 1);
        send_reserve(&s[i], sched, (uint32_t)(i + 5) % 36 + 1);
    }
    check_during(s, SHOPPERS, a->data_dir);

    /* Round 4: pay the live holds, each payment sent twice with one request_id. */
    for (size_t i = 0; i < SHOPPERS; i++) {
        if (!s[i].n_held)
            continue;
        char ids[128] = "";
        for (size_t j = 0; j < s[i].n_held; j++)
            snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%llu", j ? "," : "",
                     (unsigned long long)s[i].held[j]);
        for (int k = 0; k < 2; k++)
            s[i].msgid[s[i].n_sent++] = harness_sendf(
                s[i].c, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%s],\"request_id\":\"p1\"}",
                s[i].sh.token, ids);
        s[i].n_held = 0;
    }
    assert_true(check_during(s, SHOPPERS, a->data_dir) > 0);
    harness_usher_check(b->data_dir, CHECK_ARGS);
    return a;
}

static void copy_dir(const char *from, const char *to)
{
    char out[4096];
    if (harness_shell(out, sizeof out, "cp -r '%s' '%s' 2>&1", from, to) != 0)
        fail_msg("cp -r %s %s: %s", from, to, out);
}

/* Breaks a user's balance in a copied dir through the store's own writer:
 * the first ledger entry says 7 KRW more is left than its history sums to. */
static void corrupt_a_balance(const char *dir)
{
    store_options opt = store_options_default();
    store *st = NULL;
    assert_int_equal(store_open(&st, dir, &opt), USHER_ERR_OK);
    store_txn *t = NULL;
    assert_int_equal(store_write_begin(st, &t), USHER_ERR_OK);
    MDB_cursor *cur;
    assert_int_equal(store_cursor(t, DB_LEDGER, &cur), USHER_ERR_OK);
    MDB_val k, v;
    assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
    rec_ledger e;
    assert_int_equal(v.mv_size, sizeof e);
    memcpy(&e, v.mv_data, sizeof e);
    e.balance_after_krw += 7;
    assert_int_equal(store_put(t, DB_LEDGER, k.mv_data, k.mv_size, &e, sizeof e, 0), USHER_ERR_OK);
    assert_int_equal(store_txn_commit(t), USHER_ERR_OK);
    store_close(st);
}

/* usherd on dir must exit 1 at once, naming the damage. */
static void usherd_refuses(const char *dir)
{
    char bin[512], out[8192];
    harness_program_path("USHERD_BIN", "usherd", bin, sizeof bin);
    int rc = harness_shell(out, sizeof out, "timeout 10 '%s' --data '%s' --listen 127.0.0.1:%u 2>&1",
                           bin, dir, (unsigned)harness_free_port());
    if (rc != 1 || !strstr(out, "damaged"))
        fail_msg("usherd on a damaged %s: exit %d\n%s", dir, rc, out);
}

static void test_exit_0_during_a_live_sale_and_1_on_broken_copies(void **state)
{
    harness_fixture *fx = *state;
    static shopper s[SHOPPERS];
    memset(s, 0, sizeof s);
    harness_server *a = live_sale(fx, s);
    /* Stop both servers (the fixture keeps the dir) and copy it. */
    for (size_t i = fx->nservers; i-- > 0;)
        harness_signal_wait(fx->servers[i], SIGTERM, HARNESS_IO_TIMEOUT_MS);
    harness_usher_check(a->data_dir, CHECK_ARGS);

    static char out[65536];
    char copy[400], args[512];
    snprintf(copy, sizeof copy, "%s/edited", a->root);
    copy_dir(a->data_dir, copy);
    corrupt_a_balance(copy);
    snprintf(args, sizeof args, "--data '%s' " CHECK_ARGS, copy);
    assert_int_equal(run_check(out, sizeof out, args), 1);
    assert_non_null(strstr(out, "ledger.running_balance: ledger entry "));
    assert_non_null(strstr(out, "violations"));

    snprintf(copy, sizeof copy, "%s/cut", a->root);
    copy_dir(a->data_dir, copy);
    char path[480];
    snprintf(path, sizeof path, "%s/data.mdb", copy);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size / 2), 0);
    snprintf(args, sizeof args, "--data '%s'", copy);
    assert_int_equal(run_check(out, sizeof out, args), 1);
    assert_non_null(strstr(out, "storage.damaged"));
    assert_non_null(strstr(out, "truncated"));
    usherd_refuses(copy);

    snprintf(copy, sizeof copy, "%s/zeroed", a->root);
    copy_dir(a->data_dir, copy);
    snprintf(path, sizeof path, "%s/data.mdb", copy);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size >= 2 * 4096 + 65536);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    static const char zeroes[65536];
    assert_int_equal(pwrite(fd, zeroes, sizeof zeroes, 2 * 4096), (ssize_t)sizeof zeroes);
    close(fd);
    snprintf(args, sizeof args, "--data '%s'", copy);
    assert_int_equal(run_check(out, sizeof out, args), 1);
    assert_non_null(strstr(out, "storage.damaged"));
    usherd_refuses(copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_2_when_it_cannot_run),
        HARNESS_TEST(test_exit_0_during_a_live_sale_and_1_on_broken_copies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
