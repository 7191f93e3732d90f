/* libusher: the C client SDK for usherd, protocol v1 (see PROTOCOL.md).
 * Rules: no global state; a client (usher_client, usher_async, usher_reader) is used by one thread at a time.
 * Ownership: whatever libusher hands out is freed by the caller with its matching _free (NULL-safe);
 * strings passed in are only read during the call (copied when kept). Times are ms since the epoch, money KRW.
 *
 * Transport failure policy (sync client): after USHER_EIO, USHER_ETIMEOUT, USHER_EPROTO or USHER_ECLOSED
 * the connection is dropped and every later call returns USHER_ECLOSED until usher_reconnect(c).
 * libusher never retries on its own. The idempotent writes (wallet.charge, payment.pay) carry a
 * request_id: pass NULL and libusher makes a random one, stored in the result struct even when the
 * call fails, so the app can reconnect and retry with that same id without paying twice.
 * Replies are matched by msgid; a late or unknown reply is discarded. */
#ifndef USHER_H
#define USHER_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ----
 * The SDK's version at compile time (these macros) and at run time (usher_version):
 * a program can tell which libusher it was built against from the one it runs with.
 * The Makefile reads its VERSION (library file names, usher.pc) from these three lines. */
#define USHER_VERSION_MAJOR 1
#define USHER_VERSION_MINOR 0
#define USHER_VERSION_PATCH 0
#define USHER_VERSION_TEXT_(n) #n
#define USHER_VERSION_TEXT(n) USHER_VERSION_TEXT_(n)
/* "MAJOR.MINOR.PATCH" as a string literal, e.g. "1.0.0". */
#define USHER_VERSION USHER_VERSION_TEXT(USHER_VERSION_MAJOR) "." \
    USHER_VERSION_TEXT(USHER_VERSION_MINOR) "." USHER_VERSION_TEXT(USHER_VERSION_PATCH)

/* The running library's version, "MAJOR.MINOR.PATCH" (static, never NULL). The same
 * soname (libusher.so.MAJOR) keeps the ABI; a program may still compare against USHER_VERSION. */
const char *usher_version(void);

/* ---- status codes ----
 * 0..99 mirror the server's error catalogue one to one (errors.def, installed beside this header);
 * 100 and up are transport codes of libusher itself. Retry later (with the same request_id for a
 * write) on USHER_OVERLOADED and on USHER_UNAVAILABLE (the server's PostgreSQL database is away);
 * not on USHER_STORAGE_FULL, which an operator must clear. */
typedef enum usher_status {
#define USHER_ERROR(name, num, msg) USHER_##name = num,
#include "errors.def"
#undef USHER_ERROR
    USHER_EIO = 100,  /* socket error, connect refused, name not resolved */
    USHER_ETIMEOUT,   /* no reply (or no connection) within the timeout */
    USHER_EPROTO,     /* the peer broke the protocol: bad frame, oversized frame, bad envelope or result */
    USHER_ECLOSED,    /* connection closed (by the peer, by usher_close/free, or dead after a failure) */
    USHER_ENOMEM,     /* out of memory, or an output queue over its cap */
    USHER_EARG        /* bad argument to a libusher function (NULL, bad JSON, id too long ...) */
} usher_status;

/* Static text for a status: the catalogue's message, or the transport code's. Never NULL. */
const char *usher_errstr(usher_status status);

/* Static name of a status: "SEAT_UNAVAILABLE", "EIO" ...; "UNKNOWN" for other values. */
const char *usher_status_name(usher_status status);

/* ---- limits ---- */
#define USHER_MAX_FRAME_DEFAULT (16u << 20) /* largest reply frame accepted by default */
#define USHER_MAX_FRAME_MIN 65536u          /* a smaller max frame is raised to this */
#define USHER_REQUEST_ID_MAX 64             /* bytes of a request_id */

/* ---- replies ----
 * A reply owns its storage (strings and the result object); free it with usher_reply_free. */
enum usher_reply_kind {
    USHER_REPLY_RESPONSE = 1,     /* [1, msgid, error, result] */
    USHER_REPLY_NOTIFICATION = 2  /* [2, method, params] pushed by the server */
};

