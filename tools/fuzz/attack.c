/* The attack loop: one thread, plain non-blocking sockets and poll. Each of opts->connections slots runs
 * one attack at a time (connect, send its bytes, maybe drip them, end by close, half-close or reset,
 * draining whatever the server answers), then the next; every few seconds a flood opens opts->flood
 * more connections at once, holds them a moment, and drops them. Every choice comes from a seeded
 * generator per slot, seeded from the seed and the slot's number, so a seed repeats each slot's sequence
 * of attacks byte for byte (server-issued tokens aside) however the timing falls. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"

const char *const FUZZ_KIND_NAMES[FK_COUNT] = {
    [FK_MUTATED] = "mutated", [FK_GARBAGE] = "garbage", [FK_TRUNCATED] = "truncated",
    [FK_OVERSIZED] = "oversized", [FK_BOMB] = "bomb", [FK_SLOW_DRIP] = "slow-drip",
    [FK_HALF_CLOSE] = "half-close", [FK_RESET] = "reset", [FK_FLOOD] = "flood",
};

#define MAX_SLOTS 64
#define MAX_DRIPPING 4           /* slots that may drip, so the others keep attacking */
#define FLOOD_EVERY_MS 3000
#define FLOOD_HOLD_MS 300
#define LINGER_MAX_MS 400        /* after sending: how long to read what the server answers */

typedef enum slot_end { END_CLOSE, END_SHUT_WR, END_RESET } slot_end;

/* A slot's states: IDLE (no socket), CONNECTING (non-blocking connect under way), SENDING (bytes left,
 * all at once or one per drip), LINGERING (all sent; reading replies until EOF or the deadline). */
typedef enum slot_state { SLOT_IDLE, SLOT_CONNECTING, SLOT_SENDING, SLOT_LINGERING } slot_state;

typedef struct slot {
    slot_state state;
    int fd;
    fuzz_kind kind;
    slot_end end;
    msgpack_sbuffer out;
    size_t sent;
    int drip_ms;                 /* 0: send at once */
    int64_t next_drip_ms, deadline_ms;
    fuzz_rng rng;                /* this slot's own: its attacks do not depend on the others' timing */
} slot;

typedef struct attack_loop {
    const fuzz_attack_opts *opts;
    const fuzz_ctx *ctx;
    fuzz_attack_stats *st;
    fuzz_rng rng;                /* floods */
    struct sockaddr_in addr;
    slot slots[MAX_SLOTS];
    int *flood_fds;
    int flood_n;
    bool flood_pinged;           /* the current flood's pings are out */
    int64_t next_flood_ms, flood_release_ms;
} attack_loop;

/* A non-blocking socket with its connect started; -1 when the connect failed at once. */
static int open_socket(attack_loop *L)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&L->addr, sizeof L->addr) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static void reset_close(int fd)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static void slot_finish(slot *s)
{
    if (s->fd >= 0) {
        if (s->end == END_RESET)
            reset_close(s->fd);
        else
            close(s->fd);
    }
    s->fd = -1;
    s->state = SLOT_IDLE;
    msgpack_sbuffer_destroy(&s->out);
}

static fuzz_kind pick_kind(fuzz_rng *r, int slot_no)
{
    static const fuzz_kind WEIGHTED[] = { FK_MUTATED, FK_MUTATED, FK_MUTATED, FK_MUTATED, FK_MUTATED,
                                          FK_GARBAGE, FK_TRUNCATED, FK_OVERSIZED, FK_BOMB, FK_BOMB,
                                          FK_SLOW_DRIP, FK_HALF_CLOSE, FK_HALF_CLOSE, FK_RESET, FK_RESET };
    fuzz_kind k = WEIGHTED[fuzz_rng_below(r, sizeof WEIGHTED / sizeof WEIGHTED[0])];
    return k == FK_SLOW_DRIP && slot_no >= MAX_DRIPPING ? FK_MUTATED : k; /* only the first slots drip */
}

