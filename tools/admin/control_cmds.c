/* usher-admin's queue controls and revocation (contract in control_cmds.h).
 * libusher has no typed calls for these methods, so the params are packed
 * here and sent with usher_call_packed; the result map is printed as it
 * comes, one line per key, so a key a newer server adds shows too. */
#include "control_cmds.h"

#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "../cli/starts_at.h"
#include "../common/tool_args.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2

const char control_usage[] =
"  queue get CONCERT_ID                         a concert's waiting room: waiting, active,\n"
"                                               admitted, max_active, rate, paused, oldest\n"
"                                               wait, throttled, opens_at\n"
"  queue set CONCERT_ID [--max-active N] [--rate PER_MIN] [--paused true|false]\n"
"                                               change it (stored: every usherd process\n"
"                                               follows within one admission tick);\n"
"                                               --max-active 0 goes back to usherd's\n"
"                                               --max-active, --rate 0 is no limit\n"
"  queue pause CONCERT_ID                       admit nobody new (queue set --paused true)\n"
"  queue resume CONCERT_ID                      admit again (queue set --paused false)\n"
"  queue open CONCERT_ID OPENS_AT               open the queue at OPENS_AT (epoch ms or +N\n"
"                                               with ms, s, m, h or d): who enters before it\n"
"                                               gets a random place among the early arrivals\n"
"  revoke USER_ID                               end every session and queue token of a user\n"
"                                               (they may log in again)\n";

static int usage_error(const char *fmt, const char *arg)
{
    return tool_usage_error("usher-admin", EXIT_USAGE, fmt, arg);
}

bool control_is_command(const char *word)
{
    return strcmp(word, "queue") == 0 || strcmp(word, "revoke") == 0;
}

static int parse_concert(const char *text, control_request *req)
{
    long long v;
    if (!tool_parse_range(text, 1, INT64_MAX, &v))
        return usage_error("CONCERT_ID must be a positive integer, not '%s'", text);
    req->concert_id = (uint64_t)v;
    return 0;
}

static int parse_queue(int argc, char **argv, int64_t now_ms, control_request *req)
{
    const char *sub = argc >= 2 ? argv[1] : "";
    bool pause = strcmp(sub, "pause") == 0, resume = strcmp(sub, "resume") == 0;
    if (strcmp(sub, "get") == 0 || pause || resume) {
        if (argc != 3) return usage_error("usage: queue %s CONCERT_ID", sub);
        req->kind = pause || resume ? CONTROL_QUEUE_SET : CONTROL_QUEUE_GET;
        req->set.has_paused = pause || resume;
        req->set.paused = pause;
        return parse_concert(argv[2], req);
    }
    if (strcmp(sub, "set") == 0) {
        if (argc < 3)
            return usage_error("usage: queue set CONCERT_ID [--max-active N] [--rate PER_MIN] "
                               "[--paused true|false]%s", "");
        req->kind = CONTROL_QUEUE_SET;
        if (parse_concert(argv[2], req)) return EXIT_USAGE;
        char why[160];
        if (!queue_controls_parse(argc - 3, argv + 3, &req->set, why, sizeof why))
            return usage_error("queue set: %s", why);
        return 0;
    }
    if (strcmp(sub, "open") == 0) {
        if (argc != 4) return usage_error("usage: queue open CONCERT_ID OPENS_AT%s", "");
        req->kind = CONTROL_QUEUE_OPEN;
        if (parse_concert(argv[2], req)) return EXIT_USAGE;
        if (!starts_at_parse(argv[3], now_ms, &req->opens_at_ms))
            return usage_error("OPENS_AT must be epoch ms or +N with ms, s, m, h or d, not '%s'",
                               argv[3]);
        return 0;
    }
    return usage_error("unknown queue command '%s' (get, set, pause, resume, open)", sub);
}

int control_parse(int argc, char **argv, int64_t now_ms, control_request *req)
{
    memset(req, 0, sizeof *req);
    if (strcmp(argv[0], "revoke") == 0) {
        if (argc != 2) return usage_error("usage: revoke USER_ID%s", "");
        req->kind = CONTROL_REVOKE;
        req->user_id = argv[1];
        return 0;
    }
    return parse_queue(argc, argv, now_ms, req);
}

