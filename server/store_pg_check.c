/* usher-check on PostgreSQL (store_check_run in store_check.h): the
 * invariants of server/store_check*.c that mean something relationally,
 * each one SQL that returns its violating rows as (check, detail), under
 * the LMDB checker's names. One read transaction (one REPEATABLE READ
 * snapshot) runs them all; the checks of an area travel as one statement
 * (UNION ALL), so a run is six round trips and six prepared statements.
 *
 * Left out, because PostgreSQL itself keeps them: storage.damaged and
 * record.format (types and CHECK constraints), meta.schema (the migrations'
 * version is checked at open), ids.unique (ledger.entry_id is a primary
 * key), every index.* and idem.age_index (LMDB's hand-kept indexes; here
 * the database's), idem.result_ref (the result is opaque bytes). Added:
 * wallet.balance (the wallets row is the ledger's last balance) and
 * seat.sold_tally (the counter store_stats_read reads). */
#include <stdio.h>
#include <string.h>
#include "clock.h"
#include "store_pg_internal.h"

/* Rows read, and the snapshot's oldest running transaction. Being the
 * first statement, it takes the snapshot every later one sees. */
static const char sql_records[] =
    "SELECT txid_snapshot_xmin(txid_current_snapshot()),"
    "  (SELECT count(*) FROM signing_key) + (SELECT count(*) FROM meta)"
    "  + (SELECT count(*) FROM users) + (SELECT count(*) FROM wallets)"
    "  + (SELECT count(*) FROM ledger) + (SELECT count(*) FROM idem)"
    "  + (SELECT count(*) FROM concerts) + (SELECT count(*) FROM schedules)"
    "  + (SELECT count(*) FROM seats) + (SELECT count(*) FROM reservations)"
    "  + (SELECT count(*) FROM payments) + (SELECT count(*) FROM queues)"
    "  + (SELECT count(*) FROM queue_entries) + (SELECT count(*) FROM seats_sold_tally)";

/* ---- seats, holds, reservations, payments: $1 now_ms, $2 max_holds ---- */

#define SEAT_SCHEDULE                                                                          \
    "SELECT 'seat.schedule', format('seat %s of schedule %s: no such performance or seat',"     \
    "       s.seat_no, s.schedule_id)"                                                          \
    "  FROM seats s LEFT JOIN schedules sc ON sc.schedule_id = s.schedule_id"                   \
    " WHERE sc.schedule_id IS NULL OR s.seat_no < 1 OR s.seat_no > sc.seats"                    \
    " UNION ALL "                                                                               \
    "SELECT 'seat.schedule', format('schedule %s has %s seats but rows for %s of them',"        \
    "       sc.schedule_id, sc.seats, count(s.seat_no))"                                        \
    "  FROM schedules sc LEFT JOIN seats s ON s.schedule_id = sc.schedule_id"                   \
    "       AND s.seat_no BETWEEN 1 AND sc.seats"                                               \
    " GROUP BY sc.schedule_id, sc.seats HAVING count(s.seat_no) <> sc.seats"

#define SEAT_SOLD_OWNER                                                                        \
    "SELECT 'seat.sold_owner', CASE WHEN r.reservation_id IS NULL"                              \
    "  THEN format('seat %s of schedule %s is sold to reservation %s, which does not exist',"   \
    "              s.seat_no, s.schedule_id, s.reservation_id)"                                 \
    "  ELSE format('seat %s of schedule %s is sold to reservation %s (user %s), which is %s"    \
    " for seat %s of schedule %s', s.seat_no, s.schedule_id, s.reservation_id,"                 \
    "              user_text(s.user_id), status_text(r.status), r.seat_no, r.schedule_id) END"  \
    "  FROM seats s LEFT JOIN reservations r ON r.reservation_id = s.reservation_id"            \
    " WHERE s.sold AND (r.reservation_id IS NULL OR r.status <> 2"                              \
    "       OR r.schedule_id <> s.schedule_id OR r.seat_no <> s.seat_no"                        \
    "       OR r.user_id IS DISTINCT FROM s.user_id)"                                           \
    " UNION ALL "                                                                               \
    "SELECT 'seat.sold_owner', format('reservation %s is CONFIRMED but seat %s of schedule %s"  \
    " is not sold to it', r.reservation_id, r.seat_no, r.schedule_id)"                          \
    "  FROM reservations r LEFT JOIN seats s"                                                   \
    "       ON s.schedule_id = r.schedule_id AND s.seat_no = r.seat_no"                         \
    " WHERE r.status = 2 AND (s.seat_no IS NULL OR NOT s.sold"                                  \
    "       OR s.reservation_id <> r.reservation_id)"

