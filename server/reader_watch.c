#include "reader_watch.h"
#include <stdio.h>
#include <string.h>

void reader_watch_init(reader_watch *rw, int self_pid, int64_t timeout_ms)
{
    memset(rw, 0, sizeof *rw);
    rw->self_pid = self_pid;
    rw->timeout_ms = timeout_ms;
}

static const reader_watch_entry *find(const reader_watch *rw, int pid, uint64_t txnid)
{
    for (size_t i = 0; i < rw->n; i++)
        if (rw->entry[i].pid == pid && rw->entry[i].txnid == txnid) return &rw->entry[i];
    return NULL;
}

size_t reader_watch_scan(reader_watch *rw, const store_reader *slots, size_t n,
                         uint64_t last_txnid, int64_t now_ms, reader_lag *out, size_t cap)
{
    /* Rebuild the table from this listing, keeping what was known of slots
     * still on the same snapshot. */
    reader_watch_entry next[READER_WATCH_SLOTS];
    size_t kept = 0, lags = 0;
    for (size_t i = 0; i < n && kept < READER_WATCH_SLOTS; i++) {
        if (slots[i].pid == rw->self_pid) continue;
        const reader_watch_entry *known = find(rw, slots[i].pid, slots[i].txnid);
        bool seen_now = false;
        for (size_t j = 0; j < kept; j++)
            seen_now |= next[j].pid == slots[i].pid && next[j].txnid == slots[i].txnid;
        if (seen_now) continue;   /* two slots of one process on one snapshot: one report */
        reader_watch_entry e = known ? *known
                                     : (reader_watch_entry){ .pid = slots[i].pid,
                                                             .txnid = slots[i].txnid,
                                                             .since_ms = now_ms };
        int64_t held = now_ms - e.since_ms;
        uint64_t behind = last_txnid > e.txnid ? last_txnid - e.txnid : 0;
        int64_t lag_after = rw->timeout_ms / 2;
        if (behind > 0 && held >= lag_after && lags < cap) {
            bool due = e.logged_ms == 0 || now_ms - e.logged_ms >= rw->timeout_ms;
            if (due) e.logged_ms = now_ms;
            out[lags++] = (reader_lag){
                .pid = e.pid, .txnid = e.txnid, .behind = behind, .held_ms = held,
                .verdict = held >= rw->timeout_ms ? READER_OVERDUE : READER_LAGGING,
                .log_due = due,
            };
        }
        next[kept++] = e;
    }
    memcpy(rw->entry, next, kept * sizeof next[0]);
    rw->n = kept;
    return lags;
}

bool reader_proc_inspect(int pid, char comm[16], char *state)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t len = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[len] = '\0';
    /* "pid (comm) state ...": comm may hold spaces and parentheses. */
    const char *open = strchr(line, '('), *close = strrchr(line, ')');
    if (!open || !close || close < open || close[1] != ' ' || !close[2]) return false;
    size_t n = (size_t)(close - open - 1);
    if (n > 15) n = 15;
    memcpy(comm, open + 1, n);
    comm[n] = '\0';
    *state = close[2];
    return true;
}
