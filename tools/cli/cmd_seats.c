/* Commands about performances, seats, holds and payments: dates, seats,
 * reserve, cancel, reservations, pay, payments. */
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include "seat_grid.h"

/* A command of the token plus one id, e.g. concert.dates {token, concert_id}. */
static int call_with_token(cli *st, const char *method, const char *key, uint64_t id,
                           usher_reply **reply)
{
    if (!cli_need_queue_token(st))
        return CLI_FAILED;
    cli_params p;
    cli_params_begin(&p, 2);
    cli_params_str(&p, "token", st->queue_token);
    cli_params_u64(&p, key, id);
    cli_asking(st, "%s %llu", key, (unsigned long long)id);
    int rc = cli_call(st, method, &p, reply);
    cli_params_free(&p);
    return rc;
}

int cmd_dates(cli *st, const cli_args *a)
{
    uint64_t concert_id;
    usher_reply *reply;
    if (!cli_id_arg(st, a, 0, st->concert_id, "dates CONCERT", &concert_id) ||
        call_with_token(st, "concert.dates", "concert_id", concert_id, &reply) != CLI_OK)
        return CLI_FAILED;
    const msgpack_object *dates = cli_result_get(&reply->result, "dates");
    if (dates && dates->type == MSGPACK_OBJECT_ARRAY && dates->via.array.size > 0)
        cli_result_u64(&dates->via.array.ptr[0], "schedule_id", &st->schedule_id);
    usher_reply_free(reply);
    return CLI_OK;
}

#define OWN_HOLDS_LIMIT 500 /* reservation.list's largest page: holds are the newest entries */

/* True when reservation r of the list is a live hold of schedule_id. */
static bool is_live_hold(const msgpack_object *r, uint64_t schedule_id, int64_t now_ms)
{
    uint64_t of = 0, expires_at = 0;
    const msgpack_object *status = cli_result_get(r, "status");
    return cli_result_u64(r, "schedule_id", &of) && of == schedule_id &&
           cli_result_u64(r, "expires_at", &expires_at) && (int64_t)expires_at > now_ms &&
           status && status->type == MSGPACK_OBJECT_STR && status->via.str.size == 4 &&
           memcmp(status->via.str.ptr, "HELD", 4) == 0;
}

/* Marks the cells of the session's live holds of schedule_id SEAT_MINE (from
 * reservation.list, not printed; nothing when there is no session or the
 * call fails: the grid then just shows them taken). */
static void mark_own_holds(cli *st, uint64_t schedule_id, seat_cell *cells, size_t n)
{
    usher_client *c = st->session ? cli_connection(st) : NULL;
    if (!c)
        return;
    cli_params p;
    cli_params_begin(&p, 2);
    cli_params_str(&p, "session", st->session);
    cli_params_u64(&p, "limit", OWN_HOLDS_LIMIT);
    usher_reply *reply;
    double ms;
    usher_status status = cli_call_quiet(c, "reservation.list", &p, &reply, &ms);
    cli_params_free(&p);
    const msgpack_object *list = status == USHER_OK && reply && reply->status == USHER_OK
                               ? cli_result_get(&reply->result, "reservations") : NULL;
    int64_t now_ms = cli_wall_clock_ms();
    for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size; i++) {
        const msgpack_object *r = &list->via.array.ptr[i];
        uint64_t seat_no = 0;
        if (!is_live_hold(r, schedule_id, now_ms) || !cli_result_u64(r, "seat_no", &seat_no))
            continue;
        for (size_t k = 0; k < n; k++)
            if (cells[k].seat_no == seat_no && cells[k].state == SEAT_TAKEN)
                cells[k].state = SEAT_MINE;
    }
    usher_reply_free(reply);
}

/* Draws the grid of a concert.seats result (skipped when it has no seats). */
static void print_seat_grid(cli *st, uint64_t schedule_id, const msgpack_object *result)
{
    const msgpack_object *seats = cli_result_get(result, "seats");
    if (!seats || seats->type != MSGPACK_OBJECT_ARRAY || seats->via.array.size == 0)
        return;
    size_t n = seats->via.array.size;
    seat_cell *cells = calloc(n, sizeof *cells);
    if (!cells)
        return;
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *seat = &seats->via.array.ptr[i];
        uint64_t seat_no = 0, price = 0;
        cli_result_u64(seat, "seat_no", &seat_no);
        cli_result_u64(seat, "price", &price);
        const msgpack_object *available = cli_result_get(seat, "available");
        cells[i].seat_no = (uint32_t)seat_no;
        cells[i].price = (int64_t)price;
        cells[i].state = available && available->type == MSGPACK_OBJECT_BOOLEAN && available->via.boolean
                       ? SEAT_FREE : SEAT_TAKEN;
    }
    mark_own_holds(st, schedule_id, cells, n);
    seat_grid_print(st->out, cells, n, st->colour);
    fflush(st->out);
    free(cells);
}

