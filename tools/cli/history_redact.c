/* Redaction of history lines (see history_redact.h). */
#include "history_redact.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmdline.h"

#define SECRET_TOKEN_PREFIX "u1." /* sessions and queue tokens, PROTOCOL.md section 3 */

/* JSON keys whose value is a credential: a `call` naming one is not kept. */
static const char *const secret_keys[] = { "\"secret\"", "\"session\"", "\"token\"", "\"admin\"" };

/* Growing text being assembled. */
typedef struct text {
    char *s;
    size_t len, cap;
    bool failed;
} text;

static void text_add(text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t ncap = (t->len + n + 1) * 2;
        char *grown = realloc(t->s, ncap);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->s = grown;
        t->cap = ncap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void text_adds(text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

/* A word as typed, quoted again when it holds blanks or quotes. */
static void add_word(text *t, const char *word)
{
    if (word[strcspn(word, " \t\"\\")] == '\0' && *word) {
        text_adds(t, word);
        return;
    }
    text_add(t, "\"", 1);
    for (const char *p = word; *p; p++) {
        if (*p == '"' || *p == '\\')
            text_add(t, "\\", 1);
        text_add(t, p, 1);
    }
    text_add(t, "\"", 1);
}

static bool is_secret_word(const cmdline_words *w, int i)
{
    if (strncmp(w->word[i], SECRET_TOKEN_PREFIX, strlen(SECRET_TOKEN_PREFIX)) == 0)
        return true;
    if (strcmp(w->word[0], "login") == 0 && i >= 2)
        return true;
    return w->count >= 2 && strcmp(w->word[0], "admin") == 0 && strcmp(w->word[1], "token") == 0 && i >= 2;
}

/* False when the command must not be kept at all. */
static bool command_is_keepable(const char *command, const cmdline_words *w)
{
    if (w->count == 0)
        return true;
    if (strcmp(w->word[0], "send-hex") == 0)
        return false;
    if (strcmp(w->word[0], "call") == 0)
        for (size_t i = 0; i < sizeof secret_keys / sizeof secret_keys[0]; i++)
            if (strstr(command, secret_keys[i]))
                return false;
    return true;
}

/* Appends the redacted command; false when it must not be kept. */
static bool add_command(text *t, const char *command)
{
    cmdline_words w;
    if (cmdline_words_split(command, &w) < 0)
        return false;
    bool keep = command_is_keepable(command, &w);
    bool changed = false;
    for (int i = 0; keep && i < w.count; i++)
        changed |= is_secret_word(&w, i);
    if (keep && !changed) {
        text_adds(t, command); /* kept byte for byte (JSON of `call` included) */
    } else if (keep) {
        for (int i = 0; i < w.count; i++) {
            if (i)
                text_add(t, " ", 1);
            if (is_secret_word(&w, i))
                text_adds(t, HISTORY_REDACTED);
            else
                add_word(t, w.word[i]);
        }
    }
    cmdline_words_free(&w);
    return keep;
}

char *history_redact(const char *line)
{
    size_t count;
    char **commands = cmdline_split_script(line, &count);
    if (!commands)
        return NULL;
    text t = { 0 };
    bool keep = count > 0;
    for (size_t i = 0; keep && i < count; i++) {
        if (i)
            text_adds(&t, "; ");
        keep = add_command(&t, commands[i]);
    }
    cmdline_free_list(commands);
    if (!keep || t.failed) {
        free(t.s);
        return NULL;
    }
    return t.s;
}
