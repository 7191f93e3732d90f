/* Checks of the sale itself: seats, reservations, live holds and payments.
 * Lazy expiry shapes what is legal: a HELD reservation past expires_at is
 * still HELD in storage until the tick, and its seat may already name a
 * newer hold; only holds live at the snapshot's time must own their seat. */
#include <stdlib.h>
#include "store_check_internal.h"

/* A live hold, for the per-seat and per-user groupings. */
typedef struct live_hold {
    uint64_t schedule_id;
    uint32_t seat_no;
    uint32_t pad;
    uint64_t reservation_id;
    user_id user;
} live_hold;

static const char *status_name(uint32_t status)
{
    switch (status) {
    case STORE_RES_HELD: return "HELD";
    case STORE_RES_CONFIRMED: return "CONFIRMED";
    case STORE_RES_EXPIRED: return "EXPIRED";
    case STORE_RES_CANCELLED: return "CANCELLED";
    default: return "invalid";
    }
}

/* ---- seats ---- */

static void check_sold_seat(check_run *r, uint64_t sid, uint32_t seat_no, const rec_seat *seat,
                            const rec_reservation *res, bool found)
{
    char u[CHECK_USER_STR];
    if (!found) {
        check_report(r, "seat.sold_owner",
                     "seat %u of schedule %llu is sold to reservation %llu, which does not exist",
                     seat_no, (unsigned long long)sid, (unsigned long long)seat->reservation_id);
        return;
    }
    if (res->status != STORE_RES_CONFIRMED || res->schedule_id != sid || res->seat_no != seat_no ||
        !user_eq(&res->user, &seat->user))
        check_report(r, "seat.sold_owner",
                     "seat %u of schedule %llu is sold to reservation %llu (user %s), which is %s "
                     "for seat %u of schedule %llu",
                     seat_no, (unsigned long long)sid, (unsigned long long)seat->reservation_id,
                     check_user_str(&seat->user, u), status_name(res->status), res->seat_no,
                     (unsigned long long)res->schedule_id);
}

static void check_held_seat(check_run *r, uint64_t sid, uint32_t seat_no, const rec_seat *seat,
                            const rec_reservation *res, bool found)
{
    if (!found) {
        check_report(r, "seat.hold_reservation",
                     "seat %u of schedule %llu is held by reservation %llu, which does not exist",
                     seat_no, (unsigned long long)sid, (unsigned long long)seat->reservation_id);
        return;
    }
    if (res->status != STORE_RES_HELD || res->schedule_id != sid || res->seat_no != seat_no ||
        !user_eq(&res->user, &seat->user) || res->expires_at_ms != seat->expires_at_ms)
        check_report(r, "seat.hold_reservation",
                     "seat %u of schedule %llu is held by reservation %llu until %lld, which is %s "
                     "for seat %u of schedule %llu until %lld",
                     seat_no, (unsigned long long)sid, (unsigned long long)seat->reservation_id,
                     (long long)seat->expires_at_ms, status_name(res->status), res->seat_no,
                     (unsigned long long)res->schedule_id, (long long)res->expires_at_ms);
}

static void check_seats(check_run *r)
{
    check_iter it;
    check_iter_init(&it, DB_SEATS, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (!check_shape(r, &it, SEAT_KEY_LEN, sizeof(rec_seat)))
            continue;
        uint64_t sid = key_get_u64(it.k.mv_data);
        uint32_t seat_no = key_get_u32((const unsigned char *)it.k.mv_data + 8);
        rec_seat seat;
        memcpy(&seat, it.v.mv_data, sizeof seat);
        schedule_view sched;
        if (!check_load_schedule(r, sid, &sched) || seat_no < 1 || seat_no > sched.rec.seats)
            check_report(r, "seat.schedule",
                         "seat %u of schedule %llu: no such performance or seat", seat_no,
                         (unsigned long long)sid);
        rec_reservation res;
        bool found = check_load_reservation(r, seat.reservation_id, &res);
        if (seat.sold)
            check_sold_seat(r, sid, seat_no, &seat, &res, found);
        else
            check_held_seat(r, sid, seat_no, &seat, &res, found);
    }
    check_iter_end(&it);
}

/* ---- reservations ---- */

