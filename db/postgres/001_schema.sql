-- Usher on PostgreSQL, schema version 1. Applied by usherd at start, in one
-- transaction under an advisory lock (server/store_pg_migrate.c). Every table
-- lives in the schema "usher". Times are wall-clock milliseconds (bigint),
-- decided by the server's clock as on LMDB; ids are bigint, user ids the 16
-- bytes of a UUID. docs/store-schema.md describes the tables and
-- docs/DESIGN.md argues why each write is race-free under READ COMMITTED.

-- One row: the signing key every host shares (store_shared_key).
CREATE TABLE signing_key (
    id          smallint PRIMARY KEY CHECK (id = 1),
    key         bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Named counters and versions (revocations_version).
CREATE TABLE meta (
    name   text PRIMARY KEY,
    value  bigint NOT NULL
);
INSERT INTO meta VALUES ('revocations_version', 0);

-- Ids: sequences (unique and increasing; a rolled-back request leaves a gap).
CREATE SEQUENCE concert_ids;
CREATE SEQUENCE schedule_ids;
CREATE SEQUENCE reservation_ids;
CREATE SEQUENCE payment_ids;
CREATE SEQUENCE ledger_ids;

-- Every write that reads then changes one user's rows (holds, wallet,
-- payments) first takes that user's transaction-scoped advisory lock
-- (pg_lock_user in server/store_pg_internal.h), so one user's writes are
-- serialized on every host.
CREATE TABLE users (
    user_id        bytea PRIMARY KEY CHECK (length(user_id) = 16),
    secret_hash    bytea NOT NULL,
    created_at_ms  bigint NOT NULL,
    revoked_at_ms  bigint
);

-- A wallet's balance (no row: 0), kept equal to the ledger's last
-- balance_after by every write.
CREATE TABLE wallets (
    user_id      bytea PRIMARY KEY,
    balance_krw  bigint NOT NULL CHECK (balance_krw >= 0)
);
CREATE INDEX users_revoked ON users (revoked_at_ms) WHERE revoked_at_ms IS NOT NULL;

-- The wallet's ledger: the balance is the sum of a user's entries.
CREATE TABLE ledger (
    entry_id           bigint PRIMARY KEY,
    user_id            bytea NOT NULL,
    kind               smallint NOT NULL CHECK (kind IN (1, 2)),
    amount_krw         bigint NOT NULL,
    balance_after_krw  bigint NOT NULL CHECK (balance_after_krw >= 0),
    at_ms              bigint NOT NULL,
    payment_id         bigint NOT NULL DEFAULT 0
);
CREATE INDEX ledger_by_user ON ledger (user_id, entry_id);

-- Idempotency records: (user, method, request_id) -> the first success.
CREATE TABLE idem (
    user_id        bytea NOT NULL,
    method         text NOT NULL,
    request_id     bytea NOT NULL,
    fingerprint    bytea NOT NULL,
    stored_at_ms   bigint NOT NULL,
    result         bytea NOT NULL,
    PRIMARY KEY (user_id, method, request_id)
);
CREATE INDEX idem_age ON idem (stored_at_ms);

CREATE TABLE concerts (
    concert_id  bigint PRIMARY KEY,
    title       text NOT NULL,
    venue       text NOT NULL DEFAULT '',
    schedules   integer NOT NULL DEFAULT 0
);

CREATE TABLE schedules (
    schedule_id   bigint PRIMARY KEY,
    concert_id    bigint NOT NULL REFERENCES concerts,
    starts_at_ms  bigint NOT NULL,
    seats         integer NOT NULL CHECK (seats > 0)
);
CREATE INDEX schedules_by_concert ON schedules (concert_id, starts_at_ms, schedule_id);

-- One row per seat. reservation_id names the hold or sale occupying it:
-- a hold while sold is false and expires_at_ms is in the future.
CREATE TABLE seats (
    schedule_id     bigint NOT NULL,
    seat_no         integer NOT NULL,
    price_krw       bigint NOT NULL,
    reservation_id  bigint NOT NULL DEFAULT 0,
    user_id         bytea,
    expires_at_ms   bigint NOT NULL DEFAULT 0,
    sold            boolean NOT NULL DEFAULT false,
    PRIMARY KEY (schedule_id, seat_no)
);

CREATE TABLE reservations (
    reservation_id  bigint PRIMARY KEY,
    schedule_id     bigint NOT NULL,
    concert_id      bigint NOT NULL,
    seat_no         integer NOT NULL,
    price_krw       bigint NOT NULL,
    status          smallint NOT NULL CHECK (status BETWEEN 1 AND 4),
    expires_at_ms   bigint NOT NULL,
    user_id         bytea NOT NULL,
    payment_id      bigint NOT NULL DEFAULT 0
);
CREATE INDEX reservations_by_user ON reservations (user_id, reservation_id);
CREATE INDEX reservations_held ON reservations (user_id, schedule_id) WHERE status = 1;
CREATE INDEX reservations_expiry ON reservations (expires_at_ms) WHERE status = 1;
-- No seat is ever sold twice: at most one CONFIRMED reservation per seat.
CREATE UNIQUE INDEX reservations_one_sale ON reservations (schedule_id, seat_no) WHERE status = 2;

CREATE TABLE payments (
    payment_id       bigint PRIMARY KEY,
    user_id          bytea NOT NULL,
    concert_id       bigint NOT NULL,
    amount_krw       bigint NOT NULL,
    paid_at_ms       bigint NOT NULL,
    reservation_ids  bigint[] NOT NULL
);
CREATE INDEX payments_by_user ON payments (user_id, payment_id);

