/* Typed calls: one function per protocol method, packing its params and
 * decoding its result map into a plain C struct. A result that lacks a
 * promised field, or has one of the wrong type, is a protocol violation. */
#include "usher_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "methods.h"
#include "msg.h"

#define METHOD(id) (usher_method_docs[USHER_METHOD_##id].name)

/* Decodes a result map into out; on a bad field it releases what it filled (f->bad tells). */
typedef void result_decoder(fields *f, const msgpack_object *result, void *out);

/* Entry check of a typed call: c and out must be given; out is zeroed and pb started. */
static usher_status begin(usher_client *c, void *out, size_t out_size, params_builder *pb)
{
    if (!c)
        return USHER_EARG;
    if (!out)
        return client_note_failure(c, USHER_EARG, "result pointer is NULL");
    memset(out, 0, out_size);
    pb_init(pb);
    return USHER_OK;
}

/* Sends the call built in pb and decodes its result into out. A result with a missing
 * or mistyped field is EPROTO (the connection is dropped, as for any protocol violation). */
static usher_status typed_call(usher_client *c, params_builder *pb, const char *method,
                               result_decoder *decode, void *out)
{
    usher_reply *reply;
    usher_status st = pb_call(pb, c, method, &reply);
    if (st != USHER_OK) {
        usher_reply_free(reply);
        return st;
    }
    fields f = { 0 };
    decode(&f, &reply->result, out);
    usher_reply_free(reply);
    if (!f.bad)
        return USHER_OK;
    if (f.nomem)
        return client_note_failure(c, USHER_ENOMEM, NULL);
    char detail[USHER_DETAIL_MAX];
    snprintf(detail, sizeof detail, "%s: result field %s missing or mistyped", method, f.bad);
    return client_fail_proto(c, detail);
}

/* calloc for n decoded elements (n may be 0); sets nomem on failure. */
static void *alloc_elems(fields *f, size_t n, size_t size)
{
    if (f->bad || n == 0)
        return NULL;
    void *p = calloc(n, size);
    if (!p) {
        f->bad = "(array)";
        f->nomem = true;
    }
    return p;
}

/* Decodes one element map of a result list into elem. */
typedef void elem_decoder(fields *f, const msgpack_object *e, void *elem);

/* Decodes the array key of r into a new array of elem_size elements; *count counts the elements begun,
 * so the list's _free releases exactly what was filled, even after a bad field. */
static void *decode_list(fields *f, const msgpack_object *r, const char *key, size_t elem_size, size_t *count,
                         elem_decoder *decode)
{
    const msgpack_object *list = f_array(f, r, key);
    size_t n = list ? list->via.array.size : 0;
    char *elems = alloc_elems(f, n, elem_size);
    for (uint32_t i = 0; elems && i < n; i++) {
        *count = i + 1;
        decode(f, f_elem_map(f, list, i, key), elems + i * elem_size);
    }
    return elems;
}

/* A request_id to send: the caller's (checked) or a fresh random one, copied into id. */
static usher_status pick_request_id(usher_client *c, const char *given, char id[USHER_REQUEST_ID_MAX + 1])
{
    if (given) {
        size_t n = strlen(given);
        if (n == 0 || n > USHER_REQUEST_ID_MAX)
            return client_note_failure(c, USHER_EARG, "request_id must be 1 to 64 bytes");
        memcpy(id, given, n + 1);
        return USHER_OK;
    }
    if (request_id_make(id) != USHER_OK)
        return client_note_failure(c, USHER_EIO, "getrandom failed");
    return USHER_OK;
}

/* ---- sys ---- */

static void decode_ping(fields *f, const msgpack_object *r, void *dst)
{
    *(int64_t *)dst = f_i64(f, r, "time");
}

