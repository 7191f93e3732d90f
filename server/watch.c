#include "watch.h"
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "conn.h"
#include "writer.h"
#include "queue_eta.h"
#include "methods/pack.h"
#include "../protocol/msg.h"

#include "queue_seen.h"
/* Watching counts as "seen" for --wait-idle: a watched entry is noted on
 * every sweep (once a second); queue_seen deduplicates the notes and paces
 * the stored touches to its resend interval (a quarter of a short idle
 * limit), so this costs a hash insert per watcher a second, no write. */
#define WATCH_SEEN_EVERY_MS 1000
#define WATCH_ETA_SLACK_S 2          /* see eta_moved */

typedef struct watch_sub {
    conn *cn;                    /* NULL once dropped (removed at the end of the pass) */
    uint64_t concert_id, seq;
    int64_t token_expires_ms;
    char token[TOKEN_MAX_LEN];   /* as the client sent it: named in every notification */
    size_t token_len;
    /* the entry's latest known state */
    store_queue_state state;
    uint64_t position;
    bool position_known;         /* false before the pre-queue's draw: position and eta nil */
    int64_t active_until_ms;
    bool owed;                   /* the latest state is not yet told */
    /* what the watcher was last told */
    store_queue_state told_state;
    uint64_t told_position;
    bool told_eta_known;
    int64_t told_eta_s;
    int64_t told_ms;
    int64_t seen_ms;             /* last queue_seen_note */
} watch_sub;

typedef struct watched_queue {
    uint64_t concert_id;
    size_t subs;
    uint64_t version;
    bool has_version;
    bool moved;                  /* this tick: the version changed */
    bool rate_known;             /* this tick's admission rate (queue_eta.h) */
    queue_eta_rate rate;
} watched_queue;

struct watch_registry {
    server *srv;
    ev_timer timer;
    watch_sub **subs;
    size_t n, cap;
    watched_queue *queues;
    size_t n_queues, cap_queues;
    size_t dropped;              /* subs with cn == NULL still in the array */
    bool busy;                   /* inside a pass over subs: drops wait for its end */
    bool owed_left;              /* a sub still owed after the last pass (waits for 1 s or a reader) */
    int64_t next_sweep_ms;
    struct watch_job *job;       /* a remote store: the tick's reads at the writer's pool, or NULL */
};

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents);

watch_registry *watch_new(server *srv)
{
    watch_registry *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->srv = srv;
    ev_timer_init(&w->timer, on_tick, WATCH_TICK_MS / 1000.0, WATCH_TICK_MS / 1000.0);
    w->timer.data = w;
    return w;
}

void watch_start(watch_registry *w) { ev_timer_start(w->srv->loop, &w->timer); }
void watch_stop(watch_registry *w) { ev_timer_stop(w->srv->loop, &w->timer); }

size_t watch_count(const watch_registry *w) { return w->n - w->dropped; }

static watched_queue *find_queue(watch_registry *w, uint64_t concert_id)
{
    for (size_t i = 0; i < w->n_queues; i++)
        if (w->queues[i].concert_id == concert_id) return &w->queues[i];
    return NULL;
}

static bool queue_join(watch_registry *w, uint64_t concert_id)
{
    watched_queue *q = find_queue(w, concert_id);
    if (!q) {
        if (w->n_queues == w->cap_queues) {
            size_t cap = w->cap_queues ? w->cap_queues * 2 : 4;
            watched_queue *grown = realloc(w->queues, cap * sizeof *grown);
            if (!grown) return false;
            w->queues = grown;
            w->cap_queues = cap;
        }
        q = &w->queues[w->n_queues++];
        *q = (watched_queue){ .concert_id = concert_id };
    }
    q->subs++;
    return true;
}

static void queue_leave(watch_registry *w, uint64_t concert_id)
{
    watched_queue *q = find_queue(w, concert_id);
    if (!q || --q->subs > 0) return;
    *q = w->queues[--w->n_queues];
}

/* Removes the dropped subs from the array. */
static void purge(watch_registry *w)
{
    if (w->dropped == 0 || w->busy || w->job) return;
    size_t kept = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (w->subs[i]->cn) w->subs[kept++] = w->subs[i];
        else free(w->subs[i]);
    }
    w->n = kept;
    w->dropped = 0;
}

