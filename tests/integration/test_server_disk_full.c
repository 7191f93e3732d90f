/* A full disk under the data directory (a small tmpfs, with a map larger
 * than the disk): writes that do not fit get STORAGE_FULL and store nothing,
 * reads go on, nothing acknowledged is lost, usher-check finds nothing
 * wrong, and once space returns (the tmpfs grows) writes succeed again
 * without a restart. Needs root for mount(2); skipped with a reason when
 * mounting is not permitted.
 *
 * And the write a full disk may refuse that LMDB cannot survive in-process:
 * the meta page's (failed here by an LD_PRELOAD shim, see
 * tests/integration/shims/fail_meta_write.c). The process answers with
 * INTERNAL and exits 1; a restart serves every acknowledged write. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_procs.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#define DISK_SMALL "size=10m"
#define DISK_LARGE "size=64m"
#define BURST 50
#define PERFORMANCES_PER_CONCERT 500   /* the server's cap */
#define MAX_CONCERTS 40           /* 20,000 performances of 1000 seats: far more than 10 MiB holds */
#define SEATS "1000"

typedef struct disk_fixture {
    harness_fixture *fx;
    harness_server *hs;
    bool mounted;
} disk_fixture;

/* Mounts made in a private mount namespace vanish with the test process
 * and its children (usherd, usher-check run in it too), so even a test
 * killed by its time limit leaves no tmpfs behind. Without the namespace
 * (unshare refused) the teardown's umount is all there is. */
static void private_mounts(void)
{
    static bool done;
    if (done) return;
    done = true;
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        fprintf(stderr, "note: no private mount namespace (%s); the tmpfs is visible host-wide "
                "until teardown\n", strerror(errno));
}

static int disk_setup(void **state)
{
    private_mounts();
    disk_fixture *d = calloc(1, sizeof *d);
    if (!d) return -1;
    if (harness_fixture_setup((void **)&d->fx) != 0) { free(d); return -1; }
    *state = d;
    return 0;
}

/* The server must be gone before the file system can go, and the file
 * system before the fixture removes the temp root. */
static int disk_teardown(void **state)
{
    disk_fixture *d = *state;
    if (d->hs && harness_alive(d->hs)) harness_kill(d->hs, SIGKILL);
    if (d->mounted && umount2(d->hs->data_dir, 0) != 0) {
        fprintf(stderr, "umount %s: %s; detaching it\n", d->hs->data_dir, strerror(errno));
        umount2(d->hs->data_dir, MNT_DETACH);
    }
    harness_fixture_teardown((void **)&d->fx);
    free(d);
    return 0;
}

/* Starts usherd with its data dir on a fresh tmpfs of DISK_SMALL: the
 * harness makes the dir, the tmpfs goes over it (hiding the first start's
 * files), and usherd starts again on the empty file system. */
static void start_on_small_disk(disk_fixture *d, const char *args)
{
    d->hs = harness_fx_start(d->fx, args);
    harness_kill(d->hs, SIGTERM);
    if (mount("tmpfs", d->hs->data_dir, "tmpfs", 0, DISK_SMALL ",mode=0700") != 0) {
        int e = errno;
        if (e == EPERM || e == EACCES) {
            fprintf(stderr, "skipped: mount tmpfs: %s (needs root or CAP_SYS_ADMIN)\n", strerror(e));
            skip();
        }
        fail_msg("mount tmpfs on %s: %s", d->hs->data_dir, strerror(e));
    }
    d->mounted = true;
    harness_restart(d->hs);
}

/* Counters of what the clients were told. */
typedef struct outcome {
    unsigned ok, full;
} outcome;

/* Sends BURST performance creations pipelined and tallies the replies;
 * any error other than STORAGE_FULL fails the test. */
