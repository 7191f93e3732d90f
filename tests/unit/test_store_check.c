/* The stored-state checker on legal stores: a sale in every legal state
 * (lazy expiry, a seat held anew over a lapsed hold, tidied and untidied
 * records) reports nothing at any time after it; the read-only open refuses
 * what is not a usher data dir without creating anything; a cut or zeroed
 * data.mdb is refused at open and reported as storage.damaged.
 * Corruptions, one per check, are in test_store_check_corrupt.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include "store_check_fixture.h"

static void test_clean_sale_reports_nothing_at_any_later_time(void **state)
{
    store_fixture *fx = *state;
    ck_build(fx);
    store_check_summary sum;
    ck_reports r = ck_run(fx, CK_NOW, &sum);
    ck_print(&r);
    assert_int_equal(r.n, 0);
    size_t n;
    store_check_names(&n);
    assert_int_equal(sum.checks, n);
    assert_true(sum.records > 40);
    assert_false(sum.damaged);
    assert_int_equal(sum.snapshot_ms, CK_NOW);
    ck_assert_clean(fx, FX_T0 + FX_HOLD_TTL_MS * 3);    /* every hold lapsed, queue still live */
    ck_assert_clean(fx, FX_T0 + 1000 * 86400000LL);     /* everything in the past */
}

static void test_clean_after_every_tick(void **state)
{
    store_fixture *fx = *state;
    ck_build(fx);
    int64_t later = FX_T0 + FX_ACTIVE_TTL_MS + FX_REQUEST_ID_TTL_MS + 1;
    store_txn *t = fx_write(fx);
    store_admitted admitted;
    assert_int_equal(store_holds_tick(t, later, 100, NULL), USHER_ERR_OK);
    assert_int_equal(store_queue_tick(t, later, NULL, &admitted), USHER_ERR_OK);
    assert_int_equal(store_idem_tick(t, later, 100, NULL), USHER_ERR_OK);
    fx_commit(t);
    assert_int_equal(admitted.total, 1);   /* seq 4 got the slot seq 2 and 3 left */
    ck_assert_clean(fx, later);
    ck_assert_clean(fx, later + FX_ACTIVE_TTL_MS);
}

static void test_empty_store_is_clean(void **state)
{
    store_fixture *fx = *state;
    store_check_summary sum;
    ck_reports r = ck_run(fx, FX_T0, &sum);
    assert_int_equal(r.n, 0);
    assert_true(sum.records >= 1);   /* the schema stamp */
}

/* A queue whose admitted entries all expired by time and whose waiting
 * ones are admitted only by the next tick is legal as it stands. */
static void test_overdue_queue_before_its_tick_is_clean(void **state)
{
    store_fixture *fx = *state;
    ck_sale s = ck_build(fx);
    for (unsigned u = 5; u <= 8; u++)
        ck_enter(fx, u, s.concert, FX_T0 + 2100);
    ck_assert_clean(fx, FX_T0 + 2200);
    ck_assert_clean(fx, FX_T0 + 3 * FX_ACTIVE_TTL_MS);
}

static void test_check_names_are_unique_and_in_the_schema_doc(void **state)
{
    (void)state;
    size_t n;
    const store_check_info *info = store_check_names(&n);
    assert_true(n >= 30);
    FILE *f = fopen("docs/store-schema.md", "r");
    assert_non_null(f);
    static char doc[1 << 17];
    size_t len = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[len] = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(info[i].asserts) > 10);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(info[i].name, info[j].name);
        char needle[64];
        snprintf(needle, sizeof needle, "`%s`", info[i].name);
        if (!strstr(doc, needle))
            fail_msg("docs/store-schema.md does not describe %s", info[i].name);
    }
}

/* ---- read-only open ---- */

