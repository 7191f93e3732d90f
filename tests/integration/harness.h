/* End-to-end test harness: starts real usherd processes on temp data dirs and
 * free 127.0.0.1 ports, and talks to them over TCP with a tiny blocking
 * client built on protocol/ only (never libusher: the server's tests must not
 * depend on the client SDK).
 *
 * Rules:
 * - Functions that cannot go on (a server that does not start, a dead
 *   connection inside harness_call, a missing field) fail the running cmocka
 *   test with a clear message; include <cmocka.h> first (after stdarg, stddef,
 *   setjmp) in every file that includes this header.
 * - A failed test must not leave processes or temp dirs behind: use the
 *   fixture (harness_fixture_setup/teardown as cmocka setup/teardown and the
 *   harness_fx_* functions), which owns every server and connection it made.
 *   Started servers also die with the test process (PR_SET_PDEATHSIG) and run
 *   in their own process group, so --workers children are killed too.
 * - Paths: usherd is $USHERD_BIN, else $USHER_BUILD/usherd, else usherd in the
 *   build folder of the running test binary (BUILD/tests/x -> BUILD), else build/usherd;
 *   usher-admin likewise ($USHER_ADMIN_BIN first). build/ is relative to the
 *   repo root, where tests/run.sh runs.
 * - Layout of a temp dir: ROOT=/tmp/usher-it-XXXXXX, --data ROOT/data, and one
 *   log per port ROOT/usherd-PORT.log (stdout and stderr, appended).
 * - Concurrent scenarios (client threads, recorded histories, the history
 *   checker, topologies) are in harness_history.h; only harness_conn_open,
 *   harness_conn_request and harness_read_reply of this header may be used
 *   off the main thread. */
#ifndef USHER_TESTS_HARNESS_H
#define USHER_TESTS_HARNESS_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "frame.h"
#include "msg.h"
#include "errors.h"

#define HARNESS_TOKEN_CAP 600       /* tokens and secrets are <= 512 bytes */
#define HARNESS_IO_TIMEOUT_MS 5000  /* SO_RCVTIMEO / SO_SNDTIMEO and start-up wait */

/* ---------------------------------------------------------------- servers */

typedef struct harness_server {
    pid_t pid;                  /* running usherd (group leader), or 0 */
    uint16_t port;              /* 127.0.0.1:port */
    char root[256];             /* temp root (owned when owns_root) */
    char data_dir[300];         /* ROOT/data, passed as --data; PostgreSQL runs: a database URL, --store */
    char log_path[320];         /* ROOT/usherd-PORT.log */
    char extra_args[512];       /* extra command-line words, space-separated */
    bool owns_root;             /* harness_stop removes root */
    char host[16];              /* the loopback address it listens on; "" = 127.0.0.1 */
    char admin_token[HARNESS_TOKEN_CAP]; /* cached by harness_admin_token */
} harness_server;

/* Starts usherd on a new temp data dir and a free port with extra_args
 * (space-separated, may be NULL), waits until the port accepts (5 s);
 * fails the test (log tail printed) when it does not come up. */
harness_server *harness_start(const char *extra_args);

/* Starts a second usherd on the SAME data dir as `first`, on another free
 * port, with its own extra_args. It does not own the dir: stop it first. */
harness_server *harness_start_shared(const harness_server *first, const char *extra_args);

/* harness_start_shared listening on another loopback address (127.0.0.2,
 * 127.0.0.3 ...: a separate "host" of one deployment). */
harness_server *harness_start_shared_on(const harness_server *first, const char *host,
                                        const char *extra_args);

/* Sends sig to usherd (SIGKILL goes to its whole process group) and waits up
 * to timeout_ms for it to exit; returns the waitpid status, or -1 when it did
 * not exit in time (it is then SIGKILLed). The struct stays usable for
 * harness_restart. */
int harness_signal_wait(harness_server *hs, int sig, int timeout_ms);

/* harness_signal_wait(hs, sig, 5000): for crash tests (SIGKILL) and SIGTERM. */
int harness_kill(harness_server *hs, int sig);

/* Starts usherd again with the same data dir, port and arguments (after a
 * stop or kill); fails the test when it does not come up. */
void harness_restart(harness_server *hs);

/* True while the usherd process has not exited (reaps it when it has). */
bool harness_alive(harness_server *hs);

/* SIGTERM, up to 5 s, then SIGKILL; removes the temp root when owned; frees.
 * NULL is a no-op. */
void harness_stop(harness_server *hs);

/* Prints the last `lines` lines of the server's log to stderr. */
void harness_print_log_tail(const harness_server *hs, int lines);

/* Admin token from `usher-admin --data DIR token` (stdout, trimmed), cached
 * in hs; fails the test when usher-admin is missing or fails. */
