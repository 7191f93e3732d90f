/* Private to the LMDB store (server/store_*.c): the store and transaction
 * structs, the named databases, record layouts and key encoders.
 * Keys are big-endian fixed width, so LMDB's byte order is numeric order.
 * Values are host-endian fixed structs (every process is on one host),
 * always copied out with memcpy because LMDB only 2-aligns node data.
 * docs/store-schema.md describes every database. */
#ifndef USHER_SERVER_STORE_INTERNAL_H
#define USHER_SERVER_STORE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include "log.h"
#include "store.h"
#include "store_backend.h"
#include "store_pages.h"

/* Every named database, opened once at store_open. */
enum store_db {
    DB_META,             /* counter name -> last id issued (u64) */
    DB_USERS,            /* user -> rec_user */
    DB_LEDGER,           /* user | entry_id -> rec_ledger */
    DB_IDEM,             /* user | method NUL | request_id -> rec_idem + result */
    DB_IDEM_AGE,         /* stored_at | idem key -> empty */
    DB_CONCERTS,         /* concert_id -> rec_concert + title + venue */
    DB_SCHEDULES,        /* schedule_id -> rec_schedule + prices[seats] */
    DB_DATES,            /* concert_id | starts_at | schedule_id -> empty */
    DB_SEATS,            /* schedule_id | seat_no -> rec_seat */
    DB_RESERVATIONS,     /* reservation_id -> rec_reservation */
    DB_RES_BY_USER,      /* user | reservation_id -> empty */
    DB_HELD,             /* user | schedule_id | reservation_id -> int64 expires_at */
    DB_HOLD_EXPIRY,      /* expires_at | reservation_id -> empty */
    DB_PAYMENTS,         /* payment_id -> rec_payment + reservation ids */
    DB_PAY_BY_USER,      /* user | payment_id -> empty */
    DB_QUEUES,           /* concert_id -> rec_queue */
    DB_QUEUE_ENTRIES,    /* concert_id | seq -> rec_queue_entry */
    DB_QUEUE_USERS,      /* concert_id | user -> u64 seq (the latest entry) */
    DB_QUEUE_ACTIVE,     /* concert_id | seq -> int64 active_until (admitted, not yet expired) */
    DB_QUEUE_BUSY,       /* concert_id -> empty (queues with waiting or active entries) */
    DB_REVOCATIONS,      /* user -> int64 revoked_at; "version" -> u64 (store_revoke.c) */
    DB_QUEUE_DROPS,      /* concert_id | block -> rec_queue_drops (dropped orders, 1024 a block) */
    DB_QUEUE_DROP_SUMS,  /* concert_id | node -> u64 (Fenwick tree over the blocks' counts) */
    DB_QUEUE_ORDER,      /* concert_id | rank -> u64 seq (the pre-queue draw) */
    DB_QUEUE_IDLE,       /* kind | seen_at | concert_id | seq -> empty (live entries by last seen) */
    DB_COUNT
};

/* Id counters kept in DB_META. */
enum store_counter {
    COUNTER_CONCERT, COUNTER_SCHEDULE, COUNTER_RESERVATION, COUNTER_PAYMENT, COUNTER_LEDGER
};

#define STORE_READ_POOL 8         /* reset read txns kept for reuse */
#define STORE_METHOD_MAX 64       /* bytes of a method name in an idempotency key */

struct store {
    const struct store_ops *ops;  /* first: store_backend.h */
    MDB_env *env;
    MDB_dbi dbi[DB_COUNT];
    store_policy policy;
    pthread_mutex_t pool_lock;    /* guards read_pool: loop and writer threads share it */
    MDB_txn *read_pool[STORE_READ_POOL];
    unsigned read_pool_n;
    atomic_bool broken;           /* LMDB said MDB_PANIC: see store_broken */
    atomic_uint_fast64_t readers_cleared; /* see store_readers_cleared_take */
    store_sync sync;              /* as opened */
    uint64_t data_syncs;          /* writer thread only: see store_data_syncs */
    char damage[320];             /* read-only open of a damaged file: why; else "" */
    pthread_mutex_t err_lock;     /* guards err_limits: both threads report errors */
    log_limits err_limits;        /* store_mdb_err's lines, one per kind per second */
    bool log_json;                /* as opened: how its stderr lines look (store_say) */
    bool log_plain_tool;          /* read-only and no instance: "store: ..." as it is */
    char log_instance[96];        /* "" when none */
    bool revocations_absent;      /* read-only open of a dir made before DB_REVOCATIONS: none */
};

