/* Which queue entries this process saw their holders use, handed to the
 * store in batches (store_queue_touch) so --wait-idle and --active-idle know
 * who is still there. The loop thread notes an entry on every queue.status,
 * every request passing the queue-token filter, and (queue_seen_note, for
 * the watch registry) every watched entry; notes are deduplicated and an
 * entry is sent at most once per resend interval (10 s, shorter when an
 * idle limit is short: a quarter of it), so polling stays a read. A timer
 * sends the due ones as one housekeeping job; one job at a time. Loop
 * thread only. */
#ifndef USHER_SERVER_QUEUE_SEEN_H
#define USHER_SERVER_QUEUE_SEEN_H

#include <stdbool.h>
#include <stdint.h>

struct server;
struct request;
typedef struct queue_seen queue_seen;

/* Made for srv, its timer started on srv's loop; NULL on OOM. */
queue_seen *queue_seen_start(struct server *srv);

/* Stops the timer (nothing more is sent) and frees it. NULL is fine. */
void queue_seen_free(queue_seen *qs);

/* The entry (concert_id, seq) was seen now. */
void queue_seen_note(struct server *srv, uint64_t concert_id, uint64_t seq);

/* A job of queue_seen came back from the writer: true when req was one
 * (then it is freed here), false for anything else. */
bool queue_seen_job_done(struct server *srv, struct request *req);

/* The interval an entry is resent at, and the flush period, for the idle
 * limits (ms; 0 = off): a quarter of the shorter limit, within 100 ms..10 s. */
int64_t queue_seen_resend_ms(int64_t wait_idle_ms, int64_t active_idle_ms);

#endif
