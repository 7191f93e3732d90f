/* The sale: --users users arrive at once for one concert of --perfs performances of --seats seats. Each one
 * registers, charges, enters the queue, polls queue.status every --poll-ms until ACTIVE, reads concert.dates
 * and concert.seats, reserves a random free seat (another free one after SEAT_UNAVAILABLE) and pays for it.
 * The sale ends when every seat is paid. Oversell is judged from the replies: no seat in two successful
 * payments, no more seats paid than offered, and afterwards concert.seats shows every seat taken. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define SALE_DEPTH_MIN 32        /* calls in flight per connection at least, whatever --depth says */
#define SALE_INFLIGHT_MAX 3000   /* below the server's queue of waiting writes (4096) */
#define SALE_DEADLINE_S 300.0    /* a sale that has not sold out by then is reported as such */
#define HOUR_MS (3600 * 1000LL)

enum sale_step { S_REGISTER, S_CHARGE, S_ENTER, S_STATUS, S_DATES, S_SEATS, S_RESERVE, S_PAY, S_DONE, S_STEPS };

static const char *const STEP_METHOD[S_STEPS] = {
    "user.register", "wallet.charge", "queue.enter", "queue.status", "concert.dates", "concert.seats",
    "seat.reserve", "payment.pay", NULL,
};

typedef struct sale sale;

typedef struct sale_user {
    sale *s;
    uint32_t index;
    int step;
    bool queued;         /* waiting in the FIFO for room to send */
    char *session, *token;
    ev_timer wait;       /* the pause before polling again */
    uint64_t rng;
    uint64_t schedule_id, reservation_id;
    uint32_t seat_no;
    uint16_t *free_seats; /* seats concert.seats showed free, not yet tried */
    uint32_t n_free;
} sale_user;

struct sale {
    pool *p;
    const options *o;
    scenario_stats *ss;
    scenario_stats *scratch;  /* setup and check calls: timed, not reported */
    method_stats *step_stats[S_STEPS];
    sale_user *users;
    size_t n_users, finished, gave_up;
    uint64_t concert;
    uint64_t *perfs;
    size_t n_perfs;
    uint32_t seats;           /* per performance */
    uint8_t *paid;            /* n_perfs * seats: 1 once a payment for the seat succeeded */
    uint64_t total, sold, oversold;
    uint32_t *fifo;           /* users waiting for room to send: a ring of n_users */
    size_t fifo_head, fifo_len;
    long max_inflight;
    bool stopping;
    uint64_t t0_ns, sold_ns;
    char *checker_session, *checker_token; /* first in the queue, never buys: reads the seats at the end */
    ev_timer deadline;
};

static void sale_go(sale_user *u);

static void sale_stop(sale *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    for (size_t i = 0; i < s->n_users; i++)
        ev_timer_stop(s->p->loop, &s->users[i].wait);
    ev_timer_stop(s->p->loop, &s->deadline);
    if (s->p->inflight == 0)
        ev_break(s->p->loop, EVBREAK_ONE);
}

static void user_finish(sale_user *u)
{
    u->step = S_DONE;
    free(u->free_seats);
    u->free_seats = NULL;
    if (++u->s->finished == u->s->n_users)
        sale_stop(u->s); /* everyone is done, sold out or not */
}

/* Goes on with step after --poll-ms. */
static void user_wait(sale_user *u, int step)
{
    u->step = step;
    if (u->s->stopping)
        return;
    ev_timer_set(&u->wait, u->s->o->poll_ms / 1000.0, 0.);
    ev_timer_start(u->s->p->loop, &u->wait);
}

static void on_wait(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    sale_go(w->data);
}

static void pack_token_u64(msgpack_packer *pk, const char *token, const char *key, uint64_t value)
{
    msgpack_pack_map(pk, 2);
    pack_key_str(pk, "token", token);
    pack_key_u64(pk, key, value);
}

static void on_user_reply(void *ctx, usher_status status, const usher_reply *reply);

