/* The Prometheus text exposition (format 0.0.4) of a usherd's figures:
 * the process figures summed over every worker and the stored figures of
 * one snapshot, as the families README "Metrics" lists. */
#ifndef USHER_SERVER_METRICS_PROM_H
#define USHER_SERVER_METRICS_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include "metrics.h"
#include "store.h"

/* Formats the exposition into a malloc'ed *text of *len bytes. False when
 * out of memory (nothing to free then). */
bool metrics_prom_format(const metrics_totals *t, const store_stats *s, char **text, size_t *len);

#endif
