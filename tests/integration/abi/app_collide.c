/* An application that happens to define functions named like libusher's
 * internals (conn_open, conn_now_ms from client/, frame_header_put and
 * msg_decode from protocol/) and buys a seat through <usher.h> only.
 * test_abi_collide links it once against libusher.a and once against
 * libusher.so. Either link must keep both worlds apart: libusher never calls
 * these functions (each counts its callers and must be called exactly once,
 * by main) and the purchase works.
 * usage: app_collide PORT CONCERT_ID. Prints "own names kept" and
 * "bought seat N of performance M", exit 0; 1 with the failing step. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <usher.h>

/* Markers the application's own functions return; calls counted per function. */
enum { OWN_CONN_OPEN = 7001, OWN_CONN_NOW_MS = 7002, OWN_FRAME_HEADER_PUT = 7003, OWN_MSG_DECODE = 7004 };
static int own_calls[4];

int conn_open(void) { own_calls[0]++; return OWN_CONN_OPEN; }
long conn_now_ms(void) { own_calls[1]++; return OWN_CONN_NOW_MS; }
int frame_header_put(void) { own_calls[2]++; return OWN_FRAME_HEADER_PUT; }
int msg_decode(void) { own_calls[3]++; return OWN_MSG_DECODE; }

static int step_failed(usher_client *c, const char *step, usher_status st)
{
    fprintf(stderr, "app_collide: %s: %s: %s\n", step, usher_status_name(st), usher_last_message(c));
    return 1;
}

/* register, charge, enter the queue (poll until admitted), hold the first
 * free seat of the first performance with seats, pay. */
static int buy(usher_client *c, uint64_t concert_id)
{
    usher_registration me = { 0 };
    usher_charge charge = { 0 };
    usher_queue queue = { 0 }, polled = { 0 };
    usher_dates dates = { 0 };
    usher_seats seats = { 0 };
    usher_reservation hold = { 0 };
    usher_payment payment = { 0 };
    usher_status st;
    int rc = 1;
    if ((st = usher_user_register(c, &me)) != USHER_OK) { rc = step_failed(c, "register", st); goto out; }
    if ((st = usher_wallet_charge(c, me.session, 1000000, NULL, &charge)) != USHER_OK) {
        rc = step_failed(c, "charge", st); goto out;
    }
    if ((st = usher_queue_enter(c, me.session, concert_id, &queue)) != USHER_OK) {
        rc = step_failed(c, "queue enter", st); goto out;
    }
    int state = queue.state;
    for (int tries = 0; state == USHER_QUEUE_STATE_WAITING && tries < 100; tries++) {
        nanosleep(&(struct timespec){ 0, 100 * 1000000L }, NULL);
        usher_queue_free(&polled);
        if ((st = usher_queue_status(c, queue.token, &polled)) != USHER_OK) {
            rc = step_failed(c, "queue status", st); goto out;
        }
        state = polled.state;
    }
    if (state != USHER_QUEUE_STATE_ACTIVE) { fprintf(stderr, "app_collide: not admitted\n"); goto out; }
    if ((st = usher_concert_dates(c, queue.token, concert_id, &dates)) != USHER_OK) {
        rc = step_failed(c, "dates", st); goto out;
    }
    const usher_date *date = NULL;
    for (size_t i = 0; i < dates.count && !date; i++)
        if (dates.dates[i].available > 0) date = &dates.dates[i];
    if (!date) { fprintf(stderr, "app_collide: no free seats\n"); goto out; }
    if ((st = usher_concert_seats(c, queue.token, date->schedule_id, &seats)) != USHER_OK) {
        rc = step_failed(c, "seats", st); goto out;
    }
    const usher_seat *seat = NULL;
    for (size_t i = 0; i < seats.count && !seat; i++)
        if (seats.seats[i].available) seat = &seats.seats[i];
    if (!seat) { fprintf(stderr, "app_collide: sold out\n"); goto out; }
    if ((st = usher_seat_reserve(c, queue.token, date->schedule_id, seat->seat_no, &hold)) != USHER_OK) {
        rc = step_failed(c, "reserve", st); goto out;
    }
    if ((st = usher_payment_pay(c, queue.token, &hold.reservation_id, 1, NULL, &payment)) != USHER_OK) {
        rc = step_failed(c, "pay", st); goto out;
    }
    printf("bought seat %u of performance %llu\n", hold.seat_no, (unsigned long long)hold.schedule_id);
    rc = 0;
out:
    usher_registration_free(&me);
    usher_queue_free(&queue);
    usher_queue_free(&polled);
    usher_dates_free(&dates);
    usher_seats_free(&seats);
    usher_payment_free(&payment);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) { fprintf(stderr, "usage: app_collide PORT CONCERT_ID\n"); return 2; }
    usher_client *c = usher_connect("127.0.0.1", atoi(argv[1]), 5000);
    if (!c) return 1;
    int rc = usher_last_status(c) == USHER_OK ? buy(c, strtoull(argv[2], NULL, 10))
                                              : step_failed(c, "connect", usher_last_status(c));
    usher_close(c);
    /* Our own functions, called once each by us: right markers, no other caller. */
    if (conn_open() != OWN_CONN_OPEN || conn_now_ms() != OWN_CONN_NOW_MS ||
        frame_header_put() != OWN_FRAME_HEADER_PUT || msg_decode() != OWN_MSG_DECODE) {
        fprintf(stderr, "app_collide: an own function returned someone else's value\n");
        return 1;
    }
    for (int i = 0; i < 4; i++)
        if (own_calls[i] != 1) {
            fprintf(stderr, "app_collide: own function %d was called %d times\n", i, own_calls[i]);
            return 1;
        }
    printf("own names kept\n");
    return rc;
}
