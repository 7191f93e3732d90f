/* Power loss, which kill -9 cannot show (the page cache survives a killed
 * process): usherd runs a flash sale with tests/crash/powercut_shim.so
 * preloaded, which journals every write to data.mdb before it is made and
 * every sync after it returned. Then, for many cut points across the
 * journal, data.mdb is rebuilt as a power cut there would leave it (the
 * synced writes, the O_DSYNC ones, and a random subset of the rest, some
 * torn page by page), and the rebuilt store must pass usher-check, open,
 * and hold every write acknowledged before the cut (read in-process through
 * store.h). Run against --sync full and --sync meta. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "../crash/crash_check.h"
#include "../crash/crash_sale.h"
#include "../crash/powercut_replay.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCHEDULES 2
#define SEATS 400
#define PRICE_KRW 7000
#define CONNS 6
#define USERS 32
#define USERS_STRESS 64
#define CUTS 400                /* per sync mode */
#define CUTS_STRESS 4000
#define CONTROL_CUTS 60         /* cuts of the control run (O_DSYNC or the last sync ignored) */
#define PAGE_SIZE_LIMIT 4096    /* LMDB's meta page writes are smaller than a page */
#define SERVER_FLAGS "--max-active 100000"

/* The test's own temp dirs (the journal, the rebuilt data dir), removed by
 * the teardown even when the test failed. */
typedef struct power_ctx {
    harness_fixture *fx;
    char journal_dir[64];
    char rebuild_dir[64];
} power_ctx;

static int power_setup(void **state)
{
    power_ctx *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    void *fx = NULL;
    if (harness_fixture_setup(&fx) != 0) {
        free(p);
        return -1;
    }
    p->fx = fx;
    *state = p;
    return 0;
}

static void remove_dir(char *dir)
{
    if (!dir[0])
        return;
    char out[64];
    harness_shell(out, sizeof out, "rm -rf '%s'", dir);
    dir[0] = '\0';
}

static int power_teardown(void **state)
{
    power_ctx *p = *state;
    unsetenv("LD_PRELOAD");             /* when the test failed while they were set */
    unsetenv(POWERCUT_JOURNAL_ENV);
    void *fx = p->fx;
    harness_fixture_teardown(&fx);
    remove_dir(p->journal_dir);
    remove_dir(p->rebuild_dir);
    free(p);
    return 0;
}

static void make_temp_dir(char *out, size_t cap, const char *parent)
{
    snprintf(out, cap, "%s/usher-pcut-XXXXXX", parent);
    if (!mkdtemp(out))
        fail_msg("mkdtemp %s: failed", out);
}

/* ---- reading one user's state through store.h ---- */

static char status_letter(store_reservation_status s)
{
    return s == STORE_RES_HELD ? 'H' : s == STORE_RES_CONFIRMED ? 'C' : s == STORE_RES_EXPIRED ? 'E' : 'X';
}

#define PAGE 256

/* Pages of store records read into a view. */
typedef struct read_pages {
    store_ledger_entry entries[PAGE];
    store_reservation res[PAGE];
    store_payment pay[PAGE];
} read_pages;

/* Fails the test when a view would overflow (CRASH_VIEW_MAX). */
static void view_room(size_t have, size_t more)
{
    if (have + more > CRASH_VIEW_MAX)
        fail_msg("a user has more than %d records of one kind", CRASH_VIEW_MAX);
}

