/* The LMDB environment: open/close, transactions, the one place LMDB codes
 * become usher_err, and the small access helpers every store_*.c uses.
 * One store per process, opened after fork. MDB_NOTLS lets the loop thread
 * own read txns while the writer thread owns the single write txn. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include "clock.h"
#include "log.h"
#include "store_internal.h"
#include "store_pages.h"

/* Below this much free space on the data dir's file system, an EIO from a
 * commit is taken for a full disk (see disk_full_as_enospc). */
#define DISK_NEARLY_FULL_BYTES ((unsigned long long)1 << 20)

static const char *const db_names[DB_COUNT] = {
    [DB_META] = "meta",
    [DB_USERS] = "users",
    [DB_LEDGER] = "ledger",
    [DB_IDEM] = "idem",
    [DB_IDEM_AGE] = "idem_age",
    [DB_CONCERTS] = "concerts",
    [DB_SCHEDULES] = "schedules",
    [DB_DATES] = "dates",
    [DB_SEATS] = "seats",
    [DB_RESERVATIONS] = "reservations",
    [DB_RES_BY_USER] = "res_by_user",
    [DB_HELD] = "held",
    [DB_HOLD_EXPIRY] = "hold_expiry",
    [DB_PAYMENTS] = "payments",
    [DB_PAY_BY_USER] = "pay_by_user",
    [DB_QUEUES] = "queues",
    [DB_QUEUE_ENTRIES] = "queue_entries",
    [DB_QUEUE_USERS] = "queue_users",
    [DB_QUEUE_ACTIVE] = "queue_active",
    [DB_QUEUE_BUSY] = "queue_busy",
    [DB_REVOCATIONS] = "revocations",
    [DB_QUEUE_DROPS] = "queue_drops",
    [DB_QUEUE_DROP_SUMS] = "queue_drop_sums",
    [DB_QUEUE_ORDER] = "queue_order",
    [DB_QUEUE_IDLE] = "queue_idle",
};

static const char *const counter_keys[] = {
    [COUNTER_CONCERT] = "id.concert",
    [COUNTER_SCHEDULE] = "id.schedule",
    [COUNTER_RESERVATION] = "id.reservation",
    [COUNTER_PAYMENT] = "id.payment",
    [COUNTER_LEDGER] = "id.ledger",
};

const char *store_db_name(enum store_db db)
{
    return db >= 0 && db < DB_COUNT ? db_names[db] : "?";
}

const char *store_counter_key(enum store_counter counter)
{
    return counter_keys[counter];
}

static const char schema_key[] = "schema";
/* Version 2 dropped the "balances" database (a balance is the newest ledger
 * entry's balance_after); a version 1 dir is upgraded when a writer opens it
 * (its balances always equalled the ledger: usher-check checked that).
 * Version 3 grew the queue records (the waiting room: drops, controls, the
 * draw, seen times); a version 1 or 2 dir's queues are rewritten by the
 * first writer that opens it (store_queue_upgrade_v2). */
static const uint32_t schema_version = 3;
static const uint32_t schema_version_v2 = 2;
static const uint32_t schema_version_v1 = 1;
static const char v1_balances_db[] = "balances";

store_options store_options_default(void)
{
    store_options o = {
        .sync = STORE_SYNC_FULL,
        .map_size_bytes = (size_t)4 << 30,
        .max_readers = 512,
        .policy = {
            .hold_ttl_ms = 5 * 60 * 1000,
            .active_ttl_ms = 10 * 60 * 1000,
            .max_active = 100,
            .max_holds = 4,
            .max_charge_krw = 10000000,
            .balance_limit_krw = INT64_C(1000000000000),
            .request_id_ttl_ms = INT64_C(24) * 60 * 60 * 1000,
            .wait_idle_ms = 2 * 60 * 1000,
            .active_idle_ms = 3 * 60 * 1000,
        },
        .connections = 16,
        .connect_timeout_ms = 5000,
    };
    return o;
}

/* The store's stderr lines go through a limiter the store owns (err_lock,
 * err_limits): a full map or disk fails every write alike, from the writer
 * thread and the loop thread, and a line per failure once wrote 100 MB in
 * 90 s onto the disk that was full. Every caller has a store: store_open
 * sets the lock up before its first LMDB call. */

static int64_t err_log_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes one line of text: in usherd's format (a timestamp, JSON under
 * --log-json) when there is an instance, else plain ("usherd: " before a
 * read-write store's text, as usherd's tests and tools have always seen). */
static void say_line(bool json, const char *instance, bool plain_tool, const char *text)
{
    if (instance && instance[0]) {
        log_format f = { .json = json, .instance = instance };
        log_line_write(&f, LOG_ERROR, text);
    } else {
        fprintf(stderr, "%s%s\n", plain_tool ? "" : "usherd: ", text);
    }
}

static void say_vformat(bool json, const char *instance, bool plain_tool, const char *fmt,
                        va_list ap)
{
    char text[LOG_TEXT_MAX];
    vsnprintf(text, sizeof text, fmt, ap);
    say_line(json, instance, plain_tool, text);
}

void store_say(const store *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say_vformat(st->log_json, st->log_instance, st->log_plain_tool, fmt, ap);
    va_end(ap);
}

