/* Harness, histories: a Jepsen-style record of what the scenario clients
 * sent and saw, and a checker that judges the whole record against the
 * final state read back over the protocol.
 *
 * Rules:
 * - Recording is thread-safe (one mutex per history): scenario clients run
 *   one thread each and record every request they send. Nothing in this
 *   header fails the cmocka test except where it says so; the checker
 *   reports violations and returns their count, and the test asserts on the
 *   main thread (cmocka's asserts longjmp and are not thread-safe).
 * - A history owns copies of every params and result map it holds.
 * - Users are small indexes chosen by the scenario (0, 1, ...); an op names
 *   the user it acts for so the checker can sum money per wallet.
 * - The checker only reports what the [sent, replied] intervals prove; see
 *   docs/DESIGN.md "Checking histories". */
#ifndef USHER_TESTS_HARNESS_HISTORY_H
#define USHER_TESTS_HARNESS_HISTORY_H

#include "harness.h"

#define HARNESS_NO_USER UINT32_MAX
#define HARNESS_UNKNOWNS_MAX 20   /* most unknown-outcome money ops per wallet the checker sums */

/* How a request ended, as its client saw it. */
typedef enum harness_outcome {
    HARNESS_OP_OK = 0,          /* a success reply */
    HARNESS_OP_FAILED,          /* an error reply: nothing of it was done */
    HARNESS_OP_NO_REPLY         /* none came (closed, timed out, or the client left) */
} harness_outcome;

/* One recorded request. */
typedef struct harness_op {
    size_t index;               /* position in the history */
    uint32_t client;            /* the connection (thread) that sent it */
    uint32_t user;              /* the user it acts for, or HARNESS_NO_USER */
    char method[32];
    const msgpack_object *params;   /* map, owned by the history */
    int64_t sent_ms;            /* wall clock just before the send */
    int64_t replied_ms;         /* just after the reply was read (NO_REPLY: when the client gave up) */
    harness_outcome outcome;
    usher_err err;              /* OK, or the error's code */
    const msgpack_object *result;   /* OK: the result map; otherwise NULL */
} harness_op;

typedef struct harness_history harness_history;

/* A new empty history; NULL on OOM. */
harness_history *harness_history_new(void);

/* Frees h and everything it owns. NULL is a no-op. */
void harness_history_free(harness_history *h);

/* Records one op with its params and result given as JSON text (result_json
 * only for HARNESS_OP_OK; NULL means {}). Thread-safe. Returns the op's
 * index, or -1 on bad JSON or OOM. Synthetic histories are built with it. */
long harness_history_add(harness_history *h, uint32_t client, uint32_t user, const char *method,
                         const char *params_json, int64_t sent_ms, int64_t replied_ms,
                         harness_outcome outcome, usher_err err, const char *result_json);

/* harness_history_add with the result as a decoded map (NULL unless OK), as
 * the scenario clients record replies. Thread-safe. */
long harness_history_record(harness_history *h, uint32_t client, uint32_t user, const char *method,
                            const char *params_json, int64_t sent_ms, int64_t replied_ms,
                            harness_outcome outcome, usher_err err, const msgpack_object *result);

/* Number of ops recorded so far, and op i (valid until the history is freed;
 * do not hold it across harness_history_add from other threads). */
size_t harness_history_count(const harness_history *h);
const harness_op *harness_history_op(const harness_history *h, size_t i);

/* ------------------------------------------------- final state per user */

typedef struct harness_ledger_entry {
    uint64_t entry_id;
    bool charge;                /* CHARGE, else PAYMENT */
    int64_t amount, balance_after;
    uint64_t payment_id;        /* PAYMENT only */
} harness_ledger_entry;

typedef struct harness_reservation {
    uint64_t reservation_id, schedule_id;
    uint32_t seat_no;
    char status;                /* 'H'eld, 'C'onfirmed, 'E'xpired, 'X' cancelled */
    int64_t expires_at;
} harness_reservation;

#define HARNESS_PAY_IDS_MAX 16
typedef struct harness_payment {
    uint64_t payment_id;
    uint64_t reservation_ids[HARNESS_PAY_IDS_MAX];
    size_t nids;
    int64_t amount;
} harness_payment;

/* What the server holds for one user at the end. Arrays are owned by the
 * history. */
typedef struct harness_user_final {
    bool read;                  /* filled; users never read are not judged on money */
    int64_t balance;
    harness_ledger_entry *ledger;   /* any order */
    size_t nledger;
    harness_reservation *reservations;
    size_t nreservations;
    harness_payment *payments;
    size_t npayments;
} harness_user_final;

/* The final state slot of user (created empty on first use); NULL on OOM.
 * Not thread-safe against itself: fill final states on the main thread. */
harness_user_final *harness_history_final(harness_history *h, uint32_t user);

/* One past the highest user with a final slot. */
uint32_t harness_history_users(const harness_history *h);

