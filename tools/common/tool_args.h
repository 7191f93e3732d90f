/* Command-line helpers shared by the tools that parse their own flags
 * (usher-admin, usher-check): one way to refuse a bad argument and one
 * integer parser, so every tool words usage errors the same way. */
#ifndef USHER_TOOLS_TOOL_ARGS_H
#define USHER_TOOLS_TOOL_ARGS_H

#include <stdbool.h>

/* Prints "PROG: <fmt with arg> (see --help)" to stderr; returns status. */
int tool_usage_error(const char *prog, int status, const char *fmt, const char *arg);

/* Parses text as a base-10 integer in lo..hi into *out; false (and *out
 * untouched) for NULL, empty, trailing bytes or out of range. */
bool tool_parse_range(const char *text, long long lo, long long hi, long long *out);

#endif