/* store_say before there is a store. */
static void opt_say(const store_options *opt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void opt_say(const store_options *opt, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say_vformat(opt->log_json, opt->log_instance, opt->read_only && !opt->log_instance, fmt, ap);
    va_end(ap);
}

/* log_limits_writer for stderr (err_lock held); ctx is the store. */
static void err_log_write(void *ctx, log_level level, const char *text, uint64_t more,
                          int64_t span_ms)
{
    (void)level;
    const store *st = ctx;
    char line[LOG_TEXT_MAX + 80], suffix[80];
    log_limits_suffix(suffix, sizeof suffix, more, span_ms);
    if (text) snprintf(line, sizeof line, "%s%s", text, suffix);
    else snprintf(line, sizeof line, "store: %llu repeated errors of too many kinds to tell "
                  "apart in the last %.1f s", (unsigned long long)more, (double)span_ms / 1000.0);
    say_line(st->log_json, st->log_instance, st->log_plain_tool, line);
}

/* Writes the counts owed for intervals that have passed. */
static void err_log_sweep(store *st)
{
    pthread_mutex_lock(&st->err_lock);
    log_limits_sweep(&st->err_limits, err_log_now_ms(), err_log_write, st);
    pthread_mutex_unlock(&st->err_lock);
}

/* One error line, at most one per where and code per interval. */
static void err_log_line(store *st, int rc, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void err_log_line(store *st, int rc, const char *where, const char *fmt, ...)
{
    char text[LOG_TEXT_MAX], key[LOG_LIMIT_KEY_MAX], line[LOG_TEXT_MAX + 80], suffix[80];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    snprintf(key, sizeof key, "%d:%s", rc, where);
    uint64_t more;
    int64_t span_ms;
    pthread_mutex_lock(&st->err_lock);
    int64_t now = err_log_now_ms();
    if (log_limits_note(&st->err_limits, key, LOG_ERROR, text, now, &more, &span_ms)) {
        log_limits_suffix(suffix, sizeof suffix, more, span_ms);
        snprintf(line, sizeof line, "%s%s", text, suffix);
        say_line(st->log_json, st->log_instance, st->log_plain_tool, line);
    }
    log_limits_sweep(&st->err_limits, now, err_log_write, st);   /* other keys' counts */
    pthread_mutex_unlock(&st->err_lock);
}

usher_err store_mdb_err(store *st, int rc, const char *where)
{
    if (rc == 0)
        return USHER_ERR_OK;
    if (rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT || rc == EFBIG) {
        err_log_line(st, rc, where, "store: %s: %s (writes refused with STORAGE_FULL; %s)", where,
                     mdb_strerror(rc),
                     rc == MDB_MAP_FULL ? "raise --map-size, the same for every process, and restart"
                                        : "free space on the data directory's file system");
        return USHER_ERR_STORAGE_FULL;
    }
    if (rc == MDB_PANIC) {
        err_log_line(st, rc, where, "store: %s: %s (this process's LMDB environment is unusable "
                     "until it restarts; committed data is intact)", where, mdb_strerror(rc));
        return USHER_ERR_INTERNAL;
    }
    if (rc == MDB_TXN_FULL) {
        err_log_line(st, rc, where, "store: %s: %s (writes refused with OVERLOADED)", where,
                     mdb_strerror(rc));
        return USHER_ERR_OVERLOADED;
    }
    err_log_line(st, rc, where, "store: %s: %s", where, mdb_strerror(rc));
    return USHER_ERR_INTERNAL;
}

/* mdb_txn_begin, adopting a map grown by another process once. */
static int begin_raw(store *st, MDB_txn *parent, unsigned flags, MDB_txn **out)
{
    int rc = mdb_txn_begin(st->env, parent, flags, out);
    if (rc == MDB_MAP_RESIZED) {
        rc = mdb_env_set_mapsize(st->env, 0);
        if (rc == 0)
            rc = mdb_txn_begin(st->env, parent, flags, out);
    }
    return rc;
}

static bool options_valid(const store_options *opt)
{
    const store_policy *p = &opt->policy;
    return opt->map_size_bytes >= ((size_t)1 << 20) && opt->max_readers > 0 &&
           p->hold_ttl_ms > 0 && p->active_ttl_ms > 0 && p->max_active > 0 &&
           p->max_holds >= 1 && p->max_holds <= STORE_HOLDS_MAX &&
           p->max_charge_krw > 0 && p->balance_limit_krw > 0 && p->request_id_ttl_ms > 0 &&
           p->wait_idle_ms >= 0 && p->active_idle_ms >= 0;
}

/* Opens every named database and stamps the schema version, in one txn. */
static usher_err open_databases(store *st)
{
    MDB_txn *txn = NULL;
    int rc = begin_raw(st, NULL, 0, &txn);
    if (rc)
        return store_mdb_err(st, rc, "open databases");
    for (int i = 0; i < DB_COUNT; i++) {
        rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &st->dbi[i]);
        if (rc)
            goto fail;
    }
    MDB_val k = { sizeof schema_key - 1, (void *)schema_key }, v;
    rc = mdb_get(txn, st->dbi[DB_META], &k, &v);
    uint32_t found = 0;
    if (rc == 0 && v.mv_size == sizeof found)
        memcpy(&found, v.mv_data, sizeof found);
    if (rc == 0 && found == schema_version_v1) {
        MDB_dbi old;
        rc = mdb_dbi_open(txn, v1_balances_db, 0, &old);
        if (rc == 0)
            rc = mdb_drop(txn, old, 1);
        if (rc != 0 && rc != MDB_NOTFOUND)
            goto fail;
        rc = 0;
        found = schema_version_v2;   /* and on: its queues are version 2's */
    }
    if (rc == 0 && found == schema_version_v2) {
        if ((rc = store_queue_upgrade_v2(txn, st->dbi, clock_now_ms())) != 0)
            goto fail;
        rc = MDB_NOTFOUND;   /* stamp the current version below */
    } else if (rc == 0 && found != schema_version) {
        store_say(st, "store: data dir has another schema version");
        mdb_txn_abort(txn);
        return USHER_ERR_INTERNAL;
    }
    if (rc == MDB_NOTFOUND) {
        v.mv_size = sizeof schema_version;
        v.mv_data = (void *)&schema_version;
        rc = mdb_put(txn, st->dbi[DB_META], &k, &v, 0);
    }
    if (rc)
        goto fail;
    rc = mdb_txn_commit(txn);
    return store_mdb_err(st, rc, "open databases");
fail:
    mdb_txn_abort(txn);
    return store_mdb_err(st, rc, "open databases");
}

/* Read-only: opens the databases that must already exist inside a read
 * txn (committed, so the handles outlive it) and checks the schema stamp.
 * NOT_FOUND when any is missing: the dir is not a usher data dir. */
static usher_err open_databases_read_only(store *st, const char *dir)
{
    MDB_txn *txn = NULL;
    int rc = begin_raw(st, NULL, MDB_RDONLY, &txn);
    if (rc)
        return store_mdb_err(st, rc, "open databases");
    const char *missing = NULL;
    for (int i = 0; i < DB_COUNT && !missing; i++) {
        rc = mdb_dbi_open(txn, db_names[i], 0, &st->dbi[i]);
        if (rc == MDB_NOTFOUND && i == DB_REVOCATIONS) {
            /* Added without a schema change: usherd creates it on open, a
             * dir it has not opened since simply has no revocations. */
            st->revocations_absent = true;
            rc = 0;
        } else if (rc == MDB_NOTFOUND)
            missing = db_names[i];
        else if (rc)
            goto fail;
    }
    MDB_val k = { sizeof schema_key - 1, (void *)schema_key }, v;
    if (!missing && (rc = mdb_get(txn, st->dbi[DB_META], &k, &v)) == MDB_NOTFOUND)
        missing = "the schema stamp";
    else if (!missing && rc)
        goto fail;
    if (missing) {
        fprintf(stderr, "store: %s is not a usher data dir (%s is missing)\n", dir, missing);
        mdb_txn_abort(txn);
        return USHER_ERR_NOT_FOUND;
    }
    uint32_t found = 0;
    if (v.mv_size == sizeof found)
        memcpy(&found, v.mv_data, sizeof found);
    if (found != schema_version) {   /* older queue layouts read differently */
        fprintf(stderr, found == schema_version_v1 || found == schema_version_v2
                            ? "store: %s has an older schema version: open it with usherd once "
                              "to upgrade it\n"
                            : "store: %s has another schema version\n", dir);
        mdb_txn_abort(txn);
        return USHER_ERR_INTERNAL;
    }
    rc = mdb_txn_commit(txn);
    return store_mdb_err(st, rc, "open databases");
fail:
    mdb_txn_abort(txn);
    return store_mdb_err(st, rc, "open databases");
}

/* A data.mdb too short to hold its two meta pages is no data file. A file
 * shorter than the snapshot's last page number is NOT damage by itself:
 * LMDB does not write a page that was allocated and freed within one
 * transaction (a "loose" page), so the highest page numbers may never reach
 * the file. Whether a page the trees actually reach lies past the end is
 * the page walk's question (check_pages, with pread: no SIGBUS), asked
 * before LMDB reads the map. why gets the damage, or stays empty. */
static usher_err check_file_size(store *st, const store_options *opt, char *why, size_t cap)
{
    MDB_stat stat;
    mdb_filehandle_t fd;
    struct stat file;
    int rc;
    if ((rc = mdb_env_stat(st->env, &stat)) || (rc = mdb_env_get_fd(st->env, &fd)))
        return store_mdb_err(st, rc, "env info");
    if (fstat(fd, &file) != 0) {
        opt_say(opt, "store: fstat data.mdb: %s", strerror(errno));
        return USHER_ERR_INTERNAL;
    }
    unsigned long long need = 2ull * stat.ms_psize;
    if ((unsigned long long)file.st_size < need)
        snprintf(why, cap, "data.mdb is %lld bytes, less than its two meta pages (%llu): the "
                 "file is damaged (truncated)", (long long)file.st_size, need);
    return USHER_ERR_OK;
}

/* Walks every page of the current snapshot (store_pages.h) before LMDB
 * reads any: a zeroed or overwritten page would otherwise abort or crash
 * the process on first use, or answer INTERNAL to some reads only. */
static usher_err check_pages(store *st, const store_options *opt, char *why, size_t cap)
{
    store_pages_report report;
    switch (store_read_begin_verified(st, NULL, &report)) {
    case STORE_PAGES_SOUND:
        return USHER_ERR_OK;
    case STORE_PAGES_DAMAGED:
        snprintf(why, cap, "data.mdb is damaged: %s", report.why);
        return USHER_ERR_OK;
    default:
        opt_say(opt, "store: page walk: %s", report.why);
        return USHER_ERR_INTERNAL;
    }
}

/* The file's size, then its pages; why stays empty when both are sound. */
static usher_err find_damage(store *st, const store_options *opt, char *why, size_t cap)
{
    why[0] = 0;
    usher_err err = check_file_size(st, opt, why, cap);
    if (err == USHER_ERR_OK && !why[0])
        err = check_pages(st, opt, why, cap);
    return err;
}

/* Read-only: the dir must already hold a data file (LMDB would create one). */
static usher_err check_data_file(const char *dir)
{
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "store: %s: no such data dir\n", dir);
        return USHER_ERR_NOT_FOUND;
    }
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fprintf(stderr, "store: %s is not a usher data dir (no data.mdb)\n", dir);
        return USHER_ERR_NOT_FOUND;
    }
    return USHER_ERR_OK;
}