/* One error line of the store on stderr ("store: ..."; no newline in fmt),
 * in usherd's log format when the store was opened with a log_instance.
 * Any thread; not limited (store_mdb_err's lines are). */
void store_say(const store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef enum store_txn_kind { TXN_READ, TXN_WRITE, TXN_CHILD } store_txn_kind;

/* A copy of stored bytes handed out by a write txn (see store_idem_get). */
typedef struct store_copy {
    struct store_copy *next;
    size_t len;
    unsigned char bytes[];
} store_copy;

struct store_txn {
    const struct store_ops *ops;  /* first: store_backend.h */
    store *st;
    MDB_txn *txn;
    store_txn_kind kind;
    store_txn *parent;            /* TXN_CHILD only: shares the parent's MDB txn */
    bool has_child;               /* a child is open: this txn must not be used */
    bool wrote;                   /* a put or delete succeeded here (or in a child) */
    bool broken;                  /* top level: an LMDB call failed and poisoned the MDB txn */
    unsigned char *undo;          /* TXN_CHILD: undo log of old values (see store_undo_note) */
    size_t undo_len, undo_cap;
    MDB_cursor *cursor[DB_COUNT]; /* opened on first use, closed when the txn ends */
    store_copy *copies;           /* freed when the txn ends */
};

/* ---- records (values) ---- */

typedef struct rec_user {
    uint8_t secret_hash[STORE_SECRET_HASH_BYTES];
    int64_t created_at_ms;
} rec_user;

typedef struct rec_ledger {
    int64_t amount_krw;
    int64_t balance_after_krw;
    int64_t at_ms;
    uint64_t payment_id;
    uint32_t kind;                /* store_ledger_kind */
    uint32_t pad;
} rec_ledger;

typedef struct rec_idem {         /* followed by the result bytes */
    uint8_t fingerprint[STORE_FINGERPRINT_BYTES];
    int64_t stored_at_ms;
} rec_idem;

typedef struct rec_concert {      /* followed by title bytes, then venue bytes */
    uint32_t schedules;           /* performances created so far */
    uint16_t title_len;
    uint16_t venue_len;
} rec_concert;

typedef struct rec_schedule {     /* followed by int64 prices[seats] */
    uint64_t concert_id;
    int64_t starts_at_ms;
    uint32_t seats;
    uint32_t pad;
} rec_schedule;

typedef struct rec_seat {
    uint64_t reservation_id;      /* the hold or sale occupying the seat */
    int64_t expires_at_ms;        /* of the hold; ignored once sold */
    user_id user;
    uint32_t sold;
    uint32_t pad;
} rec_seat;

typedef struct rec_reservation {
    uint64_t schedule_id;
    uint64_t concert_id;
    uint64_t payment_id;
    int64_t price_krw;
    int64_t expires_at_ms;
    user_id user;
    uint32_t seat_no;
    uint32_t status;              /* store_reservation_status as stored */
} rec_reservation;

typedef struct rec_payment {      /* followed by uint64 reservation_ids[n] */
    user_id user;
    uint64_t concert_id;
    int64_t amount_krw;
    int64_t paid_at_ms;
    uint32_t n_reservations;
    uint32_t pad;
} rec_payment;

/* Queue records (schema 3). Admission runs in "order": an entry's place in
 * line, its seq unless the pre-queue draw gave it a drawn rank. */
enum rec_queue_flags {
    QUEUE_PAUSED = 1u << 0,       /* admin.queue.set paused: the tick admits nobody */
    QUEUE_DRAWN = 1u << 1,        /* the pre-queue draw happened (orders 1..drawn_n ranked) */
};

typedef struct rec_queue {
    uint64_t next_seq;            /* seq the next arrival gets (starts at 1) */
    uint64_t admit_next;          /* lowest order neither admitted nor skipped as dropped */
    uint64_t waiting;             /* WAITING entries: not admitted, not dropped */
    uint64_t admitted_total;      /* entries ever admitted */
    uint64_t dropped_total;       /* entries ever dropped (ABANDONED) */
    uint64_t version;             /* +1 on every admission, drop, draw and control change */
    int64_t opens_at_ms;          /* pre-queue opening time; 0 = none */
    int64_t next_admit_us;        /* rate limit: earliest time (us) of the next admission */
    uint64_t drawn_n;             /* early arrivals the draw ranked (seqs 1..drawn_n) */
    uint32_t max_active;          /* operator override; 0 = --max-active */
    uint32_t admit_rate_per_min;  /* 0 = no limit */
    uint32_t flags;               /* rec_queue_flags */
    uint32_t max_active_peak;     /* largest cap any admission used (usher-check's bound) */
} rec_queue;

typedef struct rec_queue_entry {
    user_id user;
    int64_t active_until_ms;      /* 0 until admitted */
    int64_t entered_at_ms;
    int64_t seen_at_ms;           /* enter, admission and store_queue_touch */
    uint64_t order;               /* place in admission order; 0 before the pre-queue draw */
    uint32_t expired;             /* set by payment, active-idle, or when met past active_until */
    uint32_t dropped;             /* ABANDONED while WAITING */
} rec_queue_entry;

#define QUEUE_DROP_BLOCK 1024     /* orders per rec_queue_drops */
typedef struct rec_queue_drops {
    uint32_t count;               /* bits set */
    uint32_t pad;
    uint64_t bits[QUEUE_DROP_BLOCK / 64];  /* bit i: order block * 1024 + i was dropped */
} rec_queue_drops;

/* DB_QUEUE_IDLE's first key byte: which walk the entry is in. */
#define QUEUE_IDLE_WAITING 'W'
#define QUEUE_IDLE_ACTIVE 'A'
#define QUEUE_IDLE_KEY_LEN (1 + 8 + 8 + 8)

_Static_assert(sizeof(rec_user) == 40, "rec_user layout");
_Static_assert(sizeof(rec_ledger) == 40, "rec_ledger layout");
_Static_assert(sizeof(rec_idem) == 40, "rec_idem layout");
_Static_assert(sizeof(rec_concert) == 8, "rec_concert layout");
_Static_assert(sizeof(rec_schedule) == 24, "rec_schedule layout");
_Static_assert(sizeof(rec_seat) == 40, "rec_seat layout");
_Static_assert(sizeof(rec_reservation) == 64, "rec_reservation layout");
_Static_assert(sizeof(rec_payment) == 48, "rec_payment layout");
_Static_assert(sizeof(rec_queue) == 88, "rec_queue layout");
_Static_assert(sizeof(rec_queue_entry) == 56, "rec_queue_entry layout");
_Static_assert(sizeof(rec_queue_drops) == 136, "rec_queue_drops layout");

/* A seat is taken while sold or under a live hold; an expired hold frees it
 * at once, and a cancelled hold has no seat record at all. */
static inline bool seat_taken(const rec_seat *seat, int64_t now_ms)
{
    return seat->sold || seat->expires_at_ms > now_ms;
}

/* ---- key encoding ---- */

static inline void key_put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) { p[i] = (unsigned char)v; v >>= 8; }
}

