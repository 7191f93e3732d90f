/* The structural walk of data.mdb (store_pages.h). It mirrors the few parts
 * of LMDB's on-disk format it needs (lmdb 0.9, the layout of mdb.c's
 * MDB_page, MDB_node, MDB_db and MDB_meta on a 64-bit host) and reads
 * every page with pread into its own buffer, so a damaged page is found as
 * a wrong number, kind or bound instead of being dereferenced. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "store_pages.h"

#define PAGE_HEAD 16u          /* pgno (8), pad (2), flags (2), lower (2), upper (2) */
#define NODE_HEAD 8u           /* lo (2), hi (2), flags (2), ksize (2) */
#define P_BRANCH 0x01u
#define P_LEAF 0x02u
#define P_OVERFLOW 0x04u
#define P_META 0x08u
#define P_LEAF2 0x20u
#define P_SUBP 0x40u
#define P_KIND (P_BRANCH | P_LEAF | P_OVERFLOW | P_META | P_LEAF2 | P_SUBP)
#define F_BIGDATA 0x01u        /* the data is the number of its first overflow page */
#define F_SUBDATA 0x02u        /* the data is a database record (a named database) */
#define F_DUPDATA 0x04u        /* the data is a sorted duplicate set */
#define META_MAGIC 0xBEEFC0DEu
#define META_VERSION 1u
#define MAX_DEPTH 32u          /* far beyond any real tree (fan-out >= 2 per level) */
#define NAME_MAX_LEN 63u
#define PGNO_INVALID (~(uint64_t)0)

_Static_assert(sizeof(size_t) == 8, "the walk knows LMDB's 64-bit layout only");

typedef struct disk_db {       /* MDB_db */
    uint32_t pad;              /* the page size, in the free list's record */
    uint16_t flags;
    uint16_t depth;
    uint64_t branch_pages;
    uint64_t leaf_pages;
    uint64_t overflow_pages;
    uint64_t entries;
    uint64_t root;
} disk_db;

typedef struct disk_meta {     /* MDB_meta, after the page header */
    uint32_t magic;
    uint32_t version;
    uint64_t address;
    uint64_t mapsize;
    disk_db dbs[2];            /* free list, main */
    uint64_t last_pg;
    uint64_t txnid;
} disk_meta;

_Static_assert(sizeof(disk_db) == 48, "MDB_db layout");
_Static_assert(sizeof(disk_meta) == 136, "MDB_meta layout");

typedef struct tree {          /* a B-tree still to walk */
    disk_db db;
    char name[NAME_MAX_LEN + 1];
} tree;

#define KEY_MAX 511u           /* LMDB's largest key (mdb_env_get_maxkeysize) */

typedef struct tree_count {    /* what the walk found, against what the db record says */
    uint64_t branch, leaf, overflow, entries;
    unsigned char last_key[KEY_MAX];   /* the previous leaf's last key: leaves come in order */
    size_t last_len;
    bool have_last;
} tree_count;

typedef struct walker {
    int fd;
    size_t psize;
    uint64_t last_pg;
    unsigned char *seen;       /* one bit per page of the snapshot */
    unsigned char *buf;        /* one page buffer per tree level */
    tree *pending;             /* named databases found in the main tree */
    size_t pending_n, pending_cap;
    store_pages_report *out;
    store_pages_outcome outcome;
} walker;

static uint16_t get16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static bool damage(walker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool damage(walker *w, const char *fmt, ...)
{
    if (w->outcome == STORE_PAGES_SOUND) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->out->why, sizeof w->out->why, fmt, ap);
        va_end(ap);
        w->outcome = STORE_PAGES_DAMAGED;
    }
    return false;
}

static bool failed(walker *w, const char *what)
{
    if (w->outcome == STORE_PAGES_SOUND) {
        snprintf(w->out->why, sizeof w->out->why, "%s: %s", what, strerror(errno));
        w->outcome = STORE_PAGES_FAILED;
    }
    return false;
}