static size_t entries_in(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_read_only_open_refuses_what_is_not_a_data_dir(void **state)
{
    store_fixture *fx = *state;
    store_options opt = fx->opt;
    opt.read_only = true;
    store *st = NULL;
    char path[640];
    snprintf(path, sizeof path, "%s/missing", fx->dir);
    assert_int_equal(store_open(&st, path, &opt), USHER_ERR_NOT_FOUND);
    assert_int_equal(access(path, F_OK), -1);   /* not created */

    snprintf(path, sizeof path, "%s/empty", fx->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(store_open(&st, path, &opt), USHER_ERR_NOT_FOUND);
    assert_int_equal(entries_in(path), 0);

    char file[700];
    snprintf(file, sizeof file, "%s/data.mdb", path);   /* not an LMDB file */
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    for (int i = 0; i < 4096; i++)
        fputs("not a database ", f);
    fclose(f);
    assert_int_equal(store_open(&st, path, &opt), USHER_ERR_NOT_FOUND);
    assert_null(st);
}

/* An LMDB environment without usher's databases is not a usher data dir,
 * and the read-only open adds nothing to it. */
static void test_read_only_open_refuses_a_foreign_lmdb_env(void **state)
{
    store_fixture *fx = *state;
    char path[640];
    snprintf(path, sizeof path, "%s/foreign", fx->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    MDB_val k = { 3, "abc" }, v = { 3, "xyz" };
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    store_options opt = fx->opt;
    opt.read_only = true;
    store *st = NULL;
    assert_int_equal(store_open(&st, path, &opt), USHER_ERR_NOT_FOUND);
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), MDB_NOTFOUND);   /* nothing created */
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

static void test_read_only_store_reads_and_refuses_writes(void **state)
{
    store_fixture *fx = *state;
    ck_build(fx);
    fx_close(fx);
    store_options opt = fx->opt;
    opt.read_only = true;
    assert_int_equal(store_open(&fx->st, fx->dir, &opt), USHER_ERR_OK);
    assert_int_equal(fx_balance(fx, 1), 97000);
    store_txn *t = NULL;
    assert_int_not_equal(store_write_begin(fx->st, &t), USHER_ERR_OK);
    ck_assert_clean(fx, CK_NOW);
}

/* ---- damage ---- */

static off_t file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_size;
}

static void test_truncated_data_file_is_refused_at_open(void **state)
{
    store_fixture *fx = *state;
    ck_build(fx);
    fx_close(fx);
    char path[640];
    snprintf(path, sizeof path, "%s/data.mdb", fx->dir);
    off_t size = file_size(path);
    assert_true(size >= 8 * 4096);
    assert_int_equal(truncate(path, size / 2), 0);
    store *st = NULL;
    assert_int_equal(store_open(&st, fx->dir, &fx->opt), USHER_ERR_INTERNAL);
    assert_null(st);
    /* Read-only, it opens so that the checker can name the damage, and
     * nothing may read it. */
    store_options opt = fx->opt;
    opt.read_only = true;
    assert_int_equal(store_open(&fx->st, fx->dir, &opt), USHER_ERR_OK);
    assert_non_null(store_damage(fx->st));
    store_txn *t = NULL;
    assert_int_equal(store_read_begin(fx->st, &t), USHER_ERR_INTERNAL);
    store_check_summary sum;
    ck_reports r = ck_run(fx, CK_NOW, &sum);
    assert_true(sum.damaged);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.check[0], "storage.damaged");
    assert_non_null(strstr(r.detail[0], "truncated"));
}

/* 64 KiB of zeroes over the pages after the two meta pages. */
static void zero_used_pages(const char *dir)
{
    char path[640];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    assert_true(file_size(path) > 2 * 4096 + 65536);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    static const char zeroes[65536];
    assert_int_equal(pwrite(fd, zeroes, sizeof zeroes, 2 * 4096), (ssize_t)sizeof zeroes);
    close(fd);
}

static void test_zeroed_pages_are_reported_as_damage(void **state)
{
    store_fixture *fx = *state;
    ck_build(fx);
    fx_close(fx);
    zero_used_pages(fx->dir);
    store_options opt = fx->opt;
    opt.read_only = true;
    assert_int_equal(store_open(&fx->st, fx->dir, &opt), USHER_ERR_OK);
    assert_non_null(store_damage(fx->st));
    store_check_summary sum;
    ck_reports r = ck_run(fx, CK_NOW, &sum);
    assert_true(sum.damaged);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.check[0], "storage.damaged");
    assert_non_null(strstr(r.detail[0], "page"));
}

static void test_zeroed_pages_are_refused_at_a_server_open(void **state)
{
    store_fixture *fx = *state;
    ck_build(fx);
    fx_close(fx);
    zero_used_pages(fx->dir);
    store *st = NULL;
    assert_int_equal(store_open(&st, fx->dir, &fx->opt), USHER_ERR_INTERNAL);
    assert_null(st);
}