/* Fills v from the store through pages; false when a read fails. */
static bool read_view(store_txn *txn, const crash_user *u, read_pages *pages, crash_view *v)
{
    store_ledger_entry *entries = pages->entries;
    store_reservation *res = pages->res;
    store_payment *pay = pages->pay;
    v->nledger = v->nres = v->npay = 0;
    uint8_t hash[STORE_SECRET_HASH_BYTES];
    usher_err e = store_user_secret_hash(txn, &u->id, hash);
    v->exists = e == USHER_ERR_OK;
    if (e != USHER_ERR_OK && e != USHER_ERR_NOT_FOUND)
        return false;
    if (store_wallet_balance(txn, &u->id, &v->balance_krw) != USHER_ERR_OK)
        return false;
    for (uint64_t before = 0;;) {
        size_t n = 0;
        if (store_wallet_history(txn, &u->id, before, entries, PAGE, &n) != USHER_ERR_OK)
            return false;
        view_room(v->nledger, n);
        for (size_t i = 0; i < n; i++)
            v->ledger[v->nledger++] = (struct crash_view_entry){
                entries[i].kind, entries[i].amount_krw, entries[i].balance_after_krw, entries[i].payment_id };
        if (n < PAGE)
            break;
        before = entries[n - 1].entry_id;
    }
    int64_t now = harness_now_ms();
    for (uint64_t before = 0;;) {
        size_t n = 0;
        if (store_reservation_list(txn, &u->id, before, now, res, PAGE, &n) != USHER_ERR_OK)
            return false;
        view_room(v->nres, n);
        for (size_t i = 0; i < n; i++)
            v->res[v->nres++] = (struct crash_view_res){
                .reservation_id = res[i].reservation_id, .schedule_id = res[i].schedule_id,
                .payment_id = res[i].payment_id, .seat_no = res[i].seat_no,
                .price_krw = res[i].price_krw, .status = status_letter(res[i].status) };
        if (n < PAGE)
            break;
        before = res[n - 1].reservation_id;
    }
    for (uint64_t before = 0;;) {
        size_t n = 0;
        if (store_payment_list(txn, &u->id, before, pay, PAGE, &n) != USHER_ERR_OK)
            return false;
        view_room(v->npay, n);
        for (size_t i = 0; i < n; i++) {
            struct crash_view_pay *p = &v->pay[v->npay++];
            p->payment_id = pay[i].payment_id;
            p->amount_krw = pay[i].amount_krw;
            p->n = pay[i].n_reservations;
            memcpy(p->reservation_ids, pay[i].reservation_ids, sizeof p->reservation_ids);
        }
        if (n < PAGE)
            break;
        before = pay[n - 1].payment_id;
    }
    return true;
}

/* ---- one sync mode ---- */

typedef struct power_report {
    size_t records, cuts, torn_cuts, tail_writes, tail_applied, tail_torn, tail_dsynced;
    size_t cuts_losing_acked;   /* cuts where the full promise failed */
    crash_tally promise;        /* every write acknowledged before the cut */
    crash_tally weaker;         /* every write acknowledged before the last data sync */
    size_t acked_ops;
    size_t control_cuts, control_cuts_losing; /* the model with O_DSYNC writes unsynced */
} power_report;

/* Picks cut points in [lo, n]: half anywhere, half just after the end of a
 * commit (the meta page write, and the record after it), and n itself. */
static size_t *pick_cuts(const powercut_journal *j, size_t lo, size_t count, uint64_t *rng)
{
    size_t *cuts = calloc(count, sizeof *cuts);
    size_t *ends = calloc(j->n + 1, sizeof *ends);
    if (!cuts || !ends)
        fail_msg("out of memory");
    size_t nends = 0;
    for (size_t i = lo; i < j->n; i++) {
        const powercut_record *r = &j->entries[i].rec;
        if (r->kind == POWERCUT_WRITE && r->len < PAGE_SIZE_LIMIT && r->offset < 2 * PAGE_SIZE_LIMIT)
            ends[nends++] = i;  /* a meta page: the commit point */
    }
    size_t span = j->n - lo + 1;
    cuts[0] = j->n;
    for (size_t c = 1; c < count; c++) {
        if ((c & 1) && nends)
            cuts[c] = ends[crash_rand(rng) % nends] + 1 + (size_t)(crash_rand(rng) % 3);
        else
            cuts[c] = lo + (size_t)(crash_rand(rng) % span);
        if (cuts[c] > j->n)
            cuts[c] = j->n;
    }
    for (size_t a = 1; a < count; a++)  /* insertion sort: cuts go forward */
        for (size_t b = a; b > 0 && cuts[b - 1] > cuts[b]; b--) {
            size_t t = cuts[b];
            cuts[b] = cuts[b - 1];
            cuts[b - 1] = t;
        }
    free(ends);
    return cuts;
}

