/* Storage: everything Usher remembers, behind functions named for what they
 * mean. Handlers call only these. Two backends implement them
 * (server/store_backend.h): LMDB in a data directory (server/store_*.c, the
 * embedded default: every usherd of one host on one directory) and
 * PostgreSQL (server/store_pg_*.c: usherd on several hosts sharing one
 * database). tests/unit/test_store_*.c hold both to the same contract.
 *
 * Rules:
 * - LMDB: one store per process, opened after fork and never twice (LMDB's
 *   rule). PostgreSQL: likewise one per process, after fork; it keeps its
 *   own connections (store_options.connections), one per open top-level
 *   transaction, and its calls block for a round trip to the database, so
 *   a server runs them off its event loop (store_is_remote).
 * - Read functions take any transaction; write functions need a write
 *   transaction (or a child of one). A write function that fails may already
 *   have written: the caller aborts the (child) transaction, which is how
 *   "all or nothing" holds for every request (see server/writer.c).
 * - Times are wall-clock milliseconds passed in by the caller (now_ms), so
 *   every rule about expiry is decided by the same clock and is testable.
 * - Expiry is lazy: a hold past expires_at or an ACTIVE entry past
 *   active_until is treated as gone by every function at once; the *_tick
 *   functions only tidy up, they are never needed for correctness.
 * - Every function returns a usher_err from protocol/errors.h. Storage
 *   failures are USHER_ERR_INTERNAL, or STORAGE_FULL when the map or the
 *   disk is full (it does not clear by itself: an operator must act), or
 *   UNAVAILABLE when the database cannot be reached (PostgreSQL: the
 *   transaction is gone, nothing of it is kept; a later call reconnects). */
#ifndef USHER_SERVER_STORE_H
#define USHER_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../protocol/errors.h"

typedef struct store store;
typedef struct store_txn store_txn;

#define STORE_TITLE_MAX 256         /* bytes of a concert title or venue (UTF-8) */
#define STORE_SCHEDULES_PER_CONCERT_MAX 500
#define STORE_SEATS_MAX 1000
#define STORE_HOLDS_MAX 16          /* ceiling of --max-holds, and of one payment */
#define STORE_REQUEST_ID_MAX 64
#define STORE_SECRET_HASH_BYTES 32
#define STORE_FINGERPRINT_BYTES 32

typedef struct user_id { uint8_t bytes[16]; } user_id;

typedef enum store_sync { STORE_SYNC_FULL, STORE_SYNC_META, STORE_SYNC_NONE } store_sync;

/* Business limits the store enforces; fixed for the life of the store. */
typedef struct store_policy {
    int64_t hold_ttl_ms;        /* a hold lives this long */
    int64_t active_ttl_ms;      /* an ACTIVE queue entry lives this long */
    uint32_t max_active;        /* ACTIVE entries per concert */
    uint32_t max_holds;         /* live holds per user per performance, 1..16 */
    int64_t max_charge_krw;     /* one wallet.charge */
    int64_t balance_limit_krw;  /* a wallet never holds more */
    int64_t request_id_ttl_ms;  /* idempotency records live at least this long */
    int64_t wait_idle_ms;       /* a WAITING entry unseen this long is dropped (ABANDONED); 0 = never */
    int64_t active_idle_ms;     /* an ACTIVE entry unseen this long expires early; 0 = never */
    int64_t admit_interval_ms;  /* how often the tick runs (the rate limit's credit); 0 = 1 s */
} store_policy;

typedef struct store_options {
    store_sync sync;
    size_t map_size_bytes;      /* LMDB map (address space, not disk) */
    unsigned max_readers;       /* LMDB reader slots shared by all processes */
    bool read_only;             /* inspect only (usher-check): see store_open */
    store_policy policy;
    const char *log_instance;   /* usherd's "host:pid": the store's stderr lines then take
                                   usherd's log format (log.h), JSON under log_json; NULL
                                   (a tool): plain lines */
    bool log_json;
    unsigned connections;       /* PostgreSQL: connections kept (top-level transactions
                                   open at once); 1..64 */
    int64_t connect_timeout_ms; /* PostgreSQL: a connect or a statement waits at most this
                                   long before UNAVAILABLE */
} store_options;

/* Defaults matching usherd's defaults. */
store_options store_options_default(void);

/* ---- environment and transactions ---- */