/* Packs and sends u's call for its step. */
static void user_send(sale_user *u)
{
    sale *s = u->s;
    msgpack_packer *pk = pool_params(s->p);
    char request_id[USHER_REQUEST_ID_MAX + 1];
    switch (u->step) {
    case S_REGISTER: msgpack_pack_map(pk, 0); break;
    case S_CHARGE:
        msgpack_pack_map(pk, 2);
        pack_key_str(pk, "session", u->session);
        pack_key_i64(pk, "amount", BENCH_CHARGE_KRW);
        break;
    case S_ENTER:
        msgpack_pack_map(pk, 2);
        pack_key_str(pk, "session", u->session);
        pack_key_u64(pk, "concert_id", s->concert);
        break;
    case S_STATUS:
        msgpack_pack_map(pk, 1);
        pack_key_str(pk, "token", u->token);
        break;
    case S_DATES: pack_token_u64(pk, u->token, "concert_id", s->concert); break;
    case S_SEATS: pack_token_u64(pk, u->token, "schedule_id", u->schedule_id); break;
    case S_RESERVE:
        msgpack_pack_map(pk, 3);
        pack_key_str(pk, "token", u->token);
        pack_key_u64(pk, "schedule_id", u->schedule_id);
        pack_key_u64(pk, "seat_no", u->seat_no);
        break;
    case S_PAY:
        snprintf(request_id, sizeof request_id, "sale-%u-%llu", u->index, (unsigned long long)u->reservation_id);
        msgpack_pack_map(pk, 3);
        pack_key_str(pk, "token", u->token);
        msg_pack_cstr(pk, "reservation_ids");
        msgpack_pack_array(pk, 1);
        msgpack_pack_uint64(pk, u->reservation_id);
        pack_key_str(pk, "request_id", request_id);
        break;
    default: return;
    }
    if (!pool_send(s->p, (int)u->index, s->step_stats[u->step], STEP_METHOD[u->step], on_user_reply, u)) {
        fprintf(stderr, "usher-bench: sale: no connection left\n");
        sale_stop(s);
    }
}

/* Sends u's next call now, or queues u until fewer calls are in flight. */
static void sale_go(sale_user *u)
{
    sale *s = u->s;
    if (s->stopping || u->queued)
        return;
    if (s->p->inflight < s->max_inflight && s->fifo_len == 0) {
        user_send(u);
        return;
    }
    u->queued = true;
    s->fifo[(s->fifo_head + s->fifo_len++) % s->n_users] = u->index;
}

static void sale_drain(sale *s)
{
    while (!s->stopping && s->fifo_len > 0 && s->p->inflight < s->max_inflight) {
        sale_user *u = &s->users[s->fifo[s->fifo_head]];
        s->fifo_head = (s->fifo_head + 1) % s->n_users;
        s->fifo_len--;
        u->queued = false;
        user_send(u);
    }
}

/* Picks a random performance that concert.dates shows with free seats; false when none. */
static bool pick_performance(sale_user *u, const usher_reply *reply)
{
    const msgpack_object *dates = msg_map_get(&reply->result, "dates");
    if (!dates || dates->type != MSGPACK_OBJECT_ARRAY)
        return false;
    uint32_t open = 0;
    for (uint32_t i = 0; i < dates->via.array.size; i++)
        open += obj_u64(&dates->via.array.ptr[i], "available") > 0;
    if (open == 0)
        return false;
    uint32_t k = (uint32_t)(bench_rand(&u->rng) % open);
    for (uint32_t i = 0; i < dates->via.array.size; i++)
        if (obj_u64(&dates->via.array.ptr[i], "available") > 0 && k-- == 0)
            u->schedule_id = obj_u64(&dates->via.array.ptr[i], "schedule_id");
    return true;
}

/* Keeps the seats concert.seats shows free; false when none is. */
static bool take_free_seats(sale_user *u, const usher_reply *reply)
{
    const msgpack_object *seats = msg_map_get(&reply->result, "seats");
    if (!seats || seats->type != MSGPACK_OBJECT_ARRAY)
        return false;
    free(u->free_seats);
    u->free_seats = malloc((seats->via.array.size + 1) * sizeof *u->free_seats);
    u->n_free = 0;
    for (uint32_t i = 0; u->free_seats && i < seats->via.array.size; i++) {
        const msgpack_object *avail = msg_map_get(&seats->via.array.ptr[i], "available");
        if (avail && avail->type == MSGPACK_OBJECT_BOOLEAN && avail->via.boolean)
            u->free_seats[u->n_free++] = (uint16_t)obj_u64(&seats->via.array.ptr[i], "seat_no");
    }
    return u->n_free > 0;
}