/* True when usher-check passes on dir; otherwise fails the test, unless this
 * is a control cut (a damaged store is then one way of losing writes). */
static bool run_usher_check(const char *dir, size_t k, const powercut_cut_stats *st, bool control)
{
    char bin[512], out[8192];
    harness_program_path("USHER_CHECK_BIN", "usher-check", bin, sizeof bin);
    int rc = harness_shell(out, sizeof out, "%s --data '%s' --quiet " SERVER_FLAGS " 2>&1", bin, dir);
    if (rc != 0 && !control)
        fail_msg("cut at record %zu (last sync %zu, %zu writes after it, %zu kept, %zu torn): "
                 "usher-check exit %d:\n%s", k, st->last_sync, st->tail_writes, st->tail_applied,
                 st->tail_torn, rc, out);
    return rc == 0;
}

/* Writes the cut's image, runs usher-check on it, opens it through store.h
 * and judges every user twice: against the full promise (acknowledged before
 * the cut) and against the weaker one (acknowledged before the last sync). */
static void judge_cut(power_ctx *p, const crash_sale *sale, const powercut_journal *j,
                      const powercut_rebuild *b, size_t k, const powercut_cut_stats *st,
                      const char *sync, crash_view *view, read_pages *pages, crash_tally *promise,
                      crash_tally *weaker)
{
    char data_path[128], lock_path[128];
    snprintf(data_path, sizeof data_path, "%s/data.mdb", p->rebuild_dir);
    snprintf(lock_path, sizeof lock_path, "%s/lock.mdb", p->rebuild_dir);
    if (!powercut_rebuild_write(b, data_path))
        fail_msg("cannot write %s", data_path);
    unlink(lock_path);
    bool control = b->ignore_dsync || b->forget_last_sync;
    store_options opt = store_options_default();
    opt.sync = STORE_SYNC_NONE;
    store *st_open = NULL;
    if (!run_usher_check(p->rebuild_dir, k, st, control) ||
        store_open(&st_open, p->rebuild_dir, &opt) != USHER_ERR_OK) {
        if (!control)
            fail_msg("cut at record %zu: the rebuilt store does not open", k);
        promise->violations++;   /* the control's store is unusable: its writes are lost */
        return;
    }
    store_txn *txn = NULL;
    if (store_read_begin(st_open, &txn) != USHER_ERR_OK)
        fail_msg("cut at record %zu: no read transaction", k);
    int64_t cut_ns = k < j->n ? j->entries[k].rec.at_ns : INT64_MAX;
    int64_t synced_ns = st->last_sync != SIZE_MAX ? j->entries[st->last_sync].rec.at_ns : INT64_MIN;
    char where[80];
    snprintf(where, sizeof where, "--sync %s%s cut at record %zu of %zu", sync,
             control ? " (control)" : "", k, j->n);
    for (size_t ui = 0; ui < sale->nusers; ui++) {
        if (!read_view(txn, &sale->users[ui], pages, view))
            fail_msg("cut at record %zu: a store read failed", k);
        crash_check_user(sale, ui, view, cut_ns, cut_ns, where, promise);
        crash_check_user(sale, ui, view, synced_ns, cut_ns, where, weaker);
    }
    store_txn_end(txn);
    store_close(st_open);
}