usher_err lmdb_open(store **out, const char *dir, const store_options *opt)
{
    *out = NULL;
    if (!options_valid(opt)) {
        opt_say(opt, "store: invalid options");
        return USHER_ERR_INTERNAL;
    }
    if (opt->read_only) {
        usher_err err = check_data_file(dir);
        if (err != USHER_ERR_OK)
            return err;
    } else if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        opt_say(opt, "store: mkdir %s: %s", dir, strerror(errno));
        return USHER_ERR_INTERNAL;
    }
    store *st = calloc(1, sizeof *st);
    if (!st)
        return USHER_ERR_INTERNAL;
    st->ops = &store_lmdb_ops;
    st->policy = opt->policy;
    st->sync = opt->sync;
    st->log_json = opt->log_json;
    st->log_plain_tool = opt->read_only && !opt->log_instance;
    snprintf(st->log_instance, sizeof st->log_instance, "%s", opt->log_instance ? opt->log_instance : "");
    usher_err err = USHER_ERR_INTERNAL;
    if (pthread_mutex_init(&st->pool_lock, NULL) != 0) {
        free(st);
        return USHER_ERR_INTERNAL;
    }
    if (pthread_mutex_init(&st->err_lock, NULL) != 0) {
        pthread_mutex_destroy(&st->pool_lock);
        free(st);
        return USHER_ERR_INTERNAL;
    }
    int rc = mdb_env_create(&st->env);
    if (rc) {
        err = store_mdb_err(st, rc, "env create");
        st->env = NULL;
        goto fail;
    }
    unsigned flags = MDB_NOTLS;
    if (opt->read_only)
        flags |= MDB_RDONLY;
    else if (opt->sync == STORE_SYNC_META)
        flags |= MDB_NOMETASYNC;
    else if (opt->sync == STORE_SYNC_NONE)
        flags |= MDB_NOSYNC;
    if ((rc = mdb_env_set_maxdbs(st->env, DB_COUNT + 2)) ||
        (rc = mdb_env_set_maxreaders(st->env, opt->max_readers)) ||
        (rc = mdb_env_set_mapsize(st->env, opt->map_size_bytes)) ||
        (rc = mdb_env_open(st->env, dir, flags, 0600))) {
        if (opt->read_only && rc == MDB_INVALID) {
            fprintf(stderr, "store: %s is not a usher data dir (data.mdb is not an LMDB file)\n",
                    dir);
            err = USHER_ERR_NOT_FOUND;
        } else {
            err = store_mdb_err(st, rc, dir);
        }
        goto fail;
    }
    if ((err = find_damage(st, opt, st->damage, sizeof st->damage)) != USHER_ERR_OK)
        goto fail;
    if (st->damage[0] && !opt->read_only) {
        store_say(st, "store: %s; restore it from a backup", st->damage);
        err = USHER_ERR_INTERNAL;
        goto fail;
    }
    if (st->damage[0]) {   /* read-only: open, so store_check_run can report it */
        *out = st;
        return USHER_ERR_OK;
    }
    if ((err = store_reader_check(st, NULL)) != USHER_ERR_OK)
        goto fail;
    err = opt->read_only ? open_databases_read_only(st, dir) : open_databases(st);
    if (err != USHER_ERR_OK)
        goto fail;
    *out = st;
    return USHER_ERR_OK;