/* Takes one not yet tried free seat at random into u->seat_no; false when none is left. */
static bool next_free_seat(sale_user *u)
{
    if (u->n_free == 0)
        return false;
    uint32_t k = (uint32_t)(bench_rand(&u->rng) % u->n_free);
    u->seat_no = u->free_seats[k];
    u->free_seats[k] = u->free_seats[--u->n_free];
    return true;
}

/* Files a successful payment of u's hold; counts a seat paid twice or a seat beyond those offered. */
static void record_payment(sale_user *u, const usher_reply *reply)
{
    sale *s = u->s;
    const msgpack_object *ids = msg_map_get(&reply->result, "reservation_ids");
    bool ours = ids && ids->type == MSGPACK_OBJECT_ARRAY && ids->via.array.size == 1 &&
                ids->via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                ids->via.array.ptr[0].via.u64 == u->reservation_id;
    if (!ours)
        fprintf(stderr, "usher-bench: sale: payment.pay replied other reservation_ids than asked\n");
    size_t perf = 0;
    while (perf < s->n_perfs && s->perfs[perf] != u->schedule_id)
        perf++;
    s->sold++;
    if (perf == s->n_perfs || u->seat_no < 1 || u->seat_no > s->seats) {
        s->oversold++; /* a seat the sale never offered */
        return;
    }
    uint8_t *mark = &s->paid[perf * s->seats + (u->seat_no - 1)];
    if (*mark)
        s->oversold++;
    *mark = 1;
    if (s->sold == s->total) {
        s->sold_ns = bench_mono_ns();
        sale_stop(s);
    }
}

/* Goes on after a failure: transient ones retry the step after a pause, a spent token re-enters the queue. */
static void on_user_error(sale_user *u, usher_status status)
{
    switch (status) {
    case USHER_TOKEN_EXPIRED: u->step = S_ENTER; sale_go(u); return;
    case USHER_HOLD_EXPIRED: user_wait(u, S_DATES); return;
    case USHER_SEAT_UNAVAILABLE:
        if (!next_free_seat(u))
            u->step = S_DATES; /* every seat it saw free is taken: look at the dates again */
        sale_go(u);
        return;
    case USHER_QUEUE_WAITING: user_wait(u, S_STATUS); return;
    case USHER_OVERLOADED:
    case USHER_ETIMEOUT: user_wait(u, u->step); return; /* every step is safe to repeat (pay: same request_id) */
    default:
        if (u->s->gave_up++ == 0)
            fprintf(stderr, "usher-bench: sale: user %u gives up at %s: %s\n", u->index, STEP_METHOD[u->step],
                    usher_status_name(status));
        user_finish(u);
    }
}