usher_status usher_sys_ping(usher_client *c, int64_t *time_ms)
{
    params_builder pb;
    usher_status st = begin(c, time_ms, sizeof *time_ms, &pb);
    return st != USHER_OK ? st : typed_call(c, &pb, METHOD(SYS_PING), decode_ping, time_ms);
}

static void decode_hello(fields *f, const msgpack_object *r, void *dst)
{
    usher_hello *out = dst;
    out->server = f_str(f, r, "server");
    out->version = f_str(f, r, "version");
    out->protocol = f_i64(f, r, "protocol");
    out->instance = f_str(f, r, "instance");
    if (f->bad)
        usher_hello_free(out);
}

usher_status usher_sys_hello(usher_client *c, usher_hello *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    return st != USHER_OK ? st : typed_call(c, &pb, METHOD(SYS_HELLO), decode_hello, out);
}

void usher_hello_free(usher_hello *h)
{
    if (!h)
        return;
    free(h->server);
    free(h->version);
    free(h->instance);
    memset(h, 0, sizeof *h);
}

/* ---- users and sessions ---- */

static void decode_registration(fields *f, const msgpack_object *r, void *dst)
{
    usher_registration *out = dst;
    out->user_id = f_str(f, r, "user_id");
    out->secret = f_str(f, r, "secret");
    out->session = f_str(f, r, "session");
    out->session_expires_at = f_i64(f, r, "session_expires_at");
    if (f->bad)
        usher_registration_free(out);
}

usher_status usher_user_register(usher_client *c, usher_registration *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    return st != USHER_OK ? st : typed_call(c, &pb, METHOD(USER_REGISTER), decode_registration, out);
}

/* Overwrites a secret before its memory goes back (volatile so the stores stay). */
static void wipe(char *s)
{
    if (!s)
        return;
    for (volatile char *p = s; *p; p++)
        *p = 0;
}

void usher_registration_free(usher_registration *r)
{
    if (!r)
        return;
    wipe(r->secret);
    free(r->user_id);
    free(r->secret);
    free(r->session);
    memset(r, 0, sizeof *r);
}

static void decode_session(fields *f, const msgpack_object *r, void *dst)
{
    usher_session *out = dst;
    out->session = f_str(f, r, "session");
    out->session_expires_at = f_i64(f, r, "session_expires_at");
    if (f->bad)
        usher_session_free(out);
}

usher_status usher_auth_login(usher_client *c, const char *user_id, const char *secret, usher_session *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    if (st != USHER_OK)
        return st;
    pb_str(&pb, "user_id", user_id);
    pb_str(&pb, "secret", secret);
    return typed_call(c, &pb, METHOD(AUTH_LOGIN), decode_session, out);
}

void usher_session_free(usher_session *s)
{
    if (!s)
        return;
    free(s->session);
    memset(s, 0, sizeof *s);
}

/* ---- wallet ---- */

static void decode_balance(fields *f, const msgpack_object *r, void *dst)
{
    usher_balance *out = dst;
    out->user_id = f_str(f, r, "user_id");
    out->balance = f_i64(f, r, "balance");
    if (f->bad)
        usher_balance_free(out);
}

usher_status usher_wallet_balance(usher_client *c, const char *session, usher_balance *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    if (st != USHER_OK)
        return st;
    pb_str(&pb, "session", session);
    return typed_call(c, &pb, METHOD(WALLET_BALANCE), decode_balance, out);
}

void usher_balance_free(usher_balance *b)
{
    if (!b)
        return;
    free(b->user_id);
    memset(b, 0, sizeof *b);
}

static void decode_charge(fields *f, const msgpack_object *r, void *dst)
{
    usher_charge *out = dst;
    out->balance = f_i64(f, r, "balance");
    out->charged = f_i64(f, r, "charged");
}