/* Ends one subscription (its memory goes at the end of the pass). */
static void drop(watch_registry *w, watch_sub *s)
{
    conn *cn = s->cn;
    if (!cn) return;
    for (unsigned i = 0; i < cn->n_watches; i++) {
        if (cn->watches[i] != s) continue;
        cn->watches[i] = cn->watches[--cn->n_watches];
        break;
    }
    s->cn = NULL;
    if (s->owed) s->owed = false;
    queue_leave(w, s->concert_id);
    w->dropped++;
    purge(w);
}

void watch_conn_closed(watch_registry *w, conn *cn)
{
    while (cn->n_watches > 0) drop(w, cn->watches[cn->n_watches - 1]);
}

void watch_free(watch_registry *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->subs[i]);
    free(w->subs);
    free(w->queues);
    free(w);
}

static watch_sub *conn_find(const conn *cn, uint64_t concert_id, uint64_t seq)
{
    for (unsigned i = 0; i < cn->n_watches; i++)
        if (cn->watches[i]->concert_id == concert_id && cn->watches[i]->seq == seq) return cn->watches[i];
    return NULL;
}

bool watch_conn_full(const conn *cn, uint64_t concert_id, uint64_t seq)
{
    return cn->n_watches >= CONN_WATCH_MAX && !conn_find(cn, concert_id, seq);
}

static void note_seen(watch_registry *w, watch_sub *s, int64_t now_ms)
{
    s->seen_ms = now_ms;
    queue_seen_note(w->srv, s->concert_id, s->seq);
}

static store_queue_state state_named(const char *name, size_t len)
{
    static const store_queue_state all[] = { STORE_QUEUE_WAITING, STORE_QUEUE_ACTIVE,
                                             STORE_QUEUE_EXPIRED, STORE_QUEUE_ABANDONED };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *n = pack_queue_state(all[i]);
        if (strlen(n) == len && memcmp(n, name, len) == 0) return all[i];
    }
    return 0;
}

/* What a queue.watch reply told the client: its status, position and eta_s. */
static bool told_from_reply(watch_sub *s, const msgpack_sbuffer *result)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    bool ok = msgpack_unpack_next(&u, result->data, result->size, NULL) == MSGPACK_UNPACK_SUCCESS &&
              u.data.type == MSGPACK_OBJECT_MAP;
    if (ok) {
        const msgpack_object *status = msg_map_get(&u.data, "status");
        const msgpack_object *position = msg_map_get(&u.data, "position");
        const msgpack_object *eta = msg_map_get(&u.data, "eta_s");
        const msgpack_object *until = msg_map_get(&u.data, "active_until");
        ok = status && status->type == MSGPACK_OBJECT_STR;
        if (ok) s->told_state = s->state = state_named(status->via.str.ptr, status->via.str.size);
        s->position_known = position && position->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
        if (s->position_known)
            s->told_position = s->position = position->via.u64;
        s->told_eta_known = eta && (eta->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
                                    eta->type == MSGPACK_OBJECT_NEGATIVE_INTEGER);
        if (s->told_eta_known) s->told_eta_s = eta->via.i64;
        if (until && until->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            s->active_until_ms = (int64_t)until->via.u64;
    }
    msgpack_unpacked_destroy(&u);
    return ok;
}