typedef struct usher_reply {
    int kind;              /* enum usher_reply_kind */
    uint32_t msgid;        /* response: the request's msgid (0 for a connection-level error) */
    usher_status status;   /* response: USHER_OK or the server's code (INTERNAL for a name not in the catalogue) */
    const char *error_name;/* response error: the wire name as sent, NUL-terminated; NULL on success */
    const char *message;   /* response error: the server's message; NULL when none */
    const char *method;    /* notification: the method name; NULL for responses */
    msgpack_object result; /* response: the result map (nil on error); notification: its params (nil when none) */
} usher_reply;

/* Frees a reply and everything it points to. NULL is a no-op. */
void usher_reply_free(usher_reply *reply);

/* JSON text of reply->result (USHER_JSON_PRETTY for indented output); caller frees with usher_free. NULL on OOM. */
char *usher_reply_json(const usher_reply *reply, int flags);
#define USHER_JSON_PRETTY 1

/* Frees a string returned by libusher. */
void usher_free(void *ptr);

/* ---- reply reader: bytes in, replies out, no I/O ---- */
typedef struct usher_reader usher_reader;

/* New reader accepting frames up to max_frame bytes (0: USHER_MAX_FRAME_DEFAULT; at least USHER_MAX_FRAME_MIN). NULL on OOM. */
usher_reader *usher_reader_new(size_t max_frame);

/* Frees a reader and any buffered bytes. NULL is a no-op. */
void usher_reader_free(usher_reader *r);

/* Appends n bytes from the wire. USHER_ENOMEM, or USHER_EPROTO once the reader has failed. */
usher_status usher_reader_feed(usher_reader *r, const void *bytes, size_t n);

/* Next whole reply: USHER_OK with *out set (caller frees), USHER_OK with *out NULL when more bytes are
 * needed, USHER_EPROTO for an oversized or malformed frame or a non-reply envelope (the reader stays failed). */
usher_status usher_reader_next(usher_reader *r, usher_reply **out);

/* ---- synchronous client ---- */
typedef struct usher_client usher_client;

/* Connects to host:port (name or address) within timeout_ms (<= 0: no limit), which is also the per-call timeout.
 * NULL only when out of memory; otherwise check usher_last_status(c): on failure the client is dead
 * (EARG, EIO or ETIMEOUT) and usher_reconnect may try again. */
usher_client *usher_connect(const char *host, int port, int timeout_ms);

/* Drops the connection (if any) and connects again to the same host and port. USHER_OK, EIO or ETIMEOUT. */
usher_status usher_reconnect(usher_client *c);

/* True while the client has a live connection (no transport failure since the last (re)connect). */
bool usher_is_connected(const usher_client *c);

/* Sets the per-call timeout in ms (<= 0: wait forever). A call that times out kills the connection (ETIMEOUT). */
void usher_set_timeout(usher_client *c, int timeout_ms);

/* Sets the largest reply frame accepted (0: default; at least USHER_MAX_FRAME_MIN); applies from the next (re)connect. */
void usher_set_max_frame(usher_client *c, size_t max_frame);

/* Status of the last call on c (USHER_OK after a success). */
usher_status usher_last_status(const usher_client *c);

/* Message of the last failure: the server's message, or a transport detail; "" after a success. Valid until the next call. */
const char *usher_last_message(const usher_client *c);

/* Callback for notifications the server pushes while a sync call waits; note is freed after it returns. */
typedef void usher_notify_cb(usher_client *c, const usher_reply *note, void *privdata);

/* Installs (or with NULL removes) the notification callback; without one, notifications are dropped.
 * note->method is the notification's name ("queue.update"), note->result its params map. A notification
 * that arrives during a sync call is handed to cb before the call returns; the call is not disturbed. */
void usher_set_notify_cb(usher_client *c, usher_notify_cb *cb, void *privdata);

/* Waits up to timeout_ms (<= 0: forever) for notifications outside a call: reads what arrives, hands
 * every notification to the callback, and returns USHER_OK once at least one was handed over.
 * USHER_ETIMEOUT when none came in time: unlike a call's timeout, the connection stays usable.
 * Other transport codes (EIO, EPROTO, ECLOSED) drop the connection as a call's would. */