/* True when spec names a PostgreSQL database (postgres:// or postgresql://)
 * rather than an LMDB data directory. */
bool store_spec_is_url(const char *spec);

/* Opens the store spec names: a PostgreSQL URL (store_spec_is_url) or an
 * LMDB data directory, as below.
 * PostgreSQL: connects (UNAVAILABLE when the database cannot be reached),
 * creates or migrates the schema (db/postgres/, one transaction under an
 * advisory lock, so several usherd may start at once), and refuses a
 * database whose schema is newer than this build knows (INTERNAL). With
 * opt->read_only nothing is migrated: NOT_FOUND when the database holds no
 * usher schema. map_size_bytes and max_readers do not apply.
 *
 * LMDB: opens (creating when missing) the store in directory dir. Clears stale
 * reader slots left by dead processes. Before anything reads the map it
 * walks the snapshot's pages with pread and refuses a file in which a page
 * the trees reach lies past the end (truncated) or is malformed: reading
 * it through the map would kill the process with SIGBUS or abort it. INTERNAL with a log line on failure.
 * With opt->read_only nothing is created or written (no dir, no database,
 * no schema stamp) and servers may keep running on the dir; write
 * transactions then fail. NOT_FOUND (with a stderr line) when dir holds no
 * data.mdb or is not a usher data dir (no schema, a database missing).
 * A read-only open of a damaged (cut or overwritten) file still succeeds, so
 * the damage can be reported: store_damage says why, and every transaction
 * begin then fails with INTERNAL. A read-write open refuses it (INTERNAL). */
usher_err store_open(store **out, const char *spec, const store_options *opt);

/* "lmdb" or "postgres". */
const char *store_backend_name(const store *st);

/* True when the store's calls wait on a network round trip (PostgreSQL):
 * the server then runs every request on its database threads, none on the
 * event loop. LMDB: false (reads are served from a snapshot in memory). */
bool store_is_remote(const store *st);

/* The signing key every usherd on a shared store uses: out (len bytes) gets
 * the stored key, or fresh after storing it when none was stored yet
 * (*created then true; racing usherd agree on the first one stored).
 * PostgreSQL only; LMDB returns NOT_FOUND (its key is the data dir's keys
 * file, token.h). */
usher_err store_shared_key(store *st, const uint8_t *fresh, size_t len, uint8_t *out,
                           bool *created);

/* Why a read-only store's data file is damaged, or NULL when it is not. */
const char *store_damage(const store *st);

/* Closes the store; no transaction may be open. */
void store_close(store *st);

/* Clears reader slots of dead processes; *cleared gets the count (may be NULL),
 * which is also added to the total store_readers_cleared_take reports.
 * Cheap (a few µs: one lock probe per process in the reader table), so the
 * writer runs it before every group commit: a slot left by a killed
 * process pins every page freed after its snapshot, and the file grows
 * until the slot is cleared. */
usher_err store_reader_check(store *st, int *cleared);

/* Reader slots store_reader_check cleared since the last call (from any
 * thread: the writer clears before each commit, the loop's timer logs). */
uint64_t store_readers_cleared_take(store *st);

/* One reader slot that holds a snapshot. */
typedef struct store_reader {
    int pid;                    /* the process holding it (any process on the host) */
    uint64_t txnid;             /* its snapshot: the commit it sees */
} store_reader;

/* The reader slots holding a snapshot now (idle slots are left out), up to
 * cap in out[], *n their count, and *last_txnid the newest commit: a reader
 * at txnid T keeps every page freed after T from being reused, so
 * last_txnid - T is how far behind it lags. Slots of dead processes are
 * listed until store_reader_check clears them. */
usher_err store_reader_list(store *st, store_reader *out, size_t cap, size_t *n,
                            uint64_t *last_txnid);

/* Read-only snapshot; never waits for writers. End with store_txn_end. */
usher_err store_read_begin(store *st, store_txn **out);

/* Write transaction: waits for the single writer lock, shared by every
 * process on the data dir. Finish with store_txn_commit or store_txn_end. */
usher_err store_write_begin(store *st, store_txn **out);

/* Child of a write transaction, a savepoint: its writes join the parent on
 * commit and are undone on store_txn_end. One child at a time. It shares the
 * parent's LMDB transaction: when an LMDB call fails inside it (a full map,
 * an I/O error) the parent is broken as well (store_txn_broken) and can only
 * be ended; a refusal by a business rule never breaks anything. */
