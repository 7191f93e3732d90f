/* The dropped-order index of a queue: how many entries ahead of an order
 * were dropped, without walking them. Orders are grouped in blocks of
 * QUEUE_DROP_BLOCK, each a count and a bitmap (queue_drops, stored only
 * once something in it was dropped); a Fenwick tree over the blocks' counts
 * (queue_drop_sums, sparse: an absent node is 0) sums whole blocks in
 * O(log blocks) point reads, and a popcount covers the partial block. So a
 * position costs the same at 10 or 10^7 waiting. */
#include "store_internal.h"

#define DKEY_LEN (8 + 8)

static void dkey(unsigned char key[DKEY_LEN], uint64_t concert_id, uint64_t n)
{
    key_put_u64(key, concert_id);
    key_put_u64(key + 8, n);
}

static usher_err block_load(store_txn *t, uint64_t concert_id, uint64_t block, rec_queue_drops *b)
{
    unsigned char key[DKEY_LEN];
    dkey(key, concert_id, block);
    usher_err err = store_get_rec(t, DB_QUEUE_DROPS, key, sizeof key, b, sizeof *b);
    if (err == USHER_ERR_NOT_FOUND) memset(b, 0, sizeof *b);
    return err;
}

static usher_err node_get(store_txn *t, uint64_t concert_id, uint64_t node, uint64_t *sum)
{
    unsigned char key[DKEY_LEN];
    dkey(key, concert_id, node);
    usher_err err = store_get_rec(t, DB_QUEUE_DROP_SUMS, key, sizeof key, sum, sizeof *sum);
    if (err == USHER_ERR_NOT_FOUND) { *sum = 0; return USHER_ERR_OK; }
    return err;
}

/* Dropped orders in blocks 0..blocks-1. */
static usher_err blocks_sum(store_txn *t, uint64_t concert_id, uint64_t blocks, uint64_t *n)
{
    *n = 0;
    for (uint64_t i = blocks; i > 0; i -= i & (~i + 1)) {
        uint64_t s;
        usher_err err = node_get(t, concert_id, i, &s);
        if (err != USHER_ERR_OK) return err;
        *n += s;
    }
    return USHER_ERR_OK;
}

usher_err queue_drops_below(store_txn *t, uint64_t concert_id, uint64_t order, uint64_t *n)
{
    uint64_t block = order / QUEUE_DROP_BLOCK, bit = order % QUEUE_DROP_BLOCK;
    usher_err err = blocks_sum(t, concert_id, block, n);
    if (err != USHER_ERR_OK) return err;
    rec_queue_drops b;
    err = block_load(t, concert_id, block, &b);
    if (err == USHER_ERR_NOT_FOUND) return USHER_ERR_OK;
    if (err != USHER_ERR_OK) return err;
    for (uint64_t w = 0; w < bit / 64; w++) *n += (uint64_t)__builtin_popcountll(b.bits[w]);
    if (bit % 64) *n += (uint64_t)__builtin_popcountll(b.bits[bit / 64] & ((UINT64_C(1) << (bit % 64)) - 1));
    return USHER_ERR_OK;
}

usher_err queue_drop_is_set(store_txn *t, uint64_t concert_id, uint64_t order, bool *set)
{
    rec_queue_drops b;
    uint64_t bit = order % QUEUE_DROP_BLOCK;
    usher_err err = block_load(t, concert_id, order / QUEUE_DROP_BLOCK, &b);
    *set = err == USHER_ERR_OK && (b.bits[bit / 64] >> (bit % 64)) & 1;
    return err == USHER_ERR_NOT_FOUND ? USHER_ERR_OK : err;
}

usher_err queue_drop_mark(store_txn *t, uint64_t concert_id, uint64_t order)
{
    uint64_t block = order / QUEUE_DROP_BLOCK, bit = order % QUEUE_DROP_BLOCK;
    if (block + 1 > QUEUE_DROP_NODES) return USHER_ERR_INTERNAL;
    rec_queue_drops b;
    usher_err err = block_load(t, concert_id, block, &b);
    if (err != USHER_ERR_OK && err != USHER_ERR_NOT_FOUND) return err;
    uint64_t mask = UINT64_C(1) << (bit % 64);
    if (b.bits[bit / 64] & mask) return USHER_ERR_OK;
    b.bits[bit / 64] |= mask;
    b.count++;
    unsigned char key[DKEY_LEN];
    dkey(key, concert_id, block);
    if ((err = store_put(t, DB_QUEUE_DROPS, key, sizeof key, &b, sizeof b, 0)) != USHER_ERR_OK)
        return err;
    for (uint64_t i = block + 1; i <= QUEUE_DROP_NODES; i += i & (~i + 1)) {
        uint64_t s;
        if ((err = node_get(t, concert_id, i, &s)) != USHER_ERR_OK) return err;
        s++;
        dkey(key, concert_id, i);
        if ((err = store_put(t, DB_QUEUE_DROP_SUMS, key, sizeof key, &s, sizeof s, 0)) != USHER_ERR_OK)
            return err;
    }
    return USHER_ERR_OK;
}

usher_err queue_next_kept(store_txn *t, uint64_t concert_id, uint64_t from, uint64_t limit,
                          uint64_t *order)
{
    uint64_t o = from;
    while (o < limit) {
        uint64_t block = o / QUEUE_DROP_BLOCK;
        rec_queue_drops b;
        usher_err err = block_load(t, concert_id, block, &b);
        if (err == USHER_ERR_NOT_FOUND) break;   /* nothing dropped here */
        if (err != USHER_ERR_OK) return err;
        if (b.count < QUEUE_DROP_BLOCK)
            for (uint64_t bit = o % QUEUE_DROP_BLOCK; bit < QUEUE_DROP_BLOCK; bit++, o++)
                if (!((b.bits[bit / 64] >> (bit % 64)) & 1)) {
                    *order = o < limit ? o : limit;
                    return USHER_ERR_OK;
                }
        o = (block + 1) * QUEUE_DROP_BLOCK;
    }
    *order = o < limit ? o : limit;
    return USHER_ERR_OK;
}

static usher_err clear_prefix(store_txn *t, enum store_db db, uint64_t concert_id)
{
    MDB_cursor *cur;
    usher_err err = store_cursor(t, db, &cur);
    if (err != USHER_ERR_OK) return err;
    unsigned char at[DKEY_LEN];
    dkey(at, concert_id, 0);
    MDB_val k = { sizeof at, at }, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == DKEY_LEN && key_get_u64(k.mv_data) == concert_id) {
        if ((rc = store_mdb_cursor_del(t, db, cur)) != 0) break;
        k = (MDB_val){ sizeof at, at };   /* only ever the first is deleted: seek again */
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(t->st, rc, store_db_name(db));
    return USHER_ERR_OK;
}

usher_err queue_drops_clear(store_txn *t, uint64_t concert_id)
{
    usher_err err = clear_prefix(t, DB_QUEUE_DROPS, concert_id);
    return err != USHER_ERR_OK ? err : clear_prefix(t, DB_QUEUE_DROP_SUMS, concert_id);
}