const char *harness_admin_token(harness_server *hs);

/* Runs `usher-check --data data_dir` plus extra_args (space-separated, may
 * be NULL; e.g. "--max-holds 2") and fails the test, printing its output,
 * unless it exits 0 (every invariant holds). Safe while servers run on the
 * dir. usher-check is $USHER_CHECK_BIN, else found like usherd. */
void harness_usher_check(const char *data_dir, const char *extra_args);

/* PostgreSQL runs (USHER_TEST_STORE=postgres://usher@127.0.0.1:PORT/usher,
 * a base URL): harness_start makes every server a fresh database (CREATE
 * DATABASE through libpq on the base URL, a unique name; dropped by
 * harness_stop) and its data_dir holds that database's URL, given to
 * usherd, usher-admin and usher-check as --store. Servers of
 * harness_start_shared share the database. */
bool harness_store_is_url(const char *spec);

/* A fresh database on $USHER_TEST_STORE: its URL into out; false with why
 * filled (not set, or the CREATE failed). */
bool harness_pg_fresh_database(char *out, size_t cap, char *why, size_t why_cap);

/* A free TCP port on 127.0.0.1 (bind port 0, read it, close). */
uint16_t harness_free_port(void);

/* Path of one of the build's programs: $env_name, else $USHER_BUILD/name,
 * else name beside the build folder holding this test binary, else build/name. */
void harness_program_path(const char *env_name, const char *name, char *out, size_t cap);

/* Path of an LD_PRELOAD test shim, NAME.so in the shims/ folder beside the
 * running test binary (tests/integration/shims/NAME.c, built by make);
 * fails the test when it is missing. */
void harness_shim_path(const char *name, char *out, size_t cap);

/* Runs a shell command line (printf format) and captures its stdout into
 * out[cap] (add 2>&1 or </dev/null in the line as needed). Returns the exit
 * status, or -1 when the command was killed by a signal. */
