/* Private to the LMDB store: a structural walk of data.mdb that reads pages
 * with pread, never through the map, and validates every page before LMDB
 * would trust it. LMDB itself asserts (abort) or faults on a zeroed or cut
 * page, so damage must be found here first: at usherd's open (refuse to
 * start) and in usher-check (report storage.damaged).
 *
 * The walk follows one snapshot: the meta page whose txnid is the given
 * read transaction's. Pages that snapshot reaches are never reused while the
 * transaction is open, so writers in other processes cannot change them
 * under the walk. */
#ifndef USHER_SERVER_STORE_PAGES_H
#define USHER_SERVER_STORE_PAGES_H

#include <lmdb.h>
#include <stdint.h>

typedef enum store_pages_outcome {
    STORE_PAGES_SOUND,       /* every reachable page is well formed */
    STORE_PAGES_DAMAGED,     /* why says which page and what is wrong */
    STORE_PAGES_RETRY,       /* the snapshot's meta page was rewritten: use a newer txn */
    STORE_PAGES_FAILED,      /* could not read the file or ran out of memory (why says) */
} store_pages_outcome;

typedef struct store_pages_report {
    uint64_t txnid;          /* the snapshot walked (store_read_begin_verified) */
    uint64_t pages;          /* pages visited (branch, leaf and overflow) */
    uint64_t trees;          /* B-trees walked: free list, main, every named database */
    char why[256];
} store_pages_report;

/* Walks every B-tree of the snapshot txn (a read transaction of env) and
 * validates each page: its number, its kind, its bounds, its nodes, child
 * and overflow page numbers within the file and the snapshot, keys in
 * order within and across leaves, every leaf at the tree's depth, no page
 * reached twice, and the entry and page counts each database record claims. */
store_pages_outcome store_pages_verify(MDB_env *env, MDB_txn *txn, store_pages_report *out);

#endif