usher_status usher_wallet_charge(usher_client *c, const char *session, int64_t amount,
                                 const char *request_id, usher_charge *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    if (st != USHER_OK)
        return st;
    st = pick_request_id(c, request_id, out->request_id);
    if (st != USHER_OK)
        return st;
    pb_str(&pb, "session", session);
    pb_i64(&pb, "amount", amount);
    pb_str(&pb, "request_id", out->request_id);
    return typed_call(c, &pb, METHOD(WALLET_CHARGE), decode_charge, out);
}

static void decode_ledger_entry(fields *f, const msgpack_object *e, void *dst)
{
    usher_ledger_entry *entry = dst;
    entry->entry_id = f_u64(f, e, "entry_id");
    entry->kind = f_enum(f, e, "kind", usher_entry_kind_name, USHER_ENTRY_PAYMENT);
    entry->amount = f_i64(f, e, "amount");
    entry->balance_after = f_i64(f, e, "balance_after");
    entry->at = f_i64(f, e, "at");
    entry->payment_id = f_u64_opt(f, e, "payment_id", 0);
}

static void decode_history(fields *f, const msgpack_object *r, void *dst)
{
    usher_history *out = dst;
    out->entries = decode_list(f, r, "entries", sizeof *out->entries, &out->count, decode_ledger_entry);
    if (f->bad)
        usher_history_free(out);
}

/* The session and paging params of the list methods; 0 means absent. */
static void pb_page(params_builder *pb, const char *session, uint32_t limit, const char *cursor_key,
                    uint64_t cursor)
{
    pb_str(pb, "session", session);
    pb_u64_opt(pb, "limit", limit);
    pb_u64_opt(pb, cursor_key, cursor);
}

usher_status usher_wallet_history(usher_client *c, const char *session, uint32_t limit, uint64_t before,
                                  usher_history *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    if (st != USHER_OK)
        return st;
    pb_page(&pb, session, limit, "before", before);
    return typed_call(c, &pb, METHOD(WALLET_HISTORY), decode_history, out);
}

void usher_history_free(usher_history *h)
{
    if (!h)
        return;
    free(h->entries);
    memset(h, 0, sizeof *h);
}

/* ---- concerts and queue ---- */

static void decode_concert(fields *f, const msgpack_object *e, void *dst)
{
    usher_concert *concert = dst;
    concert->concert_id = f_u64(f, e, "concert_id");
    concert->title = f_str(f, e, "title");
    concert->venue = f_str_opt(f, e, "venue");
}

static void decode_concerts(fields *f, const msgpack_object *r, void *dst)
{
    usher_concerts *out = dst;
    out->concerts = decode_list(f, r, "concerts", sizeof *out->concerts, &out->count, decode_concert);
    if (f->bad)
        usher_concerts_free(out);
}

usher_status usher_concert_list(usher_client *c, uint32_t limit, uint64_t after, usher_concerts *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    if (st != USHER_OK)
        return st;
    pb_page(&pb, NULL, limit, "after", after);
    return typed_call(c, &pb, METHOD(CONCERT_LIST), decode_concerts, out);
}

void usher_concerts_free(usher_concerts *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++) {
        free(l->concerts[i].title);
        free(l->concerts[i].venue);
    }
    free(l->concerts);
    memset(l, 0, sizeof *l);
}

static void decode_queue(fields *f, const msgpack_object *r, void *dst)
{
    usher_queue *out = dst;
    out->state = f_enum(f, r, "status", usher_queue_state_name, USHER_QUEUE_STATE_EXPIRED);
    out->position = (uint32_t)f_u64(f, r, "position");
    out->eta_s = f_i64_opt(f, r, "eta_s", -1);
    out->active_until = f_i64_opt(f, r, "active_until", 0);
}

static void decode_queue_entry(fields *f, const msgpack_object *r, void *dst)
{
    usher_queue *out = dst;
    out->token = f_str(f, r, "token");
    decode_queue(f, r, out);
    if (f->bad)
        usher_queue_free(out);
}

