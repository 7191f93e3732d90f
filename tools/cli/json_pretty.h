/* Pretty-printing of JSON text for humans: two-space indentation, arrays of
 * plain values kept on one line, optional ANSI colour. Works on text (from
 * msg_to_json), so it never needs to know msgpack. */
#ifndef USHER_CLI_JSON_PRETTY_H
#define USHER_CLI_JSON_PRETTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* A note printed after a number, in parentheses: key is the object key the
 * number is the value of (key_len bytes, no quotes; NULL inside arrays),
 * value its text. True when note (cap bytes) was filled. */
typedef bool json_pretty_note(const char *key, size_t key_len, const char *value, size_t value_len,
                              char *note, size_t cap);

/* Writes json[0..len) to out, indented, followed by a newline; colour adds
 * ANSI escapes (keys, strings, numbers, literals); note (may be NULL) adds
 * notes after numbers, like `"paid_at": 1795607669106 (2026-11-22 ...)`.
 * Text that is not valid JSON is written unchanged. */
void json_pretty_print(FILE *out, const char *json, size_t len, bool colour, json_pretty_note *note);

#endif