/* ---- running ---- */

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static const char *method_of(control_kind kind)
{
    switch (kind) {
    case CONTROL_QUEUE_GET: return "admin.queue.get";
    case CONTROL_QUEUE_SET: return "admin.queue.set";
    case CONTROL_QUEUE_OPEN: return "admin.queue.open";
    default: return "admin.session.revoke";
    }
}

static void pack_params(msgpack_packer *pk, const char *admin, const control_request *req)
{
    uint32_t pairs = 2 + (req->kind == CONTROL_QUEUE_OPEN) +
                     (req->kind == CONTROL_QUEUE_SET ? queue_controls_count(&req->set) : 0);
    msgpack_pack_map(pk, pairs);
    pack_str(pk, "admin");
    pack_str(pk, admin);
    if (req->kind == CONTROL_REVOKE) {
        pack_str(pk, "user_id");
        pack_str(pk, req->user_id);
        return;
    }
    pack_str(pk, "concert_id");
    msgpack_pack_uint64(pk, req->concert_id);
    if (req->kind == CONTROL_QUEUE_OPEN) {
        pack_str(pk, "opens_at");
        msgpack_pack_int64(pk, req->opens_at_ms);
    }
    if (req->kind == CONTROL_QUEUE_SET) queue_controls_pack(pk, &req->set);
}

static bool key_is(const msgpack_object_kv *kv, const char *name)
{
    size_t n = strlen(name);
    return kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == n &&
           memcmp(kv->key.via.str.ptr, name, n) == 0;
}

/* A time key: "..._at" (opens_at, revoked_at). */
static bool key_is_time(const msgpack_object_kv *kv)
{
    uint32_t n = kv->key.type == MSGPACK_OBJECT_STR ? kv->key.via.str.size : 0;
    return n > 3 && memcmp(kv->key.via.str.ptr + n - 3, "_at", 3) == 0;
}

static void print_value(const msgpack_object_kv *kv)
{
    const msgpack_object *v = &kv->val;
    switch (v->type) {
    case MSGPACK_OBJECT_NIL: printf("-"); break;
    case MSGPACK_OBJECT_BOOLEAN: printf("%s", v->via.boolean ? "true" : "false"); break;
    case MSGPACK_OBJECT_STR: printf("%.*s", (int)v->via.str.size, v->via.str.ptr); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: printf("%" PRId64, v->via.i64); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        printf("%" PRIu64, v->via.u64);
        if (key_is_time(kv)) {
            time_t secs = (time_t)(v->via.u64 / 1000);
            struct tm tm;
            char when[40];
            gmtime_r(&secs, &tm);
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
            printf(" (%s)", when);
        } else if (v->via.u64 == 0 && key_is(kv, "admit_rate_per_min")) {
            printf(" (no limit)");
        }
        break;
    default: printf("(%d)", (int)v->type); break;
    }
}

static void print_result(const msgpack_object *result)
{
    if (result->type != MSGPACK_OBJECT_MAP) return;
    for (uint32_t i = 0; i < result->via.map.size; i++) {
        const msgpack_object_kv *kv = &result->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR) continue;
        printf("%-20.*s ", (int)kv->key.via.str.size, kv->key.via.str.ptr);
        print_value(kv);
        printf("\n");
    }
}

int control_run(usher_client *c, const char *admin, const control_request *req)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_params(&pk, admin, req);
    usher_reply *reply = NULL;
    usher_status status = usher_call_packed(c, method_of(req->kind), sb.data, sb.size, &reply);
    msgpack_sbuffer_destroy(&sb);
    int rc = 0;
    if (status == USHER_OK) {
        print_result(&reply->result);
    } else {
        const char *message = usher_last_message(c);
        fprintf(stderr, "usher-admin: error %s (%d): %s\n", usher_status_name(status), (int)status,
                message && *message ? message : usher_errstr(status));
        rc = EXIT_FAILED;
    }
    usher_reply_free(reply);
    return rc;
}