usher_err store_child_begin(store_txn *parent, store_txn **out);

/* True once an LMDB failure in txn or one of its children left the shared
 * LMDB transaction unusable: commit then fails, and nothing of it is kept. */
bool store_txn_broken(const store_txn *txn);

/* Commits a write or child transaction and frees it. For a top-level write
 * under STORE_SYNC_FULL this is the durable point. Under STORE_SYNC_META the
 * commit's data is on disk but its metadata page is not: the commit becomes
 * durable at the next data sync of this process (see store_data_syncs). */
usher_err store_txn_commit(store_txn *txn);

/* Durability under STORE_SYNC_META. Every top-level commit that wrote
 * something syncs the data file before it writes its own metadata page
 * (LMDB's order), and that sync also carries the previous commit's
 * metadata to disk. store_data_syncs counts such syncs made by this process
 * (commits that wrote, and store_sync_now calls); a commit is durable once the
 * count has moved past the value it had right after that commit. Only the
 * writer thread may call these two. */
uint64_t store_data_syncs(const store *st);

/* Syncs the data file now (fdatasync), making every commit so far durable;
 * counts in store_data_syncs. A failure marks the store broken (the
 * process can no longer tell what is on disk). */
usher_err store_sync_now(store *st);

/* True when acknowledgements must wait for a later data sync: the store
 * was opened with STORE_SYNC_META. */
bool store_syncs_meta_later(const store *st);

/* Aborts (write/child) or ends (read) a transaction and frees it. */
void store_txn_end(store_txn *txn);

/* True once LMDB reported MDB_PANIC (a commit failed writing its meta page):
 * this process's environment is unusable for good, every transaction fails
 * with INTERNAL, and the process should stop so a fresh one reopens the
 * data dir. What was committed before is intact on disk. Any thread. */
bool store_broken(store *st);

/* ---- users ---- */

/* Serializes this transaction with every other write of the user, on every
 * process and host, until it ends: a write request takes it before its
 * first read (server/request.c), so what it reads of the user (a request_id
 * already answered, a queue entry a payment just ended) is what the
 * previous write of the user left. LMDB: nothing to do (one writer at a
 * time already); PostgreSQL: the user's advisory lock. A no-op on a read
 * transaction. */
usher_err store_user_lock(store_txn *txn, const user_id *user);

/* Creates a user with the hash of their secret. INTERNAL if the id exists. */
usher_err store_user_create(store_txn *txn, const user_id *user,
                            const uint8_t secret_hash[STORE_SECRET_HASH_BYTES], int64_t now_ms);

/* The stored secret hash of a user. NOT_FOUND for an unknown user. */
usher_err store_user_secret_hash(store_txn *txn, const user_id *user,
                                 uint8_t out[STORE_SECRET_HASH_BYTES]);

/* ---- session revocation (store_revoke.c) ---- */

/* Revokes the user's sessions and queue tokens: every one issued at or
 * before *revoked_at_ms (may be NULL) stops working. That instant is now_ms,
 * or a later one already recorded (a revocation never moves back in time).
 * Changes store_revocations_version. NOT_FOUND for an unknown user. */
usher_err store_user_revoke(store_txn *txn, const user_id *user, int64_t now_ms,
                            int64_t *revoked_at_ms);

/* A number that changes on every store_user_revoke (0 before the first), so
 * a process learns from one read whether its copy of the revocations is stale. */
usher_err store_revocations_version(store_txn *txn, uint64_t *version);

/* When the user's tokens were last revoked; NOT_FOUND when never. */
usher_err store_revocation_get(store_txn *txn, const user_id *user, int64_t *revoked_at_ms);

/* Calls fn for every revocation at or after since_ms (older ones outlive
 * every token they could stop), in user order, until fn returns false. */
typedef bool (*store_revocation_fn)(void *ctx, const user_id *user, int64_t revoked_at_ms);
usher_err store_revocations_each(store_txn *txn, int64_t since_ms, store_revocation_fn fn,
                                 void *ctx);

/* ---- wallet (a ledger: the balance is the sum of the entries) ---- */

typedef enum store_ledger_kind { STORE_LEDGER_CHARGE = 1, STORE_LEDGER_PAYMENT = 2 } store_ledger_kind;