/* Reads page pgno into buf; false (damage) past the snapshot or the file. */
static bool read_page(walker *w, uint64_t pgno, unsigned char *buf, const char *tree_name)
{
    if (pgno < 2 || pgno > w->last_pg)
        return damage(w, "%s: page %llu is outside the snapshot's pages 2..%llu", tree_name,
                      (unsigned long long)pgno, (unsigned long long)w->last_pg);
    if (w->seen[pgno / 8] & (1u << (pgno % 8)))
        return damage(w, "%s: page %llu is reached twice", tree_name, (unsigned long long)pgno);
    w->seen[pgno / 8] |= (unsigned char)(1u << (pgno % 8));
    ssize_t n = pread(w->fd, buf, w->psize, (off_t)(pgno * w->psize));
    if (n < 0)
        return failed(w, "read data.mdb");
    if ((size_t)n != w->psize)
        return damage(w, "%s: page %llu lies beyond the end of data.mdb (truncated)", tree_name,
                      (unsigned long long)pgno);
    if (get64(buf) != pgno)
        return damage(w, "%s: page %llu says it is page %llu (overwritten or zeroed)", tree_name,
                      (unsigned long long)pgno, (unsigned long long)get64(buf));
    return true;
}

/* An overflow run holding a value of dsize bytes, starting at pgno. */
static bool check_overflow(walker *w, uint64_t pgno, uint64_t dsize, unsigned char *buf,
                           const char *tree_name, tree_count *count)
{
    if (!read_page(w, pgno, buf, tree_name))
        return false;
    uint16_t flags = get16(buf + 10) & P_KIND;
    uint32_t pages;
    memcpy(&pages, buf + 12, sizeof pages);
    if (flags != P_OVERFLOW || pages < 1 || pgno + pages - 1 > w->last_pg ||
        dsize > (uint64_t)pages * w->psize - PAGE_HEAD)
        return damage(w, "%s: overflow page %llu (flags 0x%x, %u pages) cannot hold %llu bytes",
                      tree_name, (unsigned long long)pgno, flags, pages, (unsigned long long)dsize);
    for (uint64_t p = pgno + 1; p < pgno + pages; p++) {
        if (w->seen[p / 8] & (1u << (p % 8)))
            return damage(w, "%s: page %llu is reached twice", tree_name, (unsigned long long)p);
        w->seen[p / 8] |= (unsigned char)(1u << (p % 8));
    }
    count->overflow += pages;
    return true;
}

/* LMDB's default order (memcmp, then the shorter first), or native
 * unsigned integers for MDB_INTEGERKEY databases. */
static int key_cmp(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen,
                   uint16_t db_flags)
{
    if ((db_flags & MDB_INTEGERKEY) && alen == blen && (alen == 8 || alen == 4)) {
        uint64_t x, y;
        if (alen == 8) {
            x = get64(a);
            y = get64(b);
        } else {
            uint32_t x32, y32;
            memcpy(&x32, a, sizeof x32);
            memcpy(&y32, b, sizeof y32);
            x = x32;
            y = y32;
        }
        return x < y ? -1 : x > y;
    }
    size_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n);
    return c ? c : (alen < blen ? -1 : alen > blen);
}

static bool queue_tree(walker *w, const unsigned char *rec, const unsigned char *name, size_t len)
{
    if (w->pending_n == w->pending_cap) {
        size_t cap = w->pending_cap ? w->pending_cap * 2 : 32;
        tree *p = realloc(w->pending, cap * sizeof *p);
        if (!p)
            return failed(w, "walk");
        w->pending = p;
        w->pending_cap = cap;
    }
    tree *t = &w->pending[w->pending_n++];
    memcpy(&t->db, rec, sizeof t->db);
    if (len > NAME_MAX_LEN)
        len = NAME_MAX_LEN;
    for (size_t i = 0; i < len; i++)
        t->name[i] = name[i] >= 0x20 && name[i] < 0x7f ? (char)name[i] : '?';
    t->name[len] = 0;
    return true;
}

/* One leaf node: its data in the page, in an overflow run, or a nested
 * database record to walk later. */
static bool check_leaf_node(walker *w, const unsigned char *page, const unsigned char *node,
                            unsigned level, const tree *t, tree_count *count)
{
    uint64_t dsize = (uint64_t)get16(node) | ((uint64_t)get16(node + 2) << 16);
    uint16_t nflags = get16(node + 4), ksize = get16(node + 6);
    const unsigned char *data = node + NODE_HEAD + ksize;
    size_t room = w->psize - (size_t)(data - page);
    count->entries++;
    if (nflags & F_BIGDATA) {
        if (room < 8)
            return damage(w, "%s: a node runs off its page", t->name);
        return check_overflow(w, get64(data), dsize, w->buf + (size_t)(level + 1) * w->psize,
                              t->name, count);
    }
    if (dsize > room)
        return damage(w, "%s: a %llu-byte value runs off its page", t->name,
                      (unsigned long long)dsize);
    if (nflags & F_SUBDATA) {
        if (dsize != sizeof(disk_db))
            return damage(w, "%s: a database record of %llu bytes", t->name,
                          (unsigned long long)dsize);
        return queue_tree(w, data, node + NODE_HEAD, ksize);
    }
    return true;
}

