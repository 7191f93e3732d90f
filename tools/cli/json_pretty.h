/* Pretty-printing of JSON text for humans: two-space indentation, arrays of
 * plain values kept on one line, optional ANSI colour. Works on text (from
 * msg_to_json), so it never needs to know msgpack. */
#ifndef USHER_CLI_JSON_PRETTY_H
#define USHER_CLI_JSON_PRETTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Writes json[0..len) to out, indented, followed by a newline; colour adds
 * ANSI escapes (keys, strings, numbers, literals). Text that is not valid
 * JSON is written unchanged. */
void json_pretty_print(FILE *out, const char *json, size_t len, bool colour);

#endif