fail:
    store_close(st);   /* the page walk may have left a read txn in the pool */
    return err;
}

void lmdb_close(store *st)
{
    if (!st)
        return;
    err_log_sweep(st);
    for (unsigned i = 0; i < st->read_pool_n; i++)
        mdb_txn_abort(st->read_pool[i]);
    if (st->env)
        mdb_env_close(st->env);
    pthread_mutex_destroy(&st->pool_lock);
    pthread_mutex_destroy(&st->err_lock);
    free(st);
}

const char *lmdb_damage(const store *st)
{
    return st->damage[0] ? st->damage : NULL;
}

usher_err lmdb_reader_check(store *st, int *cleared)
{
    int dead = 0;
    err_log_sweep(st);   /* the server calls this every second: the store's owed counts go out */
    int rc = mdb_reader_check(st->env, &dead);
    if (rc == 0 && dead > 0)
        atomic_fetch_add(&st->readers_cleared, (uint64_t)dead);
    if (cleared)
        *cleared = dead;
    return store_mdb_err(st, rc, "reader check");
}

uint64_t lmdb_readers_cleared_take(store *st)
{
    return atomic_exchange(&st->readers_cleared, 0);
}

typedef struct reader_list_ctx {
    store_reader *out;
    size_t cap, n;
} reader_list_ctx;

