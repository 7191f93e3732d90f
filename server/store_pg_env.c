/* The PostgreSQL store: opening (connect, migrate), closing, the shared
 * signing key, and the backend table (store_backend.h). What LMDB needs and
 * PostgreSQL does not (reader slots, data syncs, a broken map) are no-ops. */
#include "store_pg_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void say_open(const store_options *opt, const char *fmt, const char *arg)
{
    pg_store tmp = { .log_json = opt->log_json };
    if (opt->log_instance) snprintf(tmp.log_instance, sizeof tmp.log_instance, "%s", opt->log_instance);
    pg_say(&tmp, fmt, arg);
}

usher_err pg_open(store **out, const char *url, const store_options *opt)
{
    if (opt->connections < 1 || opt->connections > PG_CONNS_MAX) {
        say_open(opt, "connections must be 1..64 (%s)", url);
        return USHER_ERR_INTERNAL;
    }
    pg_store *st = calloc(1, sizeof *st);
    if (!st || !(st->url = strdup(url))) { free(st); return USHER_ERR_INTERNAL; }
    st->ops = &store_pg_ops;
    st->policy = opt->policy;
    st->read_only = opt->read_only;
    st->connect_timeout_ms = opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : 5000;
    st->log_json = opt->log_json;
    if (opt->log_instance) snprintf(st->log_instance, sizeof st->log_instance, "%s", opt->log_instance);
    st->n_conns = opt->read_only ? 1 : opt->connections;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->freed, NULL);
    pg_conn *c;
    usher_err e = pg_conn_acquire(st, &c);
    if (e == USHER_ERR_OK) {
        e = pg_migrate(st, c->pg, opt->read_only);
        if (e == USHER_ERR_UNAVAILABLE) pg_conn_lost(c);
        c->n_prepared = 0;   /* migrate ran plain statements only */
        pg_conn_release(st, c);
    }
    if (e != USHER_ERR_OK) {
        store_close((store *)(void *)st);
        return e;
    }
    *out = (store *)(void *)st;
    return USHER_ERR_OK;
}

static void pg_close(store *sto)
{
    pg_store *st = pg_store_of(sto);
    pg_conn_close_all(st);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->freed);
    free(st->url);
    free(st);
}

static usher_err pg_shared_key(store *sto, const uint8_t *fresh, size_t len, uint8_t *out,
                               bool *created)
{
    store_txn *t;
    *created = false;
    if (pg_store_of(sto)->read_only) {   /* a tool: reads the key, never makes one */
        usher_err e = pg_read_begin(sto, &t);
        if (e != USHER_ERR_OK) return e;
        PGresult *res;
        e = pg_read(t, "SELECT key FROM signing_key WHERE id = 1", NULL, &res);
        if (e == USHER_ERR_OK && PQntuples(res) == 0) e = USHER_ERR_NOT_FOUND;
        else if (e == USHER_ERR_OK && !pg_bytes(res, 0, 0, out, len)) {
            pg_say(pg_store_of(sto), "postgres: the stored signing key is not %zu bytes", len);
            e = USHER_ERR_INTERNAL;
        }
        pg_txn_end(t);
        return e;
    }
    usher_err e = pg_write_begin(sto, &t);
    if (e != USHER_ERR_OK) return e;
    pg_params p = { 0 };
    pg_p_bytes(&p, fresh, len);
    PGresult *res;
    e = pg_write(t, "WITH ins AS (INSERT INTO signing_key (id, key) VALUES (1, $1) "
                    "ON CONFLICT (id) DO NOTHING RETURNING key) "
                    "SELECT key, true FROM ins UNION ALL "
                    "SELECT key, false FROM signing_key WHERE id = 1 AND NOT EXISTS (SELECT 1 FROM ins)",
                 &p, &res);
    if (e == USHER_ERR_OK && (PQntuples(res) != 1 || !pg_bytes(res, 0, 0, out, len))) {
        pg_say(pg_store_of(sto), "postgres: the stored signing key is not %zu bytes", len);
        e = USHER_ERR_INTERNAL;
    }
    if (e == USHER_ERR_OK) *created = pg_bool(res, 0, 1);
    if (e == USHER_ERR_OK) e = pg_txn_commit(t);
    else pg_txn_end(t);
    return e;
}

static const char *pg_damage(const store *st) { (void)st; return NULL; }
static usher_err pg_reader_check(store *st, int *cleared)
{
    (void)st;
    if (cleared) *cleared = 0;
    return USHER_ERR_OK;
}
static uint64_t pg_readers_cleared_take(store *st) { (void)st; return 0; }
static usher_err pg_reader_list(store *st, store_reader *out, size_t cap, size_t *n,
                                uint64_t *last_txnid)
{
    (void)st; (void)out; (void)cap;
    *n = 0;
    if (last_txnid) *last_txnid = 0;
    return USHER_ERR_OK;
}
static uint64_t pg_data_syncs(const store *st) { (void)st; return 0; }
static usher_err pg_sync_now(store *st) { (void)st; return USHER_ERR_OK; }
static bool pg_syncs_meta_later(const store *st) { (void)st; return false; }
static bool pg_broken(store *st) { (void)st; return false; }

const store_ops store_pg_ops = {
    .name = "postgres",
    .remote = true,
    .damage = pg_damage,
    .close = pg_close,
    .reader_check = pg_reader_check,
    .readers_cleared_take = pg_readers_cleared_take,
    .reader_list = pg_reader_list,
    .read_begin = pg_read_begin,
    .write_begin = pg_write_begin,
    .child_begin = pg_child_begin,
    .txn_broken = pg_txn_broken,
    .txn_commit = pg_txn_commit,
    .txn_end = pg_txn_end,
    .data_syncs = pg_data_syncs,
    .sync_now = pg_sync_now,
    .syncs_meta_later = pg_syncs_meta_later,
    .broken = pg_broken,
    .shared_key = pg_shared_key,
    .check_run = pg_check_run,
#define STORE_TXN_OP(name, params, args) .name = pg_##name,
#include "store_ops.def"
#undef STORE_TXN_OP
};