typedef struct store_ledger_entry {
    uint64_t entry_id;
    store_ledger_kind kind;
    int64_t amount_krw;        /* CHARGE positive, PAYMENT negative */
    int64_t balance_after_krw;
    int64_t at_ms;
    uint64_t payment_id;       /* PAYMENT entries; 0 otherwise */
} store_ledger_entry;

/* Balance of a user (0 when they never charged). */
usher_err store_wallet_balance(store_txn *txn, const user_id *user, int64_t *balance_krw);

/* Adds amount_krw (1..max_charge) and appends a CHARGE entry.
 * INVALID_ARGUMENT when amount <= 0; AMOUNT_LIMIT above max_charge or when
 * the balance would pass balance_limit. */
usher_err store_wallet_charge(store_txn *txn, const user_id *user, int64_t amount_krw,
                              int64_t now_ms, int64_t *balance_after_krw);

/* Ledger entries with entry_id < before (0: from the newest), newest first,
 * at most cap of them into out. */
usher_err store_wallet_history(store_txn *txn, const user_id *user, uint64_t before,
                               store_ledger_entry *out, size_t cap, size_t *n);

/* ---- idempotent retries (request_id) ---- */

/* Looks up the stored result of (user, method, request_id). OK with *result
 * pointing at the stored bytes (valid until the transaction ends) when found
 * with the same fingerprint; INVALID_ARGUMENT when found with another
 * fingerprint; NOT_FOUND when absent or older than request_id_ttl. */
usher_err store_idem_get(store_txn *txn, const user_id *user, const char *method,
                         const char *request_id, size_t request_id_len,
                         const uint8_t fingerprint[STORE_FINGERPRINT_BYTES], int64_t now_ms,
                         const void **result, size_t *result_len);

/* Remembers a successful result for (user, method, request_id). */
usher_err store_idem_put(store_txn *txn, const user_id *user, const char *method,
                         const char *request_id, size_t request_id_len,
                         const uint8_t fingerprint[STORE_FINGERPRINT_BYTES], int64_t now_ms,
                         const void *result, size_t result_len);

/* ---- concerts and performances ---- */

typedef struct store_concert {
    uint64_t concert_id;
    char title[STORE_TITLE_MAX + 1];   /* NUL-terminated */
    char venue[STORE_TITLE_MAX + 1];   /* "" when not given */
} store_concert;

typedef struct store_schedule {
    uint64_t schedule_id;
    uint64_t concert_id;
    int64_t starts_at_ms;
    uint32_t seats;                    /* seats are numbered 1..seats */
} store_schedule;

typedef struct store_date {
    store_schedule schedule;
    uint32_t available;                /* seats neither sold nor held now */
    uint32_t sold;                     /* seats sold */
} store_date;

typedef struct store_seat {
    uint32_t seat_no;
    int64_t price_krw;
    bool available;
} store_seat;

/* Creates a concert (title and venue already validated). */
usher_err store_concert_create(store_txn *txn, const char *title, size_t title_len,
                               const char *venue, size_t venue_len, uint64_t *concert_id);

/* One concert. NOT_FOUND when absent. */
usher_err store_concert_get(store_txn *txn, uint64_t concert_id, store_concert *out);

/* Concerts with concert_id > after, oldest first, at most cap. */
usher_err store_concert_list(store_txn *txn, uint64_t after, store_concert *out,
                             size_t cap, size_t *n);

/* Creates a performance with seats 1..seats priced prices_krw[0..seats).
 * NOT_FOUND for an unknown concert; INVALID_ARGUMENT when the concert already
 * has STORE_SCHEDULES_PER_CONCERT_MAX performances. */
usher_err store_schedule_create(store_txn *txn, uint64_t concert_id, int64_t starts_at_ms,
                                uint32_t seats, const int64_t *prices_krw, uint64_t *schedule_id);

/* One performance. NOT_FOUND when absent. */
usher_err store_schedule_get(store_txn *txn, uint64_t schedule_id, store_schedule *out);

/* Performances of a concert starting after now_ms, earliest first, with their
 * free-seat counts. NOT_FOUND for an unknown concert. */
usher_err store_concert_dates(store_txn *txn, uint64_t concert_id, int64_t now_ms,
                              store_date *out, size_t cap, size_t *n);

/* Every performance of a concert, past ones too, earliest first, with their
 * seats as of now_ms (for operators). NOT_FOUND for an unknown concert. */
usher_err store_concert_schedules(store_txn *txn, uint64_t concert_id, int64_t now_ms,
                                  store_date *out, size_t cap, size_t *n);