static void subscribe(watch_registry *w, conn *cn, const call *c, const msgpack_sbuffer *result)
{
    const msgpack_object *token = c->params ? msg_map_get(c->params, "token") : NULL;
    if (!token || token->type != MSGPACK_OBJECT_STR || token->via.str.size > TOKEN_MAX_LEN) return;
    watch_sub *s = conn_find(cn, c->queue.concert_id, c->queue.seq);
    bool fresh = !s;
    if (fresh && cn->n_watches >= CONN_WATCH_MAX) return;   /* refused by the handler already */
    if (fresh && !(s = calloc(1, sizeof *s))) return;
    watch_sub told = { 0 };
    if (!told_from_reply(&told, result) ||
        (told.state != STORE_QUEUE_WAITING && told.state != STORE_QUEUE_ACTIVE)) {
        if (fresh) free(s);
        else drop(w, s);   /* it has ended: the reply said so */
        return;
    }
    if (fresh) {
        if (w->n == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 64;
            watch_sub **grown = realloc(w->subs, cap * sizeof *grown);
            if (!grown) { free(s); return; }
            w->subs = grown;
            w->cap = cap;
        }
        if (!queue_join(w, c->queue.concert_id)) { free(s); return; }
        w->subs[w->n++] = s;
        cn->watches[cn->n_watches++] = s;
    }
    s->cn = cn;
    s->concert_id = c->queue.concert_id;
    s->seq = c->queue.seq;
    s->token_expires_ms = c->queue.expires_at_ms;
    memcpy(s->token, token->via.str.ptr, token->via.str.size);
    s->token_len = token->via.str.size;
    s->state = told.state;
    s->position = told.position;
    s->position_known = told.position_known;
    s->active_until_ms = told.active_until_ms;
    s->told_state = told.told_state;
    s->told_position = told.told_position;
    s->told_eta_known = told.told_eta_known;
    s->told_eta_s = told.told_eta_s;
    s->told_ms = c->now_ms;
    s->owed = false;
    queue_eta_interest(w->srv->eta, s->concert_id, c->now_ms);
    note_seen(w, s, c->now_ms);
}

void watch_apply(watch_registry *w, conn *cn, const call *c, const msgpack_sbuffer *result)
{
    if (c->watch_op == CALL_WATCH_NONE || !cn || cn->state != CONN_OPEN) return;
    if (c->watch_op == CALL_WATCH_ADD) {
        subscribe(w, cn, c, result);
        return;
    }
    watch_sub *s = conn_find(cn, c->queue.concert_id, c->queue.seq);
    if (s) drop(w, s);
}

/* ---- the timer ---- */

static void refresh_apply(watch_sub *s, usher_err err, store_queue_entry e, int64_t now_ms);

/* Reads the entry again: its state as queue.status would report it. */
static void refresh(watch_sub *s, store_txn *txn, int64_t now_ms)
{
    store_queue_entry e;
    usher_err err = store_queue_get(txn, s->concert_id, s->seq, now_ms, &e);
    refresh_apply(s, err, e, now_ms);
}

/* The entry as store_queue_get gave it (err, e) becomes s's latest state. */
static void refresh_apply(watch_sub *s, usher_err err, store_queue_entry e, int64_t now_ms)
{
    if (err == USHER_ERR_NOT_FOUND || (err == USHER_ERR_OK && s->token_expires_ms <= now_ms)) {
        e.state = STORE_QUEUE_EXPIRED;
        e.position = 0;
        e.active_until_ms = s->active_until_ms;
    } else if (err != USHER_ERR_OK) {
        return;   /* a storage hiccup: try again on the next change or sweep */
    }
    s->state = e.state;
    s->position = e.position;
    s->position_known = err != USHER_ERR_OK || e.position_known;
    s->active_until_ms = e.active_until_ms;
    if (s->state != s->told_state || (s->state == STORE_QUEUE_WAITING && s->position != s->told_position))
        s->owed = true;
}

/* The estimate for s, from its queue's rate as this tick measured it. */
static bool eta_now(watch_registry *w, const watch_sub *s, int64_t *eta_s)
{
    const watched_queue *q = find_queue(w, s->concert_id);
    if (!q || !q->rate_known || !s->position_known) return false;
    *eta_s = queue_eta_from_rate(&q->rate, s->position);
    return true;
}

/* Whether a new estimate alone is worth an update: it appeared or went, or
 * moved by WATCH_ETA_SLACK_S and a tenth of what was told (the measured
 * rate wobbles between admissions; a client counts down by itself). */
static bool eta_moved(const watch_sub *s, bool known, int64_t eta_s)
{
    if (known != s->told_eta_known) return true;
    if (!known) return false;
    int64_t diff = eta_s > s->told_eta_s ? eta_s - s->told_eta_s : s->told_eta_s - eta_s;
    return diff >= WATCH_ETA_SLACK_S && diff * 10 >= s->told_eta_s;
}

