/* Crash tests, the flash sale driver: see crash_sale.h. One loop turn sends
 * each idle user's next request, then reads every reply that has arrived;
 * a user has at most one queue/hold/pay request and one charge in flight,
 * so with many users per connection each connection carries a pipeline. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "crash_sale.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../../server/token.h"

#define CRASH_POLL_MS 5

int64_t crash_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t crash_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(2685821657736338717);
}

uint64_t crash_seed(const char *test_name)
{
    const char *env = getenv("USHER_CRASH_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 0) : (uint64_t)crash_realtime_ns();
    if (seed == 0)
        seed = 1;
    printf("[ %s ] seed %llu (rerun with USHER_CRASH_SEED=%llu)\n", test_name,
           (unsigned long long)seed, (unsigned long long)seed);
    fflush(stdout);
    return seed;
}

bool crash_stress(void)
{
    const char *env = getenv("USHER_STRESS");
    return env && strcmp(env, "1") == 0;
}

void crash_sale_init(crash_sale *s, uint64_t concert_id, const uint64_t *schedule_ids,
                     size_t nschedules, uint32_t seats, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->concert_id = concert_id;
    s->nschedules = nschedules < CRASH_SCHEDULES_MAX ? nschedules : CRASH_SCHEDULES_MAX;
    memcpy(s->schedule_ids, schedule_ids, s->nschedules * sizeof *schedule_ids);
    s->seats = seats;
    s->rng = seed ? seed : 1;
    s->next_amount_krw = 100001;
}

void crash_sale_free(crash_sale *s)
{
    for (size_t i = 0; i < s->nops; i++)
        free(s->ops[i].token);
    free(s->users);
    free(s->ops);
    memset(s, 0, sizeof *s);
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap * 2 : 256;
    while (n < need)
        n *= 2;
    void *q = realloc(p, n * elem);
    if (!q)
        fail_msg("out of memory");
    memset((char *)q + *cap * elem, 0, (n - *cap) * elem);
    *cap = n;
    return q;
}

/* ---- operations ---- */

/* Per connection: msgid -> op index, for matching replies. */
typedef struct conn_book {
    size_t *op_of_msgid;        /* index msgid; SIZE_MAX when free */
    size_t cap;
    size_t pending;
    bool dead;
} conn_book;

static size_t op_new(crash_sale *s, crash_op_kind kind, size_t user, size_t conn)
{
    s->ops = grow(s->ops, &s->ops_cap, s->nops + 1, sizeof *s->ops);
    crash_op *op = &s->ops[s->nops];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->user = user;
    op->conn = conn;
    op->outcome = CRASH_PENDING;
    return s->nops++;
}

/* Sends op's request on its connection and books its msgid. */
static void op_send(crash_sale *s, harness_conn **conns, conn_book *books, size_t opi,
                    const char *method, const char *json)
{
    crash_op *op = &s->ops[opi];
    harness_conn *c = conns[op->conn];
    conn_book *b = &books[op->conn];
    op->sent_ns = crash_realtime_ns();
    /* A failed send means the server died: the request counts as unanswered. */
    int e = b->dead ? EPIPE : harness_conn_request(c, method, json, &op->msgid);
    if (e == EINVAL)
        fail_msg("crash sale: bad JSON for %s: %s", method, json);
    if (e != 0) {
        op->outcome = CRASH_NO_REPLY;
        b->dead = true;
        if (op->kind != CRASH_OP_REGISTER) {
            crash_user *u = &s->users[op->user];
            if (u->chain_op == opi) u->chain_op = SIZE_MAX;
            if (u->charge_op == opi) u->charge_op = SIZE_MAX;
        }
        return;
    }
    if (op->msgid >= b->cap) {
        size_t old = b->cap;
        b->op_of_msgid = grow(b->op_of_msgid, &b->cap, (size_t)op->msgid + 1, sizeof *b->op_of_msgid);
        for (size_t i = old; i < b->cap; i++)
            b->op_of_msgid[i] = SIZE_MAX;
    }
    b->op_of_msgid[op->msgid] = opi;
    b->pending++;
}