int harness_shell(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* `make install` of this build (USHER_BUILD, else build) into a new temp
 * PREFIX, written to prefix[cap]; fails the test when it fails. Skips the
 * test under a sanitizer build (USHER_SANITIZED): installing would relink
 * its programs with the plain compiler, and an installed program would need
 * the sanitizer runtime. */
void harness_install_into_temp(char *prefix, size_t cap);

/* rm -rf of a temp tree a test made. */
void harness_remove_tree(const char *path);

/* Wall-clock milliseconds since the Unix epoch (the server's clock too). */
int64_t harness_now_ms(void);

/* Monotonic milliseconds, for deadlines. */
int64_t harness_mono_ms(void);

/* Sleeps ms milliseconds. */
void harness_sleep_ms(int64_t ms);

/* ------------------------------------------------------------ connections */

typedef struct harness_conn {
    int fd;                     /* -1 after harness_conn_disconnect */
    uint16_t port;
    uint32_t next_msgid;        /* msgids handed out by harness_send, from 1 */
    frame_reader reader;        /* accepts frames up to FRAME_MAX_LIMIT */
} harness_conn;

/* How a read ended. */
typedef enum harness_io {
    HARNESS_IO_OK = 0,
    HARNESS_IO_CLOSED,          /* the server closed the connection (EOF or reset) */
    HARNESS_IO_TIMEOUT,         /* nothing within the timeout */
    HARNESS_IO_ERROR            /* a bad frame or envelope from the server */
} harness_io;

/* One decoded response. Owns its bytes; free with harness_reply_free. */
typedef struct harness_reply {
    uint32_t msgid;
    usher_err err;              /* OK, or the catalogue code (INTERNAL if unknown) */
    char code[32];              /* wire name of the error, "" on success */
    char *message;              /* error message (NUL-terminated), NULL on success */
    const msgpack_object *result; /* the result map on success, else NULL */
    msgpack_zone *zone;         /* owns result objects and harness_get_str copies */
    uint8_t *body;              /* owned copy of the frame body */
    size_t body_len;
} harness_reply;

/* Connects to 127.0.0.1:port with 5 s send/receive timeouts; fails the test
 * when it cannot. */
harness_conn *harness_connect(uint16_t port);

/* harness_conn_open to host (a loopback address; NULL: 127.0.0.1). */
harness_conn *harness_conn_open_host(const char *host, uint16_t port, int *err);

/* harness_connect to host:port (a loopback address, e.g. hs->host). */
harness_conn *harness_connect_host(const char *host, uint16_t port);

/* harness_connect that never fails the test: NULL with *err an errno when
 * it cannot connect. Safe on any thread (the scenario clients use it). */
harness_conn *harness_conn_open(uint16_t port, int *err);

/* Closes the socket but keeps the struct (fd = -1); safe to call twice. */
void harness_conn_disconnect(harness_conn *c);

/* Closes and frees. NULL is a no-op. */
void harness_conn_free(harness_conn *c);

/* Sends a request frame with params given as JSON text (NULL or "" means {}).
 * Returns the msgid used (c->next_msgid++). Fails the test on send errors or
 * bad JSON. */
uint32_t harness_send(harness_conn *c, const char *method, const char *params_json);

/* harness_send that never fails the test: returns 0, EINVAL for bad JSON, or
 * the errno of the send; *msgid gets the msgid used. Safe on any thread;
 * harness_read_reply is too (it reports, never fails). */
int harness_conn_request(harness_conn *c, const char *method, const char *params_json,
                         uint32_t *msgid);

/* harness_send with params formatted printf-style. */
uint32_t harness_sendf(harness_conn *c, const char *method, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sends n bytes as they are (no header added). Fails the test on errors,
 * except a reset or broken pipe (the server may already have hung up). */
void harness_send_raw(harness_conn *c, const void *bytes, size_t n);

/* Sends one frame: the 4-byte length of n, then the n bytes of body. */
void harness_send_frame(harness_conn *c, const void *body, size_t n);

/* Reads the next response (notifications are skipped) within the socket
 * timeout; fills *out only on HARNESS_IO_OK. */
harness_io harness_read_reply(harness_conn *c, harness_reply *out);

/* Reads the next response and fails the test unless it arrives and carries
 * msgid. Fills *out and returns out->err. */
usher_err harness_recv(harness_conn *c, uint32_t msgid, harness_reply *out);

/* One round trip: harness_send then harness_recv. Returns out->err. */
usher_err harness_call(harness_conn *c, const char *method, const char *params_json,
                       harness_reply *out);

/* harness_call with params formatted printf-style. */
usher_err harness_callf(harness_conn *c, harness_reply *out, const char *method,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* True when the server closes the connection within timeout_ms (EOF or
 * reset); bytes that arrive before that are discarded. */
bool harness_conn_closed(harness_conn *c, int timeout_ms);

/* Releases a reply's memory; the struct may be reused. */
void harness_reply_free(harness_reply *r);

/* ------------------------------------------------------- reading results
 * The harness_get_* functions read a key of the result map and fail the test
 * (naming the key) when the reply is an error, the key is absent, or the
 * value has another type. The harness_obj_* ones do the same on any map. */

/* True when the result map has key. */
bool harness_has(const harness_reply *r, const char *key);

/* Unsigned integer value of key (a negative value fails). */
uint64_t harness_get_u64(const harness_reply *r, const char *key);

/* Signed integer value of key (a value above INT64_MAX fails). */
int64_t harness_get_i64(const harness_reply *r, const char *key);

/* String value of key, NUL-terminated, owned by r. */
const char *harness_get_str(harness_reply *r, const char *key);

/* Raw value of key (any type), owned by r. */
const msgpack_object *harness_get_obj(const harness_reply *r, const char *key);

/* Array value of key; *n gets its length; returns its first element. */
const msgpack_object *harness_get_array(const harness_reply *r, const char *key, size_t *n);

/* Unsigned integer value of key in map o. */
uint64_t harness_obj_u64(const msgpack_object *o, const char *key);

/* Signed integer value of key in map o. */
int64_t harness_obj_i64(const msgpack_object *o, const char *key);

/* True when key of map o is a string equal to s (fails when absent). */
bool harness_obj_str_is(const msgpack_object *o, const char *key, const char *s);

/* Array value of key in map o; *n gets its length; returns its first element. */
const msgpack_object *harness_obj_array(const msgpack_object *o, const char *key, size_t *n);

/* Fails the test (at the caller's file and line) unless r->err == want; the
 * message shows both names and the server's message. Use harness_expect(). */
void harness_expect_at(const harness_reply *r, usher_err want, const char *file, int line);
#define harness_expect(r, CODE) harness_expect_at((r), USHER_ERR_##CODE, __FILE__, __LINE__)

/* Fails the test unless r is an error whose message contains text (used for
 * INVALID_ARGUMENT naming the parameter). Use harness_expect_message(). */
void harness_expect_message_at(const harness_reply *r, const char *text, const char *file, int line);
#define harness_expect_message(r, text) harness_expect_message_at((r), (text), __FILE__, __LINE__)

/* One call that must end with CODE; the reply is freed. */
#define harness_callf_expect(c, CODE, method, ...) do { \
        harness_reply hx_r_; \
        harness_callf((c), &hx_r_, (method), __VA_ARGS__); \
        harness_expect(&hx_r_, CODE); \
        harness_reply_free(&hx_r_); \
    } while (0)

/* ------------------------------------------------------- convenience flows
 * Each fails the test when a step does not succeed. */

typedef struct harness_user {
    char user_id[40];
    char secret[HARNESS_TOKEN_CAP];
    char session[HARNESS_TOKEN_CAP];
} harness_user;

/* user.register; fills *u. */
void harness_register(harness_conn *c, harness_user *u);

/* wallet.charge of amount (no request_id); returns the new balance. */
int64_t harness_charge(harness_conn *c, const char *session, int64_t amount);

/* wallet.balance; returns the balance. */
int64_t harness_balance(harness_conn *c, const char *session);

/* queue.enter, then queue.status every 50 ms until ACTIVE (fails after
 * timeout_ms); copies the queue token into token[HARNESS_TOKEN_CAP]. */
void harness_enter_until_active(harness_conn *c, const char *session, uint64_t concert_id,
                                char *token, int64_t timeout_ms);

/* queue.status of token; returns 'W', 'A', 'E' or 'X' (ABANDONED) and the position. */
char harness_queue_state(harness_conn *c, const char *token, uint64_t *position);

/* admin.concert.create then admin.schedule.create with `seats` seats at
 * `price` starting at starts_at_ms; sets *concert_id and *schedule_id. */
void harness_make_concert(harness_conn *c, const char *admin, uint32_t seats, int64_t price,
                          int64_t starts_at_ms, uint64_t *concert_id, uint64_t *schedule_id);

/* admin.schedule.create for an existing concert; returns the schedule_id. */
uint64_t harness_make_schedule(harness_conn *c, const char *admin, uint64_t concert_id,
                               uint32_t seats, int64_t price, int64_t starts_at_ms);

/* A user ready to shop: registered, charged `balance` (none when 0) and
 * admitted (ACTIVE) to concert_id within 5 s. */
typedef struct harness_shopper {
    harness_user user;
    char token[HARNESS_TOKEN_CAP];  /* ACTIVE queue token for the concert */
} harness_shopper;

/* Fills *out as above. */
void harness_shopper_new(harness_conn *c, uint64_t concert_id, int64_t balance,
                         harness_shopper *out);

/* Changes one character in the middle of token s to another base64url
 * character, so a signed token no longer verifies. */
void harness_tamper(char *s);

/* seat.reserve that must succeed; returns the reservation_id (and
 * *expires_at when not NULL). */
uint64_t harness_reserve(harness_conn *c, const char *token, uint64_t schedule_id,
                         uint32_t seat_no, int64_t *expires_at);

/* ------------------------------------------------------------------ venue */

typedef struct harness_fixture harness_fixture;

/* A running usherd with one concert of one performance, and a connection. */
typedef struct harness_venue {
    harness_server *hs;         /* owned by the fixture */
    harness_conn *c;            /* owned by the fixture */
    const char *admin;          /* admin token (cached in hs) */
    uint64_t concert_id, schedule_id;
} harness_venue;

/* Starts usherd with extra_args through the fixture, connects, and creates a
 * concert with one performance of `seats` seats at `price`, a day from now. */
void harness_venue_open(harness_fixture *fx, const char *extra_args, uint32_t seats, int64_t price,
                        harness_venue *v);

/* ---------------------------------------------------------------- fixture
 * Use as cmocka setup/teardown: the fixture owns every server and
 * connection made through it and releases them even when the test failed
 * (servers started last are stopped first). */

struct harness_fixture {
    harness_server *servers[16];
    size_t nservers;
    harness_conn **conns;       /* grows as needed */
    size_t nconns, conns_cap;
};

/* A cmocka test entry that runs with a fresh fixture. */
#define HARNESS_TEST(fn) cmocka_unit_test_setup_teardown(fn, harness_fixture_setup, harness_fixture_teardown)

/* cmocka setup: *state = a new empty fixture. */
int harness_fixture_setup(void **state);

/* cmocka teardown: closes every connection, stops every server, frees. */
int harness_fixture_teardown(void **state);

/* harness_start owned by the fixture. */
harness_server *harness_fx_start(harness_fixture *fx, const char *extra_args);

/* harness_start_shared owned by the fixture. */
harness_server *harness_fx_start_shared(harness_fixture *fx, const harness_server *first,
                                        const char *extra_args);

/* harness_start_shared_on owned by the fixture. */
harness_server *harness_fx_start_shared_on(harness_fixture *fx, const harness_server *first,
                                           const char *host, const char *extra_args);

/* Closes every connection and stops every server of the fixture (the
 * fixture stays usable): between the topologies of one test. */
void harness_fx_release(harness_fixture *fx);

/* harness_connect owned by the fixture (close early with
 * harness_conn_disconnect, never harness_conn_free). */
harness_conn *harness_fx_connect(harness_fixture *fx, uint16_t port);

#endif
