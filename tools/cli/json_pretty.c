/* JSON re-indenter. Every routine runs twice: first with out == NULL to
 * validate (so a broken input is never half-printed), then to print. */
#include "json_pretty.h"

#include <stdint.h>
#include <string.h>

#define JP_MAX_DEPTH 64
#define JP_FLAT_OBJECT_SPAN 100 /* input bytes of an object kept on one line */
#define JP_NOTE_CAP 64

#define ANSI_KEY "\033[1;34m"
#define ANSI_STRING "\033[32m"
#define ANSI_NUMBER "\033[36m"
#define ANSI_LITERAL "\033[33m"
#define ANSI_NOTE "\033[2m"
#define ANSI_RESET "\033[0m"

typedef struct json_pretty {
    const char *s;
    size_t len, at;
    FILE *out;      /* NULL while validating */
    bool colour;
    json_pretty_note *note;
    const char *key; /* the key whose value is being printed (no quotes), or NULL */
    size_t key_len;
} json_pretty;

static void jp_put(json_pretty *jp, const char *text, size_t n)
{
    if (jp->out)
        fwrite(text, 1, n, jp->out);
}

static void jp_puts(json_pretty *jp, const char *text)
{
    jp_put(jp, text, strlen(text));
}

static void jp_colour(json_pretty *jp, const char *ansi)
{
    if (jp->colour)
        jp_puts(jp, ansi);
}

static void jp_indent(json_pretty *jp, int depth)
{
    jp_puts(jp, "\n");
    for (int i = 0; i < depth; i++)
        jp_puts(jp, "  ");
}

static void jp_skip_space(json_pretty *jp)
{
    while (jp->at < jp->len && strchr(" \t\r\n", jp->s[jp->at]) && jp->s[jp->at])
        jp->at++;
}

static char jp_peek(json_pretty *jp)
{
    jp_skip_space(jp);
    return jp->at < jp->len ? jp->s[jp->at] : '\0';
}

/* A string token, escapes copied as they are. */
static bool jp_string(json_pretty *jp, const char *ansi)
{
    size_t start = jp->at++;
    while (jp->at < jp->len && jp->s[jp->at] != '"') {
        if (jp->s[jp->at] == '\\')
            jp->at++;
        jp->at++;
    }
    if (jp->at >= jp->len)
        return false;
    jp->at++;
    jp_colour(jp, ansi);
    jp_put(jp, jp->s + start, jp->at - start);
    jp_colour(jp, ANSI_RESET);
    return true;
}

/* A number or a literal (true, false, null), checked loosely. */
static bool jp_bare(json_pretty *jp)
{
    size_t start = jp->at;
    while (jp->at < jp->len && strchr("0123456789+-.eEtruefalsn", jp->s[jp->at]) && jp->s[jp->at])
        jp->at++;
    size_t n = jp->at - start;
    if (n == 0)
        return false;
    bool literal = (n == 4 && !memcmp(jp->s + start, "true", 4)) ||
                   (n == 5 && !memcmp(jp->s + start, "false", 5)) ||
                   (n == 4 && !memcmp(jp->s + start, "null", 4));
    if (!literal && !strchr("-0123456789", jp->s[start]))
        return false;
    jp_colour(jp, literal ? ANSI_LITERAL : ANSI_NUMBER);
    jp_put(jp, jp->s + start, n);
    jp_colour(jp, ANSI_RESET);
    char note[JP_NOTE_CAP];
    if (jp->out && jp->note && !literal && jp->note(jp->key, jp->key_len, jp->s + start, n, note, sizeof note)) {
        jp_puts(jp, " ");
        jp_colour(jp, ANSI_NOTE);
        jp_puts(jp, "(");
        jp_puts(jp, note);
        jp_puts(jp, ")");
        jp_colour(jp, ANSI_RESET);
    }
    return true;
}

/* True when the container starting at jp->at holds no object or array and
 * spans at most max_span bytes of input: it is printed on one line. */
static bool jp_is_flat(const json_pretty *jp, size_t max_span)
{
    for (size_t i = jp->at + 1; i < jp->len && i - jp->at <= max_span; i++) {
        char c = jp->s[i];
        if (c == '"') {
            for (i++; i < jp->len && jp->s[i] != '"'; i++)
                if (jp->s[i] == '\\')
                    i++;
        } else if (c == '{' || c == '[') {
            return false;
        } else if (c == ']' || c == '}') {
            return true;
        }
    }
    return false;
}

static bool jp_value(json_pretty *jp, int depth);

/* '{' or '[' already seen; members until the closer. */
static bool jp_container(json_pretty *jp, int depth, bool is_object)
{
    char closer = is_object ? '}' : ']';
    /* arrays of plain values stay on one line; so do small objects of plain
     * values inside others (one seat, one reservation per line) */
    bool flat = is_object ? depth > 0 && jp_is_flat(jp, JP_FLAT_OBJECT_SPAN)
                          : jp_is_flat(jp, SIZE_MAX);
    jp_put(jp, is_object ? "{" : "[", 1);
    jp->at++;
    if (jp_peek(jp) == closer) {
        jp->at++;
        jp_put(jp, &closer, 1);
        return true;
    }
    for (bool first = true;; first = false) {
        if (!first)
            jp_puts(jp, flat ? ", " : ",");
        if (!flat)
            jp_indent(jp, depth + 1);
        jp->key = NULL;
        if (is_object) {
            size_t key_at = jp->at + 1;
            if (jp_peek(jp) != '"' || !jp_string(jp, ANSI_KEY) || jp_peek(jp) != ':')
                return false;
            jp->key = jp->s + key_at;
            jp->key_len = jp->at - key_at - 1;
            jp->at++;
            jp_puts(jp, ": ");
        }
        if (!jp_value(jp, depth + 1))
            return false;
        char next = jp_peek(jp);
        jp->at++;
        if (next == closer)
            break;
        if (next != ',')
            return false;
    }
    if (!flat)
        jp_indent(jp, depth);
    jp_put(jp, &closer, 1);
    return true;
}

static bool jp_value(json_pretty *jp, int depth)
{
    if (depth > JP_MAX_DEPTH)
        return false;
    char c = jp_peek(jp);
    if (c == '{' || c == '[')
        return jp_container(jp, depth, c == '{');
    if (c == '"')
        return jp_string(jp, ANSI_STRING);
    return jp_bare(jp);
}

void json_pretty_print(FILE *out, const char *json, size_t len, bool colour, json_pretty_note *note)
{
    json_pretty check = { .s = json, .len = len, .at = 0, .out = NULL, .colour = false };
    bool valid = jp_value(&check, 0) && jp_peek(&check) == '\0';
    if (!valid) {
        fwrite(json, 1, len, out);
        fputc('\n', out);
        return;
    }
    json_pretty print = { .s = json, .len = len, .at = 0, .out = out, .colour = colour, .note = note };
    jp_value(&print, 0);
    fputc('\n', out);
}