/* The final state of user when it was filled, else NULL. */
const harness_user_final *harness_history_final_of(const harness_history *h, uint32_t user);

/* Appends one item to a final state (synthetic histories); false on OOM. */
bool harness_final_add_entry(harness_user_final *f, harness_ledger_entry e);
bool harness_final_add_reservation(harness_user_final *f, harness_reservation r);
bool harness_final_add_payment(harness_user_final *f, harness_payment p);

struct harness_huser;

/* Reads the final state of users[0..n) (their index and session) over the
 * protocol: wallet.balance, every page of wallet.history, reservation.list
 * and payment.list, again until the balance before and after agrees with
 * the ledger; on up to 16 threads with a connection each to
 * 127.0.0.1:port. Main thread only: fails the test unless every user was
 * read. */
void harness_history_read_finals(harness_history *h, uint16_t port, const struct harness_huser *users,
                                 size_t n);

/* ------------------------------------------------------------- checking */

/* Violations found, by rule. */
typedef struct harness_check_counts {
    size_t holds;               /* overlapping holds, sold twice, holds the final state contradicts */
    size_t money;               /* lost or phantom charges and payments, unexplained balances */
    size_t queue;               /* admissions out of sequence order */
    size_t retries;             /* a request_id retry that returned another result */
} harness_check_counts;

/* Judges the whole history against the final states: seat holds that
 * provably overlap, acknowledged charges and payments missing from the
 * ledger or balances no subset of the unknown outcomes explains, queue
 * admissions out of sequence order, and request_id retries that returned
 * another result. Prints each violation (with the ops involved) and one
 * summary line to stderr, prefixed by label; fills *counts when not NULL;
 * returns the number of violations. */
size_t harness_history_check(const harness_history *h, const char *label, harness_check_counts *counts);

/* The queue entry a queue token names (concert_id and sequence number) read
 * from its claims without verifying it (layout of server/token.c); false
 * when s is not a queue token. */
bool harness_queue_token_entry(const char *s, size_t len, uint64_t *concert_id, uint64_t *seq);

/* A queue-token-shaped string naming (concert_id, seq) with a zero
 * signature, for synthetic histories; out needs HARNESS_TOKEN_CAP bytes. */
void harness_fake_queue_token(uint64_t concert_id, uint64_t seq, char *out);

/* ---------------------------------------------------- thread-safe client
 * One per thread. Every call is recorded in the history; nothing fails the
 * test. */

typedef struct harness_hclient {
    harness_conn *conn;         /* NULL when not connected */
    harness_history *h;
    uint32_t id;
} harness_hclient;

/* Connects client `id` to 127.0.0.1:port; 0 or an errno. */
int harness_hclient_open(harness_hclient *c, harness_history *h, uint32_t id, uint16_t port);

/* Closes the connection. Safe to call twice. */
void harness_hclient_close(harness_hclient *c);

/* harness_hclient_open to server hs (its address and port). */
int harness_hclient_open_on(harness_hclient *c, harness_history *h, uint32_t id,
                            const struct harness_server *hs);

/* One recorded round trip for user: params printf-style JSON. Returns the
 * outcome; *out (may be NULL) gets the reply unless NO_REPLY (free it with
 * harness_reply_free). A broken connection gives NO_REPLY and is closed;
 * calls on a closed client give NO_REPLY and are not recorded (never sent). */