usher_status usher_wait_notify(usher_client *c, int timeout_ms);

/* Closes the connection and frees the client. NULL is a no-op. */
void usher_close(usher_client *c);

/* Calls method with params (a msgpack map, or NULL for {}) and waits for its reply. *reply is set to NULL first,
 * then to the reply whenever the server answered (success or error); caller frees it. Returns reply->status,
 * or a transport code. */
usher_status usher_call(usher_client *c, const char *method, const msgpack_object *params, usher_reply **reply);

/* usher_call with params already packed as one msgpack map (or nil) of len bytes; EARG when they are not. */
usher_status usher_call_packed(usher_client *c, const char *method, const void *params, size_t len, usher_reply **reply);

/* usher_call with params as JSON text (NULL or "" for {}); on USHER_OK *result_json is the result as JSON
 * (flags: USHER_JSON_PRETTY; caller frees with usher_free), otherwise NULL. Bad JSON is EARG. */
usher_status usher_call_json(usher_client *c, const char *method, const char *params_json, int flags, char **result_json);

/* Sends bytes exactly as given (no framing added; for replaying fuzz findings) and waits for the next reply of
 * any msgid, e.g. BAD_FRAME with msgid 0 (after which the server closes: the client is then dead). */
usher_status usher_send_raw(usher_client *c, const void *bytes, size_t len, usher_reply **reply);

/* ---- typed calls: one per protocol method ----
 * Each returns USHER_OK and fills *out, or a status and leaves *out empty (free is still safe).
 * Optional parameters: 0 or NULL means absent. Result strings are owned by the struct. */

enum usher_queue_state { USHER_QUEUE_STATE_UNKNOWN = 0, USHER_QUEUE_STATE_WAITING, USHER_QUEUE_STATE_ACTIVE,
                         USHER_QUEUE_STATE_EXPIRED };
enum usher_reservation_state { USHER_RES_UNKNOWN = 0, USHER_RES_HELD, USHER_RES_CONFIRMED, USHER_RES_EXPIRED, USHER_RES_CANCELLED };
enum usher_entry_kind { USHER_ENTRY_UNKNOWN = 0, USHER_ENTRY_CHARGE, USHER_ENTRY_PAYMENT };

/* Wire names of the enums above ("WAITING", "HELD", "CHARGE"); "UNKNOWN" otherwise. */
const char *usher_queue_state_name(int state);
const char *usher_reservation_state_name(int state);
const char *usher_entry_kind_name(int kind);

typedef struct usher_hello {
    char *server;      /* "usherd" */
    char *version;
    int64_t protocol;  /* 1 */
    char *instance;    /* names one server process */
} usher_hello;

/* sys.ping: the server's clock in *time_ms. */
usher_status usher_sys_ping(usher_client *c, int64_t *time_ms);
/* sys.hello: server name, version, protocol and instance. */
usher_status usher_sys_hello(usher_client *c, usher_hello *out);
/* Frees the strings of an usher_hello and zeroes it. */
void usher_hello_free(usher_hello *h);

typedef struct usher_registration {
    char *user_id;              /* UUID */
    char *secret;               /* shown once: keep it to log in again */
    char *session;
    int64_t session_expires_at;
} usher_registration;

/* user.register: a new user with its secret and a session. */
usher_status usher_user_register(usher_client *c, usher_registration *out);
/* Frees an usher_registration's strings (the secret is wiped first) and zeroes it. */
void usher_registration_free(usher_registration *r);

typedef struct usher_session {
    char *session;
    int64_t session_expires_at;
} usher_session;

/* auth.login: a session for user_id and secret (UNAUTHENTICATED when wrong). */
usher_status usher_auth_login(usher_client *c, const char *user_id, const char *secret, usher_session *out);
/* Frees an usher_session's strings and zeroes it. */
void usher_session_free(usher_session *s);

typedef struct usher_balance {
    char *user_id;
    int64_t balance;
} usher_balance;

/* wallet.balance. */
usher_status usher_wallet_balance(usher_client *c, const char *session, usher_balance *out);
/* Frees an usher_balance's strings and zeroes it. */
void usher_balance_free(usher_balance *b);