/* Fills the slot's bytes and ending for its kind. */
static void slot_build(attack_loop *L, slot *s)
{
    fuzz_rng *r = &s->rng;
    msgpack_sbuffer *sb = &s->out;
    s->end = END_CLOSE;
    s->drip_ms = 0;
    switch (s->kind) {
    case FK_MUTATED:
        for (size_t n = 1 + (size_t)fuzz_rng_below(r, 8); n > 0; n--, L->st->frames_sent++)
            fuzz_pack_mutated(sb, L->ctx, r);
        break;
    case FK_GARBAGE: fuzz_pack_garbage(sb, r); break;
    case FK_TRUNCATED: fuzz_pack_truncated(sb, L->ctx, r); break;
    case FK_OVERSIZED: fuzz_pack_oversized(sb, r); break;
    case FK_BOMB: fuzz_pack_bomb(sb, r); break;
    case FK_SLOW_DRIP:
        s->drip_ms = 100 + (int)fuzz_rng_below(r, 300);
        if (fuzz_rng_below(r, 2))
            fuzz_pack_valid(sb, L->ctx, (size_t)fuzz_rng_below(r, fuzz_method_count()), 9);
        else
            fuzz_pack_mutated(sb, L->ctx, r);
        break;
    case FK_HALF_CLOSE:
        s->end = END_SHUT_WR;
        for (size_t n = 1 + (size_t)fuzz_rng_below(r, 4); n > 0; n--)
            fuzz_pack_valid(sb, L->ctx, (size_t)fuzz_rng_below(r, fuzz_method_count()), (uint32_t)n);
        if (fuzz_rng_below(r, 3) == 0)
            fuzz_pack_truncated(sb, L->ctx, r);
        break;
    default: /* FK_RESET: requests (the last maybe cut short), then a reset without reading */
        s->end = END_RESET;
        for (size_t n = 1 + (size_t)fuzz_rng_below(r, 8); n > 0; n--)
            fuzz_pack_valid(sb, L->ctx, (size_t)fuzz_rng_below(r, fuzz_method_count()), (uint32_t)n);
        if (fuzz_rng_below(r, 2))
            fuzz_pack_truncated(sb, L->ctx, r);
        break;
    }
}

static void slot_start(attack_loop *L, slot *s, int64_t now)
{
    msgpack_sbuffer_init(&s->out);
    s->kind = pick_kind(&s->rng, (int)(s - L->slots));
    s->sent = 0;
    slot_build(L, s);
    L->st->attacks[s->kind]++;
    s->fd = open_socket(L);
    if (s->fd < 0) {
        L->st->connect_failures++;
        s->state = SLOT_IDLE;
        msgpack_sbuffer_destroy(&s->out);
        return;
    }
    s->state = SLOT_CONNECTING;
    s->next_drip_ms = now;
    s->deadline_ms = now + 5000; /* connect bound */
}

/* Everything sent: end the way the attack ends. */
static void slot_sent_all(slot *s, int64_t now)
{
    if (s->end == END_RESET) {
        slot_finish(s);
        return;
    }
    if (s->end == END_SHUT_WR)
        shutdown(s->fd, SHUT_WR);
    s->state = SLOT_LINGERING;
    s->deadline_ms = now + (s->end == END_SHUT_WR ? 1000 : 50 + (int64_t)fuzz_rng_below(&s->rng, LINGER_MAX_MS));
}

static void slot_send(attack_loop *L, slot *s, int64_t now)
{
    size_t left = s->out.size - s->sent;
    if (s->drip_ms) {
        if (now < s->next_drip_ms)
            return;
        left = left ? 1 : 0;
        s->next_drip_ms = now + s->drip_ms;
    }
    while (left > 0) {
        ssize_t w = send(s->fd, s->out.data + s->sent, left, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            L->st->server_closes++;
            slot_finish(s);
            return;
        }
        s->sent += (size_t)w;
        L->st->bytes_sent += (uint64_t)w;
        left -= (size_t)w;
        if (s->drip_ms)
            break;
    }
    if (s->sent == s->out.size)
        slot_sent_all(s, now);
}