/* The reservation's payment names it back, with the same user and concert. */
static void check_confirmed(check_run *r, uint64_t id, const rec_reservation *res)
{
    rec_seat seat;
    if (!check_load_seat(r, res->schedule_id, res->seat_no, &seat) || !seat.sold ||
        seat.reservation_id != id)
        check_report(r, "seat.sold_owner",
                     "reservation %llu is CONFIRMED but seat %u of schedule %llu is not sold to it",
                     (unsigned long long)id, res->seat_no, (unsigned long long)res->schedule_id);
    check_payment pay;
    if (!check_load_payment(r, res->payment_id, &pay)) {
        check_report(r, "reservation.payment",
                     "reservation %llu is CONFIRMED by payment %llu, which does not exist",
                     (unsigned long long)id, (unsigned long long)res->payment_id);
        return;
    }
    bool listed = false;
    for (uint32_t i = 0; i < pay.rec.n_reservations; i++)
        listed = listed || pay.ids[i] == id;
    if (!listed || !user_eq(&pay.rec.user, &res->user) || pay.rec.concert_id != res->concert_id) {
        char u[CHECK_USER_STR], pu[CHECK_USER_STR];
        check_report(r, "reservation.payment",
                     "reservation %llu (user %s, concert %llu) names payment %llu (user %s, "
                     "concert %llu), which %s it",
                     (unsigned long long)id, check_user_str(&res->user, u),
                     (unsigned long long)res->concert_id, (unsigned long long)res->payment_id,
                     check_user_str(&pay.rec.user, pu), (unsigned long long)pay.rec.concert_id,
                     listed ? "lists" : "does not list");
    }
}

static void check_one_reservation(check_run *r, uint64_t id, const rec_reservation *res,
                                  check_vec *live)
{
    if (res->status < STORE_RES_HELD || res->status > STORE_RES_CANCELLED) {
        check_report(r, "record.format", "reservation %llu has status %u", (unsigned long long)id,
                     res->status);
        return;
    }
    schedule_view sched;
    if (!check_load_schedule(r, res->schedule_id, &sched) ||
        sched.rec.concert_id != res->concert_id || res->seat_no < 1 ||
        res->seat_no > sched.rec.seats ||
        schedule_view_price(&sched, res->seat_no) != res->price_krw)
        check_report(r, "reservation.schedule",
                     "reservation %llu: seat %u of schedule %llu in concert %llu at %lld KRW does "
                     "not match the performance",
                     (unsigned long long)id, res->seat_no, (unsigned long long)res->schedule_id,
                     (unsigned long long)res->concert_id, (long long)res->price_krw);
    if (res->status == STORE_RES_CONFIRMED) {
        check_confirmed(r, id, res);
        return;
    }
    if (res->payment_id != 0)
        check_report(r, "reservation.payment", "reservation %llu is %s but names payment %llu",
                     (unsigned long long)id, status_name(res->status),
                     (unsigned long long)res->payment_id);
    if (res->status != STORE_RES_HELD || res->expires_at_ms <= r->now_ms)
        return;
    rec_seat seat;
    if (!check_load_seat(r, res->schedule_id, res->seat_no, &seat) || seat.sold ||
        seat.reservation_id != id)
        check_report(r, "hold.seat_backref",
                     "reservation %llu holds seat %u of schedule %llu until %lld but the seat "
                     "does not name it",
                     (unsigned long long)id, res->seat_no, (unsigned long long)res->schedule_id,
                     (long long)res->expires_at_ms);
    live_hold h = { .schedule_id = res->schedule_id, .seat_no = res->seat_no,
                    .reservation_id = id, .user = res->user };
    check_vec_push(r, live, &h);
}

static int by_seat(const void *a, const void *b)
{
    const live_hold *x = a, *y = b;
    if (x->schedule_id != y->schedule_id)
        return x->schedule_id < y->schedule_id ? -1 : 1;
    if (x->seat_no != y->seat_no)
        return x->seat_no < y->seat_no ? -1 : 1;
    return x->reservation_id < y->reservation_id ? -1 : x->reservation_id > y->reservation_id;
}

static int by_user_schedule(const void *a, const void *b)
{
    const live_hold *x = a, *y = b;
    int c = memcmp(x->user.bytes, y->user.bytes, sizeof x->user.bytes);
    if (c)
        return c;
    if (x->schedule_id != y->schedule_id)
        return x->schedule_id < y->schedule_id ? -1 : 1;
    return x->reservation_id < y->reservation_id ? -1 : x->reservation_id > y->reservation_id;
}

