/* The seat map drawn as a grid: ten seats a row, each seat number with a
 * mark, 'o' available and 'x' taken (green and red on a colour terminal). */
#ifndef USHER_CLI_SEAT_GRID_H
#define USHER_CLI_SEAT_GRID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SEAT_GRID_PER_ROW 10

typedef struct seat_cell {
    uint32_t seat_no;
    bool available;
} seat_cell;

/* Prints a summary line, then the seats in rows of SEAT_GRID_PER_ROW, in the
 * order given. colour adds ANSI escapes. */
void seat_grid_print(FILE *out, const seat_cell *seats, size_t count, bool colour);

#endif