/* Every seat 1..N of a performance in order. out holds STORE_SEATS_MAX.
 * NOT_FOUND for an unknown performance. */
usher_err store_schedule_seats(store_txn *txn, uint64_t schedule_id, int64_t now_ms,
                               store_seat *out, size_t *n);

/* ---- the waiting queue (one FIFO per concert) ---- */

typedef enum store_queue_state {
    STORE_QUEUE_WAITING = 1, STORE_QUEUE_ACTIVE = 2, STORE_QUEUE_EXPIRED = 3,
    STORE_QUEUE_ABANDONED = 4     /* dropped while WAITING: its holder stopped asking */
} store_queue_state;

typedef struct store_queue_entry {
    uint64_t concert_id;
    uint64_t seq;                 /* arrival order, 1, 2, ... per concert */
    user_id user;
    store_queue_state state;      /* as of now_ms */
    uint64_t position;            /* WAITING: 1 + WAITING entries ahead; else 0 */
    int64_t active_until_ms;      /* ACTIVE and EXPIRED-after-ACTIVE; else 0 */
    bool position_known;          /* false while WAITING before the pre-queue draw */
} store_queue_entry;

/* Joins the concert's queue, or returns the user's WAITING/ACTIVE entry
 * (an ABANDONED one is left: the user goes to the back). Admits at once
 * when a slot is free and nobody waits ahead. Draws the pre-queue first
 * when it is due (so this arrival is not an early one).
 * NOT_FOUND for an unknown concert. */
usher_err store_queue_enter(store_txn *txn, const user_id *user, uint64_t concert_id,
                            int64_t now_ms, store_queue_entry *out);

/* The entry (concert_id, seq) as of now_ms. NOT_FOUND when absent. */
usher_err store_queue_get(store_txn *txn, uint64_t concert_id, uint64_t seq,
                          int64_t now_ms, store_queue_entry *out);

/* Marks the live (WAITING or ACTIVE) entry (concert_id, seq) seen at
 * now_ms, for --wait-idle and --active-idle; moves its key in the idle
 * index. OK and nothing written for an entry not live or seen later
 * already; NOT_FOUND when absent. */
usher_err store_queue_touch(store_txn *txn, uint64_t concert_id, uint64_t seq, int64_t now_ms);

/* A queue's operator controls, as stored (the tick reads them). */
typedef struct store_queue_controls {
    uint32_t max_active;          /* override; 0 = the policy's --max-active */
    uint32_t admit_rate_per_min;  /* admissions per minute, 0 = no limit */
    bool paused;                  /* nobody new is admitted */
    int64_t opens_at_ms;          /* pre-queue opening time; 0 = none */
} store_queue_controls;

#define STORE_QUEUE_MAX_ACTIVE_MAX 100000
#define STORE_QUEUE_RATE_MAX 1000000

/* What admin.queue.get reports (one snapshot). */
typedef struct store_queue_report {
    uint64_t concert_id;
    uint64_t waiting;             /* WAITING entries */
    uint64_t active;              /* ACTIVE entries live at now_ms */
    uint64_t admitted_total;
    uint32_t max_active;          /* effective: the override, else the policy's */
    store_queue_controls controls;
    int64_t oldest_wait_ms;       /* how long the first WAITING entry has waited; 0 when none */
} store_queue_report;

/* The report of concert_id's queue (a concert without a queue yet reports
 * zeros and the defaults). NOT_FOUND for an unknown concert. */
usher_err store_queue_control_get(store_txn *txn, uint64_t concert_id, int64_t now_ms,
                                  store_queue_report *out);

/* Which controls to change (the others stay). */
typedef struct store_queue_control_change {
    bool set_max_active, set_rate, set_paused;
    uint32_t max_active;          /* 1..STORE_QUEUE_MAX_ACTIVE_MAX, or 0 = back to the policy's */
    uint32_t admit_rate_per_min;  /* 0..STORE_QUEUE_RATE_MAX */
    bool paused;
} store_queue_control_change;

/* Stores the changes (creating the queue record if need be) and reports
 * the queue after them. INVALID_ARGUMENT with *bad_param (may be NULL) for
 * a value out of range; NOT_FOUND for an unknown concert. */
usher_err store_queue_control_set(store_txn *txn, uint64_t concert_id,
                                  const store_queue_control_change *change, int64_t now_ms,
                                  store_queue_report *out, const char **bad_param);

