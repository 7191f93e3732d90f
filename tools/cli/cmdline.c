/* Script and word splitting for usher-cli. */
#include "cmdline.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static char *dup_trimmed(const char *from, const char *to)
{
    while (from < to && isspace((unsigned char)*from))
        from++;
    while (to > from && isspace((unsigned char)to[-1]))
        to--;
    size_t n = (size_t)(to - from);
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, from, n);
        s[n] = '\0';
    }
    return s;
}

static int list_push(char ***list, size_t *count, size_t *cap, char *item)
{
    if (*count + 1 >= *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        char **grown = realloc(*list, ncap * sizeof *grown);
        if (!grown)
            return -1;
        *list = grown;
        *cap = ncap;
    }
    (*list)[(*count)++] = item;
    (*list)[*count] = NULL;
    return 0;
}

char **cmdline_split_script(const char *script, size_t *count)
{
    size_t n = 0, cap = 8;
    char **list = calloc(cap, sizeof *list);
    if (!list)
        return NULL;
    const char *begin = script;
    int nesting = 0;
    int in_quote = 0;
    for (const char *p = script;; p++) {
        char c = *p;
        if (in_quote) {
            if (c == '\\' && p[1])
                p++;
            else if (c == '"')
                in_quote = 0;
            if (c != '\0')
                continue;
        }
        if (c == '"')
            in_quote = 1;
        else if (c == '{' || c == '[')
            nesting++;
        else if ((c == '}' || c == ']') && nesting > 0)
            nesting--;
        int ends = c == '\0' || c == '\n' || (c == ';' && nesting == 0);
        if (!ends)
            continue;
        char *cmd = dup_trimmed(begin, p);
        if (!cmd)
            goto fail;
        if (*cmd == '\0')
            free(cmd);
        else if (list_push(&list, &n, &cap, cmd) < 0) {
            free(cmd);
            goto fail;
        }
        if (c == '\0')
            break;
        begin = p + 1;
        if (c == '\n')
            nesting = 0;
    }
    *count = n;
    return list;
fail:
    cmdline_free_list(list);
    return NULL;
}

void cmdline_free_list(char **list)
{
    if (!list)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

int cmdline_words_split(const char *line, cmdline_words *out)
{
    memset(out, 0, sizeof *out);
    out->line = line;
    out->text = malloc(strlen(line) + 1);
    if (!out->text)
        return -1;
    char *w = out->text;
    const char *p = line;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            return 0;
        if (out->count == CMDLINE_MAX_WORDS)
            goto fail;
        out->start[out->count] = p;
        out->word[out->count++] = w;
        int in_quote = 0;
        while (*p && (in_quote || !isspace((unsigned char)*p))) {
            if (*p == '"') {
                in_quote = !in_quote;
                p++;
            } else if (in_quote && *p == '\\' && (p[1] == '"' || p[1] == '\\')) {
                *w++ = p[1];
                p += 2;
            } else {
                *w++ = *p++;
            }
        }
        *w++ = '\0';
    }
fail:
    cmdline_words_free(out);
    return -1;
}

void cmdline_words_free(cmdline_words *w)
{
    free(w->text);
    w->text = NULL;
    w->count = 0;
}