/* mdb_reader_list hands out one text line per slot: "pid thread txnid",
 * txnid "-" for an idle slot; the header line does not parse. */
static int reader_list_line(const char *line, void *arg)
{
    reader_list_ctx *ctx = arg;
    int pid;
    size_t thread;
    unsigned long long txnid;
    if (sscanf(line, "%d %zx %llu", &pid, &thread, &txnid) == 3 && ctx->n < ctx->cap)
        ctx->out[ctx->n++] = (store_reader){ .pid = pid, .txnid = txnid };
    return 0;
}

usher_err lmdb_reader_list(store *st, store_reader *out, size_t cap, size_t *n,
                            uint64_t *last_txnid)
{
    reader_list_ctx ctx = { .out = out, .cap = cap };
    MDB_envinfo info;
    *n = 0;
    int rc = mdb_env_info(st->env, &info);
    if (rc == 0)
        rc = mdb_reader_list(st->env, reader_list_line, &ctx) < 0 ? EIO : 0;
    if (rc)
        return store_mdb_err(st, rc, "reader list");
    *n = ctx.n;
    *last_txnid = (uint64_t)info.me_last_txnid;
    return USHER_ERR_OK;
}

/* ---- transactions ---- */

/* MDB_PANIC leaves the environment of this process unusable for good:
 * LMDB sets it when a commit fails to write its meta page (or when our own
 * writer died holding the lock), and every later txn, reads included, gets
 * it. Remember it for store_broken. */
static int note_panic(store *st, int rc)
{
    if (rc == MDB_PANIC)
        atomic_store(&st->broken, true);
    return rc;
}

bool lmdb_broken(store *st)
{
    return atomic_load(&st->broken);
}

/* A commit that failed writing the meta page returns that write's error,
 * not MDB_PANIC; only the next txn would say it. Ask at once, so the
 * process stops on this failure rather than on some later request. */
static void check_env_after_failed_commit(store *st)
{
    MDB_txn *probe;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &probe);
    if (rc == 0)
        mdb_txn_abort(probe);
    else if (note_panic(st, rc) == MDB_PANIC)
        store_mdb_err(st, rc, "after the failed commit");   /* says so in the log */
}

static void undo_replay(store_txn *t);   /* see "writes and savepoints" */

static store_txn *txn_new(store *st, store_txn_kind kind, store_txn *parent)
{
    store_txn *t = calloc(1, sizeof *t);
    if (t) {
        t->ops = &store_lmdb_ops;
        t->st = st;
        t->kind = kind;
        t->parent = parent;
    }
    return t;
}

static void close_cursors(store_txn *t)
{
    for (int i = 0; i < DB_COUNT; i++)
        if (t->cursor[i]) {
            mdb_cursor_close(t->cursor[i]);
            t->cursor[i] = NULL;
        }
}

/* Closes the cursors and frees the copies; the MDB txn is the caller's. */
static void txn_release(store_txn *t)
{
    close_cursors(t);
    while (t->copies) {
        store_copy *next = t->copies->next;
        free(t->copies);
        t->copies = next;
    }
    if (t->parent)
        t->parent->has_child = false;
    free(t->undo);
    free(t);
}

/* A reset read txn from the pool renewed, or a fresh one. */
static int read_txn_take(store *st, MDB_txn **out)
{
    MDB_txn *txn = NULL;
    pthread_mutex_lock(&st->pool_lock);
    if (st->read_pool_n > 0)
        txn = st->read_pool[--st->read_pool_n];
    pthread_mutex_unlock(&st->pool_lock);
    if (txn) {
        if (mdb_txn_renew(txn) == 0) {
            *out = txn;
            return 0;
        }
        mdb_txn_abort(txn);   /* MAP_RESIZED among others: start afresh */
    }
    return begin_raw(st, NULL, MDB_RDONLY, out);
}

static void read_txn_give_back(store *st, MDB_txn *txn)
{
    mdb_txn_reset(txn);
    pthread_mutex_lock(&st->pool_lock);
    if (st->read_pool_n < STORE_READ_POOL) {
        st->read_pool[st->read_pool_n++] = txn;
        txn = NULL;
    }
    pthread_mutex_unlock(&st->pool_lock);
    if (txn)
        mdb_txn_abort(txn);
}

