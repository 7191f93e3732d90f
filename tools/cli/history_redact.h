/* What of a typed line may go into ~/.usher_history. Secrets never do:
 * `login USER SECRET` is kept as `login USER ***`, `admin token TOKEN` as
 * `admin token ***`, any word that is a session or queue token ("u1." ...)
 * becomes ***, and a line with a `call` whose JSON names a secret, session,
 * token or admin key, or with a `send-hex` (bytes may hold anything), is not
 * kept at all. Pure text in, text out: no I/O. */
#ifndef USHER_CLI_HISTORY_REDACT_H
#define USHER_CLI_HISTORY_REDACT_H

#define HISTORY_REDACTED "***"

/* The line to store for line (caller frees), or NULL when nothing of it may
 * be stored (or on OOM). Commands of a ';' line are redacted one by one and
 * joined with "; ". */
char *history_redact(const char *line);

#endif