harness_outcome harness_hclient_call(harness_hclient *c, uint32_t user, harness_reply *out,
                                     const char *method, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Sends one recorded request and closes the connection without reading:
 * the op's outcome is NO_REPLY, whatever the server did. Reconnects to the
 * same port for the next call; 0 or an errno. */
int harness_hclient_send_and_vanish(harness_hclient *c, uint32_t user, const char *method,
                                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ------------------------------------------- reading maps without failing */

bool harness_find_i64(const msgpack_object *map, const char *key, int64_t *out);
bool harness_find_u64(const msgpack_object *map, const char *key, uint64_t *out);
/* The string value of key (not NUL-terminated) and its length. */
bool harness_find_str(const msgpack_object *map, const char *key, const char **s, size_t *len);
/* Copies the string value of key into out[cap], NUL-terminated. */
bool harness_find_strcpy(const msgpack_object *map, const char *key, char *out, size_t cap);

/* ------------------------------------------------------------ scenarios */

/* Runs fn(arg, i) for i in 0..n-1, one thread each, released together by a
 * barrier so their first requests race; joins them all. Fails the test
 * (main thread) when threads cannot be made. */
void harness_run_threads(size_t n, void (*fn)(void *arg, size_t i), void *arg);

/* Where a scenario runs. */
typedef struct harness_topology {
    const char *name;
    const char *args;           /* usherd arguments of every process */
    bool two_processes;         /* a second usherd on the same data dir */
    unsigned hosts;             /* 0, or usherd on 127.0.0.1, .2, ... this many, on one store */
} harness_topology;

#define HARNESS_TOPOLOGIES_MAX 4
/* One process; one usherd with --workers 2; two usherds on one data dir;
 * and, on a PostgreSQL run only (USHER_TEST_STORE), three hosts: usherd on
 * 127.0.0.1, 127.0.0.2 and 127.0.0.3 sharing one database, clients spread
 * over them. */
extern const harness_topology harness_topologies[HARNESS_TOPOLOGIES_MAX];
/* How many of harness_topologies this run covers (3, or 4 on PostgreSQL). */
size_t harness_topology_count(void);
#define HARNESS_TOPOLOGIES harness_topology_count()

/* A running topology: its servers (owned by the fixture), a setup
 * connection and the admin token. */
typedef struct harness_stage {
    const harness_topology *topology;
    harness_server *servers[3];
    size_t nservers;
    harness_conn *setup;        /* to servers[0], owned by the fixture */
    const char *admin;
    char args[512];             /* the usherd arguments used */
} harness_stage;

/* Starts t with its own args plus extra_args (may be NULL) through fx. */
void harness_stage_open(harness_fixture *fx, const harness_topology *t, const char *extra_args,
                        harness_stage *st);

/* The server client i connects to, and its port: clients are spread
 * round-robin over the stage's processes. */
const harness_server *harness_stage_server(const harness_stage *st, size_t client);
uint16_t harness_stage_port(const harness_stage *st, size_t client);

/* A scenario user, made on a client thread. */
typedef struct harness_huser {
    uint32_t index;             /* the history's user index */
    char user_id[40];
    char session[HARNESS_TOKEN_CAP];
    char token[HARNESS_TOKEN_CAP];  /* the last queue token admitted (ACTIVE) */
} harness_huser;

/* user.register into *u (index set by the caller); 0 or the error (OK is
 * never returned on failure; a missing reply is USHER_ERR_INTERNAL). */
usher_err harness_hclient_register(harness_hclient *c, harness_huser *u);

/* wallet.charge of amount without request_id; 0 or the error. */
usher_err harness_hclient_charge(harness_hclient *c, const harness_huser *u, int64_t amount);

/* queue.enter for concert_id, then queue.status every poll_ms until ACTIVE
 * (at most timeout_ms); u->token gets the token. 0, the error,
 * USHER_ERR_TOKEN_EXPIRED when the entry was admitted and its ACTIVE time
 * ran out between two polls, USHER_ERR_QUEUE_WAITING when the deadline
 * passed, USHER_ERR_TOKEN_INVALID when it reads EXPIRED without ever having
 * been admitted. */
usher_err harness_hclient_enter(harness_hclient *c, harness_huser *u, uint64_t concert_id, int64_t poll_ms,
                                int64_t timeout_ms);

/* register, charge balance (none when 0), enter concert_id until ACTIVE
 * within 10 s: a shopper made on a client thread. 0 or the error. */
usher_err harness_hclient_shopper(harness_hclient *c, harness_huser *u, uint64_t concert_id, int64_t balance);

/* The end of every scenario (main thread): reads the final state of users
 * [0, n) over st's first server, runs usher-check with check_args on the
 * data dir, runs the history checker, prints one line of figures (label,
 * clients, ops, ms since started_ms) and fails the test on any violation. */
void harness_scenario_finish(harness_history *h, const harness_stage *st, const harness_huser *users, size_t n,
                             const char *check_args, const char *label, size_t clients, int64_t started_ms);

/* A crowd: a stage, one concert with one performance, users with their
 * clients (per_user each; client j acts for user j / per_user and talks to
 * harness_stage_port(st, j)), and the history they all record into. */
typedef struct harness_crowd {
    harness_history *h;
    harness_stage st;
    uint64_t concert_id, schedule_id;
    size_t nusers, per_user, nclients;
    harness_huser *users;
    harness_hclient *clients;
    int64_t started_ms;
} harness_crowd;

/* What a crowd is made of. */
typedef struct harness_crowd_spec {
    const char *args;           /* usherd arguments beside the topology's */
    uint32_t seats;             /* of the one performance */
    int64_t price;              /* of every seat */
    size_t users, per_user;     /* per_user connections each (0 means 1) */
    int64_t balance;            /* charged to each user (none when 0) */
    bool outside_queue;         /* leave the users outside the concert's queue */
} harness_crowd_spec;

/* Opens topology t, a concert as spec says, and its users (registered,
 * charged, and unless outside_queue ACTIVE in the concert's queue) made in
 * parallel threads; fails the test unless every one is ready. */
void harness_crowd_open(harness_fixture *fx, const harness_topology *t, const harness_crowd_spec *spec,
                        harness_crowd *cw);

/* harness_scenario_finish over the crowd's users, then frees the crowd. */
void harness_crowd_finish(harness_crowd *cw, const char *check_args, const char *label);

/* True when USHER_STRESS=1: scenarios run bigger. */
bool harness_stress(void);

#endif