/* Only a live hold must own its seat: a lapsed one may be left as it was
 * until the tick, or its seat already taken over. */
#define SEAT_HOLD_RESERVATION                                                                  \
    "SELECT 'seat.hold_reservation', CASE WHEN r.reservation_id IS NULL"                        \
    "  THEN format('seat %s of schedule %s is held by reservation %s, which does not exist',"   \
    "              s.seat_no, s.schedule_id, s.reservation_id)"                                 \
    "  ELSE format('seat %s of schedule %s is held by reservation %s until %s, which is %s"     \
    " for seat %s of schedule %s until %s', s.seat_no, s.schedule_id, s.reservation_id,"        \
    "              s.expires_at_ms, status_text(r.status), r.seat_no, r.schedule_id,"           \
    "              r.expires_at_ms) END"                                                        \
    "  FROM seats s LEFT JOIN reservations r ON r.reservation_id = s.reservation_id"            \
    " WHERE NOT s.sold AND s.reservation_id <> 0 AND s.expires_at_ms > $1::bigint"              \
    "   AND (r.reservation_id IS NULL OR r.status <> 1 OR r.schedule_id <> s.schedule_id"       \
    "        OR r.seat_no <> s.seat_no OR r.user_id IS DISTINCT FROM s.user_id"                 \
    "        OR r.expires_at_ms <> s.expires_at_ms)"

#define SEAT_DOUBLE_HOLD                                                                       \
    "SELECT 'seat.double_hold', format('seat %s of schedule %s has %s live holds:"              \
    " reservations %s', seat_no, schedule_id, count(*),"                                        \
    "       string_agg(reservation_id::text, ' and ' ORDER BY reservation_id))"                 \
    "  FROM reservations WHERE status = 1 AND expires_at_ms > $1::bigint"                       \
    " GROUP BY schedule_id, seat_no HAVING count(*) > 1"

#define SEAT_SOLD_TALLY                                                                        \
    "SELECT 'seat.sold_tally', format('seats_sold_tally counts %s seats sold but %s are',"      \
    "       t.n, s.n)"                                                                          \
    "  FROM (SELECT coalesce(sum(sold), 0) AS n FROM seats_sold_tally) t,"                      \
    "       (SELECT count(*) AS n FROM seats WHERE sold) s"                                     \
    " WHERE t.n <> s.n"

#define HOLD_SEAT_BACKREF                                                                      \
    "SELECT 'hold.seat_backref', format('reservation %s holds seat %s of schedule %s until %s"  \
    " but the seat does not name it', r.reservation_id, r.seat_no, r.schedule_id,"              \
    "       r.expires_at_ms)"                                                                   \
    "  FROM reservations r LEFT JOIN seats s"                                                   \
    "       ON s.schedule_id = r.schedule_id AND s.seat_no = r.seat_no"                         \
    " WHERE r.status = 1 AND r.expires_at_ms > $1::bigint"                                      \
    "   AND (s.seat_no IS NULL OR s.sold OR s.reservation_id <> r.reservation_id)"

#define HOLD_LIMIT                                                                             \
    "SELECT 'hold.limit', format('user %s has %s live holds on schedule %s, more than %s',"     \
    "       user_text(user_id), count(*), schedule_id, $2::bigint)"                             \
    "  FROM reservations WHERE status = 1 AND expires_at_ms > $1::bigint"                       \
    " GROUP BY user_id, schedule_id HAVING count(*) > $2::bigint"