static void create_burst(harness_conn *c, const char *admin, uint64_t concert_id, outcome *o)
{
    uint32_t first = 0;
    for (unsigned i = 0; i < BURST; i++) {
        uint32_t id = harness_sendf(c, "admin.schedule.create",
                                    "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld,"
                                    "\"seats\":" SEATS ",\"price\":5}",
                                    admin, (unsigned long long)concert_id,
                                    (long long)(harness_now_ms() + 86400000LL + i));
        if (i == 0) first = id;
    }
    for (unsigned i = 0; i < BURST; i++) {
        harness_reply r;
        usher_err e = harness_recv(c, first + i, &r);
        if (e == USHER_ERR_OK) o->ok++;
        else if (e == USHER_ERR_STORAGE_FULL) o->full++;
        else fail_msg("schedule.create: unexpected %s: %s", r.code, r.message ? r.message : "");
        harness_reply_free(&r);
    }
}

/* A charge with a request_id; returns OK or STORAGE_FULL (anything else fails). */
static usher_err charge_once(harness_conn *c, const char *session, int64_t amount, unsigned n)
{
    harness_reply r;
    usher_err e = harness_callf(c, &r, "wallet.charge",
                                "{\"session\":\"%s\",\"amount\":%lld,\"request_id\":\"disk-%u\"}",
                                session, (long long)amount, n);
    if (e != USHER_ERR_OK && e != USHER_ERR_STORAGE_FULL)
        fail_msg("wallet.charge: unexpected %s: %s", r.code, r.message ? r.message : "");
    harness_reply_free(&r);
    return e;
}

static size_t dates_of(harness_conn *c, const char *token, uint64_t concert_id)
{
    harness_reply r;
    harness_callf(c, &r, "concert.dates", "{\"token\":\"%s\",\"concert_id\":%llu}", token,
                  (unsigned long long)concert_id);
    harness_expect(&r, OK);
    size_t n;
    harness_get_array(&r, "dates", &n);
    harness_reply_free(&r);
    return n;
}

static long count_log_lines(const harness_server *hs, const char *pattern)
{
    return (long)harness_log_count(hs, pattern);
}

/* Log lines about refused writes, by kind. */
typedef struct log_lines {
    long request;                 /* the per-request line with code=STORAGE_FULL */
    long refusal;                 /* the error mapper's "failed: STORAGE_FULL" line */
    long commit;                  /* the store's line per failed commit */
} log_lines;

static void count_lines(const harness_server *hs, log_lines *n)
{
    n->request = count_log_lines(hs, "code=STORAGE_FULL");
    n->refusal = count_log_lines(hs, "failed: STORAGE_FULL");
    n->commit = count_log_lines(hs, "store: commit: No space left");
}

/* The venue the test fills: concerts made (and entered) before the disk
 * fills, since entering a queue is a write too. */
typedef struct venue {
    uint64_t concert_id[MAX_CONCERTS];
    char token[MAX_CONCERTS][HARNESS_TOKEN_CAP];
    unsigned acked[MAX_CONCERTS];     /* performances acknowledged per concert */
} venue;

static void venue_open(harness_conn *c, const char *admin, const char *session, venue *v)
{
    for (unsigned i = 0; i < MAX_CONCERTS; i++) {
        harness_reply r;
        harness_callf(c, &r, "admin.concert.create", "{\"admin\":\"%s\",\"title\":\"disk %u\"}",
                      admin, i);
        harness_expect(&r, OK);
        v->concert_id[i] = harness_get_u64(&r, "concert_id");
        harness_reply_free(&r);
        harness_enter_until_active(c, session, v->concert_id[i], v->token[i], 5000);
    }
}

/* Fills concert after concert until a performance is refused; *charged_krw
 * gets the sum of the acknowledged charges made between bursts. */