/* True when the sweep must read s again: its token or its ACTIVE time ran out. */
static bool sweep_reads(const watch_sub *s, int64_t now_ms)
{
    return s->token_expires_ms <= now_ms ||
           (s->state == STORE_QUEUE_ACTIVE && s->active_until_ms > 0 && s->active_until_ms <= now_ms);
}

static void sweep_rest(watch_registry *w, watch_sub *s, int64_t now_ms);

/* Once a second: time-driven changes no queue version shows. */
static void sweep(watch_registry *w, watch_sub *s, store_txn *txn, int64_t now_ms)
{
    if (sweep_reads(s, now_ms))
        refresh(s, txn, now_ms);
    sweep_rest(w, s, now_ms);
}

/* The sweep once any read is done: estimates, keep-alives, seen notes. */
static void sweep_rest(watch_registry *w, watch_sub *s, int64_t now_ms)
{
    if (s->state == STORE_QUEUE_WAITING) {
        int64_t eta_s = 0;
        bool known = eta_now(w, s, &eta_s);
        if (eta_moved(s, known, eta_s)) s->owed = true;
        if (now_ms - s->told_ms >= WATCH_KEEPALIVE_MS - WATCH_UPDATE_MIN_MS) s->owed = true;
    }
    if (now_ms - s->seen_ms >= WATCH_SEEN_EVERY_MS) note_seen(w, s, now_ms);
}

static void pack_common(msgpack_packer *pk, const watch_sub *s, const char *method, uint32_t keys)
{
    msgpack_pack_array(pk, 3);
    msgpack_pack_uint8(pk, 2);
    msgpack_pack_str(pk, strlen(method));
    msgpack_pack_str_body(pk, method, strlen(method));
    msgpack_pack_map(pk, 2 + keys);
    pack_kv_u64(pk, "concert_id", s->concert_id);
    pack_key(pk, "token");
    msgpack_pack_str(pk, s->token_len);
    msgpack_pack_str_body(pk, s->token, s->token_len);
}

/* Tells s its latest state if it may be told now; false when it must wait. */
static bool tell(watch_registry *w, watch_sub *s, int64_t now_ms)
{
    server *srv = w->srv;
    conn *cn = s->cn;
    if (cn->state != CONN_OPEN || conn_unsent(cn) > srv->cfg.out_buf_cap) return false;
    if (s->state == STORE_QUEUE_WAITING && now_ms - s->told_ms < WATCH_UPDATE_MIN_MS) return false;
    if (s->state == STORE_QUEUE_ACTIVE && s->told_state == STORE_QUEUE_ACTIVE) return true;
    msgpack_sbuffer *sb = &srv->scratch;
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t at = msg_frame_begin(sb);
    int64_t eta_s = 0;
    bool eta_known = false;
    switch (s->state) {
    case STORE_QUEUE_WAITING:
        eta_known = eta_now(w, s, &eta_s);
        pack_common(&pk, s, "queue.update", 3);
        pack_kv_str(&pk, "status", pack_queue_state(s->state));
        pack_key(&pk, "position");
        if (s->position_known) msgpack_pack_uint64(&pk, s->position); else msgpack_pack_nil(&pk);
        pack_key(&pk, "eta_s");
        if (eta_known) msgpack_pack_int64(&pk, eta_s); else msgpack_pack_nil(&pk);
        break;
    case STORE_QUEUE_ACTIVE:
        pack_common(&pk, s, "queue.admitted", 1);
        pack_kv_i64(&pk, "active_until", s->active_until_ms);
        break;
    default:
        pack_common(&pk, s, "queue.expired", 1);
        pack_kv_str(&pk, "status", pack_queue_state(s->state));
        break;
    }
    msg_frame_end(sb, at);
    s->told_state = s->state;
    s->told_position = s->position;
    s->told_eta_known = eta_known;
    s->told_eta_s = eta_s;
    s->told_ms = now_ms;
    conn_send(cn, sb->data, sb->size);   /* may close cn: then s is dropped */
    return true;
}

/* ---- a remote store: the tick's reads on the writer's pool ---- */

