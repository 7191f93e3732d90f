/* Checks the dropped-order index that positions are computed from: each
 * block's bits are exactly the orders of its queue's dropped entries (both
 * ways) and its count their number, and every Fenwick sum in
 * queue_drop_sums equals the counts of the blocks it covers (node i covers
 * blocks i - lowbit(i) .. i - 1), present wherever it is not zero. A wrong
 * sum would shift every position behind it. */
#include "store_check_internal.h"

#define DKEY_LEN (8 + 8)

typedef struct block_count {
    uint64_t block;
    uint64_t count;
} block_count;

static uint64_t lowbit(uint64_t i) { return i & (~i + 1); }

/* The seq at order in a queue (its draw's rank mapping, else the same). */
static bool seq_at(check_run *r, uint64_t concert_id, const rec_queue *q, uint64_t order,
                   uint64_t *seq)
{
    *seq = order;
    if (!(q->flags & QUEUE_DRAWN) || order > q->drawn_n)
        return true;
    unsigned char key[DKEY_LEN];
    key_put_u64(key, concert_id);
    key_put_u64(key + 8, order);
    MDB_val v;
    if (!check_has_key(r, DB_QUEUE_ORDER, key, sizeof key, &v) || v.mv_size != sizeof *seq)
        return false;   /* queue.draw reports it */
    memcpy(seq, v.mv_data, sizeof *seq);
    return true;
}

/* Every dropped entry with an order has its bit. */
static void entries_to_bits(check_run *r)
{
    check_iter it;
    check_iter_init(&it, DB_QUEUE_ENTRIES, NULL, 0);
    while (check_iter_next(r, &it)) {
        rec_queue_entry e;
        if (it.k.mv_size != DKEY_LEN || it.v.mv_size != sizeof e)
            continue;
        memcpy(&e, it.v.mv_data, sizeof e);
        if (!e.dropped || e.order == 0)
            continue;
        uint64_t concert_id = key_get_u64(it.k.mv_data);
        unsigned char key[DKEY_LEN];
        key_put_u64(key, concert_id);
        key_put_u64(key + 8, e.order / QUEUE_DROP_BLOCK);
        MDB_val v;
        rec_queue_drops b;
        uint64_t bit = e.order % QUEUE_DROP_BLOCK;
        bool set = check_has_key(r, DB_QUEUE_DROPS, key, sizeof key, &v) && v.mv_size == sizeof b &&
                   (memcpy(&b, v.mv_data, sizeof b), (b.bits[bit / 64] >> (bit % 64)) & 1);
        if (!set && !r->stop)
            check_report(r, "index.queue_drops",
                         "concert %llu: dropped entry %llu (order %llu) is not marked in queue_drops",
                         (unsigned long long)concert_id,
                         (unsigned long long)key_get_u64((const unsigned char *)it.k.mv_data + 8),
                         (unsigned long long)e.order);
    }
    check_iter_end(&it);
}

/* One block: its count, and each bit names a dropped entry of that order. */
static void check_block(check_run *r, uint64_t concert_id, const rec_queue *q, uint64_t block,
                        const rec_queue_drops *b)
{
    uint64_t n = 0;
    for (unsigned w = 0; w < QUEUE_DROP_BLOCK / 64; w++) {
        n += (uint64_t)__builtin_popcountll(b->bits[w]);
        for (unsigned i = 0; i < 64 && !r->stop; i++) {
            if (!((b->bits[w] >> i) & 1))
                continue;
            uint64_t order = block * QUEUE_DROP_BLOCK + w * 64 + i, seq;
            unsigned char key[DKEY_LEN];
            MDB_val v;
            rec_queue_entry e;
            bool ok = seq_at(r, concert_id, q, order, &seq);
            key_put_u64(key, concert_id);
            key_put_u64(key + 8, seq);
            ok = ok && check_has_key(r, DB_QUEUE_ENTRIES, key, sizeof key, &v) &&
                 v.mv_size == sizeof e && (memcpy(&e, v.mv_data, sizeof e), e.dropped && e.order == order);
            if (!ok && !r->stop)
                check_report(r, "index.queue_drops",
                             "concert %llu: queue_drops marks order %llu, which is no dropped entry",
                             (unsigned long long)concert_id, (unsigned long long)order);
        }
    }
    if (n != b->count)
        check_report(r, "index.queue_drops", "concert %llu: drop block %llu counts %u but marks %llu",
                     (unsigned long long)concert_id, (unsigned long long)block, b->count,
                     (unsigned long long)n);
}