#define RESERVATION_SCHEDULE                                                                   \
    "SELECT 'reservation.schedule', format('reservation %s: seat %s of schedule %s in concert"  \
    " %s at %s KRW does not match the performance', r.reservation_id, r.seat_no,"               \
    "       r.schedule_id, r.concert_id, r.price_krw)"                                          \
    "  FROM reservations r LEFT JOIN schedules sc ON sc.schedule_id = r.schedule_id"            \
    "       LEFT JOIN seats s ON s.schedule_id = r.schedule_id AND s.seat_no = r.seat_no"       \
    " WHERE sc.schedule_id IS NULL OR sc.concert_id <> r.concert_id OR r.seat_no < 1"           \
    "    OR r.seat_no > sc.seats OR s.seat_no IS NULL OR s.price_krw <> r.price_krw"

#define RESERVATION_PAYMENT                                                                    \
    "SELECT 'reservation.payment', CASE WHEN p.payment_id IS NULL"                              \
    "  THEN format('reservation %s is CONFIRMED by payment %s, which does not exist',"          \
    "              r.reservation_id, r.payment_id)"                                             \
    "  ELSE format('reservation %s (user %s, concert %s) names payment %s (user %s, concert"    \
    " %s), which %s it', r.reservation_id, user_text(r.user_id), r.concert_id, p.payment_id,"   \
    "              user_text(p.user_id), p.concert_id, CASE WHEN r.reservation_id ="            \
    "              ANY (p.reservation_ids) THEN 'lists' ELSE 'does not list' END) END"          \
    "  FROM reservations r LEFT JOIN payments p ON p.payment_id = r.payment_id"                 \
    " WHERE r.status = 2 AND (p.payment_id IS NULL"                                             \
    "       OR NOT (r.reservation_id = ANY (p.reservation_ids))"                                \
    "       OR p.user_id <> r.user_id OR p.concert_id <> r.concert_id)"                         \
    " UNION ALL "                                                                               \
    "SELECT 'reservation.payment', format('reservation %s is %s but names payment %s',"         \
    "       reservation_id, status_text(status), payment_id)"                                   \
    "  FROM reservations WHERE status <> 2 AND payment_id <> 0"                                 \
    " UNION ALL "                                                                               \
    "SELECT 'reservation.payment', CASE"                                                        \
    "  WHEN l.n > 1 THEN format('payment %s lists reservation %s %s times', l.payment_id,"      \
    "                           l.id, l.n)"                                                     \
    "  WHEN r.reservation_id IS NULL THEN format('payment %s lists reservation %s, which does"  \
    " not exist', l.payment_id, l.id)"                                                          \
    "  ELSE format('payment %s lists reservation %s, which is %s under payment %s',"            \
    "              l.payment_id, l.id, status_text(r.status), r.payment_id) END"                \
    "  FROM (SELECT p.payment_id, x.id, count(*) AS n"                                          \
    "          FROM payments p CROSS JOIN LATERAL unnest(p.reservation_ids) AS x(id)"           \
    "         GROUP BY p.payment_id, x.id) l"                                                   \
    "  LEFT JOIN reservations r ON r.reservation_id = l.id"                                     \
    " WHERE l.n > 1 OR r.reservation_id IS NULL OR r.status <> 2"                               \
    "    OR r.payment_id <> l.payment_id"

/* Judged only when every listed reservation exists (else
 * reservation.payment says which does not). */
#define PAYMENT_AMOUNT                                                                         \
    "SELECT 'payment.amount', format('payment %s is for %s KRW but its %s reservations cost"    \
    " %s', p.payment_id, p.amount_krw, cardinality(p.reservation_ids), c.cost)"                 \
    "  FROM payments p CROSS JOIN LATERAL"                                                      \
    "       (SELECT coalesce(sum(r.price_krw), 0) AS cost, count(r.reservation_id) AS found"    \
    "          FROM unnest(p.reservation_ids) AS x(id)"                                         \
    "          LEFT JOIN reservations r ON r.reservation_id = x.id) c"                          \
    " WHERE c.found = cardinality(p.reservation_ids) AND c.cost <> p.amount_krw"

