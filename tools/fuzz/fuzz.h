/* usher-fuzz's modules: a seeded generator, a small blocking client (setup and the polite client), the
 * corpus of valid requests and its mutations, the attack loop and the polite client. One run owns one
 * fuzz_run; only the polite thread writes fuzz_polite, and the attack loop only reads its stop flag. */
#ifndef USHER_TOOLS_FUZZ_H
#define USHER_TOOLS_FUZZ_H

#include <msgpack.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define FUZZ_TOKEN_CAP 600

/* ---- seeded generator (xorshift64*): the only source of choices of the attack loop ---- */
typedef struct fuzz_rng { uint64_t state; } fuzz_rng;
void fuzz_rng_seed(fuzz_rng *r, uint64_t seed);
uint64_t fuzz_rng_next(fuzz_rng *r);
uint64_t fuzz_rng_below(fuzz_rng *r, uint64_t n); /* 0..n-1; 0 when n is 0 */

/* Monotonic milliseconds. */
int64_t fuzz_mono_ms(void);

/* ---- blocking client over protocol/ ---- */
typedef struct fuzz_reply {
    usher_err err;              /* OK, or the code the server sent */
    const msgpack_object *result; /* result map on success */
    msgpack_zone zone;
    uint8_t *body;
} fuzz_reply;

/* Connects to host:port with timeout_ms send/receive timeouts; -1 with errno set on failure. */
int fuzz_wire_connect(const char *host, uint16_t port, int timeout_ms);

/* Sends [0, msgid, method, params_json] and reads the reply to it. Returns 0 with *out filled (free it
 * with fuzz_reply_free), or -1 on a transport failure (timeout, closed, bad frame). */
int fuzz_wire_call(int fd, uint32_t msgid, const char *method, const char *params_json, fuzz_reply *out);
void fuzz_reply_free(fuzz_reply *r);

/* String or unsigned value of key in the result; false when absent or of another type. */
bool fuzz_reply_str(const fuzz_reply *r, const char *key, char *out, size_t cap);
bool fuzz_reply_u64(const fuzz_reply *r, const char *key, uint64_t *out);

/* ---- what the valid requests are made of ---- */
typedef struct fuzz_ctx {
    char admin[FUZZ_TOKEN_CAP];   /* "" without --admin */
    char session[FUZZ_TOKEN_CAP], user_id[64], secret[FUZZ_TOKEN_CAP];
    char token[FUZZ_TOKEN_CAP];   /* queue token ("" when none was got) */
    char bystander_id[64];        /* a second user, whom admin.session.revoke names: revoking
                                     the first would end the polite client's session */
    uint64_t concert_id, schedule_id, reservation_id;
} fuzz_ctx;

/* Registers a user (and a bystander) and, with an admin token, creates a concert and a performance, enters its queue and
 * holds a seat. Prints what failed to stderr; returns false only when the server cannot be used at all. */
bool fuzz_setup(int fd, fuzz_ctx *ctx);

/* ---- payloads: every builder appends whole bytes to sb ---- */
size_t fuzz_method_count(void);
const char *fuzz_method_name(size_t i);
/* One valid request frame of method i. */
void fuzz_pack_valid(msgpack_sbuffer *sb, const fuzz_ctx *ctx, size_t i, uint32_t msgid);
/* A request frame of a random method, mutated (bytes, types, lengths). */
void fuzz_pack_mutated(msgpack_sbuffer *sb, const fuzz_ctx *ctx, fuzz_rng *r);
void fuzz_pack_garbage(msgpack_sbuffer *sb, fuzz_rng *r);
/* A valid frame cut short. */
void fuzz_pack_truncated(msgpack_sbuffer *sb, const fuzz_ctx *ctx, fuzz_rng *r);
/* A header of 0 or above max_frame, with a few bytes after it. */
void fuzz_pack_oversized(msgpack_sbuffer *sb, fuzz_rng *r);
/* Deep nesting or huge declared counts, inside a correct frame header. */
void fuzz_pack_bomb(msgpack_sbuffer *sb, fuzz_rng *r);

/* ---- the attack loop ---- */
typedef enum fuzz_kind {
    FK_MUTATED, FK_GARBAGE, FK_TRUNCATED, FK_OVERSIZED, FK_BOMB, FK_SLOW_DRIP, FK_HALF_CLOSE, FK_RESET,
    FK_FLOOD, FK_COUNT
} fuzz_kind;
extern const char *const FUZZ_KIND_NAMES[FK_COUNT];

typedef struct fuzz_attack_opts {
    const char *host;
    uint16_t port;
    int connections;            /* concurrent attack connections */
    int flood;                  /* connections of one flood (0: no floods) */
    int64_t end_ms;             /* fuzz_mono_ms() deadline */
    uint64_t seed;
} fuzz_attack_opts;

typedef struct fuzz_attack_stats {
    uint64_t attacks[FK_COUNT];
    uint64_t frames_sent;       /* mutated frames */
    uint64_t flood_conns;       /* connections opened by floods */
    uint64_t connect_failures, server_closes;
    uint64_t bytes_sent, bytes_received;
} fuzz_attack_stats;

/* Runs attacks until opts->end_ms; 0, or -1 when it could not run. */
int fuzz_attack_run(const fuzz_attack_opts *opts, const fuzz_ctx *ctx, fuzz_attack_stats *st);

/* ---- the polite client (its own thread) ---- */
typedef struct fuzz_polite {
    const char *host;
    uint16_t port;
    const fuzz_ctx *ctx;
    bool writes;                /* wallet.charge too (needs --admin) */
    int interval_ms;
    atomic_bool stop;
    /* results, read after join */
    uint64_t pings_ok, charges_ok, failures, reconnects;
    int64_t max_latency_ms, max_gap_ms;
    char first_failure[160];
} fuzz_polite;

void *fuzz_polite_main(void *arg);

#endif
