/* Waiting-room options shared by usher-admin and usher-cli (queue_controls.h). */
#include "queue_controls.h"

#include <stdio.h>
#include <string.h>
#include "tool_args.h"

static bool parse_one(const char *flag, const char *value, queue_controls *q, char *err, size_t cap)
{
    long long v;
    if (strcmp(flag, "--max-active") == 0) {
        if (!tool_parse_range(value, 0, QUEUE_CONTROLS_MAX_ACTIVE_MAX, &v)) {
            snprintf(err, cap, "--max-active must be 0..100000 (0: usherd's --max-active), not '%s'", value);
            return false;
        }
        q->has_max_active = true;
        q->max_active = v;
    } else if (strcmp(flag, "--rate") == 0) {
        if (!tool_parse_range(value, 0, QUEUE_CONTROLS_RATE_MAX, &v)) {
            snprintf(err, cap, "--rate must be 0..1000000 admissions a minute (0: no limit), not '%s'",
                     value);
            return false;
        }
        q->has_rate = true;
        q->admit_rate_per_min = v;
    } else {
        bool yes = strcmp(value, "true") == 0;
        if (!yes && strcmp(value, "false") != 0) {
            snprintf(err, cap, "--paused must be true or false, not '%s'", value);
            return false;
        }
        q->has_paused = true;
        q->paused = yes;
    }
    return true;
}

bool queue_controls_parse(int argc, char **argv, queue_controls *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < argc; i += 2) {
        const char *flag = argv[i];
        if (strcmp(flag, "--max-active") != 0 && strcmp(flag, "--rate") != 0 &&
            strcmp(flag, "--paused") != 0) {
            snprintf(err, cap, "unknown option '%s' (--max-active N, --rate PER_MIN, --paused true|false)",
                     flag);
            return false;
        }
        if (i + 1 >= argc) {
            snprintf(err, cap, "%s needs a value", flag);
            return false;
        }
        if (!parse_one(flag, argv[i + 1], out, err, cap)) return false;
    }
    if (queue_controls_count(out) == 0) {
        snprintf(err, cap, "give --max-active N, --rate PER_MIN or --paused true|false");
        return false;
    }
    return true;
}

uint32_t queue_controls_count(const queue_controls *q)
{
    return (uint32_t)q->has_max_active + (uint32_t)q->has_rate + (uint32_t)q->has_paused;
}

static void pack_key(msgpack_packer *pk, const char *key)
{
    size_t n = strlen(key);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, key, n);
}

void queue_controls_pack(msgpack_packer *pk, const queue_controls *q)
{
    if (q->has_max_active) {
        pack_key(pk, "max_active");
        msgpack_pack_int64(pk, q->max_active);
    }
    if (q->has_rate) {
        pack_key(pk, "admit_rate_per_min");
        msgpack_pack_int64(pk, q->admit_rate_per_min);
    }
    if (q->has_paused) {
        pack_key(pk, "paused");
        if (q->paused) msgpack_pack_true(pk); else msgpack_pack_false(pk);
    }
}