static const char sql_sales[] =
    SEAT_SCHEDULE " UNION ALL " SEAT_SOLD_OWNER " UNION ALL " SEAT_HOLD_RESERVATION
    " UNION ALL " SEAT_DOUBLE_HOLD " UNION ALL " SEAT_SOLD_TALLY " UNION ALL " HOLD_SEAT_BACKREF
    " UNION ALL " HOLD_LIMIT " UNION ALL " RESERVATION_SCHEDULE " UNION ALL " RESERVATION_PAYMENT
    " UNION ALL " PAYMENT_AMOUNT;

static const char *const names_sales[] = {
    "seat.schedule", "seat.sold_owner", "seat.hold_reservation", "seat.double_hold",
    "seat.sold_tally", "hold.seat_backref", "hold.limit", "reservation.schedule",
    "reservation.payment", "payment.amount", NULL,
};

/* ---- the wallet: $1 balance_limit_krw ---- */

/* A PAYMENT entry counts for its payment when it is the payer's and does
 * not add money (ledger.entry reports the others). */
#define PAYMENT_LEDGER                                                                         \
    "SELECT 'payment.ledger', format('payment %s has %s PAYMENT ledger entries, not one',"      \
    "       p.payment_id, count(l.entry_id))"                                                   \
    "  FROM payments p LEFT JOIN ledger l ON l.kind = 2 AND l.payment_id = p.payment_id"        \
    "       AND l.user_id = p.user_id AND l.amount_krw <= 0"                                    \
    " GROUP BY p.payment_id HAVING count(l.entry_id) <> 1"                                      \
    " UNION ALL "                                                                               \
    "SELECT 'payment.ledger', format('payment %s is for %s KRW but its ledger entry %s"         \
    " (user %s) moves %s', p.payment_id, p.amount_krw, l.entry_id, user_text(l.user_id),"       \
    "       l.amount_krw)"                                                                      \
    "  FROM payments p JOIN ledger l ON l.kind = 2 AND l.payment_id = p.payment_id"             \
    "       AND l.user_id = p.user_id AND l.amount_krw <= 0"                                    \
    " WHERE l.amount_krw <> -p.amount_krw"

#define LEDGER_ENTRY                                                                           \
    "SELECT 'ledger.entry', format('ledger entry %s of user %s: CHARGE of %s KRW naming"        \
    " payment %s', entry_id, user_text(user_id), amount_krw, payment_id)"                       \
    "  FROM ledger WHERE kind = 1 AND (amount_krw <= 0 OR payment_id <> 0)"                     \
    " UNION ALL "                                                                               \
    "SELECT 'ledger.entry', format('ledger entry %s of user %s: PAYMENT of %s KRW names"        \
    " payment %s, which does not exist or is another user''s', l.entry_id,"                     \
    "       user_text(l.user_id), l.amount_krw, l.payment_id)"                                  \
    "  FROM ledger l LEFT JOIN payments p ON p.payment_id = l.payment_id"                       \
    " WHERE l.kind = 2 AND (l.amount_krw > 0 OR l.payment_id = 0 OR p.payment_id IS NULL"       \
    "       OR p.user_id <> l.user_id)"

#define LEDGER_RUNNING_BALANCE                                                                 \
    "SELECT 'ledger.running_balance', format('ledger entry %s of user %s says the balance"      \
    " after it is %s KRW but the entries up to it sum to %s', entry_id, user_text(user_id),"    \
    "       balance_after_krw, running)"                                                        \
    "  FROM (SELECT entry_id, user_id, balance_after_krw,"                                      \
    "               sum(amount_krw) OVER (PARTITION BY user_id ORDER BY entry_id) AS running"   \
    "          FROM ledger) w"                                                                  \
    " WHERE balance_after_krw <> running"