/* Opens a pre-queue: entries made before opens_at_ms are ranked by a
 * random draw at the first write at or after it; nobody is admitted
 * before. INVALID_ARGUMENT (*bad_param = "opens_at") when opens_at_ms is
 * not in the future, the queue has admitted anyone or was opened before;
 * NOT_FOUND for an unknown concert. *out: the report after the change. */
usher_err store_queue_open(store_txn *txn, uint64_t concert_id, int64_t opens_at_ms,
                           int64_t now_ms, store_queue_report *out, const char **bad_param);

/* Who one queue tick admitted: the total, and per concert that admitted
 * anyone (the first STORE_ADMITTED_CONCERTS_MAX of them, by concert id). */
#define STORE_ADMITTED_CONCERTS_MAX 8
typedef struct store_admitted {
    uint32_t total;
    size_t n;
    struct { uint64_t concert_id; uint32_t admitted; } concert[STORE_ADMITTED_CONCERTS_MAX];
} store_admitted;

/* What the server tells the tick about itself. */
typedef struct store_tick_opts {
    bool throttled;               /* the server is struggling (slow commits): admit at half rate */
} store_tick_opts;

/* Drops WAITING entries unseen for wait_idle (ABANDONED) and expires ACTIVE
 * ones unseen for active_idle, visiting only those (the idle index); marks
 * ACTIVE entries past active_until EXPIRED; draws due pre-queues; and fills
 * free slots of every concert in order, within each queue's controls
 * (paused, max_active, admit_rate_per_min). Throttled: at most half the
 * free slots (rounded up) per tick and half the rate. opts may be NULL
 * (defaults). *admitted (may be NULL) gets who. */
usher_err store_queue_tick(store_txn *txn, int64_t now_ms, const store_tick_opts *opts,
                           store_admitted *admitted);

/* A queue's progress as one snapshot sees it: what watchers and the wait
 * estimate follow. version changes whenever anything a waiting entry's
 * position or state depends on changes (an admission, a drop), so a process
 * polling it learns cheaply whether to look closer. */
typedef struct store_queue_progress {
    uint64_t concert_id;
    uint64_t entered_total;       /* entries ever made (seqs handed out) */
    uint64_t admitted_total;      /* entries ever admitted */
    uint64_t waiting;             /* WAITING entries now */
    uint64_t version;
} store_queue_progress;

/* The progress of concert_id's queue; a concert without a queue yet reports
 * zeros. NOT_FOUND for an unknown concert. */
usher_err store_queue_progress_get(store_txn *txn, uint64_t concert_id, store_queue_progress *out);

/* ---- holds and reservations ---- */

typedef enum store_reservation_status {
    STORE_RES_HELD = 1, STORE_RES_CONFIRMED = 2, STORE_RES_EXPIRED = 3, STORE_RES_CANCELLED = 4
} store_reservation_status;

typedef struct store_reservation {
    uint64_t reservation_id;
    uint64_t schedule_id;
    uint64_t concert_id;
    uint32_t seat_no;
    int64_t price_krw;
    store_reservation_status status;  /* as of now_ms: a HELD one past expiry reads EXPIRED */
    int64_t expires_at_ms;
    user_id user;
    uint64_t payment_id;              /* CONFIRMED; 0 otherwise */
} store_reservation;

/* Holds a seat for hold_ttl. concert_id is the caller's queue concert.
 * NOT_FOUND unknown performance; FORBIDDEN performance of another concert;
 * INVALID_ARGUMENT with *bad_param (may be NULL) = "schedule_id" when the
 * performance has started (starts_at <= now: it sells no more seats) or
 * "seat_no" for a seat outside 1..N; SEAT_UNAVAILABLE sold or held by
 * someone; HOLD_LIMIT max_holds live holds on this performance already.
 * A seat the user already holds returns that same reservation. On a read
 * transaction it decides the same way but writes nothing: where it would
 * make the hold it returns OK with out->reservation_id 0 (a precheck). */
usher_err store_seat_hold(store_txn *txn, const user_id *user, uint64_t concert_id,
                          uint64_t schedule_id, uint32_t seat_no, int64_t now_ms,
                          store_reservation *out, const char **bad_param);

/* One reservation as of now_ms. NOT_FOUND when absent. */
usher_err store_reservation_get(store_txn *txn, uint64_t reservation_id, int64_t now_ms,
                                store_reservation *out);

