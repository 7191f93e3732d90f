#include "demo.h"
#include <string.h>

#define DAY_MS 86400000LL
#define EVENING_UTC_MS (10LL * 3600000LL)   /* 10:00 UTC is 19:00 in Seoul */

/* Three price tiers: front, middle, back. */
static int64_t demo_price(uint32_t seat_no)
{
    if (seat_no <= 10) return 110000;
    if (seat_no <= 30) return 88000;
    return 66000;
}

usher_err demo_seed(store *st, int64_t now_ms, bool *created)
{
    static const int days_ahead[] = { 1, 2, 7 };
    static const char title[] = "Usher Demo Night";
    static const char venue[] = "Seoul Arts Center";
    int64_t prices[DEMO_SEATS];
    store_txn *txn;
    bool empty = false;
    uint64_t concert_id, schedule_id;

    *created = false;
    for (uint32_t i = 0; i < DEMO_SEATS; i++) prices[i] = demo_price(i + 1);
    usher_err e = store_write_begin(st, &txn);
    if (e != USHER_ERR_OK) return e;
    e = store_is_empty(txn, &empty);
    if (e != USHER_ERR_OK || !empty) goto done;
    e = store_concert_create(txn, title, strlen(title), venue, strlen(venue), &concert_id);
    if (e != USHER_ERR_OK) goto done;
    for (size_t i = 0; i < sizeof days_ahead / sizeof days_ahead[0]; i++) {
        int64_t starts_at = (now_ms / DAY_MS + days_ahead[i]) * DAY_MS + EVENING_UTC_MS;
        e = store_schedule_create(txn, concert_id, starts_at, DEMO_SEATS, prices, &schedule_id);
        if (e != USHER_ERR_OK) goto done;
    }
    e = store_txn_commit(txn);
    if (e == USHER_ERR_OK) *created = true;
    return e;
done:
    store_txn_end(txn);
    return e;
}