static inline uint64_t key_get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

static inline void key_put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--) { p[i] = (unsigned char)v; v >>= 8; }
}

static inline uint32_t key_get_u32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Signed times sort correctly once the sign bit is flipped. */
static inline void key_put_time(unsigned char *p, int64_t t)
{
    key_put_u64(p, (uint64_t)t ^ UINT64_C(0x8000000000000000));
}

static inline int64_t key_get_time(const unsigned char *p)
{
    return (int64_t)(key_get_u64(p) ^ UINT64_C(0x8000000000000000));
}

static inline bool user_eq(const user_id *a, const user_id *b)
{
    return memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

static inline int64_t add_sat(int64_t a, int64_t b)   /* saturating a + b, b >= 0 */
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* ---- LMDB access (store_env.c) ---- */

/* The one mapping from LMDB codes: MAP_FULL and a full disk (ENOSPC, EDQUOT,
 * EFBIG) -> STORAGE_FULL; TXN_FULL (one batch too big) -> OVERLOADED; any
 * other failure -> INTERNAL; each with one stderr line naming where. */
usher_err store_mdb_err(store *st, int rc, const char *where);

/* The LMDB name of a database ("seats"), and the meta key of a counter. */
const char *store_db_name(enum store_db db);
const char *store_counter_key(enum store_counter counter);

/* mdb_get; returns the LMDB code (0, MDB_NOTFOUND or a failure). */
int store_get(store_txn *t, enum store_db db, const void *key, size_t key_len, MDB_val *val);

/* mdb_get as usher_err: NOT_FOUND when absent. */
usher_err store_get_val(store_txn *t, enum store_db db, const void *key, size_t key_len,
                        MDB_val *val);

/* store_get_val in a database keyed by a big-endian u64 id. */
usher_err store_get_by_id(store_txn *t, enum store_db db, uint64_t id, MDB_val *val);

/* mdb_get copying exactly len bytes into out. NOT_FOUND when absent;
 * INTERNAL when the stored value is shorter. */
usher_err store_get_rec(store_txn *t, enum store_db db, const void *key, size_t key_len,
                        void *out, size_t len);

/* Records that a write succeeded in t. store_mdb_put and store_mdb_cursor_del
 * call it, or the commit would not know it has dirty pages, and
 * store_data_syncs would under-count. */
static inline void store_note_write(store_txn *t)
{
    t->wrote = true;
}

/* Every write to LMDB goes through these two (or store_put / store_del
 * over them): in a child they first copy the key's old value to the undo log;
 * a failure that poisons the MDB txn marks the top-level txn broken; success
 * notes the write. They return LMDB's code (MDB_RESERVE fills v as usual). */
int store_mdb_put(store_txn *t, enum store_db db, MDB_val *k, MDB_val *v, unsigned flags);
int store_mdb_cursor_del(store_txn *t, enum store_db db, MDB_cursor *cur);

/* mdb_put with flags. */
usher_err store_put(store_txn *t, enum store_db db, const void *key, size_t key_len,
                    const void *val, size_t val_len, unsigned flags);

/* mdb_del of a key; absent is fine. */
usher_err store_del(store_txn *t, enum store_db db, const void *key, size_t key_len);

/* This txn's cursor on db, opened on first use; owned by the txn. */
usher_err store_cursor(store_txn *t, enum store_db db, MDB_cursor **out);

/* In a database keyed user | u64 id: positions cur on the user's newest key
 * with id < before (0: no bound). MDB_NOTFOUND when there is none. */
int store_seek_user_before(MDB_cursor *cur, const user_id *user, uint64_t before,
                           MDB_val *k, MDB_val *v);

/* Steps cur to the same user's next older key; MDB_NOTFOUND past the last. */
int store_step_user_older(MDB_cursor *cur, const user_id *user, MDB_val *k, MDB_val *v);

/* Issues the next id of a counter (1, 2, ...) inside the write txn. */
usher_err store_next_id(store_txn *t, enum store_counter counter, uint64_t *id);

/* A read snapshot whose pages were all walked (store_pages.h) before
 * anything read them: LMDB aborts on some damaged pages rather than fail.
 * While writers in other processes rewrite the walked snapshot's meta page
 * it takes a newer one, up to STORE_PAGES_TRIES times. SOUND: *out (when
 * not NULL) is that snapshot, to end with store_txn_end; otherwise no txn
 * is left open. report->txnid names the last snapshot walked. */
#define STORE_PAGES_TRIES 20
store_pages_outcome store_read_begin_verified(store *st, store_txn **out,
                                              store_pages_report *report);

/* Copies len bytes into memory that lives until the txn ends. */
usher_err store_keep_copy(store_txn *t, const void *bytes, size_t len, const void **out);

/* ---- shared between modules ---- */

/* A schedule's header and its price list (valid while the txn is unchanged). */
typedef struct schedule_view {
    rec_schedule rec;
    const unsigned char *prices;  /* int64 prices[rec.seats], unaligned */
} schedule_view;

/* OK when the concert exists, NOT_FOUND when not (store_catalog.c). */
usher_err store_concert_exists(store_txn *t, uint64_t concert_id);

/* Loads a schedule (store_catalog.c). NOT_FOUND when absent. */
usher_err store_schedule_load(store_txn *t, uint64_t schedule_id, schedule_view *out);

/* Price of seat seat_no (1-based) of a loaded schedule. */
int64_t schedule_view_price(const schedule_view *v, uint32_t seat_no);

/* Key of a seat record: schedule_id | seat_no. */
#define SEAT_KEY_LEN (8 + 4)
static inline void seat_key(unsigned char key[SEAT_KEY_LEN], uint64_t schedule_id, uint32_t seat_no)
{
    key_put_u64(key, schedule_id);
    key_put_u32(key + 8, seat_no);
}

/* Appends a ledger entry and moves the balance (store_wallet.c).
 * The caller has checked the limits. */
usher_err store_wallet_append(store_txn *t, const user_id *user, store_ledger_kind kind,
                              int64_t amount_krw, int64_t now_ms, uint64_t payment_id,
                              int64_t *balance_after_krw);

/* Loads and saves reservation records (store_holds.c). */
usher_err store_reservation_load(store_txn *t, uint64_t reservation_id, rec_reservation *out);
usher_err store_reservation_save(store_txn *t, uint64_t reservation_id, const rec_reservation *rec);

/* Status of a stored reservation as of now_ms. */
store_reservation_status reservation_status_now(const rec_reservation *rec, int64_t now_ms);

/* Fills a public reservation from its record, status as of now_ms. */
void reservation_fill(uint64_t reservation_id, const rec_reservation *rec, int64_t now_ms,
                      store_reservation *out);

/* Removes a reservation from the HELD and expiry indexes. */
usher_err store_hold_unindex(store_txn *t, uint64_t reservation_id, const rec_reservation *rec);

/* Expires an admitted queue entry of user at once (store_queue.c); entries
 * that are unknown, still waiting or someone else's are left alone. */
usher_err store_queue_expire_entry(store_txn *t, const user_id *user, uint64_t concert_id,
                                   uint64_t seq);

/* Expires overdue ACTIVE entries of one concert and fills its free slots in
 * sequence order; *admitted (may be NULL) gets the count added. */
usher_err store_queue_admit(store_txn *t, uint64_t concert_id, int64_t now_ms, uint32_t *admitted);

/* Rewrites a schema 2 dir's queue records and entries in the schema 3
 * layout and indexes live entries as seen at now_ms (store_queue_upgrade.c;
 * the raw txn of store_open, databases open). */
int store_queue_upgrade_v2(MDB_txn *txn, const MDB_dbi *dbi, int64_t now_ms);

/* Order space (store_queue_index.c): the dropped-order index and the draw. */
/* Dropped orders below order (1-based orders; cost grows with log of the order). */
usher_err queue_drops_below(store_txn *t, uint64_t concert_id, uint64_t order, uint64_t *n);
/* Whether order was dropped. */
usher_err queue_drop_is_set(store_txn *t, uint64_t concert_id, uint64_t order, bool *set);
/* Marks order dropped (block bit, block count, Fenwick sums). */
usher_err queue_drop_mark(store_txn *t, uint64_t concert_id, uint64_t order);
/* The first order in [from, limit) not dropped, else limit: one block read
 * per 1024 orders at most, so a long run of drops is passed quickly. */
usher_err queue_next_kept(store_txn *t, uint64_t concert_id, uint64_t from, uint64_t limit,
                          uint64_t *order);
/* Forgets every dropped order of the concert (the draw re-marks them). */
usher_err queue_drops_clear(store_txn *t, uint64_t concert_id);
/* The Fenwick node indexes: blocks b (0-based) live at node b + 1, and
 * node i sums blocks (i - lowbit(i), i]. QUEUE_DROP_NODES bounds i. */
#define QUEUE_DROP_NODES (UINT64_C(1) << 32)

#endif
