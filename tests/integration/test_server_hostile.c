/* Hostile input against a live usherd: thousands of requests whose method
 * names, parameter names, value types and sizes, envelopes and raw bytes are
 * chosen at random (from a fixed seed, USHER_HOSTILE_SEED to vary it), mixed
 * with valid tokens and ids so the handlers are reached too. Every answer
 * must be a catalogue error or a success, never INTERNAL; the server must
 * stay up and keep its books (the ledger sums to a non-negative balance). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "methods.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASES 20000
#define CASES_PER_CONN_CHECK 1000
#define SEATS 10
#define MAX_DEPTH 3

typedef struct rng { uint64_t s; } rng;

/* xorshift64*: small, deterministic, good enough to pick cases. */
static uint64_t rnd(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

static size_t pick(rng *r, size_t n) { return (size_t)(rnd(r) % n); }

/* What the random requests may borrow from a real session. */
typedef struct known {
    harness_shopper shopper;
    const char *admin;
    uint64_t concert_id, schedule_id, reservation_id;
} known;

static const char *const param_names[] = {
    "session", "token", "admin", "concert_id", "schedule_id", "seat_no", "reservation_id",
    "reservation_ids", "amount", "request_id", "limit", "before", "after", "user_id",
    "secret", "title", "venue", "starts_at", "price", "prices", "seats",
};

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_value(rng *r, msgpack_packer *pk, const known *k, int depth);

/* Integers at and around every boundary the protocol names. */
static void pack_edge_int(rng *r, msgpack_packer *pk, const known *k)
{
    static const uint64_t unsigned_edges[] = {
        0, 1, 2, 4, 16, 17, 49, 50, 51, 500, 501, 999, 1000, 1001, 65535, 65536,
        10000000, 10000001, 4294967295ULL, 4294967296ULL, 9007199254740993ULL,
        1000000000000ULL, 1000000000001ULL, 9223372036854775807ULL,
        9223372036854775808ULL, 18446744073709551615ULL,
    };
    static const int64_t negative_edges[] = { -1, -2, -50, -4294967296LL, INT64_MIN };
    switch (pick(r, 4)) {
    case 0: msgpack_pack_uint64(pk, unsigned_edges[pick(r, sizeof unsigned_edges / 8)]); break;
    case 1: msgpack_pack_int64(pk, negative_edges[pick(r, sizeof negative_edges / 8)]); break;
    case 2: msgpack_pack_uint64(pk, (uint64_t[]){ k->concert_id, k->schedule_id,
                                                 k->reservation_id }[pick(r, 3)]); break;
    default: msgpack_pack_uint64(pk, 1 + pick(r, SEATS + 2)); break;
    }
}

static void pack_edge_str(rng *r, msgpack_packer *pk, const known *k)
{
    static const char bad_utf8[] = "\xc0\xaf\xed\xa0\x80\xff";
    char big[700];
    switch (pick(r, 8)) {
    case 0: pack_str(pk, "", 0); break;
    case 1: pack_str(pk, k->shopper.user.session, strlen(k->shopper.user.session)); break;
    case 2: pack_str(pk, k->shopper.token, strlen(k->shopper.token)); break;
    case 3: pack_str(pk, k->admin, strlen(k->admin)); break;
    case 4: pack_str(pk, k->shopper.user.user_id, strlen(k->shopper.user.user_id)); break;
    case 5: pack_str(pk, bad_utf8, sizeof bad_utf8 - 1); break;
    case 6: {
        size_t n = 255 + pick(r, sizeof big - 255);
        memset(big, 'a' + (int)pick(r, 26), n);
        pack_str(pk, big, n);
        break;
    }
    default: {   /* a valid token with one byte changed */
        char t[HARNESS_TOKEN_CAP];
        snprintf(t, sizeof t, "%s", pick(r, 2) ? k->shopper.token : k->shopper.user.session);
        size_t n = strlen(t);
        if (n) t[pick(r, n)] ^= (char)(1 + pick(r, 127));
        pack_str(pk, t, n);
        break;
    }
    }
}

static void pack_container(rng *r, msgpack_packer *pk, const known *k, int depth)
{
    size_t n = pick(r, 4);
    if (pick(r, 2)) {
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++) pack_value(r, pk, k, depth + 1);
        return;
    }
    msgpack_pack_map(pk, n);
    for (size_t i = 0; i < n; i++) {
        if (pick(r, 4)) {
            const char *key = param_names[pick(r, sizeof param_names / sizeof *param_names)];
            pack_str(pk, key, strlen(key));
        } else {
            pack_value(r, pk, k, depth + 1);   /* a key that is not a string */
        }
        pack_value(r, pk, k, depth + 1);
    }
}

