/* kiosk: the whole purchase flow of a box-office kiosk, on libusher's
 * synchronous client. Read it top to bottom as the SDK's worked example:
 *
 *   register -> charge -> enter the queue -> wait until admitted ->
 *   list dates -> show seats -> hold a seat -> pay -> print a receipt
 *
 * Build against an installed libusher:
 *   cc kiosk.c $(pkg-config --cflags --libs usher)
 * Run:  kiosk [--host 127.0.0.1] [--port 7700] [--concert 1] [--amount 100000]
 * Exit status 0 after a purchase; 1 (with the error printed) on any failure;
 * 2 for bad options. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <usher.h>   /* cc kiosk.c $(pkg-config --cflags --libs usher) */

#define POLL_INTERVAL_MS 500   /* how often a waiting kiosk asks for its position */

/* Every libusher call returns a status; on failure the client keeps the
 * server's message (or the transport detail) for usher_last_message. */
static int fail(usher_client *c, const char *step, usher_status status)
{
    fprintf(stderr, "kiosk: %s failed: %s (%d): %s\n", step, usher_status_name(status),
            (int)status, c ? usher_last_message(c) : usher_errstr(status));
    return 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The purchase itself. Result structs start zeroed and are freed once at
 * the end, whatever happened: every _free is safe on an empty struct. */
static int buy_one_seat(usher_client *c, uint64_t concert_id, int64_t amount)
{
    usher_registration me = { 0 };
    usher_charge charge = { 0 };
    usher_queue queue = { 0 }, status = { 0 };
    usher_dates dates = { 0 };
    usher_seats seats = { 0 };
    usher_reservation hold = { 0 };
    usher_payment payment = { 0 };
    usher_status st;
    int rc = 1;

    /* 1. A new customer: user id, secret (shown once) and a session. */
    if ((st = usher_user_register(c, &me)) != USHER_OK) { fail(c, "register", st); goto out; }
    /* 2. Money in the wallet. NULL request_id: libusher makes one, so a retry
     *    after a lost reply (with charge.request_id) never charges twice. */
    if ((st = usher_wallet_charge(c, me.session, amount, NULL, &charge)) != USHER_OK) {
        fail(c, "charge", st); goto out;
    }
    /* 3. The queue: nobody books before the queue admits them. */
    if ((st = usher_queue_enter(c, me.session, concert_id, &queue)) != USHER_OK) {
        fail(c, "queue enter", st); goto out;
    }
    int state = queue.state;
    uint32_t position = queue.position, shown = 0;
    while (state == USHER_QUEUE_STATE_WAITING) {   /* the polling API */
        if (position != shown)
            printf("waiting in line: position %u\n", position);
        shown = position;
        sleep_ms(POLL_INTERVAL_MS);
        usher_queue_free(&status);
        if ((st = usher_queue_status(c, queue.token, &status)) != USHER_OK) {
            fail(c, "queue status", st); goto out;
        }
        state = status.state;
        position = status.position;
    }
    if (state != USHER_QUEUE_STATE_ACTIVE) {
        fprintf(stderr, "kiosk: queue ended %s before we were admitted\n", usher_queue_state_name(state));
        goto out;
    }
    printf("admitted\n");
    /* 4. Performances with free seats, earliest first; take the first one. */
    if ((st = usher_concert_dates(c, queue.token, concert_id, &dates)) != USHER_OK) {
        fail(c, "dates", st); goto out;
    }
    const usher_date *date = NULL;
    for (size_t i = 0; i < dates.count && !date; i++)
        if (dates.dates[i].available > 0)
            date = &dates.dates[i];
    if (!date) { fprintf(stderr, "kiosk: no performance has free seats\n"); goto out; }
    /* 5. The seat map; a real kiosk lets the customer pick, we take the first free seat. */
    if ((st = usher_concert_seats(c, queue.token, date->schedule_id, &seats)) != USHER_OK) {
        fail(c, "seats", st); goto out;
    }
    const usher_seat *seat = NULL;
    for (size_t i = 0; i < seats.count && !seat; i++)
        if (seats.seats[i].available)
            seat = &seats.seats[i];
    if (!seat) { fprintf(stderr, "kiosk: the performance sold out meanwhile\n"); goto out; }
    /* 6. Hold it: nobody else can take it until the hold expires (a few minutes).
     *    SEAT_UNAVAILABLE here means someone was faster; a kiosk would offer another. */
    if ((st = usher_seat_reserve(c, queue.token, date->schedule_id, seat->seat_no, &hold)) != USHER_OK) {
        fail(c, "reserve", st); goto out;
    }
    printf("holding seat %u of performance %llu until %lld\n", hold.seat_no,
           (unsigned long long)hold.schedule_id, (long long)hold.expires_at);
    /* 7. Pay from the wallet; the queue token expires with the payment. */
    if ((st = usher_payment_pay(c, queue.token, &hold.reservation_id, 1, NULL, &payment)) != USHER_OK) {
        fail(c, "pay", st); goto out;
    }
    /* 8. The receipt. */
    printf("receipt: payment %llu, concert %llu, performance %llu, seat %u, paid %lld KRW, "
           "balance %lld KRW\n", (unsigned long long)payment.payment_id,
           (unsigned long long)concert_id, (unsigned long long)hold.schedule_id, hold.seat_no,
           (long long)payment.amount, (long long)payment.balance);
    rc = 0;
out:
    usher_registration_free(&me);
    usher_queue_free(&queue);
    usher_queue_free(&status);
    usher_dates_free(&dates);
    usher_seats_free(&seats);
    usher_payment_free(&payment);
    return rc;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 7700;
    uint64_t concert_id = 1;
    int64_t amount = 100000;
    static const struct option opts[] = {
        { "host", required_argument, NULL, 'h' }, { "port", required_argument, NULL, 'p' },
        { "concert", required_argument, NULL, 'c' }, { "amount", required_argument, NULL, 'a' },
        { NULL, 0, NULL, 0 },
    };
    for (int ch; (ch = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        char *end = optarg;
        switch (ch) {
        case 'h': host = optarg; end = NULL; break;
        case 'p': port = (int)strtol(optarg, &end, 10); break;
        case 'c': concert_id = strtoull(optarg, &end, 10); break;
        case 'a': amount = strtoll(optarg, &end, 10); break;
        }
        if (ch == '?' || (end && (end == optarg || *end))) {
            fprintf(stderr, "usage: kiosk [--host H] [--port P] [--concert ID] [--amount KRW]\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kiosk: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    /* One client per thread; 5 s for the connect and for each call. */
    usher_client *c = usher_connect(host, port, 5000);
    if (!c || usher_last_status(c) != USHER_OK) {
        int rc = fail(c, "connect", c ? usher_last_status(c) : USHER_ENOMEM);
        usher_close(c);
        return rc;
    }
    int rc = buy_one_seat(c, concert_id, amount);
    usher_close(c);
    return rc;
}