usher_err lmdb_read_begin(store *st, store_txn **out)
{
    if (st->damage[0])
        return USHER_ERR_INTERNAL;   /* no page of it may be read: see store_open */
    store_txn *t = txn_new(st, TXN_READ, NULL);
    if (!t)
        return USHER_ERR_INTERNAL;
    int rc = note_panic(st, read_txn_take(st, &t->txn));
    if (rc) {
        free(t);
        return store_mdb_err(st, rc, "read begin");
    }
    *out = t;
    return USHER_ERR_OK;
}

store_pages_outcome store_read_begin_verified(store *st, store_txn **out,
                                              store_pages_report *report)
{
    memset(report, 0, sizeof *report);
    for (int attempt = 0; attempt < STORE_PAGES_TRIES; attempt++) {
        store_txn *t;
        if (store_read_begin(st, &t) != USHER_ERR_OK) {
            snprintf(report->why, sizeof report->why, "no read transaction");
            return STORE_PAGES_FAILED;
        }
        store_pages_outcome o = store_pages_verify(st->env, t->txn, report);
        report->txnid = (uint64_t)mdb_txn_id(t->txn);
        if (o == STORE_PAGES_SOUND && out) {
            *out = t;
            return o;
        }
        store_txn_end(t);
        if (o != STORE_PAGES_RETRY)
            return o;
        /* another process committed twice meanwhile: walk a newer snapshot */
    }
    snprintf(report->why, sizeof report->why, "writers kept replacing the snapshot");
    return STORE_PAGES_FAILED;
}

usher_err lmdb_write_begin(store *st, store_txn **out)
{
    if (st->damage[0])
        return USHER_ERR_INTERNAL;
    store_txn *t = txn_new(st, TXN_WRITE, NULL);
    if (!t)
        return USHER_ERR_INTERNAL;
    int rc = note_panic(st, begin_raw(st, NULL, 0, &t->txn));
    if (rc) {
        free(t);
        return store_mdb_err(st, rc, "write begin");
    }
    *out = t;
    return USHER_ERR_OK;
}

usher_err lmdb_child_begin(store_txn *parent, store_txn **out)
{
    if (parent->kind == TXN_READ || parent->has_child || store_txn_broken(parent)) {
        store_say(parent->st, "store: child of a read txn, of a broken txn, or a second child");
        return USHER_ERR_INTERNAL;
    }
    store_txn *t = txn_new(parent->st, TXN_CHILD, parent);
    if (!t)
        return USHER_ERR_INTERNAL;
    t->txn = parent->txn;   /* a savepoint: see "writes and savepoints" */
    parent->has_child = true;
    *out = t;
    return USHER_ERR_OK;
}

/* LMDB reports a data page write that the disk cut short as EIO
 * (mdb_page_flush: "short write, filesystem full?"), which is how a full
 * disk usually shows. Call it ENOSPC when the data dir's file system has
 * (almost) no room left, so a full disk is STORAGE_FULL and not INTERNAL;
 * an EIO with room to spare stays a real I/O error. */
static int disk_full_as_enospc(store *st, int rc)
{
    int fd;
    struct statvfs vfs;
    if (rc != EIO || mdb_env_get_fd(st->env, &fd) != 0 || fstatvfs(fd, &vfs) != 0)
        return rc;
    unsigned long long free_bytes = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
    return free_bytes < DISK_NEARLY_FULL_BYTES ? ENOSPC : rc;
}

usher_err lmdb_txn_commit(store_txn *t)
{
    if (t->kind == TXN_READ) {
        store_txn_end(t);
        return USHER_ERR_OK;
    }
    if (t->kind == TXN_CHILD) {   /* a savepoint kept: its writes are the parent's now */
        bool broken = store_txn_broken(t);
        store *st = t->st;
        if (t->wrote)
            t->parent->wrote = true;
        txn_release(t);
        return broken ? store_mdb_err(st, MDB_BAD_TXN, "child commit") : USHER_ERR_OK;
    }
    MDB_txn *txn = t->txn;
    bool open_child = t->has_child;
    close_cursors(t);   /* before the txn they belong to goes away */
    int rc;
    if (open_child || t->broken) {
        mdb_txn_abort(txn);
        rc = EINVAL;
    } else {
        rc = mdb_txn_commit(txn);   /* frees txn, even on failure */
        if (rc && t->kind == TXN_WRITE) {
            check_env_after_failed_commit(t->st);
            rc = disk_full_as_enospc(t->st, rc);
        }
    }
    if (rc == 0 && t->wrote) {
        if (t->st->sync != STORE_SYNC_NONE)
            t->st->data_syncs++;   /* LMDB synced the data before writing this meta page */
    }
    store *st = t->st;
    txn_release(t);
    return store_mdb_err(st, rc, "commit");
}

uint64_t lmdb_data_syncs(const store *st)
{
    return st->data_syncs;
}

bool lmdb_syncs_meta_later(const store *st)
{
    return st->sync == STORE_SYNC_META;
}

usher_err lmdb_sync_now(store *st)
{
    int rc = mdb_env_sync(st->env, 1);
    if (rc == 0) {
        st->data_syncs++;
        return USHER_ERR_OK;
    }
    atomic_store(&st->broken, true);
    return store_mdb_err(st, rc, "sync");
}

