/* Completion candidates, computed from the static tables only, so the
 * readline glue needs no state between calls. */
#include "completion.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

typedef struct candidates {
    char **items;   /* items[0] is reserved for the common prefix */
    size_t count;   /* matches, not counting items[0] */
    size_t cap;
} candidates;

/* Adds word (its first len bytes) when it starts with text and is new. */
static void add_candidate(candidates *c, const char *word, size_t len, const char *text)
{
    size_t tlen = strlen(text);
    if (len < tlen || strncmp(word, text, tlen) != 0)
        return;
    for (size_t i = 1; i <= c->count; i++)
        if (strlen(c->items[i]) == len && strncmp(c->items[i], word, len) == 0)
            return;
    if (c->count + 2 >= c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 16;
        char **grown = realloc(c->items, ncap * sizeof *grown);
        if (!grown)
            return;
        c->items = grown;
        c->cap = ncap;
    }
    char *copy = strndup(word, len);
    if (!copy)
        return;
    c->items[++c->count] = copy;
    c->items[c->count + 1] = NULL;
}

/* Words of the current command before the cursor's word: how many, and
 * the first two (copied into first/second). */
static int words_before(const char *line, int start, char *first, char *second, size_t cap)
{
    const char *begin = line;
    for (const char *p = line; p < line + start; p++)
        if (*p == ';')
            begin = p + 1;
    int count = 0;
    first[0] = second[0] = '\0';
    for (const char *p = begin; p < line + start;) {
        while (p < line + start && isspace((unsigned char)*p))
            p++;
        const char *w = p;
        while (p < line + start && !isspace((unsigned char)*p))
            p++;
        if (p == w)
            break;
        size_t n = (size_t)(p - w) < cap - 1 ? (size_t)(p - w) : cap - 1;
        char *dst = count == 0 ? first : count == 1 ? second : NULL;
        if (dst) {
            memcpy(dst, w, n);
            dst[n] = '\0';
        }
        count++;
    }
    return count;
}

/* Offers word number `before` of every command name whose first `before`
 * words are words[0..before) ("admin" then "queue" offers get, set, ...). */
static void add_command_words(candidates *c, const char *text, const char *const *words, int before)
{
    for (const cli_command *cmd = cli_commands; cmd->name; cmd++) {
        const char *p = cmd->name;
        bool same = true;
        for (int i = 0; i < before && same; i++) {
            const char *space = strchr(p, ' ');
            size_t len = strlen(words[i]);
            same = space && (size_t)(space - p) == len && strncmp(p, words[i], len) == 0;
            if (same) p = space + 1;
        }
        if (!same)
            continue;
        const char *end = strchr(p, ' ');
        add_candidate(c, p, end ? (size_t)(end - p) : strlen(p), text);
    }
}

static void add_method_names(candidates *c, const char *text)
{
    for (size_t i = 0; i < usher_method_count(); i++) {
        const usher_method_info *m = usher_method_at(i);
        if (m)
            add_candidate(c, m->name, strlen(m->name), text);
    }
}

/* items[0] = the longest prefix shared by every match. */
static void set_common_prefix(candidates *c)
{
    size_t n = strlen(c->items[1]);
    for (size_t i = 2; i <= c->count; i++) {
        size_t k = 0;
        while (k < n && c->items[i][k] == c->items[1][k])
            k++;
        n = k;
    }
    c->items[0] = strndup(c->items[1], n);
}

char **completion_candidates(const char *line, int start, const char *text)
{
    char first[32], second[32];
    int before = words_before(line, start, first, second, sizeof first);
    candidates c = { 0 };
    const char *const words[2] = { first, second };
    if (before == 1 && strcmp(first, "call") == 0)
        add_method_names(&c, text);
    else if (before == 1 && strcmp(first, "help") == 0)
        add_command_words(&c, text, words, 0);
    else if (before <= 2)
        add_command_words(&c, text, words, before);
    if (c.count == 0) {
        free(c.items);
        return NULL;
    }
    set_common_prefix(&c);
    if (!c.items[0]) {
        for (size_t i = 1; i <= c.count; i++)
            free(c.items[i]);
        free(c.items);
        return NULL;
    }
    return c.items;
}
