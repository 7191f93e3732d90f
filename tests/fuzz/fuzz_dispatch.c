/* libFuzzer target for the whole request pipeline, in process and without
 * sockets: frames -> bounded decode -> envelope -> method table -> token
 * filters -> request_execute -> token signing -> reply, on a real LMDB store
 * in a temp dir, as server/dispatch.c and server/writer.c run them.
 *
 * Input: records [conn u8][len u16 big-endian][len bytes], the bytes fed to
 * the frame reader of simulated connection conn % 3 (so frames may be split
 * across records and interleaved between connections). A connection whose
 * stream breaks (bad length, undecodable frame) is closed: its later records
 * are dropped, as the server drains it.
 *
 * One input is one group commit: a write transaction in which every write
 * request runs in a child transaction (a savepoint), committed at the end.
 * Reads run in a read snapshot of the committed store, as the loop thread
 * runs them. A write flagged METHOD_PRECHECK first runs in such a snapshot
 * when its connection has no write in the commit yet; while the input has
 * kept no write, a refusal the snapshot decides is compared with the answer
 * of the write path on the same state (the dispatcher's promise).
 *
 * Properties (abort when broken): the store checker (server/store_check.h)
 * finds no violation after each input; no request is answered INTERNAL while
 * the store is healthy; every reply decodes as a response with the request's
 * msgid and error code; a precheck's refusal equals the write path's.
 *
 * The world (store, keys from a fixed seed, a concert with a performance,
 * three users with money, sessions and ACTIVE queue tokens, an admin token)
 * is built once and reused; every FUZZ_RESET_INPUTS inputs, or when the
 * store fills up, it is built again from scratch, so it stays small and the
 * checker fast. The build is deterministic: the same ids and tokens every
 * time, so the seed corpus (written by this file built with
 * -DFUZZ_MAKE_CORPUS: `make fuzz-corpus`) stays valid. FUZZ_TRACE=1 in the
 * environment prints each request's method and answer. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz_keys.h"
#include "../../protocol/frame.h"
#include "../../protocol/msg.h"
#include "../../server/clock.h"
#include "../../server/config.h"
#include "../../server/filters.h"
#include "../../server/request.h"
#include "../../server/store.h"
#include "../../server/store_check.h"
#include "../../server/token_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CONNS 3
#define FUZZ_USERS 3
#define FUZZ_SEATS 16
#define FUZZ_RESET_INPUTS 256
#define FUZZ_FAR_FUTURE_MS 4102444800000   /* 2100-01-01: tokens never expire in a run */
#define FUZZ_MAP_BYTES ((size_t)64 << 20)

typedef struct dispatch_world {
    char dir[64];
    usher_config cfg;
    token_keys keys;
    call_env env;
    store *st;
    token_cache *cache;
    store_check_limits lim;
    unsigned inputs;                 /* since the last build */
    bool rebuild;                    /* the store filled up or broke */
    uint64_t concert_id, schedule_id;
    user_id users[FUZZ_USERS];
    char secret[FUZZ_USERS][32];
    char session[FUZZ_USERS][TOKEN_MAX_LEN + 1];
    char queue[FUZZ_USERS][TOKEN_MAX_LEN + 1];
    char admin[TOKEN_MAX_LEN + 1];
    msgpack_sbuffer reply;
    unsigned writes_kept;            /* successful writes in this input's transaction */
    bool trace;                      /* FUZZ_TRACE set: one stderr line per request */
} dispatch_world;

static void sign_or_die(dispatch_world *w, const token_claims *c, char *out)
{
    if (token_sign(&w->keys, c, out, TOKEN_MAX_LEN + 1, NULL) != USHER_ERR_OK) abort();
}

static void ok_or_die(usher_err e, const char *what)
{
    if (e == USHER_ERR_OK) return;
    fprintf(stderr, "fuzz_dispatch: %s: %s\n", what, usher_err_message(e));
    abort();
}

