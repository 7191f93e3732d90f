/* Crash tests, the flash sale: users registering, charging their wallets,
 * entering the queue, holding seats and paying, pipelined over many
 * connections to one usherd, with every operation recorded as the client saw
 * it (sent at, acknowledged at, the reply or "no reply"). A connection the
 * server drops (kill -9) is an expected outcome: its requests in flight
 * become CRASH_NO_REPLY and the sale goes on with the others.
 *
 * Rules:
 * - Every charge has a request_id and an amount no other charge of the sale
 *   has, and every hold a seat no other hold of the sale asks for, so the
 *   stored state can be matched to the operations that made it.
 * - Times are CLOCK_REALTIME nanoseconds, the clock of the power-cut journal.
 * - The sale owns its users and operations; the caller owns the connections
 *   (fixture-owned, so a failed test still closes them). */
#ifndef USHER_TESTS_CRASH_SALE_H
#define USHER_TESTS_CRASH_SALE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../integration/harness.h"
#include "../../server/store.h"

#define CRASH_SCHEDULES_MAX 8

typedef enum crash_op_kind {
    CRASH_OP_REGISTER, CRASH_OP_CHARGE, CRASH_OP_ENTER, CRASH_OP_HOLD, CRASH_OP_PAY
} crash_op_kind;

typedef enum crash_outcome {
    CRASH_PENDING,      /* sent, no reply yet */
    CRASH_OK,           /* acknowledged: success */
    CRASH_REFUSED,      /* acknowledged: an error reply (a failed write changes nothing) */
    CRASH_NO_REPLY      /* the connection ended first, or the send failed */
} crash_outcome;

typedef struct crash_op {
    crash_op_kind kind;
    crash_outcome outcome;
    usher_err err;              /* CRASH_REFUSED: the code */
    size_t user;                /* the user's index (REGISTER: set on success) */
    size_t conn;
    uint32_t msgid;
    int64_t sent_ns, acked_ns;  /* acked_ns: when the reply was read (0 without one) */
    int64_t amount_krw;         /* CHARGE: the unique amount; PAY: the result's amount */
    int64_t balance_krw;        /* CHARGE, PAY: the result's balance */
    char request_id[24];        /* CHARGE, PAY */
    uint64_t schedule_id;       /* HOLD */
    uint32_t seat_no;           /* HOLD */
    uint64_t reservation_id;    /* HOLD: the result's; PAY: the one paid */
    int64_t price_krw;          /* HOLD: the result's */
    uint64_t payment_id;        /* PAY: the result's */
    char *token;                /* ENTER: the result's queue token (owned), else NULL */
} crash_op;

typedef struct crash_user {
    char user_id[40];
    user_id id;
    char secret[HARNESS_TOKEN_CAP];
    char session[HARNESS_TOKEN_CAP];
    char token[HARNESS_TOKEN_CAP]; /* ACTIVE queue token, "" when none */
    int step;                   /* next in its chain: 0 enter, 1 hold, 2 pay */
    uint64_t hold_rid;          /* step 2: the hold to pay */
    size_t chain_op, charge_op; /* outstanding op index, or SIZE_MAX */
    size_t conn;                /* the connection carrying this user */
    unsigned chain_done, charges_done;
} crash_user;

typedef struct crash_sale {
    uint64_t concert_id;
    uint64_t schedule_ids[CRASH_SCHEDULES_MAX];
    size_t nschedules;
    uint32_t seats;             /* seats per performance */
    uint32_t next_seat[CRASH_SCHEDULES_MAX];
    crash_user *users;
    size_t nusers, users_cap;
    crash_op *ops;
    size_t nops, ops_cap;
    uint64_t rng;
    int64_t next_amount_krw;
    unsigned next_request;
} crash_sale;

/* How much one crash_sale_run does: it ends when every user reached both
 * budgets with nothing outstanding, when every connection is gone, or when
 * stop() returns true (then it drains: it waits for the replies in flight
 * until every connection is gone or drain_ms passed, and marks the rest
 * CRASH_NO_REPLY). */
typedef struct crash_run_plan {
    size_t users_target;        /* register new users until the sale has this many */
    unsigned chain_ops;         /* per user: enter/hold/pay requests this run */
    unsigned charges;           /* per user: charges this run */
    bool (*stop)(void *ctx);    /* may be NULL; checked every loop turn */
    void *stop_ctx;
    int drain_ms;
} crash_run_plan;

/* A sale of the concert and performances the caller made (seats each). */
void crash_sale_init(crash_sale *s, uint64_t concert_id, const uint64_t *schedule_ids,
                     size_t nschedules, uint32_t seats, uint64_t seed);

void crash_sale_free(crash_sale *s);

/* Runs the plan over conns (all to one usherd; made non-blocking here).
 * Users are spread over the connections; a user whose connection died
 * waits for the next run. Fails the test only on a malformed reply. */
void crash_sale_run(crash_sale *s, harness_conn **conns, size_t nconns, const crash_run_plan *plan);

/* Counts of the operations: by outcome, and acknowledged successes by kind. */
typedef struct crash_sale_counts {
    size_t ok, refused, no_reply;
    size_t ok_by_kind[5];
} crash_sale_counts;

crash_sale_counts crash_sale_count(const crash_sale *s, size_t first_op);

/* The realtime clock in ns: the shim's journal times use the same clock
 * (deadlines use harness_mono_ms). */
int64_t crash_realtime_ns(void);

/* The next pseudo-random number of a xorshift64* stream (seed != 0). */
uint64_t crash_rand(uint64_t *state);

/* The seed for a test: $USHER_CRASH_SEED when set, else from the clock; printed. */
uint64_t crash_seed(const char *test_name);

/* True under USHER_STRESS=1. */
bool crash_stress(void);

#endif