usher_status usher_queue_enter(usher_client *c, const char *session, uint64_t concert_id, usher_queue *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    if (st != USHER_OK)
        return st;
    pb_str(&pb, "session", session);
    pb_u64(&pb, "concert_id", concert_id);
    return typed_call(c, &pb, METHOD(QUEUE_ENTER), decode_queue_entry, out);
}

/* queue.status and queue.watch: {token} in, the entry's state out. */
static usher_status queue_token_call(usher_client *c, const char *token, usher_method_id method,
                                     usher_queue *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    if (st != USHER_OK)
        return st;
    pb_str(&pb, "token", token);
    return typed_call(c, &pb, usher_method_docs[method].name, decode_queue, out);
}

usher_status usher_queue_status(usher_client *c, const char *token, usher_queue *out)
{
    return queue_token_call(c, token, USHER_METHOD_QUEUE_STATUS, out);
}

usher_status usher_queue_watch(usher_client *c, const char *token, usher_queue *out)
{
    return queue_token_call(c, token, USHER_METHOD_QUEUE_WATCH, out);
}

static void decode_unwatch(fields *f, const msgpack_object *r, void *dst)
{
    (void)dst;
    f_bool(f, r, "watching");
}

usher_status usher_queue_unwatch(usher_client *c, const char *token)
{
    params_builder pb;
    char unused;
    usher_status st = begin(c, &unused, sizeof unused, &pb);
    if (st != USHER_OK)
        return st;
    pb_str(&pb, "token", token);
    return typed_call(c, &pb, METHOD(QUEUE_UNWATCH), decode_unwatch, &unused);
}

void usher_queue_free(usher_queue *q)
{
    if (!q)
        return;
    free(q->token);
    memset(q, 0, sizeof *q);
}

static void decode_date(fields *f, const msgpack_object *e, void *dst)
{
    usher_date *date = dst;
    date->schedule_id = f_u64(f, e, "schedule_id");
    date->starts_at = f_i64(f, e, "starts_at");
    date->available = (uint32_t)f_u64(f, e, "available");
    date->total = (uint32_t)f_u64(f, e, "total");
}

static void decode_dates(fields *f, const msgpack_object *r, void *dst)
{
    usher_dates *out = dst;
    out->dates = decode_list(f, r, "dates", sizeof *out->dates, &out->count, decode_date);
    if (f->bad)
        usher_dates_free(out);
}

usher_status usher_concert_dates(usher_client *c, const char *token, uint64_t concert_id, usher_dates *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    if (st != USHER_OK)
        return st;
    pb_str(&pb, "token", token);
    pb_u64(&pb, "concert_id", concert_id);
    return typed_call(c, &pb, METHOD(CONCERT_DATES), decode_dates, out);
}

void usher_dates_free(usher_dates *d)
{
    if (!d)
        return;
    free(d->dates);
    memset(d, 0, sizeof *d);
}

static void decode_seat(fields *f, const msgpack_object *e, void *dst)
{
    usher_seat *seat = dst;
    seat->seat_no = (uint32_t)f_u64(f, e, "seat_no");
    seat->price = f_i64(f, e, "price");
    seat->available = f_bool(f, e, "available");
}

static void decode_seats(fields *f, const msgpack_object *r, void *dst)
{
    usher_seats *out = dst;
    out->schedule_id = f_u64(f, r, "schedule_id");
    out->seats = decode_list(f, r, "seats", sizeof *out->seats, &out->count, decode_seat);
    if (f->bad)
        usher_seats_free(out);
}

usher_status usher_concert_seats(usher_client *c, const char *token, uint64_t schedule_id, usher_seats *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    if (st != USHER_OK)
        return st;
    pb_str(&pb, "token", token);
    pb_u64(&pb, "schedule_id", schedule_id);
    return typed_call(c, &pb, METHOD(CONCERT_SEATS), decode_seats, out);
}

void usher_seats_free(usher_seats *s)
{
    if (!s)
        return;
    free(s->seats);
    memset(s, 0, sizeof *s);
}