static void send_register(crash_sale *s, harness_conn **conns, conn_book *books, size_t conn)
{
    size_t opi = op_new(s, CRASH_OP_REGISTER, SIZE_MAX, conn);
    op_send(s, conns, books, opi, "user.register", "{}");
}

static void send_charge(crash_sale *s, harness_conn **conns, conn_book *books, size_t ui)
{
    crash_user *u = &s->users[ui];
    size_t opi = op_new(s, CRASH_OP_CHARGE, ui, u->conn);
    crash_op *op = &s->ops[opi];
    op->amount_krw = s->next_amount_krw++;
    snprintf(op->request_id, sizeof op->request_id, "c%u", s->next_request++);
    char json[900];
    snprintf(json, sizeof json, "{\"session\":\"%s\",\"amount\":%lld,\"request_id\":\"%s\"}",
             u->session, (long long)op->amount_krw, op->request_id);
    u->charge_op = opi;
    u->charges_done++;
    op_send(s, conns, books, opi, "wallet.charge", json);
}

/* Picks a seat nobody has asked for yet; false when every seat is taken. */
static bool pick_seat(crash_sale *s, uint64_t *schedule_id, uint32_t *seat_no)
{
    size_t start = (size_t)(crash_rand(&s->rng) % s->nschedules);
    for (size_t k = 0; k < s->nschedules; k++) {
        size_t i = (start + k) % s->nschedules;
        if (s->next_seat[i] < s->seats) {
            *schedule_id = s->schedule_ids[i];
            *seat_no = ++s->next_seat[i];
            return true;
        }
    }
    return false;
}

static void send_chain(crash_sale *s, harness_conn **conns, conn_book *books, size_t ui)
{
    crash_user *u = &s->users[ui];
    char json[1400];
    size_t opi;
    if (u->step == 0) {
        opi = op_new(s, CRASH_OP_ENTER, ui, u->conn);
        snprintf(json, sizeof json, "{\"session\":\"%s\",\"concert_id\":%llu}", u->session,
                 (unsigned long long)s->concert_id);
        u->chain_op = opi;
        u->chain_done++;
        op_send(s, conns, books, opi, "queue.enter", json);
        return;
    }
    if (u->step == 1) {
        uint64_t sid;
        uint32_t seat;
        if (!pick_seat(s, &sid, &seat)) {
            u->chain_done = UINT32_MAX / 2;     /* sold out: this user is done */
            return;
        }
        opi = op_new(s, CRASH_OP_HOLD, ui, u->conn);
        s->ops[opi].schedule_id = sid;
        s->ops[opi].seat_no = seat;
        snprintf(json, sizeof json, "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":%u}",
                 u->token, (unsigned long long)sid, seat);
        u->chain_op = opi;
        u->chain_done++;
        op_send(s, conns, books, opi, "seat.reserve", json);
        return;
    }
    opi = op_new(s, CRASH_OP_PAY, ui, u->conn);
    crash_op *op = &s->ops[opi];
    op->reservation_id = u->hold_rid;
    snprintf(op->request_id, sizeof op->request_id, "p%u", s->next_request++);
    snprintf(json, sizeof json, "{\"token\":\"%s\",\"reservation_ids\":[%llu],\"request_id\":\"%s\"}",
             u->token, (unsigned long long)u->hold_rid, op->request_id);
    u->chain_op = opi;
    u->chain_done++;
    op_send(s, conns, books, opi, "payment.pay", json);
}

static void copy_field(harness_reply *r, const char *key, char *out, size_t cap)
{
    const char *v = harness_get_str(r, key);
    if (strlen(v) >= cap)
        fail_msg("crash sale: '%s' too long", key);
    memcpy(out, v, strlen(v) + 1);
}

/* A successful user.register makes a user of the sale, on the connection
 * that registered it. */
