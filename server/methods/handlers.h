/* Every method handler and parameter fingerprint, one per protocol method;
 * the method table (server/method_table.c) binds them to names and flags.
 * Handlers follow server/method.h: decoded params in, one result map out, or
 * an error code; no sockets, no commits, no error formatting. */
#ifndef USHER_SERVER_METHODS_HANDLERS_H
#define USHER_SERVER_METHODS_HANDLERS_H

#include "../method.h"

/* sys.c */
usher_err sys_ping(call *c);
usher_err sys_hello(call *c);
usher_err sys_stats(call *c);
/* account.c */
usher_err user_register(call *c);
usher_err auth_login(call *c);
/* wallet.c */
usher_err wallet_balance(call *c);
usher_err wallet_charge(call *c);
usher_err wallet_charge_fingerprint(call *c, uint8_t fp[STORE_FINGERPRINT_BYTES]);
usher_err wallet_history(call *c);
/* concert.c */
usher_err concert_list(call *c);
usher_err concert_dates(call *c);
usher_err concert_seats(call *c);
/* queue.c */
usher_err queue_enter(call *c);
usher_err queue_status(call *c);

/* queue_watch.c */
usher_err queue_watch(call *c);
usher_err queue_unwatch(call *c);
/* reservation.c */
usher_err seat_reserve(call *c);
usher_err reservation_cancel(call *c);
usher_err reservation_list(call *c);
/* payment.c */
usher_err payment_pay(call *c);
usher_err payment_pay_fingerprint(call *c, uint8_t fp[STORE_FINGERPRINT_BYTES]);
usher_err payment_list(call *c);
/* admin.c */
usher_err admin_concert_create(call *c);
usher_err admin_schedule_create(call *c);
/* admin_session.c */
usher_err admin_session_revoke(call *c);
/* When a session or queue token made for user now counts as issued: now,
 * or just after the user's last revocation when that is not earlier (the
 * same millisecond), so a token issued after a revocation is never taken
 * for a revoked one (tokens carry no issue time: see revocation_cache.h).
 * Its expiry is this plus the kind's lifetime. */
usher_err handler_issued_at(call *c, const user_id *user, int64_t *issued_at_ms);

/* admin_queue.c */
usher_err admin_queue_get(call *c);
usher_err admin_queue_set(call *c);
usher_err admin_queue_open(call *c);

/* The byte budget of a list inside one reply frame. */
size_t handler_page_budget(const call *c);

#endif