static void on_user_reply(void *ctx, usher_status status, const usher_reply *reply)
{
    sale_user *u = ctx;
    sale *s = u->s;
    if (s->stopping) {
        if (status == USHER_OK && u->step == S_PAY)
            record_payment(u, reply); /* a payment after the sell-out would be an oversell */
    } else if (status != USHER_OK) {
        on_user_error(u, status);
    } else {
        switch (u->step) {
        case S_REGISTER:
            u->session = reply_strdup(reply, "session");
            u->step = S_CHARGE;
            sale_go(u);
            break;
        case S_CHARGE: u->step = S_ENTER; sale_go(u); break;
        case S_ENTER:
        case S_STATUS:
            if (u->step == S_ENTER) {
                free(u->token);
                u->token = reply_strdup(reply, "token");
            }
            if (obj_str_is(&reply->result, "status", "ACTIVE")) {
                u->step = S_DATES;
                sale_go(u);
            } else if (obj_str_is(&reply->result, "status", "EXPIRED")) {
                u->step = S_ENTER;
                sale_go(u);
            } else {
                user_wait(u, S_STATUS);
            }
            break;
        case S_DATES:
            if (pick_performance(u, reply)) {
                u->step = S_SEATS;
                sale_go(u);
            } else {
                user_wait(u, S_DATES); /* every seat is sold or held: look again later */
            }
            break;
        case S_SEATS:
            if (take_free_seats(u, reply) && next_free_seat(u)) {
                u->step = S_RESERVE;
                sale_go(u);
            } else {
                u->step = S_DATES;
                sale_go(u);
            }
            break;
        case S_RESERVE:
            u->reservation_id = obj_u64(&reply->result, "reservation_id");
            u->step = S_PAY;
            sale_go(u);
            break;
        case S_PAY:
            record_payment(u, reply);
            user_finish(u);
            break;
        }
    }
    sale_drain(s);
    if (s->stopping && s->p->inflight == 0)
        ev_break(s->p->loop, EVBREAK_ONE);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    sale *s = w->data;
    fprintf(stderr, "usher-bench: sale: not sold out after %.0f s; stopped\n", SALE_DEADLINE_S);
    sale_stop(s);
}

/* ---- setup and the check afterwards, one call at a time ---- */
static void take_u64(void *ctx, const usher_reply *reply)
{
    uint64_t *out = ctx;
    const msgpack_object *o = &reply->result;
    *out = obj_u64(o, "concert_id") ? obj_u64(o, "concert_id") : obj_u64(o, "schedule_id");
}

static void take_session(void *ctx, const usher_reply *reply)
{
    sale *s = ctx;
    s->checker_session = reply_strdup(reply, "session");
}

static void take_token(void *ctx, const usher_reply *reply)
{
    sale *s = ctx;
    s->checker_token = obj_str_is(&reply->result, "status", "ACTIVE") ? reply_strdup(reply, "token") : NULL;
}

static bool sale_prepare(sale *s)
{
    pool *p = s->p;
    method_stats *ms = stats_method(s->scratch, "setup");
    msgpack_packer *pk = pool_params(p);
    msgpack_pack_map(pk, 3);
    pack_key_str(pk, "admin", s->o->admin);
    pack_key_str(pk, "title", "bench sale");
    pack_key_str(pk, "venue", "usher-bench");
    if (pool_call_wait(p, ms, "admin.concert.create", take_u64, &s->concert) != USHER_OK)
        return false;
    int64_t first = bench_wall_ms() + 24 * HOUR_MS;
    for (size_t i = 0; i < s->n_perfs; i++) {
        pk = pool_params(p);
        msgpack_pack_map(pk, 5);
        pack_key_str(pk, "admin", s->o->admin);
        pack_key_u64(pk, "concert_id", s->concert);
        pack_key_i64(pk, "starts_at", first + (int64_t)i * HOUR_MS);
        pack_key_i64(pk, "price", BENCH_PRICE_KRW);
        pack_key_u64(pk, "seats", s->seats);
        if (pool_call_wait(p, ms, "admin.schedule.create", take_u64, &s->perfs[i]) != USHER_OK)
            return false;
    }
    msgpack_pack_map(pool_params(p), 0);
    if (pool_call_wait(p, ms, "user.register", take_session, s) != USHER_OK || !s->checker_session)
        return false;
    pk = pool_params(p);
    msgpack_pack_map(pk, 2);
    pack_key_str(pk, "session", s->checker_session);
    pack_key_u64(pk, "concert_id", s->concert);
    if (pool_call_wait(p, ms, "queue.enter", take_token, s) != USHER_OK || !s->checker_token) {
        fprintf(stderr, "usher-bench: sale: the checker did not become ACTIVE\n");
        return false;
    }
    return true;
}

typedef struct seat_count {
    uint64_t free;
    bool seen;
} seat_count;

static void take_free_count(void *ctx, const usher_reply *reply)
{
    seat_count *c = ctx;
    const msgpack_object *seats = msg_map_get(&reply->result, "seats");
    c->seen = seats && seats->type == MSGPACK_OBJECT_ARRAY;
    for (uint32_t i = 0; c->seen && i < seats->via.array.size; i++) {
        const msgpack_object *avail = msg_map_get(&seats->via.array.ptr[i], "available");
        c->free += !avail || avail->type != MSGPACK_OBJECT_BOOLEAN || avail->via.boolean;
    }
}