/* The Fenwick sums of one concert against its blocks (sorted by block). */
static void check_sums(check_run *r, uint64_t concert_id, const check_vec *blocks)
{
    unsigned char prefix[8];
    key_put_u64(prefix, concert_id);
    check_iter it;
    check_iter_init(&it, DB_QUEUE_DROP_SUMS, prefix, sizeof prefix);
    while (check_iter_next(r, &it)) {
        uint64_t sum;
        if (!check_shape(r, &it, DKEY_LEN, sizeof sum))
            continue;
        memcpy(&sum, it.v.mv_data, sizeof sum);
        uint64_t node = key_get_u64((const unsigned char *)it.k.mv_data + 8), want = 0;
        for (size_t i = 0; i < blocks->n; i++) {
            const block_count *bc = check_vec_at(blocks, i);
            if (node >= 1 && bc->block + 1 > node - lowbit(node) && bc->block + 1 <= node)
                want += bc->count;
        }
        if (sum != want)
            check_report(r, "index.queue_drops",
                         "concert %llu: drop sum node %llu is %llu, its blocks count %llu",
                         (unsigned long long)concert_id, (unsigned long long)node,
                         (unsigned long long)sum, (unsigned long long)want);
    }
    check_iter_end(&it);
    for (size_t i = 0; i < blocks->n && !r->stop; i++) {
        const block_count *bc = check_vec_at(blocks, i);
        if (bc->count == 0)
            continue;
        for (uint64_t node = bc->block + 1; node <= QUEUE_DROP_NODES && !r->stop; node += lowbit(node)) {
            unsigned char key[DKEY_LEN];
            key_put_u64(key, concert_id);
            key_put_u64(key + 8, node);
            if (!check_has_key(r, DB_QUEUE_DROP_SUMS, key, sizeof key, NULL) && !r->stop) {
                check_report(r, "index.queue_drops",
                             "concert %llu: drop sum node %llu over block %llu is missing",
                             (unsigned long long)concert_id, (unsigned long long)node,
                             (unsigned long long)bc->block);
                break;
            }
        }
    }
}

/* Blocks grouped by concert (adjacent in key order), then their sums. */
static void blocks_and_sums(check_run *r)
{
    check_vec blocks;
    check_vec_init(&blocks, sizeof(block_count));
    uint64_t concert_id = 0;
    rec_queue q;
    bool any = false, have_queue = false;
    check_iter it;
    check_iter_init(&it, DB_QUEUE_DROPS, NULL, 0);
    while (check_iter_next(r, &it)) {
        rec_queue_drops b;
        if (!check_shape(r, &it, DKEY_LEN, sizeof b))
            continue;
        memcpy(&b, it.v.mv_data, sizeof b);
        uint64_t c = key_get_u64(it.k.mv_data), block = key_get_u64((const unsigned char *)it.k.mv_data + 8);
        if (!any || c != concert_id) {
            if (any)
                check_sums(r, concert_id, &blocks);
            blocks.n = 0;
            any = true;
            concert_id = c;
            MDB_val v;
            have_queue = check_get(r, DB_QUEUES, it.k.mv_data, 8, &v) == 0 && v.mv_size == sizeof q;
            if (have_queue)
                memcpy(&q, v.mv_data, sizeof q);
            else if (!r->stop)
                check_report(r, "index.queue_drops", "queue_drops has blocks of concert %llu, which has no queue",
                             (unsigned long long)c);
        }
        block_count bc = { .block = block, .count = b.count };
        check_vec_push(r, &blocks, &bc);
        if (have_queue)
            check_block(r, c, &q, block, &b);
    }
    check_iter_end(&it);
    if (any)
        check_sums(r, concert_id, &blocks);
    check_vec_free(&blocks);
}

/* Sums of concerts without any block must all be zero (they are not stored). */
static void orphan_sums(check_run *r)
{
    check_iter it;
    check_iter_init(&it, DB_QUEUE_DROP_SUMS, NULL, 0);
    while (check_iter_next(r, &it)) {
        uint64_t sum;
        if (it.k.mv_size != DKEY_LEN || it.v.mv_size != sizeof sum)
            continue;   /* check_sums reports the shape of the others */
        unsigned char prefix[8];
        memcpy(prefix, it.k.mv_data, 8);
        check_iter blk;
        check_iter_init(&blk, DB_QUEUE_DROPS, prefix, sizeof prefix);
        bool has_blocks = check_iter_next(r, &blk);
        check_iter_end(&blk);
        memcpy(&sum, it.v.mv_data, sizeof sum);
        if (!has_blocks && !r->stop)
            check_report(r, "index.queue_drops", "concert %llu: drop sum node %llu is %llu without any block",
                         (unsigned long long)key_get_u64(it.k.mv_data),
                         (unsigned long long)key_get_u64((const unsigned char *)it.k.mv_data + 8),
                         (unsigned long long)sum);
    }
    check_iter_end(&it);
}

void store_check_queue_drops(check_run *r)
{
    entries_to_bits(r);
    blocks_and_sums(r);
    orphan_sums(r);
}
