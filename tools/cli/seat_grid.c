/* Seat grid drawing from a plain array, no protocol knowledge. */
#include "seat_grid.h"

#define MARK_AVAILABLE 'o'
#define MARK_TAKEN 'x'
#define ANSI_AVAILABLE "\033[32m"
#define ANSI_TAKEN "\033[31m"
#define ANSI_RESET "\033[0m"

static int digits_of(uint32_t n)
{
    int d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

void seat_grid_print(FILE *out, const seat_cell *seats, size_t count, bool colour)
{
    size_t available = 0;
    uint32_t widest = 0;
    for (size_t i = 0; i < count; i++) {
        available += seats[i].available;
        if (seats[i].seat_no > widest)
            widest = seats[i].seat_no;
    }
    fprintf(out, "%zu of %zu seats available   (%c available, %c taken)\n",
            available, count, MARK_AVAILABLE, MARK_TAKEN);
    int width = digits_of(widest);
    for (size_t i = 0; i < count; i++) {
        const seat_cell *s = &seats[i];
        if (colour)
            fputs(s->available ? ANSI_AVAILABLE : ANSI_TAKEN, out);
        fprintf(out, " %*u%c", width + 1, (unsigned)s->seat_no,
                s->available ? MARK_AVAILABLE : MARK_TAKEN);
        if (colour)
            fputs(ANSI_RESET, out);
        if ((i + 1) % SEAT_GRID_PER_ROW == 0 || i + 1 == count)
            fputc('\n', out);
    }
}