void lmdb_txn_end(store_txn *t)
{
    if (!t)
        return;
    MDB_txn *txn = t->txn;
    store *st = t->st;
    store_txn_kind kind = t->kind;
    if (kind == TXN_CHILD) {   /* a savepoint dropped: put the old values back */
        close_cursors(t);
        undo_replay(t);
        if (t->wrote)
            t->parent->wrote = true;   /* the restoring writes dirtied pages too */
    }
    txn_release(t);
    if (kind == TXN_READ)
        read_txn_give_back(st, txn);
    else if (kind == TXN_WRITE)
        mdb_txn_abort(txn);
}

/* ---- access helpers ---- */

int store_get(store_txn *t, enum store_db db, const void *key, size_t key_len, MDB_val *val)
{
    MDB_val k = { key_len, (void *)key };
    return mdb_get(t->txn, t->st->dbi[db], &k, val);
}

usher_err store_get_val(store_txn *t, enum store_db db, const void *key, size_t key_len,
                        MDB_val *val)
{
    int rc = store_get(t, db, key, key_len, val);
    if (rc == MDB_NOTFOUND)
        return USHER_ERR_NOT_FOUND;
    return store_mdb_err(t->st, rc, db_names[db]);
}

usher_err store_get_by_id(store_txn *t, enum store_db db, uint64_t id, MDB_val *val)
{
    unsigned char key[8];
    key_put_u64(key, id);
    return store_get_val(t, db, key, sizeof key, val);
}

usher_err store_get_rec(store_txn *t, enum store_db db, const void *key, size_t key_len,
                        void *out, size_t len)
{
    MDB_val v;
    usher_err err = store_get_val(t, db, key, key_len, &v);
    if (err != USHER_ERR_OK)
        return err;
    if (v.mv_size < len) {
        store_say(t->st, "store: %s: short record", db_names[db]);
        return USHER_ERR_INTERNAL;
    }
    memcpy(out, v.mv_data, len);
    return USHER_ERR_OK;
}

/* ---- writes and savepoints ----
 * A child txn is a savepoint inside its parent's MDB txn, not an LMDB nested
 * txn: before each write it copies the key's old value (or its absence) to an
 * undo log, and store_txn_end replays the log backwards. A nested txn copies
 * every page it touches that its parent already dirtied and merges its dirty
 * list back on commit; with one child per request that was most of a write's
 * CPU. The price: an LMDB failure inside a child (a full map, an I/O error)
 * poisons the one MDB txn they share, so the parent is then broken too and
 * can only be ended (store_txn_broken). */

/* An undo record: head, key bytes, old value bytes, then the record's total
 * length, so the log can be walked from its end. */
typedef struct undo_head {
    uint32_t db;
    uint32_t key_len;
    uint64_t val_len;             /* UNDO_ABSENT: the key did not exist */
} undo_head;
#define UNDO_ABSENT UINT64_MAX

static store_txn *txn_top(store_txn *t)
{
    while (t->parent)
        t = t->parent;
    return t;
}

/* rc, after marking the shared MDB txn broken when rc is a failure LMDB
 * leaves it unusable after (every code but "not found" and "exists"). */
static int note_rc(store_txn *t, int rc)
{
    if (rc != 0 && rc != MDB_NOTFOUND && rc != MDB_KEYEXIST)
        txn_top(t)->broken = true;
    return rc;
}

/* In a child: appends the current value of key (or its absence) to the undo
 * log. 0, ENOMEM (nothing written: the write is refused) or an LMDB code. */