static void adopt_user(crash_sale *s, crash_op *op, harness_reply *r)
{
    s->users = grow(s->users, &s->users_cap, s->nusers + 1, sizeof *s->users);
    crash_user *u = &s->users[s->nusers];
    memset(u, 0, sizeof *u);
    copy_field(r, "user_id", u->user_id, sizeof u->user_id);
    copy_field(r, "secret", u->secret, sizeof u->secret);
    copy_field(r, "session", u->session, sizeof u->session);
    if (!user_id_parse(u->user_id, strlen(u->user_id), &u->id))
        fail_msg("crash sale: bad user_id %s", u->user_id);
    u->chain_op = u->charge_op = SIZE_MAX;
    u->conn = op->conn;
    op->user = s->nusers++;
}

/* Applies a reply to its op and its user's chain. */
static void take_reply(crash_sale *s, crash_op *op, harness_reply *r)
{
    op->acked_ns = crash_realtime_ns();
    op->err = r->err;
    op->outcome = r->err == USHER_ERR_OK ? CRASH_OK : CRASH_REFUSED;
    if (op->kind == CRASH_OP_REGISTER) {
        if (op->outcome == CRASH_OK)
            adopt_user(s, op, r);
        return;
    }
    crash_user *u = &s->users[op->user];
    if (op->kind == CRASH_OP_CHARGE) {
        u->charge_op = SIZE_MAX;
        if (op->outcome == CRASH_OK)
            op->balance_krw = harness_get_i64(r, "balance");
        return;
    }
    u->chain_op = SIZE_MAX;
    if (op->outcome != CRASH_OK) {
        /* a refused hold tries another seat; anything else starts over */
        u->step = op->kind == CRASH_OP_HOLD && r->err == USHER_ERR_SEAT_UNAVAILABLE ? 1 : 0;
        return;
    }
    switch (op->kind) {
    case CRASH_OP_ENTER:
        copy_field(r, "token", u->token, sizeof u->token);
        op->token = strdup(u->token);
        if (!op->token)
            fail_msg("out of memory");
        if (harness_obj_str_is(r->result, "status", "ACTIVE"))
            u->step = 1;
        else
            u->token[0] = '\0';    /* WAITING: enter again */
        break;
    case CRASH_OP_HOLD:
        op->reservation_id = harness_get_u64(r, "reservation_id");
        op->price_krw = harness_get_i64(r, "price");
        u->hold_rid = op->reservation_id;
        u->step = 2;
        break;
    case CRASH_OP_PAY:
        op->payment_id = harness_get_u64(r, "payment_id");
        op->amount_krw = harness_get_i64(r, "amount");
        op->balance_krw = harness_get_i64(r, "balance");
        u->step = 0;        /* the payment expired the queue entry */
        break;
    default:
        break;
    }
}

/* The connection ended: its requests in flight get no reply. */
static void conn_lost(crash_sale *s, conn_book *b)
{
    b->dead = true;
    for (size_t m = 0; m < b->cap; m++) {
        size_t opi = b->op_of_msgid[m];
        if (opi == SIZE_MAX)
            continue;
        crash_op *op = &s->ops[opi];
        op->outcome = CRASH_NO_REPLY;
        if (op->kind != CRASH_OP_REGISTER) {
            crash_user *u = &s->users[op->user];
            if (u->chain_op == opi) u->chain_op = SIZE_MAX;
            if (u->charge_op == opi) u->charge_op = SIZE_MAX;
        }
        b->op_of_msgid[m] = SIZE_MAX;
    }
    b->pending = 0;
}

/* Reads every reply that has arrived on connection ci. */
static void read_conn(crash_sale *s, harness_conn *c, conn_book *b)
{
    for (;;) {
        harness_reply r;
        harness_io io = harness_read_reply(c, &r);
        if (io == HARNESS_IO_TIMEOUT)
            return;
        if (io == HARNESS_IO_CLOSED) {
            conn_lost(s, b);
            harness_conn_disconnect(c);
            return;
        }
        if (io == HARNESS_IO_ERROR)
            fail_msg("crash sale: a malformed reply on port %u", (unsigned)c->port);
        size_t opi = r.msgid < b->cap ? b->op_of_msgid[r.msgid] : SIZE_MAX;
        if (opi == SIZE_MAX) {
            harness_reply_free(&r);
            fail_msg("crash sale: a reply to msgid %u, which is not in flight", r.msgid);
        }
        b->op_of_msgid[r.msgid] = SIZE_MAX;
        b->pending--;
        take_reply(s, &s->ops[opi], &r);
        harness_reply_free(&r);
    }
}