static void pack_value(rng *r, msgpack_packer *pk, const known *k, int depth)
{
    switch (pick(r, depth >= MAX_DEPTH ? 7 : 9)) {
    case 0: msgpack_pack_nil(pk); break;
    case 1: if (pick(r, 2)) msgpack_pack_true(pk); else msgpack_pack_false(pk); break;
    case 2: case 3: pack_edge_int(r, pk, k); break;
    case 4: {
        static const double floats[] = { 1.5, 3.0, -0.0, 1e300 };
        double f = pick(r, 5) == 4 ? NAN : floats[pick(r, 4)];
        msgpack_pack_double(pk, f);
        break;
    }
    case 5: case 6: pack_edge_str(r, pk, k); break;
    default: pack_container(r, pk, k, depth); break;
    }
}

/* A request body: mostly a well-formed envelope naming a real method with
 * a plausible mixture of good and hostile parameters; sometimes a broken
 * envelope. */
static void pack_request(rng *r, msgpack_sbuffer *sb, const known *k, uint32_t msgid)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t shape = pick(r, 20);
    if (shape == 0) { pack_value(r, &pk, k, 0); return; }            /* not an envelope */
    msgpack_pack_array(&pk, shape == 1 ? pick(r, 6) : 4);
    if (shape == 2) pack_value(r, &pk, k, 1); else msgpack_pack_uint8(&pk, 0);
    if (shape == 3) pack_value(r, &pk, k, 1); else msgpack_pack_uint32(&pk, msgid);
    const usher_method_doc *doc = &usher_method_docs[pick(r, USHER_METHOD__COUNT)];
    if (shape == 4) pack_value(r, &pk, k, 1);
    else pack_str(&pk, doc->name, strlen(doc->name));
    if (shape == 5) { pack_value(r, &pk, k, 1); return; }
    /* Usually the method's own credential, so the handlers are reached. */
    const char *cred = NULL, *cred_value = NULL;
    if (strstr(doc->params, "session")) cred = "session", cred_value = k->shopper.user.session;
    else if (strstr(doc->params, "token")) cred = "token", cred_value = k->shopper.token;
    else if (strstr(doc->params, "admin")) cred = "admin", cred_value = k->admin;
    bool with_cred = cred && pick(r, 4) != 0;
    size_t n = pick(r, 7);
    msgpack_pack_map(&pk, n + (with_cred ? 1 : 0));
    if (with_cred) {
        pack_str(&pk, cred, strlen(cred));
        pack_str(&pk, cred_value, strlen(cred_value));
    }
    for (size_t i = 0; i < n; i++) {
        const char *key = param_names[pick(r, sizeof param_names / sizeof *param_names)];
        pack_str(&pk, key, strlen(key));
        pack_value(r, &pk, k, 1);
    }
}

/* Reads the answer to one hostile frame. Returns false when the server hung
 * up (BAD_FRAME), so the caller reconnects. Fails on INTERNAL or silence. */
static bool read_answer(harness_conn *c, int *codes)
{
    harness_reply rep;
    harness_io io = harness_read_reply(c, &rep);
    if (io == HARNESS_IO_CLOSED) return false;
    if (io != HARNESS_IO_OK) fail_msg("no answer to a hostile frame (io %d)", (int)io);
    if (rep.err == USHER_ERR_INTERNAL)
        fail_msg("INTERNAL for a hostile request: %s", rep.message ? rep.message : "");
    codes[rep.err]++;
    bool keep = rep.err != USHER_ERR_BAD_FRAME;
    harness_reply_free(&rep);
    return keep || !harness_conn_closed(c, 2000);
}