typedef struct usher_charge {
    int64_t balance;  /* after the charge */
    int64_t charged;
    char request_id[USHER_REQUEST_ID_MAX + 1]; /* the id sent; set even when the call fails */
} usher_charge;

/* wallet.charge amount to the wallet; request_id NULL: a random one (see out->request_id). No free needed. */
usher_status usher_wallet_charge(usher_client *c, const char *session, int64_t amount,
                                 const char *request_id, usher_charge *out);

typedef struct usher_ledger_entry {
    uint64_t entry_id;
    int kind;              /* enum usher_entry_kind */
    int64_t amount;        /* positive for CHARGE, negative for PAYMENT */
    int64_t balance_after;
    int64_t at;
    uint64_t payment_id;   /* 0 when absent */
} usher_ledger_entry;

typedef struct usher_history {
    usher_ledger_entry *entries; /* newest first */
    size_t count;
} usher_history;

/* wallet.history: one page (limit 0: server default; before: an entry_id, 0 for the newest). */
usher_status usher_wallet_history(usher_client *c, const char *session, uint32_t limit, uint64_t before,
                                  usher_history *out);
/* Frees an usher_history's array and zeroes it. */
void usher_history_free(usher_history *h);

typedef struct usher_concert {
    uint64_t concert_id;
    char *title;
    char *venue;           /* NULL when the concert has none */
} usher_concert;

typedef struct usher_concerts {
    usher_concert *concerts; /* oldest first */
    size_t count;
} usher_concerts;

/* concert.list: one page (limit 0: server default; after: a concert_id, 0 for the first page). Public. */
usher_status usher_concert_list(usher_client *c, uint32_t limit, uint64_t after, usher_concerts *out);
/* Frees an usher_concerts and zeroes it. */
void usher_concerts_free(usher_concerts *l);

typedef struct usher_queue {
    char *token;           /* queue.enter only (NULL from queue.status) */
    int state;             /* enum usher_queue_state */
    uint32_t position;     /* 0 unless WAITING */
    int64_t eta_s;         /* -1 when absent */
    int64_t active_until;  /* 0 when absent */
} usher_queue;

/* queue.enter a concert's queue (re-entering returns the same entry). */
usher_status usher_queue_enter(usher_client *c, const char *session, uint64_t concert_id, usher_queue *out);
/* queue.status of a queue token: the polling API. */
usher_status usher_queue_status(usher_client *c, const char *token, usher_queue *out);
/* Frees an usher_queue's strings and zeroes it. */
void usher_queue_free(usher_queue *q);
/* queue.watch: queue.status of the token, and the server then pushes the entry's changes to this
 * connection as notifications (queue.update / queue.admitted / queue.expired, see PROTOCOL.md) until
 * usher_queue_unwatch, the entry's end or the connection's close. At most 4 entries per connection. */
usher_status usher_queue_watch(usher_client *c, const char *token, usher_queue *out);
/* queue.unwatch: no more notifications about the token's entry (OK when it was not watched). */
usher_status usher_queue_unwatch(usher_client *c, const char *token);

/* Progress of a waiting entry, for usher_queue_wait: q->state WAITING, position and eta_s (-1: the
 * server has no estimate yet). Called once with the state at the start, then on every queue.update. */
typedef void usher_queue_progress_cb(const usher_queue *q, void *privdata);

/* Waits, without polling, until the token's entry is admitted: watches it and calls progress (may be
 * NULL) on every update. USHER_OK when ACTIVE (out->active_until set); USHER_TOKEN_EXPIRED when the entry
 * ended first (out->state EXPIRED, or UNKNOWN for a status this SDK does not name); USHER_ETIMEOUT after
 * timeout_ms (<= 0: no limit) with the connection still usable; a call's codes otherwise. The watch is
 * undone before it returns. Other notifications still reach the callback of usher_set_notify_cb. */
usher_status usher_queue_wait(usher_client *c, const char *token, usher_queue_progress_cb *progress,
                              void *privdata, int timeout_ms, usher_queue *out);

typedef struct usher_date {
    uint64_t schedule_id;
    int64_t starts_at;
    uint32_t available;
    uint32_t total;
} usher_date;