/* Random bytes (not zeroes) over one page in use: its number no longer
 * matches where it lies, whatever the bytes. */
static void test_overwritten_page_is_refused_and_reported(void **state)
{
    store_fixture *fx = *state;
    ck_build(fx);
    fx_close(fx);
    char path[640];
    snprintf(path, sizeof path, "%s/data.mdb", fx->dir);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    unsigned char junk[8 * 4096];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof junk; i++) {   /* xorshift: reproducible junk */
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        junk[i] = (unsigned char)x;
    }
    assert_int_equal(pwrite(fd, junk, sizeof junk, 2 * 4096), (ssize_t)sizeof junk);
    close(fd);
    store *st = NULL;
    assert_int_equal(store_open(&st, fx->dir, &fx->opt), USHER_ERR_INTERNAL);
    store_options opt = fx->opt;
    opt.read_only = true;
    assert_int_equal(store_open(&fx->st, fx->dir, &opt), USHER_ERR_OK);
    ck_reports r = ck_run(fx, CK_NOW, NULL);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.check[0], "storage.damaged");
}

/* One leaf of a large ledger copied over another (its page number set
 * right, so only its place in the tree is wrong): keys repeat out of order. */
static void test_leaf_copied_over_another_is_damage(void **state)
{
    store_fixture *fx = *state;
    user_id u = fx_user(1);
    store_txn *t = fx_write(fx);   /* one txn: every ledger page is in use, none stale */
    for (int i = 0; i < 2000; i++) {
        int64_t after;
        assert_int_equal(store_wallet_charge(t, &u, 1, FX_T0 + i, &after), USHER_ERR_OK);
    }
    fx_commit(t);
    ck_assert_clean(fx, FX_T0 + 5000);
    fx_close(fx);
    char path[640];
    snprintf(path, sizeof path, "%s/data.mdb", fx->dir);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    off_t size = file_size(path);
    unsigned char page[4096], first[4096];
    off_t a = -1, b = -1;
    for (off_t at = 2 * 4096; at + 4096 <= size && b < 0; at += 4096) {
        assert_int_equal(pread(fd, page, sizeof page, at), (ssize_t)sizeof page);
        uint16_t flags, lower, ksize, ptr;
        memcpy(&flags, page + 10, 2);
        memcpy(&lower, page + 12, 2);
        memcpy(&ptr, page + 16, 2);
        memcpy(&ksize, page + ptr + 6, 2);
        if (flags != 0x02 || (lower - 16) / 2 < 20 || ksize != 24)
            continue;   /* not a full ledger leaf */
        if (a < 0) {
            a = at;
            memcpy(first, page, sizeof first);
        } else {
            b = at;
        }
    }
    assert_true(a >= 0 && b >= 0);
    uint64_t pgno = (uint64_t)b / 4096;
    memcpy(first, &pgno, sizeof pgno);
    assert_int_equal(pwrite(fd, first, sizeof first, b), (ssize_t)sizeof first);
    close(fd);
    store *st = NULL;
    assert_int_equal(store_open(&st, fx->dir, &fx->opt), USHER_ERR_INTERNAL);
    store_options opt = fx->opt;
    opt.read_only = true;
    assert_int_equal(store_open(&fx->st, fx->dir, &opt), USHER_ERR_OK);
    ck_reports r = ck_run(fx, FX_T0 + 5000, NULL);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.check[0], "storage.damaged");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_clean_sale_reports_nothing_at_any_later_time),
        FX_TEST(test_clean_after_every_tick),
        FX_TEST(test_empty_store_is_clean),
        FX_TEST(test_overdue_queue_before_its_tick_is_clean),
        cmocka_unit_test(test_check_names_are_unique_and_in_the_schema_doc),
        FX_TEST(test_read_only_open_refuses_what_is_not_a_data_dir),
        FX_TEST(test_read_only_open_refuses_a_foreign_lmdb_env),
        FX_TEST(test_read_only_store_reads_and_refuses_writes),
        FX_TEST(test_truncated_data_file_is_refused_at_open),
        FX_TEST(test_zeroed_pages_are_reported_as_damage),
        FX_TEST(test_zeroed_pages_are_refused_at_a_server_open),
        FX_TEST(test_overwritten_page_is_refused_and_reported),
        FX_TEST(test_leaf_copied_over_another_is_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
