#include "demo.h"
#include <string.h>

#define DAY_MS 86400000LL
#define EVENING_UTC_MS (10LL * 3600000LL)   /* 10:00 UTC is 19:00 in Seoul */
#define DEMO_CONCERT_ID 1                   /* the first concert of an empty store */

static const int days_ahead[DEMO_DATES] = { 1, 2, 7 };
static const char demo_title[] = "Usher Demo Night";
static const char demo_venue[] = "Seoul Arts Center";

/* Three price tiers: front, middle, back. */
static int64_t demo_price(uint32_t seat_no)
{
    if (seat_no <= 10) return 110000;
    if (seat_no <= 30) return 88000;
    return 66000;
}

/* The demo's performances 1, 2 and 7 days after now's day, in the evening. */
static usher_err add_dates(store_txn *txn, uint64_t concert_id, int64_t now_ms, demo_outcome *out)
{
    int64_t prices[DEMO_SEATS];
    for (uint32_t i = 0; i < DEMO_SEATS; i++) prices[i] = demo_price(i + 1);
    for (size_t i = 0; i < DEMO_DATES; i++) {
        int64_t starts_at = (now_ms / DAY_MS + days_ahead[i]) * DAY_MS + EVENING_UTC_MS;
        usher_err e = store_schedule_create(txn, concert_id, starts_at, DEMO_SEATS, prices,
                                            &out->schedule_ids[i]);
        if (e != USHER_ERR_OK) return e;
    }
    out->first_starts_at_ms = (now_ms / DAY_MS + days_ahead[0]) * DAY_MS + EVENING_UTC_MS;
    return USHER_ERR_OK;
}

/* True when the store's concert 1 is the demo's (by its title and venue)
 * and none of its performances is still to come. */
static usher_err demo_all_past(store_txn *txn, int64_t now_ms, bool *all_past)
{
    store_concert concert;
    store_date next;
    size_t n = 0;
    *all_past = false;
    usher_err e = store_concert_get(txn, DEMO_CONCERT_ID, &concert);
    if (e == USHER_ERR_NOT_FOUND) return USHER_ERR_OK;
    if (e != USHER_ERR_OK) return e;
    if (strcmp(concert.title, demo_title) != 0 || strcmp(concert.venue, demo_venue) != 0)
        return USHER_ERR_OK;   /* concert 1 is someone's own: leave it be */
    e = store_concert_dates(txn, DEMO_CONCERT_ID, now_ms, &next, 1, &n);
    if (e == USHER_ERR_OK) *all_past = n == 0;
    return e;
}

usher_err demo_seed(store *st, int64_t now_ms, demo_outcome *out)
{
    store_txn *txn;
    bool empty = false, all_past = false;

    memset(out, 0, sizeof *out);
    usher_err e = store_write_begin(st, &txn);
    if (e != USHER_ERR_OK) return e;
    e = store_is_empty(txn, &empty);
    if (e == USHER_ERR_OK && empty) {
        e = store_concert_create(txn, demo_title, strlen(demo_title), demo_venue,
                                 strlen(demo_venue), &out->concert_id);
        if (e == USHER_ERR_OK) e = add_dates(txn, out->concert_id, now_ms, out);
        if (e == USHER_ERR_OK) out->what = DEMO_CREATED;
    } else if (e == USHER_ERR_OK) {
        e = demo_all_past(txn, now_ms, &all_past);
        if (e == USHER_ERR_OK && all_past) {
            out->concert_id = DEMO_CONCERT_ID;
            e = add_dates(txn, DEMO_CONCERT_ID, now_ms, out);
            if (e == USHER_ERR_OK) out->what = DEMO_RENEWED;
        }
    }
    if (e != USHER_ERR_OK || out->what == DEMO_UNCHANGED) {
        store_txn_end(txn);
        if (e != USHER_ERR_OK) out->what = DEMO_UNCHANGED;
        return e;
    }
    e = store_txn_commit(txn);
    if (e != USHER_ERR_OK) out->what = DEMO_UNCHANGED;
    return e;
}
