#include "tool_args.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int tool_usage_error(const char *prog, int status, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fputs(" (see --help)\n", stderr);
    return status;
}

bool tool_parse_range(const char *text, long long lo, long long hi, long long *out)
{
    char *end;
    if (!text || !*text)
        return false;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (*end || errno == ERANGE || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}