/* One watched entry the job reads, and what it read. */
typedef struct watch_job_entry {
    watch_sub *s;                /* kept while the job is out (purge waits for it) */
    uint64_t concert_id, seq;
    size_t queue;                /* index into the job's ids */
    bool sweep_read;             /* the sweep wants it read whatever its queue did */
    bool read;
    usher_err err;
    store_queue_entry e;
} watch_job_entry;

typedef struct watch_job {
    watch_registry *w;
    int64_t now_ms;
    bool sweeping;
    bool txn_ok;
    size_t n_ids;
    uint64_t ids[QUEUE_ETA_QUEUES_MAX];
    bool has_version[QUEUE_ETA_QUEUES_MAX];     /* what the loop knew when it asked */
    uint64_t version[QUEUE_ETA_QUEUES_MAX];
    bool p_ok[QUEUE_ETA_QUEUES_MAX];
    store_queue_progress p[QUEUE_ETA_QUEUES_MAX];
    size_t n_entries;
    watch_job_entry *entries;
} watch_job;

/* Pool thread: the same reads on_tick makes, in one read transaction; an
 * entry is read when its queue's version moved from what the loop knew (or
 * the sweep wants it). Touches nothing of the registry. */
static void watch_job_run(void *ctx, store *st)
{
    watch_job *j = ctx;
    store_txn *txn;
    if (store_read_begin(st, &txn) != USHER_ERR_OK) return;
    j->txn_ok = true;
    bool moved[QUEUE_ETA_QUEUES_MAX];
    for (size_t i = 0; i < j->n_ids; i++) {
        j->p_ok[i] = store_queue_progress_get(txn, j->ids[i], &j->p[i]) == USHER_ERR_OK;
        moved[i] = j->p_ok[i] && j->has_version[i] && j->version[i] != j->p[i].version;
    }
    for (size_t i = 0; i < j->n_entries; i++) {
        watch_job_entry *x = &j->entries[i];
        if (!x->sweep_read && (x->queue >= j->n_ids || !moved[x->queue])) continue;
        x->read = true;
        x->err = store_queue_get(txn, x->concert_id, x->seq, j->now_ms, &x->e);
    }
    store_txn_end(txn);
}

static void tell_owed(watch_registry *w, bool telling, int64_t now_ms);

/* Loop thread: what on_tick does with its reads, from the job's. */
static void watch_job_done(void *ctx)
{
    watch_job *j = ctx;
    watch_registry *w = j->w;
    server *srv = w->srv;
    int64_t now_ms = j->now_ms;
    w->job = NULL;
    if (!j->txn_ok) goto out;
    bool moved = false;
    for (size_t i = 0; i < j->n_ids; i++) {
        if (!j->p_ok[i]) continue;
        queue_eta_sample(srv->eta, j->ids[i], now_ms, j->p[i].admitted_total);
        watched_queue *q = find_queue(w, j->ids[i]);
        if (!q) continue;
        q->rate_known = queue_eta_rate_get(srv->eta, j->ids[i], now_ms, &q->rate);
        if (q->has_version && q->version == j->p[i].version) continue;
        q->moved = q->has_version;
        q->has_version = true;
        q->version = j->p[i].version;
        moved = moved || q->moved;
    }
    w->busy = true;
    bool telling = moved || j->sweeping || w->owed_left;
    for (size_t i = 0; i < j->n_entries; i++) {
        watch_job_entry *x = &j->entries[i];
        watch_sub *s = x->s;
        if (!s->cn || s->concert_id != x->concert_id || s->seq != x->seq) continue;
        if (x->read) refresh_apply(s, x->err, x->e, now_ms);
        if (j->sweeping) sweep_rest(w, s, now_ms);
    }
    for (size_t i = 0; i < w->n_queues; i++) w->queues[i].moved = false;
    if (j->sweeping) w->next_sweep_ms = now_ms + 1000;
    tell_owed(w, telling, now_ms);
    w->busy = false;
out:
    free(j->entries);
    free(j);
    purge(w);
}

/* The tick of a remote store: hands its reads to the pool (one at a time:
 * a tick while one is out is skipped). */