static void fill_disk(harness_conn *c, const char *admin, const char *session, venue *v,
                      outcome *perf, outcome *charge, int64_t *charged_krw, unsigned *charges_sent)
{
    for (unsigned i = 0; i < MAX_CONCERTS && perf->full == 0; i++) {
        for (unsigned n = 0; n < PERFORMANCES_PER_CONCERT && perf->full == 0; n += BURST) {
            outcome o = { 0, 0 };
            create_burst(c, admin, v->concert_id[i], &o);
            v->acked[i] += o.ok;
            perf->ok += o.ok;
            perf->full += o.full;
            if (charge_once(c, session, 10, (*charges_sent)++) == USHER_ERR_OK) {
                charge->ok++;
                *charged_krw += 10;
            } else {
                charge->full++;
            }
        }
    }
}

/* Every concert lists exactly the performances acknowledged for it. */
static void expect_acknowledged(harness_conn *c, const venue *v)
{
    for (unsigned i = 0; i < MAX_CONCERTS; i++)
        assert_int_equal(dates_of(c, v->token[i], v->concert_id[i]), v->acked[i]);
}

static void test_full_disk_refuses_writes_keeps_reads_and_recovers_when_space_returns(void **state)
{
    disk_fixture *d = *state;
    start_on_small_disk(d, "--map-size 64 --max-active 1000");
    harness_server *hs = d->hs;
    harness_conn *c = harness_fx_connect(d->fx, hs->port);
    const char *admin = harness_admin_token(hs);
    harness_user u;
    harness_register(c, &u);
    static venue v;
    memset(&v, 0, sizeof v);
    venue_open(c, admin, u.session, &v);

    outcome perf = { 0, 0 }, charge = { 0, 0 };
    int64_t charged_krw = 0;
    unsigned charges_sent = 0;
    fill_disk(c, admin, u.session, &v, &perf, &charge, &charged_krw, &charges_sent);
    assert_true(perf.full > 0);
    fprintf(stderr, "disk full after %u performances (%u refused); charges between bursts: "
            "%u ok, %u refused\n", perf.ok, perf.full, charge.ok, charge.full);

    /* More writes while full (to the last concert, which the fill never
     * reached): each is OK or STORAGE_FULL, never anything else. The log
     * lines they cost are measured (one per reply, one per refusal, one per
     * failed commit; rate limiting is left for later). */
    const unsigned spare = MAX_CONCERTS - 1;
    assert_int_equal(v.acked[spare], 0);
    log_lines before, after;
    count_lines(hs, &before);
    outcome more = { 0, 0 };
    for (unsigned b = 0; b < 4; b++) create_burst(c, admin, v.concert_id[spare], &more);
    v.acked[spare] += more.ok;
    assert_true(more.full > 0);
    count_lines(hs, &after);
    fprintf(stderr, "while full: %u refused, %u accepted; log lines for them: %ld request, "
            "%ld refusal, %ld failed-commit (%.2f per refused request)\n", more.full, more.ok,
            after.request - before.request, after.refusal - before.refusal,
            after.commit - before.commit,
            (double)(after.request + after.refusal + after.commit - before.request -
                     before.refusal - before.commit) / more.full);
    assert_int_equal(after.request - before.request, more.full);   /* each refusal says so */

    /* Reads go on, and so does the server. */
    harness_reply r;
    assert_int_equal(harness_call(c, "sys.ping", "{}", &r), USHER_ERR_OK);
    harness_reply_free(&r);
    assert_int_equal(harness_balance(c, u.session), charged_krw);
    expect_acknowledged(c, &v);
    assert_true(harness_alive(hs));
    harness_usher_check(hs->data_dir, NULL);

    /* Space returns: the same process writes again. */
    assert_int_equal(mount("tmpfs", hs->data_dir, NULL, MS_REMOUNT, DISK_LARGE ",mode=0700"), 0);
    harness_callf(c, &r, "admin.schedule.create",
                  "{\"admin\":\"%s\",\"concert_id\":%llu,\"starts_at\":%lld,\"seats\":" SEATS
                  ",\"price\":5}", admin, (unsigned long long)v.concert_id[spare],
                  (long long)(harness_now_ms() + 2 * 86400000LL));
    harness_expect(&r, OK);
    harness_reply_free(&r);
    v.acked[spare]++;
    assert_int_equal(charge_once(c, u.session, 10, charges_sent++), USHER_ERR_OK);
    charged_krw += 10;
    assert_true(harness_alive(hs));
    assert_int_equal(harness_balance(c, u.session), charged_krw);
    expect_acknowledged(c, &v);

    /* Nothing acknowledged was lost: a restart finds all of it. */
    harness_kill(hs, SIGTERM);
    harness_usher_check(hs->data_dir, NULL);
    harness_restart(hs);
    c = harness_fx_connect(d->fx, hs->port);
    assert_int_equal(harness_balance(c, u.session), charged_krw);
    expect_acknowledged(c, &v);
}