static bool walk_page(walker *w, uint64_t pgno, unsigned level, const tree *t, tree_count *count);

/* The nodes of one page: bounds, key order, then the children or values. */
static bool check_nodes(walker *w, const unsigned char *page, uint64_t pgno, unsigned level,
                        bool branch, const tree *t, tree_count *count)
{
    uint16_t lower = get16(page + 12), upper = get16(page + 14);
    if (lower < PAGE_HEAD || (lower - PAGE_HEAD) % 2 || lower > upper || upper > w->psize)
        return damage(w, "%s: page %llu has bounds %u..%u", t->name, (unsigned long long)pgno,
                      lower, upper);
    unsigned n = (lower - PAGE_HEAD) / 2;
    if (n == 0)
        return damage(w, "%s: page %llu is empty", t->name, (unsigned long long)pgno);
    const unsigned char *prev_key = NULL;
    size_t prev_len = 0;
    for (unsigned i = 0; i < n; i++) {
        uint16_t at = get16(page + PAGE_HEAD + 2 * i);
        if (at < upper || (size_t)at + NODE_HEAD > w->psize)
            return damage(w, "%s: page %llu node %u at offset %u", t->name,
                          (unsigned long long)pgno, i, at);
        const unsigned char *node = page + at;
        uint16_t ksize = get16(node + 6);
        if ((size_t)at + NODE_HEAD + ksize > w->psize)
            return damage(w, "%s: page %llu node %u has a key running off the page", t->name,
                          (unsigned long long)pgno, i);
        const unsigned char *key = node + NODE_HEAD;
        if (ksize > KEY_MAX)
            return damage(w, "%s: page %llu node %u has a %u-byte key", t->name,
                          (unsigned long long)pgno, i, ksize);
        bool ordered = !(branch && i == 0) && !(t->db.flags & MDB_REVERSEKEY);
        if (ordered && !prev_key && !branch && count->have_last) {
            prev_key = count->last_key;   /* across leaves too: the walk visits them in order */
            prev_len = count->last_len;
        }
        if (ordered && prev_key && key_cmp(prev_key, prev_len, key, ksize, t->db.flags) >= 0)
            return damage(w, "%s: page %llu keys out of order at node %u", t->name,
                          (unsigned long long)pgno, i);
        if (ordered) {
            prev_key = key;
            prev_len = ksize;
        }
        if (branch) {
            uint64_t child = (uint64_t)get16(node) | ((uint64_t)get16(node + 2) << 16) |
                             ((uint64_t)get16(node + 4) << 32);
            if (!walk_page(w, child, level + 1, t, count))   /* deeper levels own other buffers */
                return false;
        } else if (!check_leaf_node(w, page, node, level, t, count)) {
            return false;
        }
    }
    if (!branch && prev_key && !(t->db.flags & MDB_REVERSEKEY)) {
        memcpy(count->last_key, prev_key, prev_len);
        count->last_len = prev_len;
        count->have_last = true;
    }
    return true;
}

static bool walk_page(walker *w, uint64_t pgno, unsigned level, const tree *t, tree_count *count)
{
    if (level >= t->db.depth || level >= MAX_DEPTH)
        return damage(w, "%s: page %llu lies deeper than the tree's depth %u", t->name,
                      (unsigned long long)pgno, t->db.depth);
    unsigned char *page = w->buf + (size_t)level * w->psize;
    if (!read_page(w, pgno, page, t->name))
        return false;
    uint16_t flags = get16(page + 10) & P_KIND;
    bool leaf_level = level + 1 == t->db.depth;
    if (flags != (leaf_level ? P_LEAF : P_BRANCH))
        return damage(w, "%s: page %llu has flags 0x%x where a %s page belongs", t->name,
                      (unsigned long long)pgno, flags, leaf_level ? "leaf" : "branch");
    if (leaf_level)
        count->leaf++;
    else
        count->branch++;
    return check_nodes(w, page, pgno, level, !leaf_level, t, count);
}