#define WALLET_BALANCE_RANGE                                                                   \
    "SELECT 'wallet.balance_range', format('ledger entry %s of user %s leaves a balance of %s"  \
    " KRW, outside 0..%s', entry_id, user_text(user_id), balance_after_krw, $1::bigint)"        \
    "  FROM ledger WHERE balance_after_krw < 0 OR balance_after_krw > $1::bigint"

/* No wallets row means 0, as no ledger entry does. */
#define WALLET_BALANCE                                                                         \
    "SELECT 'wallet.balance', format('user %s: the wallet holds %s KRW but the ledger''s last"  \
    " balance is %s', user_text(coalesce(w.user_id, l.user_id)), coalesce(w.balance_krw, 0),"   \
    "       coalesce(l.balance_after_krw, 0))"                                                  \
    "  FROM wallets w FULL JOIN (SELECT DISTINCT ON (user_id) user_id, balance_after_krw"       \
    "                              FROM ledger ORDER BY user_id, entry_id DESC) l"              \
    "       ON l.user_id = w.user_id"                                                           \
    " WHERE coalesce(w.balance_krw, 0) <> coalesce(l.balance_after_krw, 0)"

static const char sql_wallet[] =
    PAYMENT_LEDGER " UNION ALL " LEDGER_ENTRY " UNION ALL " LEDGER_RUNNING_BALANCE
    " UNION ALL " WALLET_BALANCE_RANGE " UNION ALL " WALLET_BALANCE;

static const char *const names_wallet[] = {
    "payment.ledger", "ledger.entry", "ledger.running_balance", "wallet.balance_range",
    "wallet.balance", NULL,
};

/* ---- the queues: $1 now_ms, $2 max_active ----
 * sound: the queues whose counters can be judged against (queue.record
 * reports the others); ent: their entries with what each state means.
 * An entry is admitted once it has an active_until; its ord is its place
 * in admission order (NULL before a pre-queue's draw), so FIFO is "below
 * admit_next admitted or dropped, at or above it never admitted". */

#define QUEUE_WITH                                                                             \
    "WITH sound AS (SELECT * FROM queues"                                                       \
    "                WHERE next_seq >= 1 AND admit_next BETWEEN 1 AND next_seq),"               \
    " ent AS (SELECT e.concert_id, e.seq, e.user_id, e.ord, e.expired, e.dropped,"              \
    "                e.active_until_ms <> 0 AS admitted, q.next_seq, q.admit_next,"             \
    "                q.drawn, q.drawn_n, q.opens_at_ms <> 0 AND NOT q.drawn AS undrawn,"        \
    "                NOT e.dropped AND (e.active_until_ms = 0 OR (NOT e.expired"                \
    "                    AND e.active_until_ms > $1::bigint)) AS live"                          \
    "           FROM queue_entries e JOIN sound q ON q.concert_id = e.concert_id) "

#define QUEUE_RECORD                                                                           \
    "SELECT 'queue.record', format('queue of concert %s: no such concert', q.concert_id)"       \
    "  FROM queues q"                                                                           \
    " WHERE NOT EXISTS (SELECT 1 FROM concerts c WHERE c.concert_id = q.concert_id)"            \
    " UNION ALL "                                                                               \
    "SELECT 'queue.record', format('queue of concert %s: admit_next %s, next_seq %s',"          \
    "       concert_id, admit_next, next_seq)"                                                  \
    "  FROM queues WHERE NOT (next_seq >= 1 AND admit_next BETWEEN 1 AND next_seq)"             \
    " UNION ALL "                                                                               \
    "SELECT 'queue.record', format('concert %s has queue entries but no queue record',"         \
    "       e.concert_id)"                                                                      \
    "  FROM (SELECT DISTINCT concert_id FROM queue_entries) e"                                  \
    " WHERE NOT EXISTS (SELECT 1 FROM queues q WHERE q.concert_id = e.concert_id)"