static int undo_note(store_txn *t, enum store_db db, const void *key, size_t key_len)
{
    if (t->kind != TXN_CHILD)
        return 0;
    MDB_val k = { key_len, (void *)key }, v = { 0, NULL };
    int rc = mdb_get(t->txn, t->st->dbi[db], &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return note_rc(t, rc);
    size_t val_len = rc == 0 ? v.mv_size : 0;
    size_t total = sizeof(undo_head) + key_len + val_len + sizeof(size_t);
    if (t->undo_cap - t->undo_len < total) {
        size_t cap = t->undo_cap ? t->undo_cap : 4096;
        while (cap - t->undo_len < total)
            cap *= 2;
        unsigned char *grown = realloc(t->undo, cap);
        if (!grown)
            return ENOMEM;
        t->undo = grown;
        t->undo_cap = cap;
    }
    unsigned char *p = t->undo + t->undo_len;
    undo_head h = { .db = (uint32_t)db, .key_len = (uint32_t)key_len,
                    .val_len = rc == 0 ? (uint64_t)val_len : UNDO_ABSENT };
    memcpy(p, &h, sizeof h);
    memcpy(p + sizeof h, key, key_len);
    if (val_len)
        memcpy(p + sizeof h + key_len, v.mv_data, val_len);
    memcpy(p + total - sizeof total, &total, sizeof total);
    t->undo_len += total;
    return 0;
}

/* Puts back every old value of a child's undo log, newest first. A failure
 * leaves the shared MDB txn half restored: it is marked broken. */
static void undo_replay(store_txn *t)
{
    size_t end = t->undo_len;
    while (end > 0 && !txn_top(t)->broken) {
        size_t total;
        memcpy(&total, t->undo + end - sizeof total, sizeof total);
        const unsigned char *p = t->undo + end - total;
        undo_head h;
        memcpy(&h, p, sizeof h);
        MDB_val k = { h.key_len, (void *)(p + sizeof h) };
        int rc;
        if (h.val_len == UNDO_ABSENT) {
            rc = mdb_del(t->txn, t->st->dbi[h.db], &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        } else {
            MDB_val v = { (size_t)h.val_len, (void *)(p + sizeof h + h.key_len) };
            rc = mdb_put(t->txn, t->st->dbi[h.db], &k, &v, 0);
        }
        if (rc) {
            txn_top(t)->broken = true;
            store_mdb_err(t->st, rc, "undo");
        }
        end -= total;
    }
    t->undo_len = 0;
}

int store_mdb_put(store_txn *t, enum store_db db, MDB_val *k, MDB_val *v, unsigned flags)
{
    int rc = undo_note(t, db, k->mv_data, k->mv_size);
    if (rc == 0)
        rc = note_rc(t, mdb_put(t->txn, t->st->dbi[db], k, v, flags));
    if (rc == 0)
        store_note_write(t);
    return rc;
}

int store_mdb_cursor_del(store_txn *t, enum store_db db, MDB_cursor *cur)
{
    MDB_val k, v;
    int rc = note_rc(t, mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT));
    if (rc == 0)
        rc = undo_note(t, db, k.mv_data, k.mv_size);
    if (rc == 0)
        rc = note_rc(t, mdb_cursor_del(cur, 0));
    if (rc == 0)
        store_note_write(t);
    return rc;
}

bool lmdb_txn_broken(const store_txn *t)
{
    while (t->parent)
        t = t->parent;
    return t->broken;
}

usher_err store_put(store_txn *t, enum store_db db, const void *key, size_t key_len,
                    const void *val, size_t val_len, unsigned flags)
{
    MDB_val k = { key_len, (void *)key }, v = { val_len, (void *)val };
    return store_mdb_err(t->st, store_mdb_put(t, db, &k, &v, flags), db_names[db]);
}

usher_err store_del(store_txn *t, enum store_db db, const void *key, size_t key_len)
{
    MDB_val k = { key_len, (void *)key };
    int rc = undo_note(t, db, key, key_len);
    if (rc == 0)
        rc = note_rc(t, mdb_del(t->txn, t->st->dbi[db], &k, NULL));
    if (rc == MDB_NOTFOUND)
        return USHER_ERR_OK;
    if (rc == 0)
        store_note_write(t);
    return store_mdb_err(t->st, rc, db_names[db]);
}

usher_err store_cursor(store_txn *t, enum store_db db, MDB_cursor **out)
{
    if (!t->cursor[db]) {
        int rc = mdb_cursor_open(t->txn, t->st->dbi[db], &t->cursor[db]);
        if (rc) {
            t->cursor[db] = NULL;
            return store_mdb_err(t->st, rc, db_names[db]);
        }
    }
    *out = t->cursor[db];
    return USHER_ERR_OK;
}

static int user_key_check(int rc, const user_id *user, const MDB_val *k)
{
    if (rc == 0 && (k->mv_size != 16 + 8 || memcmp(k->mv_data, user->bytes, 16) != 0))
        return MDB_NOTFOUND;
    return rc;
}

int store_seek_user_before(MDB_cursor *cur, const user_id *user, uint64_t before,
                           MDB_val *k, MDB_val *v)
{
    unsigned char start[16 + 8];
    memcpy(start, user->bytes, 16);
    key_put_u64(start + 16, before ? before : UINT64_MAX);
    k->mv_size = sizeof start;
    k->mv_data = start;
    /* Land on the first key >= start, then step back to the newest below it. */
    int rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (rc == 0)
        rc = mdb_cursor_get(cur, k, v, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, k, v, MDB_LAST);
    return user_key_check(rc, user, k);
}

int store_step_user_older(MDB_cursor *cur, const user_id *user, MDB_val *k, MDB_val *v)
{
    return user_key_check(mdb_cursor_get(cur, k, v, MDB_PREV), user, k);
}

usher_err store_next_id(store_txn *t, enum store_counter counter, uint64_t *id)
{
    const char *name = counter_keys[counter];
    size_t name_len = strlen(name);
    uint64_t last = 0;
    usher_err err = store_get_rec(t, DB_META, name, name_len, &last, sizeof last);
    if (err != USHER_ERR_OK && err != USHER_ERR_NOT_FOUND)
        return err;
    last++;
    err = store_put(t, DB_META, name, name_len, &last, sizeof last, 0);
    if (err == USHER_ERR_OK)
        *id = last;
    return err;
}

usher_err store_keep_copy(store_txn *t, const void *bytes, size_t len, const void **out)
{
    store_copy *c = malloc(sizeof *c + len);
    if (!c)
        return USHER_ERR_INTERNAL;
    c->len = len;
    if (len)
        memcpy(c->bytes, bytes, len);
    c->next = t->copies;
    t->copies = c;
    *out = c->bytes;
    return USHER_ERR_OK;
}