static void setup_known(harness_fixture *fx, harness_venue *v, known *k)
{
    harness_venue_open(fx, "--max-holds 16 --max-active 1000", SEATS, 1000, v);
    harness_shopper_new(v->c, v->concert_id, 50000, &k->shopper);
    k->admin = v->admin;
    k->concert_id = v->concert_id;
    k->schedule_id = v->schedule_id;
    k->reservation_id = harness_reserve(v->c, k->shopper.token, v->schedule_id, 1, NULL);
}

/* The books still balance: the ledger sums to a non-negative balance. A
 * fresh session is used: a random admin.session.revoke may legally have
 * ended the shopper's first one. */
static void check_books(harness_conn *c, const known *k)
{
    harness_reply r;
    char session[HARNESS_TOKEN_CAP];
    harness_callf(c, &r, "auth.login", "{\"user_id\":\"%s\",\"secret\":\"%s\"}",
                  k->shopper.user.user_id, k->shopper.user.secret);
    harness_expect(&r, OK);
    snprintf(session, sizeof session, "%s", harness_get_str(&r, "session"));
    harness_reply_free(&r);
    int64_t balance = harness_balance(c, session);
    assert_true(balance >= 0);
    int64_t sum = 0;
    uint64_t before = 0;
    for (;;) {
        if (before)
            harness_callf(c, &r, "wallet.history", "{\"session\":\"%s\",\"limit\":500,\"before\":%llu}",
                          session, (unsigned long long)before);
        else
            harness_callf(c, &r, "wallet.history", "{\"session\":\"%s\",\"limit\":500}",
                          session);
        harness_expect(&r, OK);
        size_t n;
        const msgpack_object *e = harness_get_array(&r, "entries", &n);
        for (size_t i = 0; i < n; i++) {
            sum += harness_obj_i64(&e[i], "amount");
            before = harness_obj_u64(&e[i], "entry_id");
        }
        harness_reply_free(&r);
        if (n == 0) break;
    }
    assert_int_equal(sum, balance);
}

static void test_random_hostile_requests_never_crash_or_corrupt(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    known k;
    setup_known(fx, &v, &k);
    rng r = { .s = 0x5eed1234abcdULL };
    const char *seed = getenv("USHER_HOSTILE_SEED");
    if (seed && *seed) r.s = strtoull(seed, NULL, 0) | 1;
    print_message("hostile seed 0x%llx\n", (unsigned long long)r.s);

    int codes[USHER_ERR__COUNT] = { 0 };
    harness_conn *c = harness_fx_connect(fx, v.hs->port);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (int i = 1; i <= CASES; i++) {
        msgpack_sbuffer_clear(&sb);
        pack_request(&r, &sb, &k, (uint32_t)i);
        if (pick(&r, 10) == 0 && sb.size > 1)   /* a flipped byte inside a valid length */
            sb.data[pick(&r, sb.size)] ^= (char)(1 << pick(&r, 8));
        harness_send_frame(c, sb.data, sb.size);
        if (!read_answer(c, codes)) {
            harness_conn_disconnect(c);
            c = harness_fx_connect(fx, v.hs->port);
        }
        if (i % CASES_PER_CONN_CHECK == 0) {
            harness_reply ping;
            harness_conn *probe = harness_fx_connect(fx, v.hs->port);
            assert_int_equal(harness_call(probe, "sys.ping", "{}", &ping), USHER_ERR_OK);
            harness_reply_free(&ping);
            harness_conn_disconnect(probe);
        }
    }
    msgpack_sbuffer_destroy(&sb);
    assert_true(harness_alive(v.hs));
    for (int e = 0; e < USHER_ERR__COUNT; e++)
        if (codes[e]) print_message("  %-22s %d\n", usher_err_name((usher_err)e), codes[e]);
    /* The mixture reached past the filters into the handlers. */
    assert_true(codes[USHER_ERR_OK] > 0);
    assert_true(codes[USHER_ERR_INVALID_ARGUMENT] > 0);
    assert_true(codes[USHER_ERR_BAD_REQUEST] > 0);
    check_books(v.c, &k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_random_hostile_requests_never_crash_or_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