int cmd_seats(cli *st, const cli_args *a)
{
    uint64_t schedule_id;
    usher_reply *reply;
    if (!cli_id_arg(st, a, 0, st->schedule_id, "seats SCHEDULE", &schedule_id) ||
        call_with_token(st, "concert.seats", "schedule_id", schedule_id, &reply) != CLI_OK)
        return CLI_FAILED;
    st->schedule_id = schedule_id;
    if (!st->json && !st->raw)
        print_seat_grid(st, schedule_id, &reply->result);
    usher_reply_free(reply);
    return CLI_OK;
}

int cmd_reserve(cli *st, const cli_args *a)
{
    uint64_t schedule_id;
    int64_t seat_no; /* sent as typed: the server judges 0 or 51 */
    const char *seat_text = a->argv[a->argc - 1];
    if (!cli_parse_i64(seat_text, &seat_no))
        return cli_usage_error(st, "reserve: SEAT must be a seat number, not '%s'", seat_text);
    cli_args schedule_arg = { .argc = a->argc - 1, .argv = a->argv, .start = a->start };
    if (!cli_id_arg(st, &schedule_arg, 0, st->schedule_id, "reserve SCHEDULE SEAT", &schedule_id) ||
        !cli_need_queue_token(st))
        return CLI_FAILED;
    cli_params p;
    cli_params_begin(&p, 3);
    cli_params_str(&p, "token", st->queue_token);
    cli_params_u64(&p, "schedule_id", schedule_id);
    cli_params_i64(&p, "seat_no", seat_no);
    cli_asking(st, "seat %lld of schedule %llu", (long long)seat_no, (unsigned long long)schedule_id);
    usher_reply *reply;
    int rc = cli_call(st, "seat.reserve", &p, &reply);
    cli_params_free(&p);
    if (rc != CLI_OK)
        return rc;
    uint64_t rid;
    if (cli_result_u64(&reply->result, "reservation_id", &rid))
        cli_held_add(st, rid);
    st->schedule_id = schedule_id;
    usher_reply_free(reply);
    return CLI_OK;
}

int cmd_cancel(cli *st, const cli_args *a)
{
    uint64_t rid;
    uint64_t last_held = st->held_count ? st->held[st->held_count - 1] : 0;
    if (!cli_id_arg(st, a, 0, last_held, "cancel RID", &rid) || !cli_need_session(st))
        return CLI_FAILED;
    cli_params p;
    cli_params_begin(&p, 2);
    cli_params_str(&p, "session", st->session);
    cli_params_u64(&p, "reservation_id", rid);
    cli_asking(st, "reservation %llu", (unsigned long long)rid);
    int rc = cli_call(st, "reservation.cancel", &p, NULL);
    cli_params_free(&p);
    if (rc == CLI_OK)
        cli_held_remove(st, rid);
    return rc;
}

int cmd_reservations(cli *st, const cli_args *a)
{
    (void)a;
    return cli_call_with_session(st, "reservation.list");
}

int cmd_pay(cli *st, const cli_args *a)
{
    uint64_t ids[CLI_HELD_MAX];
    size_t count = 0;
    if (a->argc > CLI_HELD_MAX)
        return cli_usage_error(st, "pay: at most %d reservation ids", CLI_HELD_MAX);
    for (int i = 0; i < a->argc; i++)
        if (!cli_parse_id(a->argv[i], &ids[count++]))
            return cli_usage_error(st, "pay: RID must be a reservation id, not '%s'", a->argv[i]);
    if (a->argc == 0) {
        for (size_t i = 0; i < st->held_count; i++)
            ids[count++] = st->held[i];
    }
    if (count == 0)
        return cli_usage_error(st, "pay: nothing reserved in this shell (reserve first, or pay RID...)");
    if (!cli_need_queue_token(st))
        return CLI_FAILED;
    cli_params p;
    cli_params_begin(&p, 2);
    cli_params_str(&p, "token", st->queue_token);
    cli_params_key(&p, "reservation_ids");
    msgpack_pack_array(&p.pk, (uint32_t)count);
    for (size_t i = 0; i < count; i++)
        msgpack_pack_uint64(&p.pk, ids[i]);
    char list[CLI_ASKED_CAP] = "";
    for (size_t i = 0, n = 0; i < count && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%llu", i ? ", " : "", (unsigned long long)ids[i]);
    cli_asking(st, "%s %s", count == 1 ? "reservation" : "reservations", list);
    int rc = cli_call(st, "payment.pay", &p, NULL);
    cli_params_free(&p);
    if (rc != CLI_OK)
        return rc;
    for (size_t i = 0; i < count; i++)
        cli_held_remove(st, ids[i]);
    /* the server ends the queue token with a payment: forget it and say so,
     * rather than leave a bare TOKEN_EXPIRED for the next command */
    cli_set_str(&st->queue_token, NULL);
    st->token_ended_by_payment = true;
    if (!st->json && !st->raw)
        fprintf(st->out, "%s\n", CLI_TOKEN_ENDED_TEXT);
    return CLI_OK;
}

int cmd_payments(cli *st, const cli_args *a)
{
    (void)a;
    return cli_call_with_session(st, "payment.list");
}