/* Seats concert.seats still shows free (or could not show) after the sale. */
static uint64_t sale_unsold(sale *s)
{
    uint64_t unsold = 0;
    for (size_t i = 0; i < s->n_perfs; i++) {
        seat_count c = { 0 };
        pack_token_u64(pool_params(s->p), s->checker_token, "schedule_id", s->perfs[i]);
        if (pool_call_wait(s->p, stats_method(s->scratch, "check"), "concert.seats", take_free_count, &c) != USHER_OK ||
            !c.seen)
            c.free = s->seats;
        unsold += c.free;
    }
    return unsold;
}

static void sale_free(sale *s)
{
    for (size_t i = 0; s->users && i < s->n_users; i++) {
        free(s->users[i].session);
        free(s->users[i].token);
        free(s->users[i].free_seats);
    }
    free(s->users);
    free(s->perfs);
    free(s->paid);
    free(s->fifo);
    free(s->scratch);
    free(s->checker_session);
    free(s->checker_token);
}

bool sale_run(pool *p, const options *o, scenario_stats *ss)
{
    ss->name = SCENARIO_NAMES[SC_SALE];
    ss->method = "seat.reserve";
    ss->ran = ss->is_sale = true;
    ss->sale.sold_out_s = -1;
    sale s = { .p = p, .o = o, .ss = ss, .n_users = (size_t)o->users, .n_perfs = (size_t)o->perfs,
               .seats = (uint32_t)o->seats };
    s.total = (uint64_t)s.n_perfs * s.seats;
    ss->sale.seats = s.total;
    long depth = o->depth > SALE_DEPTH_MIN ? o->depth : SALE_DEPTH_MIN;
    s.max_inflight = (long)o->connections * depth;
    if (s.max_inflight > SALE_INFLIGHT_MAX)
        s.max_inflight = SALE_INFLIGHT_MAX;
    s.users = calloc(s.n_users, sizeof *s.users);
    s.perfs = calloc(s.n_perfs, sizeof *s.perfs);
    s.paid = calloc(s.total, 1);
    s.fifo = calloc(s.n_users, sizeof *s.fifo);
    s.scratch = calloc(1, sizeof *s.scratch);
    bool ok = s.users && s.perfs && s.paid && s.fifo && s.scratch && sale_prepare(&s);
    if (!ok) {
        fprintf(stderr, "usher-bench: sale: setup failed\n");
        sale_free(&s);
        return false;
    }
    for (int st = 0; st < S_DONE; st++)
        s.step_stats[st] = stats_method(ss, STEP_METHOD[st]);
    for (size_t i = 0; i < s.n_users; i++) {
        sale_user *u = &s.users[i];
        *u = (sale_user){ .s = &s, .index = (uint32_t)i, .rng = 0x2545f4914f6cdd1dull * (i + 7) };
        ev_timer_init(&u->wait, on_wait, 0., 0.);
        u->wait.data = u;
    }
    ev_now_update(p->loop);
    ev_timer_init(&s.deadline, on_deadline, SALE_DEADLINE_S, 0.);
    s.deadline.data = &s;
    ev_timer_start(p->loop, &s.deadline);
    s.t0_ns = bench_mono_ns();
    for (size_t i = 0; i < s.n_users; i++)
        sale_go(&s.users[i]);
    if (!s.stopping)
        ev_run(p->loop, 0);
    while (p->inflight > 0) /* a stop from outside a reply: let the calls in flight land */
        ev_run(p->loop, 0);
    ss->secs = (double)(bench_mono_ns() - s.t0_ns) / 1e9;
    ss->sale.sold = s.sold;
    ss->sale.oversold = s.oversold;
    if (s.sold_ns)
        ss->sale.sold_out_s = (double)(s.sold_ns - s.t0_ns) / 1e9;
    ss->sale.unsold_after = sale_unsold(&s);
    sale_free(&s);
    return true;
}
