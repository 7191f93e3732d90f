/* The store's business rules that need no stored record, written once for
 * both backends (server/store_*.c, LMDB; server/store_pg_*.c, PostgreSQL):
 * each store operation checks its arguments here first, in the order
 * store.h and PROTOCOL.md give, before it reads anything. Every function
 * returns OK when the rule lets the call through, else the refusal. */
#ifndef USHER_SERVER_STORE_RULES_H
#define USHER_SERVER_STORE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "store.h"

/* store_wallet_charge: INVALID_ARGUMENT for amount <= 0, AMOUNT_LIMIT above
 * the policy's max_charge (the balance limit needs the balance: the
 * backend's). */
usher_err store_rule_charge(const store_policy *policy, int64_t amount_krw);

/* store_schedule_create: INVALID_ARGUMENT unless 1 <= seats <= STORE_SEATS_MAX
 * and every price is >= 0. */
usher_err store_rule_schedule(uint32_t seats, const int64_t *prices_krw);

/* store_payment_pay: INVALID_ARGUMENT unless 1 <= n <= the policy's
 * max_holds (<= STORE_HOLDS_MAX) and the ids are distinct. */
usher_err store_rule_payment(const store_policy *policy, const uint64_t *reservation_ids, size_t n);

/* store_queue_control_set: INVALID_ARGUMENT, *bad_param (may be NULL) naming
 * it, for a max_active or admit_rate_per_min out of range. */
usher_err store_rule_queue_controls(const store_queue_control_change *change,
                                    const char **bad_param);

/* The pre-queue draw: rank_seq[0..n) becomes a uniformly random
 * permutation of the seqs 1..n (Fisher-Yates on libsodium's
 * randombytes_uniform; n <= UINT32_MAX): rank r + 1 goes to rank_seq[r]. */
void store_rule_draw(uint64_t *rank_seq, uint64_t n);

/* store_payment_pay, once a reservation is the payer's, of its concert: by
 * its status as of now, OK (HELD), ALREADY_PAID (CONFIRMED) or HOLD_EXPIRED
 * (EXPIRED or CANCELLED). */
usher_err store_rule_pay(store_reservation_status status_now);

/* INVALID_ARGUMENT with *bad_param (may be NULL) = name. */
usher_err store_rule_refuse(const char **bad_param, const char *name);

/* store_reservation_cancel, once the reservation is the caller's: by its
 * status as of now, OK to cancel it (HELD), OK with *already true
 * (CANCELLED: the same reservation back), ALREADY_PAID (CONFIRMED) or
 * HOLD_EXPIRED (EXPIRED). */
usher_err store_rule_cancel(store_reservation_status status_now, bool *already);

#endif