/* Reads and drops what the server sent; true when it closed. */
static bool slot_drain(attack_loop *L, slot *s)
{
    char buf[16384];
    for (;;) {
        ssize_t n = recv(s->fd, buf, sizeof buf, 0);
        if (n > 0) {
            L->st->bytes_received += (uint64_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        return true; /* EOF or reset */
    }
}

static void slot_event(attack_loop *L, slot *s, short revents, int64_t now)
{
    if (s->state == SLOT_CONNECTING && (revents & (POLLOUT | POLLERR | POLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            L->st->connect_failures++;
            slot_finish(s);
            return;
        }
        s->state = SLOT_SENDING;
        s->deadline_ms = now + (s->drip_ms ? 4000 : 10000); /* a drip stops after 4 s */
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        if (s->state != SLOT_CONNECTING && slot_drain(L, s)) {
            L->st->server_closes++;
            slot_finish(s);
            return;
        }
    }
    if (s->state == SLOT_SENDING)
        slot_send(L, s, now);
}

static void flood_release(attack_loop *L)
{
    for (int i = 0; i < L->flood_n; i++) {
        if (i % 2)
            reset_close(L->flood_fds[i]);
        else
            close(L->flood_fds[i]);
    }
    L->flood_n = 0;
    L->flood_release_ms = 0;
}

/* Opens the flood's connections; half of them also get a ping once connected (sent blindly). */
static void flood_start(attack_loop *L, int64_t now)
{
    L->st->attacks[FK_FLOOD]++;
    for (int i = 0; i < L->opts->flood; i++) {
        int fd = open_socket(L);
        if (fd < 0) {
            L->st->connect_failures++;
            continue;
        }
        L->flood_fds[L->flood_n++] = fd;
        L->st->flood_conns++;
    }
    L->flood_release_ms = now + FLOOD_HOLD_MS;
    L->flood_pinged = false;
    L->next_flood_ms = now + FLOOD_EVERY_MS + (int64_t)fuzz_rng_below(&L->rng, 1000);
}

static void flood_ping(attack_loop *L)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    fuzz_pack_valid(&sb, L->ctx, 0, 1);
    for (int i = 0; i < L->flood_n; i += 2)
        (void)!send(L->flood_fds[i], sb.data, sb.size, MSG_NOSIGNAL);
    msgpack_sbuffer_destroy(&sb);
}

static int next_timeout(const attack_loop *L, int64_t now)
{
    int64_t soonest = now + 50;
    for (int i = 0; i < L->opts->connections; i++) {
        const slot *s = &L->slots[i];
        if (s->state == SLOT_SENDING && s->drip_ms && s->next_drip_ms < soonest)
            soonest = s->next_drip_ms;
        if (s->state != SLOT_IDLE && s->deadline_ms < soonest)
            soonest = s->deadline_ms;
    }
    return soonest > now ? (int)(soonest - now) : 0;
}

static void loop_turn(attack_loop *L)
{
    struct pollfd pfd[MAX_SLOTS];
    int idx[MAX_SLOTS], n = 0;
    int64_t now = fuzz_mono_ms();
    for (int i = 0; i < L->opts->connections; i++) {
        slot *s = &L->slots[i];
        if (s->state == SLOT_IDLE)
            slot_start(L, s, now);
        if (s->state == SLOT_IDLE)
            continue;
        short ev = POLLIN;
        if (s->state == SLOT_CONNECTING || (s->state == SLOT_SENDING && !s->drip_ms))
            ev |= POLLOUT;
        pfd[n] = (struct pollfd){ .fd = s->fd, .events = ev };
        idx[n++] = i;
    }
    if (poll(pfd, (nfds_t)n, next_timeout(L, now)) < 0 && errno != EINTR)
        return;
    now = fuzz_mono_ms();
    for (int k = 0; k < n; k++) {
        slot *s = &L->slots[idx[k]];
        slot_event(L, s, pfd[k].revents, now);
        if (s->state == SLOT_SENDING && s->drip_ms)
            slot_send(L, s, now);
        if (s->state != SLOT_IDLE && now >= s->deadline_ms)
            slot_finish(s);
    }
    if (L->opts->flood > 0) {
        if (L->flood_n > 0 && !L->flood_pinged && now >= L->flood_release_ms - FLOOD_HOLD_MS / 2) {
            flood_ping(L);
            L->flood_pinged = true;
        }
        if (L->flood_n > 0 && now >= L->flood_release_ms)
            flood_release(L);
        else if (L->flood_n == 0 && now >= L->next_flood_ms)
            flood_start(L, now);
    }
}

int fuzz_attack_run(const fuzz_attack_opts *opts, const fuzz_ctx *ctx, fuzz_attack_stats *st)
{
    attack_loop L = { .opts = opts, .ctx = ctx, .st = st };
    if (opts->connections < 1 || opts->connections > MAX_SLOTS)
        return -1;
    L.addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(opts->port) };
    if (inet_pton(AF_INET, opts->host, &L.addr.sin_addr) != 1)
        return -1;
    fuzz_rng_seed(&L.rng, opts->seed);
    L.flood_fds = calloc(opts->flood > 0 ? (size_t)opts->flood : 1, sizeof *L.flood_fds);
    if (!L.flood_fds)
        return -1;
    for (int i = 0; i < MAX_SLOTS; i++) {
        L.slots[i] = (slot){ .state = SLOT_IDLE, .fd = -1 };
        fuzz_rng_seed(&L.slots[i].rng, opts->seed * MAX_SLOTS + (uint64_t)i + 1);
    }
    L.next_flood_ms = fuzz_mono_ms() + 1000;
    while (fuzz_mono_ms() < opts->end_ms)
        loop_turn(&L);
    for (int i = 0; i < opts->connections; i++)
        if (L.slots[i].state != SLOT_IDLE)
            slot_finish(&L.slots[i]);
    flood_release(&L);
    free(L.flood_fds);
    return 0;
}