#define QUEUE_SEQ_GAPLESS                                                                      \
    "SELECT 'queue.seq_gapless', format('concert %s: queue entry %s where %s was due"           \
    " (next_seq %s)', concert_id, seq, due, next_seq)"                                          \
    "  FROM (SELECT concert_id, seq, next_seq, coalesce(lag(seq) OVER"                          \
    "               (PARTITION BY concert_id ORDER BY seq), 0) + 1 AS due FROM ent) g"          \
    " WHERE seq <> due OR seq >= next_seq"                                                      \
    " UNION ALL "                                                                               \
    "SELECT 'queue.seq_gapless', format('concert %s: queue entries end at %s but next_seq is"   \
    " %s', q.concert_id, coalesce(max(e.seq), 0), q.next_seq)"                                  \
    "  FROM sound q LEFT JOIN queue_entries e ON e.concert_id = q.concert_id"                   \
    " GROUP BY q.concert_id, q.next_seq HAVING coalesce(max(e.seq), 0) < q.next_seq - 1"

#define QUEUE_ORDER                                                                            \
    "SELECT 'queue.order', format('concert %s: entry %s (user %s, order %s) is %s admit_next"   \
    " %s but %s', concert_id, seq, user_text(user_id), coalesce(ord::text, 'none'),"            \
    "       CASE WHEN behind THEN 'below' ELSE 'at or above' END, admit_next,"                  \
    "       CASE WHEN admitted THEN 'carries an admission' WHEN expired"                        \
    "            THEN 'is marked expired' ELSE 'was never admitted' END)"                       \
    "  FROM (SELECT ent.*, NOT undrawn AND coalesce(ord, 0) <> 0 AND ord < admit_next"          \
    "               AS behind FROM ent) o"                                                      \
    " WHERE CASE WHEN admitted THEN undrawn OR NOT behind OR dropped"                           \
    "            ELSE expired OR (behind AND NOT dropped) END"

#define QUEUE_COUNTERS                                                                         \
    "SELECT 'queue.counters', format('concert %s: entries say %s waiting, %s admitted, %s"      \
    " dropped; the queue record %s, %s, %s', q.concert_id, c.waiting, c.admitted, c.dropped,"   \
    "       q.waiting, q.admitted_total, q.dropped_total)"                                      \
    "  FROM sound q CROSS JOIN LATERAL"                                                         \
    "       (SELECT count(*) FILTER (WHERE e.active_until_ms = 0 AND NOT e.dropped) AS waiting," \
    "               count(*) FILTER (WHERE e.active_until_ms <> 0) AS admitted,"                \
    "               count(*) FILTER (WHERE e.dropped) AS dropped"                               \
    "          FROM queue_entries e WHERE e.concert_id = q.concert_id) c"                       \
    " WHERE c.waiting <> q.waiting OR c.admitted <> q.admitted_total"                           \
    "    OR c.dropped <> q.dropped_total"

/* After a draw the early arrivals (seq <= drawn_n) hold the ranks
 * 1..drawn_n, one each; every other entry's order is its seq (none
 * before the draw). */
#define QUEUE_DRAW                                                                             \
    "SELECT 'queue.draw', CASE WHEN drawn AND seq <= drawn_n"                                   \
    "  THEN format('concert %s: early arrival %s has rank %s, outside its draw of %s',"         \
    "              concert_id, seq, coalesce(ord::text, 'none'), drawn_n)"                      \
    "  ELSE format('concert %s: entry %s has order %s, not its seq', concert_id, seq,"          \
    "              coalesce(ord::text, 'none')) END"                                            \
    "  FROM ent"                                                                                \
    " WHERE CASE WHEN drawn AND seq <= drawn_n THEN ord IS NULL OR ord < 1 OR ord > drawn_n"    \
    "            ELSE ord IS DISTINCT FROM seq AND NOT (undrawn AND ord IS NULL) END"           \
    " UNION ALL "                                                                               \
    "SELECT 'queue.draw', format('concert %s: rank %s is given to entries %s', concert_id,"     \
    "       ord, string_agg(seq::text, ' and ' ORDER BY seq))"                                  \
    "  FROM ent WHERE drawn AND seq <= drawn_n AND ord IS NOT NULL"                             \
    " GROUP BY concert_id, ord HAVING count(*) > 1"

