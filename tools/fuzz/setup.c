/* Before the attacks: real tokens and ids, so the mutations start from requests the server would accept.
 * A step that fails leaves its field empty (or 1 for ids) and the corpus uses that; only a server that
 * cannot register a user stops the run. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"

/* One call; true on success with *r to free, false (reported) otherwise. */
static bool step(int fd, uint32_t *msgid, const char *method, const char *params, fuzz_reply *r)
{
    if (fuzz_wire_call(fd, (*msgid)++, method, params, r) != 0) {
        fprintf(stderr, "usher-fuzz: setup: %s: no reply\n", method);
        return false;
    }
    if (r->err != USHER_ERR_OK) {
        fprintf(stderr, "usher-fuzz: setup: %s: %s\n", method, usher_err_name(r->err));
        fuzz_reply_free(r);
        return false;
    }
    return true;
}

static void make_concert(int fd, uint32_t *msgid, fuzz_ctx *ctx)
{
    char params[1024];
    fuzz_reply r;
    snprintf(params, sizeof params, "{\"admin\":\"%s\",\"title\":\"usher-fuzz\",\"venue\":\"loopback\"}", ctx->admin);
    if (!step(fd, msgid, "admin.concert.create", params, &r))
        return;
    fuzz_reply_u64(&r, "concert_id", &ctx->concert_id);
    fuzz_reply_free(&r);
    int64_t starts_at = (int64_t)time(NULL) * 1000 + 86400000;
    snprintf(params, sizeof params,
             "{\"admin\":\"%s\",\"concert_id\":%" PRIu64 ",\"starts_at\":%" PRId64 ",\"price\":1000,\"seats\":50}",
             ctx->admin, ctx->concert_id, starts_at);
    if (!step(fd, msgid, "admin.schedule.create", params, &r))
        return;
    fuzz_reply_u64(&r, "schedule_id", &ctx->schedule_id);
    fuzz_reply_free(&r);
}

static void enter_and_hold(int fd, uint32_t *msgid, fuzz_ctx *ctx)
{
    char params[1024];
    fuzz_reply r;
    snprintf(params, sizeof params, "{\"session\":\"%s\",\"concert_id\":%" PRIu64 "}", ctx->session,
             ctx->concert_id);
    if (!step(fd, msgid, "queue.enter", params, &r))
        return;
    fuzz_reply_str(&r, "token", ctx->token, sizeof ctx->token);
    fuzz_reply_free(&r);
    snprintf(params, sizeof params, "{\"token\":\"%s\",\"schedule_id\":%" PRIu64 ",\"seat_no\":1}", ctx->token,
             ctx->schedule_id);
    if (!step(fd, msgid, "seat.reserve", params, &r))
        return;
    fuzz_reply_u64(&r, "reservation_id", &ctx->reservation_id);
    fuzz_reply_free(&r);
}

bool fuzz_setup(int fd, fuzz_ctx *ctx)
{
    uint32_t msgid = 1;
    fuzz_reply r;
    ctx->concert_id = ctx->schedule_id = ctx->reservation_id = 1;
    if (!step(fd, &msgid, "user.register", "{}", &r))
        return false;
    bool ok = fuzz_reply_str(&r, "session", ctx->session, sizeof ctx->session) &&
              fuzz_reply_str(&r, "user_id", ctx->user_id, sizeof ctx->user_id) &&
              fuzz_reply_str(&r, "secret", ctx->secret, sizeof ctx->secret);
    fuzz_reply_free(&r);
    if (!ok) {
        fprintf(stderr, "usher-fuzz: setup: user.register: unexpected result\n");
        return false;
    }
    snprintf(ctx->bystander_id, sizeof ctx->bystander_id, "%s", ctx->user_id);
    if (step(fd, &msgid, "user.register", "{}", &r)) {
        fuzz_reply_str(&r, "user_id", ctx->bystander_id, sizeof ctx->bystander_id);
        fuzz_reply_free(&r);
    }
    char params[1024];
    snprintf(params, sizeof params, "{\"session\":\"%s\",\"amount\":1000000}", ctx->session);
    if (step(fd, &msgid, "wallet.charge", params, &r))
        fuzz_reply_free(&r);
    if (ctx->admin[0]) {
        make_concert(fd, &msgid, ctx);
        enter_and_hold(fd, &msgid, ctx);
    }
    return true;
}
