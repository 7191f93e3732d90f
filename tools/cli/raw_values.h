/* --raw output: the bare values of a result for scripts. Every scalar leaf
 * of the result, depth first in the server's order, one per line, keys left
 * out: integers in decimal, strings as they are (no quotes or escapes),
 * true/false, nil as an empty line, floats with %g; binary as hex. */
#ifndef USHER_CLI_RAW_VALUES_H
#define USHER_CLI_RAW_VALUES_H

#include <stdio.h>
#include <msgpack.h>

void raw_values_print(FILE *out, const msgpack_object *o);

#endif