typedef struct usher_dates {
    usher_date *dates;     /* earliest first */
    size_t count;
} usher_dates;

/* concert.dates: future performances of a concert (needs an ACTIVE queue token). */
usher_status usher_concert_dates(usher_client *c, const char *token, uint64_t concert_id, usher_dates *out);
/* Frees an usher_dates and zeroes it. */
void usher_dates_free(usher_dates *d);

typedef struct usher_seat {
    uint32_t seat_no;
    int64_t price;
    bool available;
} usher_seat;

typedef struct usher_seats {
    uint64_t schedule_id;
    usher_seat *seats;     /* seat 1..count in order */
    size_t count;
} usher_seats;

/* concert.seats: every seat of a performance (needs an ACTIVE queue token). */
usher_status usher_concert_seats(usher_client *c, const char *token, uint64_t schedule_id, usher_seats *out);
/* Frees an usher_seats and zeroes it. */
void usher_seats_free(usher_seats *s);

typedef struct usher_reservation {
    uint64_t reservation_id;
    uint64_t schedule_id;  /* 0 from reservation.cancel */
    uint32_t seat_no;      /* 0 from reservation.cancel */
    int64_t price;
    int state;             /* enum usher_reservation_state */
    int64_t expires_at;
} usher_reservation;

/* seat.reserve: hold a seat (state HELD until expires_at). No free needed. */
usher_status usher_seat_reserve(usher_client *c, const char *token, uint64_t schedule_id, uint32_t seat_no,
                                usher_reservation *out);
/* reservation.cancel one of the caller's live holds: fills reservation_id and state (CANCELLED). */
usher_status usher_reservation_cancel(usher_client *c, const char *session, uint64_t reservation_id,
                                      usher_reservation *out);

typedef struct usher_reservations {
    usher_reservation *reservations; /* newest first */
    size_t count;
} usher_reservations;

/* reservation.list: one page (limit 0: server default; before: a reservation_id, 0 for the newest). */
usher_status usher_reservation_list(usher_client *c, const char *session, uint32_t limit, uint64_t before,
                                    usher_reservations *out);
/* Frees an usher_reservations and zeroes it. */
void usher_reservations_free(usher_reservations *r);

typedef struct usher_payment {
    uint64_t payment_id;
    uint64_t *reservation_ids;
    size_t reservation_count;
    int64_t amount;
    int64_t balance;       /* payment.pay only: the balance after paying */
    int64_t paid_at;
    char request_id[USHER_REQUEST_ID_MAX + 1]; /* payment.pay only: the id sent, set even when the call fails */
} usher_payment;

/* payment.pay count live holds from the wallet; request_id NULL: a random one (see out->request_id). */
usher_status usher_payment_pay(usher_client *c, const char *token, const uint64_t *reservation_ids, size_t count,
                               const char *request_id, usher_payment *out);
/* Frees an usher_payment's array and zeroes it except request_id. */
void usher_payment_free(usher_payment *p);

typedef struct usher_payments {
    usher_payment *payments; /* newest first */
    size_t count;
} usher_payments;

/* payment.list: one page (limit 0: server default; before: a payment_id, 0 for the newest). */
usher_status usher_payment_list(usher_client *c, const char *session, uint32_t limit, uint64_t before,
                                usher_payments *out);
/* Frees an usher_payments and zeroes it. */
void usher_payments_free(usher_payments *p);

/* admin.concert.create (venue NULL: none); the new id in *concert_id. */
usher_status usher_admin_concert_create(usher_client *c, const char *admin, const char *title, const char *venue,
                                        uint64_t *concert_id);
/* admin.schedule.create: seats 0 means the server default (50); prices NULL (count 0) means price for every seat. */
usher_status usher_admin_schedule_create(usher_client *c, const char *admin, uint64_t concert_id, int64_t starts_at,
                                         int64_t price, uint32_t seats, const int64_t *prices, size_t prices_count,
                                         uint64_t *schedule_id);

/* ---- method list (methods.def) ---- */
typedef struct usher_method_info {
    const char *name;     /* "seat.reserve" */
    const char *summary;  /* one line */
    const char *params;   /* "{token, schedule_id, seat_no}"; ? marks optional */
    const char *result;
} usher_method_info;