/* Admission stops at the cap in force, the largest of which the queue
 * records (max_active_peak). */
#define QUEUE_MAX_ACTIVE                                                                       \
    "SELECT 'queue.max_active', format('concert %s has %s live ACTIVE entries, more than"       \
    " max_active %s', q.concert_id, count(*), greatest($2::bigint, q.max_active_peak))"         \
    "  FROM sound q JOIN queue_entries e ON e.concert_id = q.concert_id"                        \
    " WHERE e.active_until_ms > $1::bigint AND NOT e.expired AND NOT e.dropped"                 \
    " GROUP BY q.concert_id, q.max_active_peak"                                                 \
    " HAVING count(*) > greatest($2::bigint, q.max_active_peak)"

#define QUEUE_USER_UNIQUE                                                                      \
    "SELECT 'queue.user_unique', format('concert %s: user %s has %s live entries, %s',"         \
    "       concert_id, user_text(user_id), count(*),"                                          \
    "       string_agg(seq::text, ' and ' ORDER BY seq))"                                       \
    "  FROM ent WHERE live GROUP BY concert_id, user_id HAVING count(*) > 1"

static const char sql_queue[] =
    QUEUE_WITH QUEUE_RECORD " UNION ALL " QUEUE_SEQ_GAPLESS " UNION ALL " QUEUE_ORDER
    " UNION ALL " QUEUE_COUNTERS " UNION ALL " QUEUE_DRAW " UNION ALL " QUEUE_MAX_ACTIVE
    " UNION ALL " QUEUE_USER_UNIQUE;

static const char *const names_queue[] = {
    "queue.record", "queue.seq_gapless", "queue.order", "queue.counters", "queue.draw",
    "queue.max_active", "queue.user_unique", NULL,
};

/* ---- catalogue, ids, revocations: no parameters ---- */

#define CONCERT_SCHEDULES                                                                      \
    "SELECT 'concert.schedules', format('concert %s counts %s performances but has %s',"        \
    "       c.concert_id, c.schedules, count(s.schedule_id))"                                   \
    "  FROM concerts c LEFT JOIN schedules s ON s.concert_id = c.concert_id"                    \
    " GROUP BY c.concert_id, c.schedules HAVING count(s.schedule_id) <> c.schedules"            \
    " UNION ALL "                                                                               \
    "SELECT 'concert.schedules', format('schedule %s belongs to concert %s, which does not"     \
    " exist', s.schedule_id, s.concert_id)"                                                     \
    "  FROM schedules s"                                                                        \
    " WHERE NOT EXISTS (SELECT 1 FROM concerts c WHERE c.concert_id = s.concert_id)"

/* A sequence that has issued nothing yet stands at 0. Sequences are not
 * transactional: a counter read after the snapshot is only higher. */
#define IDS_COUNTER                                                                            \
    "SELECT 'ids.counter', format('%s %s is above the %s counter %s', what, top, counter_name," \
    "       counter)"                                                                           \
    "  FROM (VALUES"                                                                            \
    "   ('concert', (SELECT max(concert_id) FROM concerts), 'concert_ids',"                     \
    "    (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM concert_ids)),"            \
    "   ('schedule', (SELECT max(schedule_id) FROM schedules), 'schedule_ids',"                 \
    "    (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM schedule_ids)),"           \
    "   ('reservation', (SELECT max(reservation_id) FROM reservations), 'reservation_ids',"     \
    "    (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM reservation_ids)),"        \
    "   ('payment', (SELECT max(payment_id) FROM payments), 'payment_ids',"                     \
    "    (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM payment_ids)),"            \
    "   ('ledger entry', (SELECT max(entry_id) FROM ledger), 'ledger_ids',"                     \
    "    (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ledger_ids))"              \
    "  ) AS v(what, top, counter_name, counter)"                                                \
    " WHERE top > counter"

/* A revocation is a column of its user's row, so it always names one;
 * what is left to judge is the version, bumped once per revocation. */
