/* Commands about performances, seats, holds and payments: dates, seats,
 * reserve, cancel, reservations, pay, payments. */
#include "commands.h"

#include <stdlib.h>
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

/* Draws the grid of a concert.seats result (skipped when it has no seats). */
static void print_seat_grid(cli *st, const msgpack_object *result)
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
        uint64_t seat_no = 0;
        cli_result_u64(seat, "seat_no", &seat_no);
        const msgpack_object *available = cli_result_get(seat, "available");
        cells[i].seat_no = (uint32_t)seat_no;
        cells[i].available = available && available->type == MSGPACK_OBJECT_BOOLEAN &&
                             available->via.boolean;
    }
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
    if (!st->json)
        print_seat_grid(st, &reply->result);
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
    int rc = cli_call(st, "payment.pay", &p, NULL);
    cli_params_free(&p);
    if (rc == CLI_OK)
        for (size_t i = 0; i < count; i++)
            cli_held_remove(st, ids[i]);
    return rc;
}

int cmd_payments(cli *st, const cli_args *a)
{
    (void)a;
    return cli_call_with_session(st, "payment.list");
}