/* Number of protocol methods. */
size_t usher_method_count(void);
/* Method i (0 <= i < usher_method_count()) in methods.def order, or NULL. */
const usher_method_info *usher_method_at(size_t i);

/* ---- asynchronous client on libev ----
 * Never blocks (except for resolving a host name: pass a numeric address to avoid it). Calls may be issued
 * before the connection is up; they are buffered and pipelined, replies matched by msgid in any order.
 * Every accepted call gets exactly one callback. The handle ends in exactly one disconnect callback, after which
 * libusher frees it: the app must forget the pointer there. */
struct ev_loop;
typedef struct usher_async usher_async;

/* Reply callback: reply is set when the server answered (status is reply->status), NULL on a transport failure
 * (ETIMEOUT for this call, ECLOSED when the connection went away first); reply is freed after it returns. */
typedef void usher_async_cb(usher_async *ac, usher_status status, const usher_reply *reply, void *privdata);
/* Connect callback: USHER_OK once connected; on failure (EIO, ETIMEOUT) the disconnect callback follows. */
typedef void usher_async_connect_cb(usher_async *ac, usher_status status);
/* Disconnect callback: called once, last; USHER_OK after usher_async_disconnect/free, else what broke it. */
typedef void usher_async_disconnect_cb(usher_async *ac, usher_status status);
/* Notification callback: note is freed after it returns. */
typedef void usher_async_notify_cb(usher_async *ac, const usher_reply *note);

/* Starts a non-blocking connect to host:port on loop (timeout_ms <= 0: no connect limit). NULL on OOM or a bad
 * argument; failures after that (unresolved name, refused, timeout) arrive through the callbacks. */
usher_async *usher_async_connect(struct ev_loop *loop, const char *host, int port, int timeout_ms);

/* Sets the callbacks; call them right after usher_async_connect (no callback fires before the loop runs). */
void usher_async_set_connect_cb(usher_async *ac, usher_async_connect_cb *cb);
void usher_async_set_disconnect_cb(usher_async *ac, usher_async_disconnect_cb *cb);
void usher_async_set_notify_cb(usher_async *ac, usher_async_notify_cb *cb);

/* App data of the handle (for the handle callbacks). */
void usher_async_set_data(usher_async *ac, void *data);
void *usher_async_data(const usher_async *ac);

/* Per-call timeout in ms (<= 0: none): an unanswered call gets ETIMEOUT, the connection stays, its late reply is dropped. */
void usher_async_set_timeout(usher_async *ac, int timeout_ms);

/* Largest reply frame accepted (0: default; at least USHER_MAX_FRAME_MIN). */
void usher_async_set_max_frame(usher_async *ac, size_t max_frame);

/* Queues a call (params a msgpack map or NULL for {}). USHER_OK: cb will be called exactly once;
 * otherwise (EARG, ENOMEM, ECLOSED when disconnecting or dead) cb is never called. */
usher_status usher_async_call(usher_async *ac, const char *method, const msgpack_object *params,
                              usher_async_cb *cb, void *privdata);

/* usher_async_call with params already packed as one msgpack map (or nil) of len bytes. */
usher_status usher_async_call_packed(usher_async *ac, const char *method, const void *params, size_t len,
                                     usher_async_cb *cb, void *privdata);

/* usher_async_call with params as JSON text (NULL or "" for {}). Bad JSON is EARG. */
usher_status usher_async_call_json(usher_async *ac, const char *method, const char *params_json,
                                   usher_async_cb *cb, void *privdata);

/* Number of calls waiting for a reply. */
size_t usher_async_pending(const usher_async *ac);

/* Graceful close: refuses new calls, waits for the replies of calls in flight, then disconnects (callback OK). */
void usher_async_disconnect(usher_async *ac);

/* Immediate close: calls in flight get ECLOSED, then the disconnect callback (OK), then ac is freed.
 * Safe inside a callback of ac (takes effect when that callback returns). */
void usher_async_free(usher_async *ac);

#ifdef __cplusplus
}
#endif

#endif