#define REVOCATION_USER                                                                        \
    "SELECT 'revocation.user', format('revocations: %s users revoked but version %s', r.n,"     \
    "       coalesce(m.value::text, 'absent'))"                                                 \
    "  FROM (SELECT count(*) AS n FROM users WHERE revoked_at_ms IS NOT NULL) r"                \
    "  LEFT JOIN meta m ON m.name = 'revocations_version'"                                      \
    " WHERE r.n > coalesce(m.value, 0)"

static const char sql_catalogue[] =
    CONCERT_SCHEDULES " UNION ALL " IDS_COUNTER " UNION ALL " REVOCATION_USER;

static const char *const names_catalogue[] = {
    "concert.schedules", "ids.counter", "revocation.user", NULL,
};

/* ---- the driver ---- */

typedef enum check_params { P_NONE, P_NOW_HOLDS, P_BALANCE_LIMIT, P_NOW_ACTIVE } check_params;

typedef struct check_area {
    const char *sql;
    check_params params;
    const char *const *names;
} check_area;

static const check_area areas[] = {
    { sql_sales, P_NOW_HOLDS, names_sales },
    { sql_wallet, P_BALANCE_LIMIT, names_wallet },
    { sql_queue, P_NOW_ACTIVE, names_queue },
    { sql_catalogue, P_NONE, names_catalogue },
};

static pg_params area_params(check_params kind, const store_check_limits *lim, int64_t now_ms)
{
    pg_params p = { 0 };
    switch (kind) {
    case P_NONE: break;
    case P_NOW_HOLDS: pg_p_i64(&p, now_ms); pg_p_i64(&p, lim->max_holds); break;
    case P_BALANCE_LIMIT: pg_p_i64(&p, lim->balance_limit_krw); break;
    case P_NOW_ACTIVE: pg_p_i64(&p, now_ms); pg_p_i64(&p, lim->max_active); break;
    }
    return p;
}

static unsigned count_names(const char *const *names)
{
    unsigned n = 0;
    while (names[n]) n++;
    return n;
}

/* Runs one area's statement and reports each row it returns. */
static usher_err run_area(store_txn *t, const check_area *a, const store_check_limits *lim,
                          int64_t now_ms, store_check_report_fn report, void *ctx,
                          store_check_summary *out)
{
    pg_params p = area_params(a->params, lim, now_ms);
    PGresult *res;
    usher_err e = pg_read(t, a->sql, &p, &res);
    if (e != USHER_ERR_OK) return e;
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        out->violations++;
        if (report) report(ctx, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
    }
    pg_done(t, res);
    out->checks += count_names(a->names);
    return USHER_ERR_OK;
}

usher_err pg_check_run(store *st, const store_check_limits *lim, int64_t now_ms,
                       store_check_report_fn report, void *ctx, store_check_summary *out)
{
    memset(out, 0, sizeof *out);
    store_txn *t;
    usher_err e = pg_read_begin(st, &t);
    if (e != USHER_ERR_OK) {
        fprintf(stderr, "store check: cannot begin a read transaction on PostgreSQL\n");
        return e;
    }
    /* A check reads every row: no per-statement cap (a lost connection is
     * still noticed, by keepalives and tcp_user_timeout). */
    e = pg_read(t, "SET LOCAL statement_timeout = 0", NULL, NULL);
    PGresult *res;
    if (e == USHER_ERR_OK) e = pg_read(t, sql_records, NULL, &res);
    if (e == USHER_ERR_OK) {
        out->snapshot_txnid = (uint64_t)pg_i64(res, 0, 0);
        out->records = (uint64_t)pg_i64(res, 0, 1);
        pg_done(t, res);
    }
    /* Read after the snapshot was taken (by the statement above): every
     * write it shows was made at or before this instant. */
    out->snapshot_ms = now_ms == STORE_CHECK_NOW ? clock_now_ms() : now_ms;
    for (size_t i = 0; e == USHER_ERR_OK && i < sizeof areas / sizeof areas[0]; i++)
        e = run_area(t, &areas[i], lim, out->snapshot_ms, report, ctx, out);
    pg_txn_end(t);
    return e;
}