/* Cancels the user's live hold. NOT_FOUND, FORBIDDEN (someone else's),
 * HOLD_EXPIRED (expired), ALREADY_PAID (confirmed); already CANCELLED
 * returns OK with the same reservation. */
usher_err store_reservation_cancel(store_txn *txn, const user_id *user,
                                   uint64_t reservation_id, int64_t now_ms,
                                   store_reservation *out);

/* The user's reservations with id < before (0: from the newest), newest first. */
usher_err store_reservation_list(store_txn *txn, const user_id *user, uint64_t before,
                                 int64_t now_ms, store_reservation *out, size_t cap, size_t *n);

/* Marks holds past expiry EXPIRED and frees their seats (tidying only),
 * at most max of them. *expired (may be NULL) gets the count. */
usher_err store_holds_tick(store_txn *txn, int64_t now_ms, size_t max, size_t *expired);

/* ---- payments ---- */

typedef struct store_payment {
    uint64_t payment_id;
    user_id user;
    uint64_t concert_id;
    int64_t amount_krw;
    int64_t paid_at_ms;
    uint32_t n_reservations;
    uint64_t reservation_ids[STORE_HOLDS_MAX];
} store_payment;

/* Pays n (1..max_holds) live holds of user in concert_id, all or nothing:
 * debits the sum, sells the seats, confirms the reservations, records one
 * payment and one PAYMENT ledger entry, expires the queue entry
 * (concert_id, queue_seq) and admits the next in line.
 * NOT_FOUND unknown reservation; FORBIDDEN someone else's or another
 * concert's; ALREADY_PAID confirmed; HOLD_EXPIRED expired or cancelled;
 * INSUFFICIENT_BALANCE; INVALID_ARGUMENT duplicate ids or n out of range. */
usher_err store_payment_pay(store_txn *txn, const user_id *user, uint64_t concert_id,
                            uint64_t queue_seq, const uint64_t *reservation_ids, size_t n,
                            int64_t now_ms, store_payment *out, int64_t *balance_after_krw);

/* The user's payments with id < before (0: from the newest), newest first. */
usher_err store_payment_list(store_txn *txn, const user_id *user, uint64_t before,
                             store_payment *out, size_t cap, size_t *n);

/* ---- housekeeping ---- */

/* Forgets idempotency records older than request_id_ttl, at most max. */
usher_err store_idem_tick(store_txn *txn, int64_t now_ms, size_t max, size_t *purged);

/* True when the store holds no concert yet (for --demo). */
usher_err store_is_empty(store_txn *txn, bool *empty);

/* ---- figures for operators (store_stats.c) ---- */

#define STORE_STATS_QUEUES_MAX 1024   /* queues reported; more set queues_truncated */
#define STORE_STATS_SCAN_MAX 65536    /* keys one read may walk (lapsed holds, active slots) */

typedef struct store_queue_stat {
    uint64_t concert_id;
    uint64_t waiting;             /* entries not yet admitted */
    uint64_t active;              /* admitted entries live at now_ms */
} store_queue_stat;

typedef struct store_stats {
    uint64_t holds_live;          /* holds whose seat is held at now_ms */
    uint64_t seats_sold;
    uint64_t used_bytes;          /* pages in use in the data file */
    uint64_t map_bytes;           /* the LMDB map (--map-size); 0 on PostgreSQL (no map) */
    bool scan_capped;             /* STORE_STATS_SCAN_MAX was reached: see store_stats_read */
    bool queues_truncated;
    size_t n_queues;
    store_queue_stat queues[STORE_STATS_QUEUES_MAX];  /* by concert_id */
} store_stats;

/* The stored figures as of now_ms in a read snapshot. The cost does not grow
 * with queue length or with seats ever sold: queue waiting is a subtraction
 * per concert, seats sold and live holds come from database sizes corrected
 * by the lapsed holds not yet tidied (a prefix of the expiry index), active
 * counts walk each queue's admitted slots (at most --max-active plus those
 * lapsed since the last tick). Those walks together stop at
 * STORE_STATS_SCAN_MAX keys (scan_capped): the housekeeping tick keeps them
 * short, and past the cap holds_live and active over-count by the lapsed
 * entries left unwalked. */
usher_err store_stats_read(store_txn *txn, int64_t now_ms, store_stats *out);

#endif