/* ---- reservations ---- */

/* One reservation map; status absent (seat.reserve) means HELD. */
static void decode_reservation(fields *f, const msgpack_object *r, void *dst)
{
    usher_reservation *out = dst;
    out->reservation_id = f_u64(f, r, "reservation_id");
    out->schedule_id = f_u64(f, r, "schedule_id");
    out->seat_no = (uint32_t)f_u64(f, r, "seat_no");
    out->price = f_i64(f, r, "price");
    out->expires_at = f_i64_opt(f, r, "expires_at", 0);
    out->state = msg_map_get(r, "status") ? f_enum(f, r, "status", usher_reservation_state_name, USHER_RES_CANCELLED)
                                          : USHER_RES_HELD;
}

usher_status usher_seat_reserve(usher_client *c, const char *token, uint64_t schedule_id, uint32_t seat_no,
                                usher_reservation *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    if (st != USHER_OK)
        return st;
    pb_str(&pb, "token", token);
    pb_u64(&pb, "schedule_id", schedule_id);
    pb_u64(&pb, "seat_no", seat_no);
    return typed_call(c, &pb, METHOD(SEAT_RESERVE), decode_reservation, out);
}

static void decode_cancel(fields *f, const msgpack_object *r, void *dst)
{
    usher_reservation *out = dst;
    out->reservation_id = f_u64(f, r, "reservation_id");
    out->state = f_enum(f, r, "status", usher_reservation_state_name, USHER_RES_CANCELLED);
}

usher_status usher_reservation_cancel(usher_client *c, const char *session, uint64_t reservation_id,
                                      usher_reservation *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    if (st != USHER_OK)
        return st;
    pb_str(&pb, "session", session);
    pb_u64(&pb, "reservation_id", reservation_id);
    return typed_call(c, &pb, METHOD(RESERVATION_CANCEL), decode_cancel, out);
}

static void decode_reservations(fields *f, const msgpack_object *r, void *dst)
{
    usher_reservations *out = dst;
    out->reservations = decode_list(f, r, "reservations", sizeof *out->reservations, &out->count,
                                    decode_reservation);
    if (f->bad)
        usher_reservations_free(out);
}

usher_status usher_reservation_list(usher_client *c, const char *session, uint32_t limit, uint64_t before,
                                    usher_reservations *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    if (st != USHER_OK)
        return st;
    pb_page(&pb, session, limit, "before", before);
    return typed_call(c, &pb, METHOD(RESERVATION_LIST), decode_reservations, out);
}

void usher_reservations_free(usher_reservations *r)
{
    if (!r)
        return;
    free(r->reservations);
    memset(r, 0, sizeof *r);
}

/* ---- payments ---- */