static void check_double_holds(check_run *r, check_vec *live)
{
    check_vec_sort(live, by_seat);
    for (size_t i = 1; i < live->n; i++) {
        const live_hold *a = check_vec_at(live, i - 1), *b = check_vec_at(live, i);
        if (a->schedule_id == b->schedule_id && a->seat_no == b->seat_no)
            check_report(r, "seat.double_hold",
                         "seat %u of schedule %llu has two live holds: reservations %llu and %llu",
                         a->seat_no, (unsigned long long)a->schedule_id,
                         (unsigned long long)a->reservation_id,
                         (unsigned long long)b->reservation_id);
    }
}

static void check_hold_limit(check_run *r, check_vec *live)
{
    check_vec_sort(live, by_user_schedule);
    size_t run = 0;
    for (size_t i = 0; i < live->n; i++) {
        const live_hold *h = check_vec_at(live, i);
        const live_hold *prev = i ? check_vec_at(live, i - 1) : NULL;
        bool same = prev && user_eq(&prev->user, &h->user) && prev->schedule_id == h->schedule_id;
        run = same ? run + 1 : 1;
        if (run == (size_t)r->lim.max_holds + 1) {
            char u[CHECK_USER_STR];
            check_report(r, "hold.limit",
                         "user %s has more than %u live holds on schedule %llu (reservation %llu "
                         "is one too many)",
                         check_user_str(&h->user, u), r->lim.max_holds,
                         (unsigned long long)h->schedule_id, (unsigned long long)h->reservation_id);
        }
    }
}

static void check_reservations(check_run *r)
{
    check_vec live;
    check_vec_init(&live, sizeof(live_hold));
    check_iter it;
    check_iter_init(&it, DB_RESERVATIONS, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (!check_shape(r, &it, 8, sizeof(rec_reservation)))
            continue;
        rec_reservation res;
        memcpy(&res, it.v.mv_data, sizeof res);
        check_one_reservation(r, key_get_u64(it.k.mv_data), &res, &live);
    }
    check_iter_end(&it);
    if (!r->stop) {
        check_double_holds(r, &live);
        check_hold_limit(r, &live);
    }
    check_vec_free(&live);
}

/* ---- payments ---- */

static void check_one_payment(check_run *r, uint64_t id, const check_payment *pay)
{
    int64_t sum = 0;
    bool sum_known = true;
    for (uint32_t i = 0; i < pay->rec.n_reservations; i++) {
        uint64_t rid = pay->ids[i];
        for (uint32_t j = 0; j < i; j++)
            if (pay->ids[j] == rid)
                check_report(r, "reservation.payment", "payment %llu lists reservation %llu twice",
                             (unsigned long long)id, (unsigned long long)rid);
        rec_reservation res;
        if (!check_load_reservation(r, rid, &res)) {
            check_report(r, "reservation.payment",
                         "payment %llu lists reservation %llu, which does not exist",
                         (unsigned long long)id, (unsigned long long)rid);
            sum_known = false;
            continue;
        }
        if (res.status != STORE_RES_CONFIRMED || res.payment_id != id)
            check_report(r, "reservation.payment",
                         "payment %llu lists reservation %llu, which is %s under payment %llu",
                         (unsigned long long)id, (unsigned long long)rid, status_name(res.status),
                         (unsigned long long)res.payment_id);
        if (res.price_krw < 0 || res.price_krw > INT64_MAX - sum)
            sum_known = false;
        else
            sum += res.price_krw;
    }
    if (sum_known && sum != pay->rec.amount_krw)
        check_report(r, "payment.amount",
                     "payment %llu is for %lld KRW but its %u reservations cost %lld",
                     (unsigned long long)id, (long long)pay->rec.amount_krw,
                     pay->rec.n_reservations, (long long)sum);
}

static void check_payments(check_run *r)
{
    check_iter it;
    check_iter_init(&it, DB_PAYMENTS, NULL, 0);
    while (check_iter_next(r, &it)) {
        check_payment pay;
        uint64_t id = it.k.mv_size == 8 ? key_get_u64(it.k.mv_data) : 0;
        if (it.k.mv_size != 8 || !check_parse_payment(r, id, &it.v, &pay)) {
            check_report(r, "record.format", "payments: a record of %zu/%zu bytes (key/value)",
                         it.k.mv_size, it.v.mv_size);
            continue;
        }
        check_one_payment(r, id, &pay);
    }
    check_iter_end(&it);
}

void store_check_sales(check_run *r)
{
    check_seats(r);
    check_reservations(r);
    check_payments(r);
}