static bool walk_tree(walker *w, const tree *t)
{
    w->out->trees++;
    tree_count count = { 0 };
    if (t->db.root == PGNO_INVALID) {
        if (t->db.depth != 0 || t->db.entries != 0)
            return damage(w, "%s: empty, yet it records depth %u and %llu entries", t->name,
                          t->db.depth, (unsigned long long)t->db.entries);
        return true;
    }
    if (t->db.depth == 0 || t->db.depth > MAX_DEPTH)
        return damage(w, "%s: depth %u", t->name, t->db.depth);
    if (!walk_page(w, t->db.root, 0, t, &count))
        return false;
    w->out->pages += count.branch + count.leaf + count.overflow;
    if (count.entries != t->db.entries || count.leaf != t->db.leaf_pages ||
        count.branch != t->db.branch_pages || count.overflow != t->db.overflow_pages)
        return damage(w, "%s: found %llu entries in %llu/%llu/%llu branch/leaf/overflow pages; "
                      "its record says %llu in %llu/%llu/%llu",
                      t->name, (unsigned long long)count.entries,
                      (unsigned long long)count.branch, (unsigned long long)count.leaf,
                      (unsigned long long)count.overflow, (unsigned long long)t->db.entries,
                      (unsigned long long)t->db.branch_pages, (unsigned long long)t->db.leaf_pages,
                      (unsigned long long)t->db.overflow_pages);
    return true;
}

/* The snapshot's meta page: the one holding txnid (LMDB alternates them). */
static store_pages_outcome read_meta(walker *w, uint64_t txnid, disk_meta *meta)
{
    unsigned char *page = w->buf;
    uint64_t pgno = txnid & 1;
    ssize_t n = pread(w->fd, page, w->psize, (off_t)(pgno * w->psize));
    if (n < 0) {
        failed(w, "read data.mdb");
        return w->outcome;
    }
    if ((size_t)n < PAGE_HEAD + sizeof *meta) {
        damage(w, "meta page %llu is cut short", (unsigned long long)pgno);
        return w->outcome;
    }
    memcpy(meta, page + PAGE_HEAD, sizeof *meta);
    if (meta->txnid != txnid)
        return STORE_PAGES_RETRY;   /* a later commit reused it; the caller takes a newer snapshot */
    if (meta->magic != META_MAGIC || meta->version != META_VERSION ||
        (get16(page + 10) & P_KIND) != P_META || meta->dbs[0].pad != w->psize)
        damage(w, "meta page %llu is not an LMDB meta page of this file", (unsigned long long)pgno);
    return w->outcome;
}

store_pages_outcome store_pages_verify(MDB_env *env, MDB_txn *txn, store_pages_report *out)
{
    memset(out, 0, sizeof *out);
    walker w = { .out = out, .outcome = STORE_PAGES_SOUND };
    MDB_stat st;
    if (mdb_env_stat(env, &st) != 0 || mdb_env_get_fd(env, &w.fd) != 0) {
        snprintf(out->why, sizeof out->why, "cannot read the environment's page size");
        return STORE_PAGES_FAILED;
    }
    w.psize = st.ms_psize;
    w.buf = malloc(w.psize * (MAX_DEPTH + 1));
    if (!w.buf) {
        snprintf(out->why, sizeof out->why, "out of memory");
        return STORE_PAGES_FAILED;
    }
    disk_meta meta;
    store_pages_outcome o = read_meta(&w, (uint64_t)mdb_txn_id(txn), &meta);
    if (o != STORE_PAGES_SOUND)
        goto done;
    w.last_pg = meta.last_pg;
    w.seen = calloc(w.last_pg / 8 + 1, 1);
    if (!w.seen) {
        errno = ENOMEM;
        failed(&w, "walk");
        goto done;
    }
    tree t = { .db = meta.dbs[0] };
    strcpy(t.name, "the free list");
    if (walk_tree(&w, &t)) {
        t = (tree){ .db = meta.dbs[1] };
        strcpy(t.name, "the main database");
        walk_tree(&w, &t);
    }
    for (size_t i = 0; i < w.pending_n && w.outcome == STORE_PAGES_SOUND; i++)
        walk_tree(&w, &w.pending[i]);
done:
    free(w.seen);
    free(w.pending);
    free(w.buf);
    return w.outcome;
}