-- One row per concert queue: the row every queue write locks first, so seq
-- numbers are gapless and commit order is queue order.
CREATE TABLE queues (
    concert_id          bigint PRIMARY KEY,
    next_seq            bigint NOT NULL DEFAULT 1,
    admit_next          bigint NOT NULL DEFAULT 1,
    waiting             bigint NOT NULL DEFAULT 0,
    admitted_total      bigint NOT NULL DEFAULT 0,
    dropped_total       bigint NOT NULL DEFAULT 0,
    version             bigint NOT NULL DEFAULT 0,
    opens_at_ms         bigint NOT NULL DEFAULT 0,
    next_admit_us       bigint NOT NULL DEFAULT 0,
    drawn               boolean NOT NULL DEFAULT false,
    drawn_n             bigint NOT NULL DEFAULT 0,
    max_active          integer NOT NULL DEFAULT 0,
    admit_rate_per_min  integer NOT NULL DEFAULT 0,
    paused              boolean NOT NULL DEFAULT false,
    max_active_peak     integer NOT NULL DEFAULT 0,
    last_admit_ms       bigint NOT NULL DEFAULT 0
);

-- Queue entries. ord is the place in admission order (seq, or the drawn
-- rank; NULL before the pre-queue draw). A WAITING entry: active_until_ms = 0,
-- not dropped, not expired.
CREATE TABLE queue_entries (
    concert_id       bigint NOT NULL,
    seq              bigint NOT NULL,
    user_id          bytea NOT NULL,
    ord              bigint,
    active_until_ms  bigint NOT NULL DEFAULT 0,
    entered_at_ms    bigint NOT NULL,
    seen_at_ms       bigint NOT NULL,
    expired          boolean NOT NULL DEFAULT false,
    dropped          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (concert_id, seq)
);
CREATE INDEX queue_entries_by_user ON queue_entries (concert_id, user_id, seq);
CREATE INDEX queue_entries_waiting ON queue_entries (concert_id, ord)
    WHERE active_until_ms = 0 AND NOT dropped AND NOT expired;
CREATE INDEX queue_entries_active ON queue_entries (concert_id, active_until_ms)
    WHERE active_until_ms > 0 AND NOT expired;
CREATE INDEX queue_entries_seen ON queue_entries (seen_at_ms)
    WHERE NOT dropped AND NOT expired;

-- ---- additions: accounts, wallet, idempotency ----

-- ---- additions: catalogue, holds, payments ----

-- The occupied seats (sold, or named by a hold that may have lapsed): the
-- free-seat counts of concert.dates read only these.
CREATE INDEX seats_occupied ON seats (schedule_id) INCLUDE (sold, expires_at_ms)
    WHERE sold OR reservation_id <> 0;

-- ---- additions: waiting room ----
-- Dropped entries by ord: a WAITING entry's position subtracts the drops
-- between admit_next and its ord (drops are few, so counting them is cheap).
CREATE INDEX queue_entries_dropped ON queue_entries (concert_id, ord) WHERE dropped;

-- ---- additions: figures and checks ----

-- Seats sold (store_stats_read), without counting the sales: every change
-- of a seat row's sold flag adds +1 or -1 to one of 16 shards, picked by
-- the writing backend, so concurrent payments on other connections rarely
-- wait on the same row; the figure is the sum of the 16.
CREATE TABLE seats_sold_tally (
    shard  smallint PRIMARY KEY,
    sold   bigint NOT NULL DEFAULT 0
);
INSERT INTO seats_sold_tally SELECT g, 0 FROM generate_series(0, 15) AS g;

CREATE FUNCTION seats_sold_tally_count() RETURNS trigger LANGUAGE plpgsql
SET search_path = usher AS $$
DECLARE
    delta integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        delta := NEW.sold::integer;
    ELSIF TG_OP = 'DELETE' THEN
        delta := -OLD.sold::integer;
    ELSE
        delta := NEW.sold::integer - OLD.sold::integer;
    END IF;
    IF delta <> 0 THEN
        UPDATE seats_sold_tally SET sold = sold + delta WHERE shard = pg_backend_pid() % 16;
    END IF;
    RETURN NULL;
END
$$;
-- Only rows that move the tally call the function (a hold's UPDATE, which
-- leaves sold out, fires nothing).
CREATE TRIGGER seats_sold_tally_insert AFTER INSERT ON seats
    FOR EACH ROW WHEN (NEW.sold) EXECUTE FUNCTION seats_sold_tally_count();
CREATE TRIGGER seats_sold_tally_delete AFTER DELETE ON seats
    FOR EACH ROW WHEN (OLD.sold) EXECUTE FUNCTION seats_sold_tally_count();
CREATE TRIGGER seats_sold_tally_update AFTER UPDATE OF sold ON seats
    FOR EACH ROW WHEN (OLD.sold IS DISTINCT FROM NEW.sold) EXECUTE FUNCTION seats_sold_tally_count();

-- A user id as usher-check prints it (a UUID; hex when not 16 bytes).
CREATE FUNCTION user_text(id bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN length(id) = 16 THEN encode(id, 'hex')::uuid::text
                ELSE coalesce(encode(id, 'hex'), 'NULL') END
$$;

-- A reservation's status as usher-check prints it.
CREATE FUNCTION status_text(status smallint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce((ARRAY['HELD', 'CONFIRMED', 'EXPIRED', 'CANCELLED'])[status], 'invalid')
$$;