/* The fields payment.pay and payment.list share. */
static void decode_payment_fields(fields *f, const msgpack_object *r, void *dst)
{
    usher_payment *out = dst;
    out->payment_id = f_u64(f, r, "payment_id");
    const msgpack_object *ids = f_array(f, r, "reservation_ids");
    size_t n = ids ? ids->via.array.size : 0;
    out->reservation_ids = alloc_elems(f, n, sizeof *out->reservation_ids);
    for (uint32_t i = 0; out->reservation_ids && i < n && !f->bad; i++) {
        const msgpack_object *id = &ids->via.array.ptr[i];
        if (id->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            f->bad = "reservation_ids[]";
        out->reservation_ids[i] = id->via.u64;
        out->reservation_count = i + 1;
    }
    out->amount = f_i64(f, r, "amount");
    out->paid_at = f_i64(f, r, "paid_at");
}

static void decode_pay(fields *f, const msgpack_object *r, void *dst)
{
    usher_payment *out = dst;
    decode_payment_fields(f, r, out);
    out->balance = f_i64(f, r, "balance");
    if (f->bad)
        usher_payment_free(out);
}

usher_status usher_payment_pay(usher_client *c, const char *token, const uint64_t *reservation_ids, size_t count,
                               const char *request_id, usher_payment *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    if (st != USHER_OK)
        return st;
    st = pick_request_id(c, request_id, out->request_id);
    if (st == USHER_OK && count > 0 && !reservation_ids)
        st = client_note_failure(c, USHER_EARG, "reservation_ids is NULL");
    if (st != USHER_OK)
        return st;
    pb_str(&pb, "token", token);
    pb_u64_array(&pb, "reservation_ids", reservation_ids, count);
    pb_str(&pb, "request_id", out->request_id);
    return typed_call(c, &pb, METHOD(PAYMENT_PAY), decode_pay, out);
}

void usher_payment_free(usher_payment *p)
{
    if (!p)
        return;
    free(p->reservation_ids);
    p->reservation_ids = NULL;
    p->reservation_count = 0;
    p->payment_id = 0;
    p->amount = p->balance = p->paid_at = 0;
}

static void decode_payments(fields *f, const msgpack_object *r, void *dst)
{
    usher_payments *out = dst;
    out->payments = decode_list(f, r, "payments", sizeof *out->payments, &out->count, decode_payment_fields);
    if (f->bad)
        usher_payments_free(out);
}

usher_status usher_payment_list(usher_client *c, const char *session, uint32_t limit, uint64_t before,
                                usher_payments *out)
{
    params_builder pb;
    usher_status st = begin(c, out, sizeof *out, &pb);
    if (st != USHER_OK)
        return st;
    pb_page(&pb, session, limit, "before", before);
    return typed_call(c, &pb, METHOD(PAYMENT_LIST), decode_payments, out);
}

void usher_payments_free(usher_payments *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->count; i++)
        free(p->payments[i].reservation_ids);
    free(p->payments);
    memset(p, 0, sizeof *p);
}

/* ---- admin ---- */

static void decode_concert_id(fields *f, const msgpack_object *r, void *dst)
{
    *(uint64_t *)dst = f_u64(f, r, "concert_id");
}

static void decode_schedule_id(fields *f, const msgpack_object *r, void *dst)
{
    *(uint64_t *)dst = f_u64(f, r, "schedule_id");
}

usher_status usher_admin_concert_create(usher_client *c, const char *admin, const char *title, const char *venue,
                                        uint64_t *concert_id)
{
    params_builder pb;
    usher_status st = begin(c, concert_id, sizeof *concert_id, &pb);
    if (st != USHER_OK)
        return st;
    pb_str(&pb, "admin", admin);
    pb_str(&pb, "title", title);
    pb_str(&pb, "venue", venue);
    return typed_call(c, &pb, METHOD(ADMIN_CONCERT_CREATE), decode_concert_id, concert_id);
}

usher_status usher_admin_schedule_create(usher_client *c, const char *admin, uint64_t concert_id, int64_t starts_at,
                                         int64_t price, uint32_t seats, const int64_t *prices, size_t prices_count,
                                         uint64_t *schedule_id)
{
    params_builder pb;
    usher_status st = begin(c, schedule_id, sizeof *schedule_id, &pb);
    if (st != USHER_OK)
        return st;
    if (prices_count > 0 && !prices) {
        msgpack_sbuffer_destroy(&pb.body);
        return client_note_failure(c, USHER_EARG, "prices is NULL");
    }
    pb_str(&pb, "admin", admin);
    pb_u64(&pb, "concert_id", concert_id);
    pb_i64(&pb, "starts_at", starts_at);
    if (!prices || price != 0)   /* price 0 beside prices means "none": it would be refused */
        pb_i64(&pb, "price", price);
    pb_u64_opt(&pb, "seats", seats);
    if (prices)
        pb_i64_array(&pb, "prices", prices, prices_count);
    return typed_call(c, &pb, METHOD(ADMIN_SCHEDULE_CREATE), decode_schedule_id, schedule_id);
}