static void remote_tick(watch_registry *w, const uint64_t *ids, size_t n, int64_t now_ms,
                        bool sweeping)
{
    if (w->job) return;
    watch_job *j = calloc(1, sizeof *j);
    if (!j) return;
    j->w = w;
    j->now_ms = now_ms;
    j->sweeping = sweeping;
    j->n_ids = n;
    for (size_t i = 0; i < n; i++) {
        j->ids[i] = ids[i];
        const watched_queue *q = find_queue(w, ids[i]);
        j->has_version[i] = q && q->has_version;
        j->version[i] = q ? q->version : 0;
    }
    if (w->n > 0 && !(j->entries = calloc(w->n, sizeof *j->entries))) { free(j); return; }
    for (size_t i = 0; i < w->n; i++) {
        watch_sub *s = w->subs[i];
        if (!s->cn) continue;
        size_t qi = n;
        for (size_t k = 0; k < n; k++)
            if (ids[k] == s->concert_id) { qi = k; break; }
        j->entries[j->n_entries++] = (watch_job_entry){
            .s = s, .concert_id = s->concert_id, .seq = s->seq, .queue = qi,
            .sweep_read = sweeping && sweep_reads(s, now_ms) };
    }
    w->job = j;
    if (!writer_job_submit(w->srv->writer, watch_job_run, watch_job_done, j)) {
        w->job = NULL;
        free(j->entries);
        free(j);
    }
}

/* Tells every owed sub what it is owed (when telling), then drops the ended. */
static void tell_owed(watch_registry *w, bool telling, int64_t now_ms)
{
    bool owed = false;
    for (size_t i = 0; telling && i < w->n; i++) {
        watch_sub *s = w->subs[i];
        if (!s->cn || !s->owed) continue;
        if (!tell(w, s, now_ms)) { owed = true; continue; }
        if (!s->cn) continue;   /* its connection closed on the send */
        s->owed = false;
        if (s->state != STORE_QUEUE_WAITING && s->state != STORE_QUEUE_ACTIVE) drop(w, s);
    }
    w->owed_left = owed;
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop; (void)revents;
    watch_registry *w = t->data;
    server *srv = w->srv;
    int64_t now_ms = clock_now_ms();
    for (size_t i = 0; i < w->n_queues; i++) queue_eta_interest(srv->eta, w->queues[i].concert_id, now_ms);
    uint64_t ids[QUEUE_ETA_QUEUES_MAX];
    size_t n = queue_eta_queues(srv->eta, now_ms, ids, QUEUE_ETA_QUEUES_MAX);
    if (n == 0) return;
    bool sweeping = now_ms >= w->next_sweep_ms && w->n > 0;
    bool moved = false;
    if (srv->remote) {
        remote_tick(w, ids, n, now_ms, sweeping);
        return;
    }
    store_txn *txn;
    if (store_read_begin(srv->st, &txn) != USHER_ERR_OK) return;
    for (size_t i = 0; i < n; i++) {
        store_queue_progress p;
        if (store_queue_progress_get(txn, ids[i], &p) != USHER_ERR_OK) continue;
        queue_eta_sample(srv->eta, ids[i], now_ms, p.admitted_total);
        watched_queue *q = find_queue(w, ids[i]);
        if (!q) continue;
        q->rate_known = queue_eta_rate_get(srv->eta, ids[i], now_ms, &q->rate);
        if (q->has_version && q->version == p.version) continue;
        q->moved = q->has_version;    /* the first look only sets the mark */
        q->has_version = true;
        q->version = p.version;
        moved = moved || q->moved;
    }
    w->busy = true;
    bool telling = moved || sweeping || w->owed_left;
    if (moved || sweeping) {
        for (size_t i = 0; i < w->n; i++) {
            watch_sub *s = w->subs[i];
            if (!s->cn) continue;
            const watched_queue *q = moved ? find_queue(w, s->concert_id) : NULL;
            if (q && q->moved) refresh(s, txn, now_ms);
            if (sweeping) sweep(w, s, txn, now_ms);
        }
    }
    store_txn_end(txn);
    for (size_t i = 0; i < w->n_queues; i++) w->queues[i].moved = false;
    if (sweeping) w->next_sweep_ms = now_ms + 1000;
    tell_owed(w, telling, now_ms);
    w->busy = false;
    purge(w);
}