static usher_err charge_with_id(harness_conn *c, const char *session, int64_t amount,
                                const char *request_id, int64_t *balance)
{
    harness_reply r;
    usher_err e = harness_callf(c, &r, "wallet.charge",
                                "{\"session\":\"%s\",\"amount\":%lld,\"request_id\":\"%s\"}",
                                session, (long long)amount, request_id);
    if (e == USHER_ERR_OK && balance) *balance = harness_get_i64(&r, "balance");
    harness_reply_free(&r);
    return e;
}

static void test_failed_meta_write_stops_the_process_and_a_restart_keeps_acknowledged_writes(void **state)
{
    harness_fixture *fx = *state;
    char shim[PATH_MAX];
    harness_shim_path("fail_meta_write", shim, sizeof shim);
    /* Only this usherd gets the shim; the long admit interval keeps the
     * housekeeping job from being the write that meets the fault. */
    setenv("USHER_FAIL_META_WRITE", "../fail-meta-write", 1);
    setenv("LD_PRELOAD", shim, 1);
    harness_server *hs = harness_fx_start(fx, "--admit-interval 1h");
    unsetenv("LD_PRELOAD");
    unsetenv("USHER_FAIL_META_WRITE");
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_user u;
    harness_register(c, &u);
    int64_t balance = 0;
    assert_int_equal(charge_with_id(c, u.session, 500, "ok-1", &balance), USHER_ERR_OK);
    assert_int_equal(charge_with_id(c, u.session, 300, "ok-2", &balance), USHER_ERR_OK);
    assert_int_equal(balance, 800);

    char trigger[400], out[256];
    snprintf(trigger, sizeof trigger, "%s/fail-meta-write", hs->root);
    assert_int_equal(harness_shell(out, sizeof out, "touch '%s'", trigger), 0);
    assert_int_equal(charge_with_id(c, u.session, 100, "lost", NULL), USHER_ERR_INTERNAL);

    /* The process does not stay up refusing everything: it stops, exit 1. */
    int status = harness_signal_wait(hs, 0, 5000);
    if (status == -1) fail_msg("usherd kept running on an environment LMDB declared fatal");
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_true(count_log_lines(hs, "storage unusable") == 1);
    assert_true(count_log_lines(hs, "MDB_PANIC") >= 1);

    /* A fresh process (without the shim) has every acknowledged write and
     * not the refused one; its retry charges once. */
    unlink(trigger);
    harness_restart(hs);
    c = harness_fx_connect(fx, hs->port);
    assert_int_equal(harness_balance(c, u.session), 800);
    assert_int_equal(charge_with_id(c, u.session, 100, "lost", &balance), USHER_ERR_OK);
    assert_int_equal(balance, 900);
    assert_int_equal(charge_with_id(c, u.session, 500, "ok-1", &balance), USHER_ERR_OK);
    assert_int_equal(balance, 500);                /* the first result, replayed */
    assert_int_equal(harness_balance(c, u.session), 900);
    harness_usher_check(hs->data_dir, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_full_disk_refuses_writes_keeps_reads_and_recovers_when_space_returns,
            disk_setup, disk_teardown),
        HARNESS_TEST(test_failed_meta_write_stops_the_process_and_a_restart_keeps_acknowledged_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