static bool user_idle(const crash_user *u)
{
    return u->chain_op == SIZE_MAX && u->charge_op == SIZE_MAX;
}

void crash_sale_run(crash_sale *s, harness_conn **conns, size_t nconns, const crash_run_plan *plan)
{
    conn_book *books = calloc(nconns, sizeof *books);
    struct pollfd *pfds = calloc(nconns, sizeof *pfds);
    if (!books || !pfds)
        fail_msg("out of memory");
    for (size_t i = 0; i < nconns; i++) {
        int fl = fcntl(conns[i]->fd, F_GETFL);
        fcntl(conns[i]->fd, F_SETFL, fl | O_NONBLOCK);
    }
    for (size_t ui = 0; ui < s->nusers; ui++) {   /* a new run: fresh chains */
        crash_user *u = &s->users[ui];
        u->conn = ui % nconns;
        u->step = 0;
        u->chain_op = u->charge_op = SIZE_MAX;
        u->chain_done = u->charges_done = 0;
        u->token[0] = '\0';
    }
    size_t registering = 0, first_op = s->nops;
    bool stopping = false;
    int64_t drain_until = 0;
    for (;;) {
        size_t alive = 0, pending = 0;
        for (size_t i = 0; i < nconns; i++) {
            alive += !books[i].dead;
            pending += books[i].pending;
        }
        if (!alive || (stopping && (!pending || harness_mono_ms() >= drain_until)))
            break;
        if (!stopping) {
            registering = 0;
            for (size_t i = first_op; i < s->nops; i++)
                registering += s->ops[i].kind == CRASH_OP_REGISTER && s->ops[i].outcome == CRASH_PENDING;
            for (size_t k = s->nusers + registering; k < plan->users_target; k++)
                send_register(s, conns, books, k % nconns);
            for (size_t ui = 0; ui < s->nusers; ui++) {
                crash_user *u = &s->users[ui];
                if (books[u->conn].dead)
                    continue;
                if (u->charge_op == SIZE_MAX && u->charges_done < plan->charges)
                    send_charge(s, conns, books, ui);
                if (u->chain_op == SIZE_MAX && u->chain_done < plan->chain_ops)
                    send_chain(s, conns, books, ui);
            }
            bool all_done = registering == 0;
            for (size_t ui = 0; ui < s->nusers && all_done; ui++) {
                const crash_user *u = &s->users[ui];
                all_done = user_idle(u) && (books[u->conn].dead ||
                           (u->charges_done >= plan->charges && u->chain_done >= plan->chain_ops));
            }
            if (all_done && s->nusers + registering >= plan->users_target)
                break;
            /* checked right after sending, so a stop (a kill) finds requests in flight */
            if (plan->stop && plan->stop(plan->stop_ctx)) {
                stopping = true;
                drain_until = harness_mono_ms() + plan->drain_ms;
            }
        }
        for (size_t i = 0; i < nconns; i++) {
            pfds[i].fd = books[i].dead ? -1 : conns[i]->fd;
            pfds[i].events = POLLIN;
            pfds[i].revents = 0;
        }
        poll(pfds, nconns, CRASH_POLL_MS);
        for (size_t i = 0; i < nconns; i++)
            if (!books[i].dead && (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                read_conn(s, conns[i], &books[i]);
    }
    for (size_t i = 0; i < nconns; i++) {
        if (books[i].pending)
            conn_lost(s, &books[i]);
        free(books[i].op_of_msgid);
    }
    free(books);
    free(pfds);
}

crash_sale_counts crash_sale_count(const crash_sale *s, size_t first_op)
{
    crash_sale_counts n = { 0 };
    for (size_t i = first_op; i < s->nops; i++) {
        const crash_op *op = &s->ops[i];
        if (op->outcome == CRASH_OK) {
            n.ok++;
            n.ok_by_kind[op->kind]++;
        } else if (op->outcome == CRASH_REFUSED) {
            n.refused++;
        } else {
            n.no_reply++;
        }
    }
    return n;
}
