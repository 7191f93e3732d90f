/* Result packing shared by handlers: key/value pairs, the entities every
 * list repeats (reservations, payments), and pages cut to fit one frame. */
#ifndef USHER_SERVER_METHODS_PACK_H
#define USHER_SERVER_METHODS_PACK_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include "../store.h"

/* Bytes of a reply reserved for the envelope around a result. */
#define PACK_ENVELOPE_RESERVE 256

void pack_key(msgpack_packer *pk, const char *key);
void pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t v);
void pack_kv_i64(msgpack_packer *pk, const char *key, int64_t v);
void pack_kv_str(msgpack_packer *pk, const char *key, const char *s);
void pack_kv_user(msgpack_packer *pk, const char *key, const user_id *user);

/* Wire names of stored states. */
const char *pack_reservation_status(store_reservation_status s);
const char *pack_queue_state(store_queue_state s);

/* {reservation_id, schedule_id, seat_no, price, status, expires_at} */
void pack_reservation(msgpack_packer *pk, const store_reservation *r);

/* An array of reservation ids. */
void pack_id_array(msgpack_packer *pk, const uint64_t *ids, size_t n);

/* A list cut to fit one frame: items are packed one by one into a side
 * buffer; an item that would pass the budget is dropped and the page ends. */
typedef struct page {
    msgpack_sbuffer items;
    msgpack_packer pk;      /* pack one item here between begin and end */
    size_t count;
    size_t budget;
    size_t mark;
} page;

/* A page of at most budget bytes. */
void page_init(page *pg, size_t budget);

/* Starts an item; returns the packer to pack it with. */
msgpack_packer *page_item_begin(page *pg);

/* Ends an item; false when it did not fit (it is dropped; stop adding). */
bool page_item_end(page *pg);

/* Packs the array of accepted items onto out and frees the page. */
void page_finish(page *pg, msgpack_packer *out);

#endif
