/* "Did you mean": the nearest of a set of names to a mistyped word, by
 * edit distance (insertions, deletions, substitutions, each costing 1). */
#ifndef USHER_CLI_SUGGEST_H
#define USHER_CLI_SUGGEST_H

#include <stddef.h>

#define SUGGEST_MAX_DISTANCE 2
#define SUGGEST_MAX_LEN 64   /* longer words are never matched */

/* Levenshtein distance of a and b (both at most SUGGEST_MAX_LEN bytes;
 * longer ones give SIZE_MAX). */
size_t suggest_distance(const char *a, const char *b);

/* The name nearest to word when it is close enough to be a typo: at most
 * SUGGEST_MAX_DISTANCE edits and fewer edits than word has letters. The first
 * such name wins a tie. NULL when none is. */
const char *suggest_nearest(const char *word, const char *const *names, size_t count);

#endif
