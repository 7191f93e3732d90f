/* The seat map drawn as a grid: ten seats a row, each seat number with a
 * mark: a free seat shows the letter of its price tier (A the dearest, then
 * B, C ... ; '+' past Z), a seat held by you '*', a seat taken by someone
 * else (held or sold) 'x'. A summary line and the tier legend come first.
 * Colour: free green, yours yellow, taken red. No protocol knowledge. */
#ifndef USHER_CLI_SEAT_GRID_H
#define USHER_CLI_SEAT_GRID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SEAT_GRID_PER_ROW 10
#define SEAT_GRID_TIERS_MAX 26
#define SEAT_MARK_MINE '*'
#define SEAT_MARK_TAKEN 'x'
#define SEAT_MARK_TIER_OVERFLOW '+'

typedef enum seat_state { SEAT_FREE, SEAT_MINE, SEAT_TAKEN } seat_state;

typedef struct seat_cell {
    uint32_t seat_no;
    int64_t price;
    seat_state state;
} seat_cell;

/* Prints "N of M seats available, K held by you", the legend
 * ("A 110000 KRW (18 free)  B 88000 KRW (30 free)  * your hold  x taken"),
 * then the seats in rows of SEAT_GRID_PER_ROW, in the order given. */
void seat_grid_print(FILE *out, const seat_cell *seats, size_t count, bool colour);

#endif
