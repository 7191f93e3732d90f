/* Seat grid drawing from a plain array (see seat_grid.h). */
#include "seat_grid.h"

#include <stdlib.h>

#define ANSI_FREE "\033[32m"
#define ANSI_MINE "\033[1;33m"
#define ANSI_TAKEN "\033[31m"
#define ANSI_RESET "\033[0m"

typedef struct price_tier {
    int64_t price;
    size_t seats, free;
} price_tier;

static int digits_of(uint32_t n)
{
    int d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

static int dearest_first(const void *a, const void *b)
{
    int64_t pa = ((const price_tier *)a)->price, pb = ((const price_tier *)b)->price;
    return pa < pb ? 1 : pa > pb ? -1 : 0;
}

/* Distinct prices, dearest first; returns how many (the table holds at most
 * count entries, one per seat). NULL tiers on OOM. */
static size_t collect_tiers(const seat_cell *seats, size_t count, price_tier **tiers)
{
    *tiers = calloc(count ? count : 1, sizeof **tiers);
    if (!*tiers)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        size_t t = 0;
        while (t < n && (*tiers)[t].price != seats[i].price)
            t++;
        if (t == n)
            (*tiers)[n++].price = seats[i].price;
        (*tiers)[t].seats++;
        (*tiers)[t].free += seats[i].state == SEAT_FREE;
    }
    qsort(*tiers, n, sizeof **tiers, dearest_first);
    return n;
}

static char tier_mark(const price_tier *tiers, size_t n, int64_t price)
{
    for (size_t t = 0; t < n; t++)
        if (tiers[t].price == price)
            return t < SEAT_GRID_TIERS_MAX ? (char)('A' + t) : SEAT_MARK_TIER_OVERFLOW;
    return SEAT_MARK_TIER_OVERFLOW;
}

static void print_legend(FILE *out, const seat_cell *seats, size_t count, const price_tier *tiers,
                         size_t n)
{
    size_t available = 0, mine = 0;
    for (size_t i = 0; i < count; i++) {
        available += seats[i].state == SEAT_FREE;
        mine += seats[i].state == SEAT_MINE;
    }
    fprintf(out, "%zu of %zu seats available, %zu held by you\n", available, count, mine);
    for (size_t t = 0; t < n; t++)
        fprintf(out, "%s%c %lld KRW (%zu free)", t ? "  " : "", tier_mark(tiers, n, tiers[t].price),
                (long long)tiers[t].price, tiers[t].free);
    fprintf(out, "%s%c your hold  %c taken\n", n ? "  " : "", SEAT_MARK_MINE, SEAT_MARK_TAKEN);
}

void seat_grid_print(FILE *out, const seat_cell *seats, size_t count, bool colour)
{
    price_tier *tiers;
    size_t n = collect_tiers(seats, count, &tiers);
    if (!tiers)
        return;
    print_legend(out, seats, count, tiers, n);
    uint32_t widest = 0;
    for (size_t i = 0; i < count; i++)
        if (seats[i].seat_no > widest)
            widest = seats[i].seat_no;
    int width = digits_of(widest);
    for (size_t i = 0; i < count; i++) {
        const seat_cell *s = &seats[i];
        static const char *const ansi[] = { [SEAT_FREE] = ANSI_FREE, [SEAT_MINE] = ANSI_MINE,
                                            [SEAT_TAKEN] = ANSI_TAKEN };
        char mark = s->state == SEAT_FREE ? tier_mark(tiers, n, s->price)
                  : s->state == SEAT_MINE ? SEAT_MARK_MINE : SEAT_MARK_TAKEN;
        if (colour)
            fputs(ansi[s->state], out);
        fprintf(out, " %*u%c", width + 1, (unsigned)s->seat_no, mark);
        if (colour)
            fputs(ANSI_RESET, out);
        if ((i + 1) % SEAT_GRID_PER_ROW == 0 || i + 1 == count)
            fputc('\n', out);
    }
    free(tiers);
}