static void power_cut_sale(power_ctx *p, const char *sync, power_report *rep)
{
    memset(rep, 0, sizeof rep[0]);
    char seed_name[64];
    snprintf(seed_name, sizeof seed_name, "test_crash_power --sync %s", sync);
    uint64_t seed = crash_seed(seed_name), rng = seed ^ UINT64_C(0x9e3779b97f4a7c15);
    bool stress = crash_stress();

    char journal[128], shim[512];
    make_temp_dir(p->journal_dir, sizeof p->journal_dir, "/tmp");
    make_temp_dir(p->rebuild_dir, sizeof p->rebuild_dir, access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    snprintf(journal, sizeof journal, "%s/journal", p->journal_dir);
    harness_program_path("USHER_POWERCUT_SHIM", "tests/powercut_shim.so", shim, sizeof shim);
    if (access(shim, R_OK) != 0)
        fail_msg("%s is missing: make all builds it", shim);

    /* the shim goes into usherd only: set for the fork/exec, then unset */
    char args[128];
    snprintf(args, sizeof args, "--sync %s " SERVER_FLAGS, sync);
    setenv("LD_PRELOAD", shim, 1);
    setenv(POWERCUT_JOURNAL_ENV, journal, 1);
    harness_server *hs = harness_fx_start(p->fx, args);
    unsetenv("LD_PRELOAD");
    unsetenv(POWERCUT_JOURNAL_ENV);
    int64_t ready_ns = crash_realtime_ns();

    harness_conn *c = harness_fx_connect(p->fx, hs->port);
    const char *admin = harness_admin_token(hs);
    uint64_t concert_id, schedule_ids[SCHEDULES];
    int64_t starts_at = harness_now_ms() + 86400000;
    harness_make_concert(c, admin, SEATS, PRICE_KRW, starts_at, &concert_id, &schedule_ids[0]);
    for (size_t i = 1; i < SCHEDULES; i++)
        schedule_ids[i] = harness_make_schedule(c, admin, concert_id, SEATS, PRICE_KRW, starts_at + 3600000);
    harness_conn_disconnect(c);

    crash_sale sale;
    crash_sale_init(&sale, concert_id, schedule_ids, SCHEDULES, SEATS, seed);
    harness_conn *conns[CONNS];
    for (size_t i = 0; i < CONNS; i++)
        conns[i] = harness_fx_connect(p->fx, hs->port);
    crash_run_plan plan = { .users_target = stress ? USERS_STRESS : USERS, .chain_ops = stress ? 60 : 24,
                            .charges = stress ? 24 : 10, .drain_ms = 0 };
    crash_sale_run(&sale, conns, CONNS, &plan);
    for (size_t i = 0; i < CONNS; i++)
        harness_conn_disconnect(conns[i]);
    harness_kill(hs, SIGKILL);
    crash_sale_counts counts = crash_sale_count(&sale, 0);
    rep->acked_ops = counts.ok;
    if (counts.no_reply)
        fail_msg("%zu operations got no reply from a server that was not killed yet", counts.no_reply);

    powercut_journal j;
    if (!powercut_journal_load(journal, &j))
        fail_msg("cannot load the journal %s", journal);
    rep->records = j.n;
    if (j.nfiles != 1 || j.shared_maps)
        fail_msg("the journal shows %u watched files and %zu writable shared maps: the model "
                 "expects one data.mdb written only through write calls", j.nfiles, j.shared_maps);
    /* Cuts start at the first data sync after usherd was up: before it, a
     * cut may find the store as it was before this run (nothing acknowledged). */
    size_t lo = 0;
    while (lo < j.n && j.entries[lo].rec.at_ns < ready_ns)
        lo++;
    while (lo < j.n && j.entries[lo].rec.kind != POWERCUT_SYNC)
        lo++;
    lo++;
    size_t ncuts = stress ? CUTS_STRESS : CUTS;
    size_t *cuts = pick_cuts(&j, lo, ncuts, &rng);
    powercut_rebuild b;
    powercut_rebuild_init(&b, &j, 0);
    crash_view *view = calloc(1, sizeof *view);
    read_pages *pages = calloc(1, sizeof *pages);
    if (!view || !pages)
        fail_msg("out of memory");
    rep->weaker.print_limit = 40;
    rep->promise.print_limit = 6;
    for (size_t c = 0; c < ncuts; c++) {
        size_t k = cuts[c];
        powercut_cut_stats st;
        powercut_rebuild_cut(&b, k, &rng, crash_rand(&rng) & 1, &st);
        rep->cuts++;
        rep->torn_cuts += st.tail_torn > 0;
        rep->tail_writes += st.tail_writes;
        rep->tail_applied += st.tail_applied;
        rep->tail_torn += st.tail_torn;
        rep->tail_dsynced += st.tail_dsynced;
        size_t lost_before = rep->promise.violations;
        judge_cut(p, &sale, &j, &b, k, &st, sync, view, pages, &rep->promise, &rep->weaker);
        rep->cuts_losing_acked += rep->promise.violations > lost_before;
    }
    /* Control: the same judge on a model that forgets that O_DSYNC writes
     * are on disk when they return must see acknowledged writes lost (in
     * --sync full the meta page is written only that way), or it could not
     * tell a durable store from one that is not. */
    powercut_rebuild ctl;
    powercut_rebuild_init(&ctl, &j, 0);
    /* --sync full makes commits durable by the O_DSYNC meta write, --sync
     * meta by the data sync after it: the control takes that away. */
    if (strcmp(sync, "meta") == 0) ctl.forget_last_sync = true;
    else ctl.ignore_dsync = true;
    size_t *ctl_cuts = pick_cuts(&j, lo, CONTROL_CUTS, &rng);
    crash_tally ctl_promise = { .print_limit = 1 }, ctl_weaker = { .print_limit = 1 };
    for (size_t c = 0; c < CONTROL_CUTS; c++) {
        powercut_cut_stats st;
        powercut_rebuild_cut(&ctl, ctl_cuts[c], &rng, false, &st);
        size_t before = ctl_promise.violations;
        judge_cut(p, &sale, &j, &ctl, ctl_cuts[c], &st, sync, view, pages, &ctl_promise, &ctl_weaker);
        rep->control_cuts++;
        rep->control_cuts_losing += ctl_promise.violations > before;
    }
    free(ctl_cuts);
    powercut_rebuild_free(&ctl);
    free(view);
    free(pages);
    free(cuts);
    powercut_rebuild_free(&b);
    powercut_journal_free(&j);
    crash_sale_free(&sale);
    printf("  --sync %s: %zu journal records, %zu acknowledged operations; %zu cut points "
           "(%zu with torn writes); after the last sync: %zu writes, %zu kept whole, %zu torn, "
           "%zu O_DSYNC; %zu judgements (%zu of acknowledged writes; unanswered at the cut: "
           "%zu present whole, %zu absent); cuts losing an acknowledged write: %zu; "
           "control (%s ignored): %zu of %zu cuts lose one\n",
           sync, rep->records, rep->acked_ops, rep->cuts, rep->torn_cuts, rep->tail_writes,
           rep->tail_applied, rep->tail_torn, rep->tail_dsynced, rep->promise.checked,
           rep->promise.must_present, rep->promise.may_present, rep->promise.may_absent,
           rep->cuts_losing_acked, strcmp(sync, "meta") == 0 ? "the last sync" : "O_DSYNC",
           rep->control_cuts_losing, rep->control_cuts);
    remove_dir(p->journal_dir);
    remove_dir(p->rebuild_dir);
}

static void test_power_cut_with_sync_full_keeps_every_acknowledged_write(void **state)
{
    power_report rep;
    power_cut_sale(*state, "full", &rep);
    assert_int_equal(rep.promise.violations, 0);
    assert_true(rep.promise.must_present > 0 && rep.tail_writes > 0);
    assert_true(rep.control_cuts_losing > 0);
}

/* --sync meta (MDB_NOMETASYNC) writes the meta page of commit N without a
 * sync; it reaches the disk with the next data sync. usherd's writer holds
 * the replies of commit N until then (the next batch's commit, or a sync of
 * its own when nothing waits), so the same promise as full must hold: every
 * write acknowledged before the cut is there. The control forgets the last
 * sync before each cut, as a server that answered before syncing would
 * need, and must then lose writes. */
static void test_power_cut_with_sync_meta_keeps_every_acknowledged_write(void **state)
{
    power_report rep;
    power_cut_sale(*state, "meta", &rep);
    assert_int_equal(rep.promise.violations, 0);
    assert_int_equal(rep.weaker.violations, 0);
    assert_true(rep.promise.must_present > 0 && rep.tail_writes > 0);
    assert_true(rep.control_cuts_losing > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_power_cut_with_sync_full_keeps_every_acknowledged_write,
                                        power_setup, power_teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_with_sync_meta_keeps_every_acknowledged_write,
                                        power_setup, power_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