/* The catalog, users, wallets and queue entries, in one write. */
static void world_seed(dispatch_world *w)
{
    int64_t now = clock_now_ms();
    store_txn *t;
    ok_or_die(store_write_begin(w->st, &t), "seed begin");
    ok_or_die(store_concert_create(t, "Fuzz", 4, "Hall", 4, &w->concert_id), "concert");
    int64_t prices[FUZZ_SEATS];
    for (int i = 0; i < FUZZ_SEATS; i++) prices[i] = 1000 * (i + 1);
    ok_or_die(store_schedule_create(t, w->concert_id, FUZZ_FAR_FUTURE_MS, FUZZ_SEATS, prices,
                                    &w->schedule_id), "schedule");
    for (unsigned i = 0; i < FUZZ_USERS; i++) {
        uint8_t hash[STORE_SECRET_HASH_BYTES];
        crypto_generichash(hash, sizeof hash, (const unsigned char *)w->secret[i],
                           strlen(w->secret[i]), NULL, 0);
        ok_or_die(store_user_create(t, &w->users[i], hash, now), "user");
        int64_t after;
        ok_or_die(store_wallet_charge(t, &w->users[i], 100000, now, &after), "charge");
        store_queue_entry entry;
        ok_or_die(store_queue_enter(t, &w->users[i], w->concert_id, now, &entry), "queue");
        token_claims q = { .kind = TOKEN_QUEUE, .user = w->users[i],
                           .expires_at_ms = FUZZ_FAR_FUTURE_MS,
                           .concert_id = w->concert_id, .seq = entry.seq };
        sign_or_die(w, &q, w->queue[i]);
    }
    ok_or_die(store_txn_commit(t), "seed commit");
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

/* (Re)creates the data dir, keys and store, and seeds it. */
static void world_build(dispatch_world *w)
{
    if (w->st) {
        store_close(w->st);
        w->st = NULL;
        nftw(w->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
        if (mkdir(w->dir, 0700) != 0) abort();
    }
    fuzz_keys_install(w->dir, &w->keys);
    store_options opt = config_store_options(&w->cfg);
    ok_or_die(store_open(&w->st, w->dir, &opt), "store_open");
    world_seed(w);
    w->inputs = 0;
    w->rebuild = false;
}

static dispatch_world *world_get(void);

/* At exit: the store closed and its temp dir removed. */
static void world_remove(void)
{
    dispatch_world *w = world_get();
    store_close(w->st);
    w->st = NULL;
    nftw(w->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static dispatch_world *world_get(void)
{
    static dispatch_world w;
    static bool ready;
    if (ready) return &w;
    strcpy(w.dir, "/tmp/usher-fuzz-dispatch-XXXXXX");
    if (!mkdtemp(w.dir)) abort();
    config_defaults(&w.cfg);
    w.cfg.sync = STORE_SYNC_NONE;
    w.cfg.map_size_bytes = FUZZ_MAP_BYTES;
    w.cfg.active_ttl_ms = (int64_t)365 * 24 * 3600 * 1000;  /* queue tokens stay ACTIVE */
    w.lim = (store_check_limits){ .max_holds = w.cfg.max_holds, .max_active = w.cfg.max_active,
                                  .balance_limit_krw = w.cfg.balance_limit_krw };
    for (unsigned i = 0; i < FUZZ_USERS; i++) {
        memset(&w.users[i], 0xA5, sizeof w.users[i]);
        w.users[i].bytes[0] = (uint8_t)(i + 1);
        snprintf(w.secret[i], sizeof w.secret[i], "fuzz-secret-%u", i + 1);
    }
    world_build(&w);
    for (unsigned i = 0; i < FUZZ_USERS; i++) {
        token_claims s = { .kind = TOKEN_SESSION, .user = w.users[i],
                           .expires_at_ms = FUZZ_FAR_FUTURE_MS };
        sign_or_die(&w, &s, w.session[i]);
    }
    token_claims a = { .kind = TOKEN_ADMIN, .expires_at_ms = FUZZ_FAR_FUTURE_MS };
    sign_or_die(&w, &a, w.admin);
    w.env = (call_env){ .cfg = &w.cfg, .keys = &w.keys, .instance = "fuzz", .version = "fuzz" };
    w.cache = token_cache_new(64);
    if (!w.cache) abort();
    msgpack_sbuffer_init(&w.reply);
    w.trace = getenv("FUZZ_TRACE") != NULL;
    ready = true;
    atexit(world_remove);
    return &w;
}

static void broken_property(const request *req, const char *what)
{
    fprintf(stderr, "fuzz_dispatch: %s (method %s, msgid %u, err %s)\n", what,
            req->method ? method_name(req->method) : "-", req->msgid, usher_err_message(req->err));
    abort();
}

/* The answer, as dispatch_finish builds it: sign a pending token, pack the
 * reply frame; then it must decode as the response it claims to be. */
static void finish(dispatch_world *w, request *req)
{
    if (req->err == USHER_ERR_OK) req->err = token_reply_finish(&req->call, &req->result, w->cache);
    if (req->err != USHER_ERR_OK) msgpack_sbuffer_clear(&req->result);
    if (w->trace)
        fprintf(stderr, "fuzz_dispatch: %s msgid %u: %s\n", req->method ? method_name(req->method) : "-",
                req->msgid, usher_err_message(req->err));
    if (req->err == USHER_ERR_INTERNAL && !w->rebuild) broken_property(req, "INTERNAL on a healthy store");
    msgpack_sbuffer *sb = &w->reply;
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t at = msg_frame_begin(sb);
    if (req->err == USHER_ERR_OK) {
        msg_pack_response_ok_head(&pk, req->msgid);
        msgpack_sbuffer_write(sb, req->result.data, req->result.size);
    } else {
        msg_pack_response_error(&pk, req->msgid, req->err, NULL);
    }
    size_t body = msg_frame_end(sb, at);
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 1024)) abort();
    msgpack_object o;
    msg_limits lim = msg_limits_default();
    if (msg_decode((const uint8_t *)sb->data + at + 4, body, &lim, &zone, &o) == USHER_ERR_OK) {
        int type = -1;
        msg_response resp;
        msg_notification note;
        if (msg_parse_reply(&o, &type, &resp, &note) != USHER_ERR_OK || type != MSG_TYPE_RESPONSE)
            broken_property(req, "the reply is not a response");
        if (resp.msgid != req->msgid || resp.err != req->err)
            broken_property(req, "the reply names another msgid or error");
    }
    if (w->trace && req->err == USHER_ERR_OK) {
        msgpack_object_print(stderr, o);
        fputc('\n', stderr);
    }
    msgpack_zone_destroy(&zone);
    request_free(req);
}

/* A read: in a snapshot of the committed store (dispatch.c run_read). It
 * does not see this input's writes: they are still in the group commit. */
static void run_read(request *req)
{
    store_txn *snap;
    req->err = store_read_begin(world_get()->st, &snap);
    if (req->err == USHER_ERR_OK) {
        request_execute(req, snap);
        store_txn_end(snap);
    }
}

/* A write as the writer runs it: its own savepoint, kept on success. */
static void run_write_child(store_txn *txn, request *req)
{
    store_txn *child;
    usher_err e = store_child_begin(txn, &child);
    if (e != USHER_ERR_OK) { req->err = e; return; }
    request_execute(req, child);
    if (req->err == USHER_ERR_OK) {
        e = store_txn_commit(child);
        if (e != USHER_ERR_OK) { req->err = e; msgpack_sbuffer_clear(&req->result); req->call.token_pending = false; }
        return;
    }
    store_txn_end(child);
}

/* A write: the snapshot precheck first when its connection has no write in
 * this input's group commit (dispatch.c answered_from_snapshot). While the
 * input has written nothing the snapshot shows the write transaction's state,
 * so a refusal it decides is checked against the write path there. */
static void run_write(dispatch_world *w, store_txn *txn, request *req, unsigned *conn_writes)
{
    if ((req->method->flags & METHOD_PRECHECK) && *conn_writes == 0) {
        run_read(req);
        bool decided = req->err == USHER_ERR_OK ? !req->call.needs_write
                     : req->err != USHER_ERR_INTERNAL && req->err != USHER_ERR_OVERLOADED;
        if (decided && req->err == USHER_ERR_OK) return;
        if (decided && w->writes_kept == 0) {
            usher_err refusal = req->err;
            request_rewind(req);
            store_txn *child;
            if (store_child_begin(txn, &child) != USHER_ERR_OK) abort();
            request_execute(req, child);
            store_txn_end(child);
            if (req->err != refusal && !store_txn_broken(txn)) {
                fprintf(stderr, "fuzz_dispatch: precheck refused with %s, ", usher_err_message(refusal));
                broken_property(req, "the write path answers otherwise");
            }
            req->err = refusal;
            msgpack_sbuffer_clear(&req->result);
            req->call.token_pending = false;
        }
        if (decided) return;
        request_rewind(req);
    }
    (*conn_writes)++;
    run_write_child(txn, req);
    if (req->err == USHER_ERR_OK) w->writes_kept++;
}

/* One frame body, as dispatch_frame handles it. False when the frame is not
 * one msgpack object (the server then closes the connection). */
static bool handle_frame(dispatch_world *w, store_txn *txn, const uint8_t *body, size_t len,
                         unsigned *conn_writes)
{
    request *req = request_new(&w->env, NULL);
    if (!req) abort();
    uint8_t *copy = msgpack_zone_malloc(&req->zone, len ? len : 1);
    if (!copy) abort();
    memcpy(copy, body, len);
    if (msg_decode(copy, len, &w->cfg.limits, &req->zone, &req->root) != USHER_ERR_OK) {
        request_free(req);
        return false;
    }
    bool msgid_known = false;
    if (msg_parse_request(&req->root, &req->envelope, &msgid_known) != USHER_ERR_OK) {
        request_free(req);
        return true;
    }
    req->msgid = req->envelope.msgid;
    req->method = method_lookup(req->envelope.method, req->envelope.method_len);
    if (!req->method) {
        req->err = USHER_ERR_UNKNOWN_METHOD;
        finish(w, req);
        return true;
    }
    req->call.method = req->method;
    req->call.params = req->envelope.params;
    req->call.now_ms = clock_now_ms();
    req->err = filter_tokens(&req->call, w->cache, NULL);
    if (req->err == USHER_ERR_OK) {
        if (req->method->flags & METHOD_WRITE) run_write(w, txn, req, conn_writes);
        else run_read(req);
        if (store_txn_broken(txn)) w->rebuild = true;
    }
    finish(w, req);
    return true;
}

static void report_violation(void *ctx, const char *check, const char *detail)
{
    (void)ctx;
    fprintf(stderr, "fuzz_dispatch: store check %s: %s\n", check, detail);
}

/* The store's own checker on the committed state; any violation aborts. */
static void check_store(dispatch_world *w)
{
    store_check_summary sum;
    if (store_check_run(w->st, &w->lim, STORE_CHECK_NOW, report_violation, NULL, &sum) != USHER_ERR_OK)
        abort();
    if (sum.violations != 0) {
        fprintf(stderr, "fuzz_dispatch: %llu invariant violations\n", (unsigned long long)sum.violations);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dispatch_world *w = world_get();
    if (w->rebuild || w->inputs >= FUZZ_RESET_INPUTS) world_build(w);
    w->inputs++;
    frame_reader readers[FUZZ_CONNS];
    bool closed[FUZZ_CONNS] = { false };
    unsigned conn_writes[FUZZ_CONNS] = { 0 };   /* in this input's group commit */
    w->writes_kept = 0;
    for (int i = 0; i < FUZZ_CONNS; i++) frame_reader_init(&readers[i], w->cfg.max_frame);
    store_txn *txn;
    ok_or_die(store_write_begin(w->st, &txn), "write begin");
    size_t pos = 0;
    while (pos + 3 <= size && !w->rebuild) {
        unsigned c = data[pos] % FUZZ_CONNS;
        size_t n = (size_t)data[pos + 1] << 8 | data[pos + 2];
        pos += 3;
        if (n > size - pos) n = size - pos;
        const uint8_t *chunk = data + pos;
        pos += n;
        if (closed[c]) continue;
        if (frame_reader_feed(&readers[c], chunk, n) != USHER_ERR_OK) { closed[c] = true; continue; }
        const uint8_t *body;
        size_t len;
        usher_err e = USHER_ERR_OK;
        while (!closed[c] && !w->rebuild &&
               (e = frame_reader_next(&readers[c], &body, &len)) == USHER_ERR_OK && body) {
            if (!handle_frame(w, txn, body, len, &conn_writes[c])) closed[c] = true;
        }
        if (e != USHER_ERR_OK) closed[c] = true;
    }
    for (int i = 0; i < FUZZ_CONNS; i++) frame_reader_free(&readers[i]);
    if (w->rebuild || store_txn_broken(txn)) {
        store_txn_end(txn);
        w->rebuild = true;
        return 0;
    }
    usher_err e = store_txn_commit(txn);
    if (e == USHER_ERR_STORAGE_FULL) { w->rebuild = true; return 0; }
    ok_or_die(e, "commit");
    check_store(w);
    return 0;
}

#ifdef FUZZ_MAKE_CORPUS
/* Seeds: one valid request of every method (tokens and ids of the world),
 * each as a dispatch input (one record) and as a raw wire input for
 * fuzz_protocol, plus a few multi-request flows over several connections. */
typedef struct seed {
    msgpack_sbuffer wire;       /* frames */
    msgpack_packer pk;
    uint32_t msgid;
} seed;

static void seed_init(seed *s)
{
    msgpack_sbuffer_init(&s->wire);
    msgpack_packer_init(&s->pk, &s->wire, msgpack_sbuffer_write);
    s->msgid = 1;
}

static void kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    msgpack_pack_str_with_body(pk, k, strlen(k));
    msgpack_pack_str_with_body(pk, v, strlen(v));
}

static void kv_int(msgpack_packer *pk, const char *k, int64_t v)
{
    msgpack_pack_str_with_body(pk, k, strlen(k));
    msgpack_pack_int64(pk, v);
}

/* The id the world's next hold will get (a hold made and undone). */
static uint64_t next_reservation_id(const dispatch_world *w, unsigned user)
{
    store_txn *t;
    store_reservation r;
    ok_or_die(store_write_begin(w->st, &t), "probe begin");
    ok_or_die(store_seat_hold(t, &w->users[user], w->concert_id, w->schedule_id, 1 + user,
                              clock_now_ms(), &r, NULL), "probe hold");
    store_txn_end(t);
    return r.reservation_id;
}

/* Packs one request frame of method (the params by method) onto s. */
static void seed_request(seed *s, const dispatch_world *w, const char *method, unsigned user)
{
    msgpack_packer *pk = &s->pk;
    size_t at = msg_frame_begin(&s->wire);
    msg_pack_request_head(pk, s->msgid++, method);
    char uid[37];
    user_id_format(&w->users[user], uid);
    if (!strcmp(method, "sys.ping") || !strcmp(method, "sys.hello") || !strcmp(method, "user.register")) {
        msgpack_pack_map(pk, 0);
    } else if (!strcmp(method, "auth.login")) {
        msgpack_pack_map(pk, 2); kv_str(pk, "user_id", uid); kv_str(pk, "secret", w->secret[user]);
    } else if (!strcmp(method, "wallet.balance")) {
        msgpack_pack_map(pk, 1); kv_str(pk, "session", w->session[user]);
    } else if (!strcmp(method, "wallet.charge")) {
        msgpack_pack_map(pk, 3); kv_str(pk, "session", w->session[user]); kv_int(pk, "amount", 5000);
        kv_str(pk, "request_id", "charge-1");
    } else if (!strcmp(method, "wallet.history") || !strcmp(method, "reservation.list") ||
               !strcmp(method, "payment.list")) {
        msgpack_pack_map(pk, 2); kv_str(pk, "session", w->session[user]); kv_int(pk, "limit", 10);
    } else if (!strcmp(method, "concert.list")) {
        msgpack_pack_map(pk, 1); kv_int(pk, "limit", 10);
    } else if (!strcmp(method, "queue.enter")) {
        msgpack_pack_map(pk, 2); kv_str(pk, "session", w->session[user]);
        kv_int(pk, "concert_id", (int64_t)w->concert_id);
    } else if (!strcmp(method, "queue.status")) {
        msgpack_pack_map(pk, 1); kv_str(pk, "token", w->queue[user]);
    } else if (!strcmp(method, "concert.dates")) {
        msgpack_pack_map(pk, 2); kv_str(pk, "token", w->queue[user]);
        kv_int(pk, "concert_id", (int64_t)w->concert_id);
    } else if (!strcmp(method, "concert.seats")) {
        msgpack_pack_map(pk, 2); kv_str(pk, "token", w->queue[user]);
        kv_int(pk, "schedule_id", (int64_t)w->schedule_id);
    } else if (!strcmp(method, "seat.reserve")) {
        msgpack_pack_map(pk, 3); kv_str(pk, "token", w->queue[user]);
        kv_int(pk, "schedule_id", (int64_t)w->schedule_id); kv_int(pk, "seat_no", 1 + user);
    } else if (!strcmp(method, "reservation.cancel")) {
        msgpack_pack_map(pk, 2); kv_str(pk, "session", w->session[user]); kv_int(pk, "reservation_id", (int64_t)next_reservation_id(w, user));
    } else if (!strcmp(method, "payment.pay")) {
        msgpack_pack_map(pk, 3); kv_str(pk, "token", w->queue[user]);
        msgpack_pack_str_with_body(pk, "reservation_ids", 15);
        msgpack_pack_array(pk, 1); msgpack_pack_uint64(pk, next_reservation_id(w, user));
        kv_str(pk, "request_id", "pay-1");
    } else if (!strcmp(method, "admin.concert.create")) {
        msgpack_pack_map(pk, 3); kv_str(pk, "admin", w->admin); kv_str(pk, "title", "Seed");
        kv_str(pk, "venue", "Room");
    } else if (!strcmp(method, "admin.schedule.create")) {
        msgpack_pack_map(pk, 5); kv_str(pk, "admin", w->admin);
        kv_int(pk, "concert_id", (int64_t)w->concert_id); kv_int(pk, "starts_at", FUZZ_FAR_FUTURE_MS);
        kv_int(pk, "price", 2000); kv_int(pk, "seats", 4);
    } else {
        fprintf(stderr, "no seed for %s\n", method);
        exit(1);
    }
    msg_frame_end(&s->wire, at);
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) { perror(path); exit(1); }
}

/* Wraps chunks of wire bytes in records: chunk i of at most `cut` bytes goes
 * to connection conns[i % nconns]. */
static void write_records(const char *dir, const char *name, const msgpack_sbuffer *wire,
                          size_t cut, const unsigned *conns, size_t nconns)
{
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    size_t i = 0;
    for (size_t at = 0; at < wire->size; at += cut, i++) {
        size_t n = wire->size - at < cut ? wire->size - at : cut;
        uint8_t head[3] = { (uint8_t)conns[i % nconns], (uint8_t)(n >> 8), (uint8_t)n };
        msgpack_sbuffer_write(&out, (const char *)head, 3);
        msgpack_sbuffer_write(&out, wire->data + at, n);
    }
    write_file(dir, name, out.data, out.size);
    msgpack_sbuffer_destroy(&out);
}

int main(int argc, char **argv)
{
    if (argc != 3) { fprintf(stderr, "usage: %s DISPATCH_DIR PROTOCOL_DIR\n", argv[0]); return 2; }
    dispatch_world *w = world_get();
    const unsigned conn0[] = { 0 };
    for (size_t i = 0; i < USHER_METHOD__COUNT; i++) {
        const char *method = usher_method_docs[i].name;
        seed s;
        seed_init(&s);
        seed_request(&s, w, method, 1);
        char name[128];
        snprintf(name, sizeof name, "method_%s", method);
        write_records(argv[1], name, &s.wire, 65535, conn0, 1);
        write_file(argv[2], name, s.wire.data, s.wire.size);
        msgpack_sbuffer_destroy(&s.wire);
    }
    /* Flows: a purchase by one user; three users racing for seats, their
     * frames cut in 7-byte pieces and interleaved over three connections. */
    static const char *const purchase[] = { "queue.enter", "concert.dates", "concert.seats",
        "seat.reserve", "payment.pay", "reservation.list", "payment.list", "wallet.history" };
    seed s;
    seed_init(&s);
    for (size_t i = 0; i < sizeof purchase / sizeof purchase[0]; i++) seed_request(&s, w, purchase[i], 0);
    write_records(argv[1], "flow_purchase", &s.wire, 65535, conn0, 1);
    write_file(argv[2], "flow_purchase", s.wire.data, s.wire.size);
    msgpack_sbuffer_destroy(&s.wire);
    /* One stream per connection, cut in 7-byte pieces taken in turn. */
    seed streams[FUZZ_CONNS];
    for (unsigned u = 0; u < FUZZ_CONNS; u++) {
        seed_init(&streams[u]);
        seed_request(&streams[u], w, "seat.reserve", u % FUZZ_USERS);
        seed_request(&streams[u], w, "reservation.cancel", u % FUZZ_USERS);
        seed_request(&streams[u], w, "admin.schedule.create", u % FUZZ_USERS);
    }
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    for (size_t at = 0, more = 1; more; at += 7) {
        more = 0;
        for (unsigned c = 0; c < FUZZ_CONNS; c++) {
            if (at >= streams[c].wire.size) continue;
            size_t n = streams[c].wire.size - at < 7 ? streams[c].wire.size - at : 7;
            uint8_t head[3] = { (uint8_t)c, 0, (uint8_t)n };
            msgpack_sbuffer_write(&out, (const char *)head, 3);
            msgpack_sbuffer_write(&out, streams[c].wire.data + at, n);
            more = 1;
        }
    }
    write_file(argv[1], "flow_race_split", out.data, out.size);
    msgpack_sbuffer_destroy(&out);
    for (unsigned c = 0; c < FUZZ_CONNS; c++) msgpack_sbuffer_destroy(&streams[c].wire);
    return 0;
}
#endif
