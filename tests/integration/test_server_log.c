/* What usherd's log says, end to end: under --log-json every line is one
 * JSON object with ts, instance, level, event and msg (the store's lines and
 * the --workers parent's too); a request line carries the id of its
 * connection's open line; --log-level debug adds lines for connections,
 * group commits and admission ticks, which info leaves out; start-up says
 * whether the signing key was created or loaded, and where. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_procs.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "msg.h"
#include "../../server/store.h"

#define LOG_CAP (1 << 20)
#define WAIT_MS 3000

/* The whole log of hs, NUL-terminated (malloc'd). */
static char *read_log(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(LOG_CAP + 1);
    assert_non_null(buf);
    size_t n = fread(buf, 1, LOG_CAP, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* One parsed JSON log line. */
typedef struct json_line {
    msgpack_sbuffer sb;
    msgpack_unpacked up;
    const msgpack_object *map;
} json_line;

/* Parses line[0..len) as JSON into *jl; fails the test unless it is an
 * object with string ts, instance, level, event and msg. */
static void parse_json_line(const char *line, size_t len, json_line *jl)
{
    msgpack_sbuffer_init(&jl->sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &jl->sb, msgpack_sbuffer_write);
    size_t err_at = 0;
    if (msg_from_json(line, len, &pk, &err_at) != USHER_ERR_OK)
        fail_msg("log line is not JSON (at byte %zu): %.*s", err_at, (int)len, line);
    msgpack_unpacked_init(&jl->up);
    assert_int_equal(msgpack_unpack_next(&jl->up, jl->sb.data, jl->sb.size, NULL),
                     MSGPACK_UNPACK_SUCCESS);
    jl->map = &jl->up.data;
    if (jl->map->type != MSGPACK_OBJECT_MAP)
        fail_msg("log line is not a JSON object: %.*s", (int)len, line);
    static const char *const keys[] = { "ts", "instance", "level", "event", "msg" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const msgpack_object *v = msg_map_get(jl->map, keys[i]);
        if (!v || v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0)
            fail_msg("log line without a string \"%s\": %.*s", keys[i], (int)len, line);
    }
    const msgpack_object *ts = msg_map_get(jl->map, "ts");   /* 2026-12-02T02:09:14.123Z */
    if (ts->via.str.size != 24 || ts->via.str.ptr[10] != 'T' || ts->via.str.ptr[23] != 'Z')
        fail_msg("log line with a bad ts: %.*s", (int)len, line);
}

static void json_line_free(json_line *jl)
{
    msgpack_unpacked_destroy(&jl->up);
    msgpack_sbuffer_destroy(&jl->sb);
}

static bool json_str_is(const json_line *jl, const char *key, const char *s)
{
    const msgpack_object *v = msg_map_get(jl->map, key);
    return v && msg_str_eq(v, s);
}

static bool json_str_has(const json_line *jl, const char *key, const char *part)
{
    const msgpack_object *v = msg_map_get(jl->map, key);
    if (!v || v->type != MSGPACK_OBJECT_STR) return false;
    size_t n = strlen(part);
    for (size_t i = 0; i + n <= v->via.str.size; i++)
        if (memcmp(v->via.str.ptr + i, part, n) == 0) return true;
    return false;
}

static uint64_t json_u64(const json_line *jl, const char *key)
{
    const msgpack_object *v = msg_map_get(jl->map, key);
    if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        fail_msg("log line without an integer \"%s\"", key);
    return v->via.u64;
}

/* Calls each(line, ctx) for every JSON line of the log (each must parse);
 * returns the number of lines. */
static size_t each_json_line(const char *path, void (*each)(const json_line *, void *), void *ctx)
{
    char *log = read_log(path);
    size_t lines = 0;
    for (char *line = log; *line;) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > 0) {
            json_line jl;
            parse_json_line(line, len, &jl);
            if (each) each(&jl, ctx);
            json_line_free(&jl);
            lines++;
        }
        line += len + (end ? 1 : 0);
    }
    free(log);
    return lines;
}

typedef struct conn_ids {
    uint64_t open_conn;          /* conn of the latest conn_open line (ours: the harness's
                                    start-up probe came first) */
    unsigned opens;
    uint64_t ping_conn;          /* conn of the sys.ping request line */
    unsigned pings;
    bool key_line;
} conn_ids;

static void note_conn_ids(const json_line *jl, void *ctx)
{
    conn_ids *ids = ctx;
    if (json_str_is(jl, "event", "conn_open")) {
        ids->open_conn = json_u64(jl, "conn");
        ids->opens++;
    }
    if (json_str_is(jl, "event", "request") && json_str_is(jl, "method", "sys.ping")) {
        ids->ping_conn = json_u64(jl, "conn");
        ids->pings++;
        assert_true(json_str_is(jl, "level", "info"));
        assert_true(json_str_is(jl, "code", "OK"));
    }
    if (json_str_has(jl, "msg", "signing key created: ")) ids->key_line = true;
}

static void test_json_lines_parse_and_requests_carry_their_connection_id(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--log-json");
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_reply r;
    harness_call(c, "sys.ping", "{}", &r);
    harness_expect(&r, OK);
    harness_reply_free(&r);
    harness_conn_disconnect(c);
    assert_true(harness_log_wait(hs, "\"conn_close\"", WAIT_MS));
    assert_int_equal(harness_kill(hs, SIGTERM) >= 0, 1);   /* its last lines written */

    conn_ids ids = { 0 };
    size_t lines = each_json_line(hs->log_path, note_conn_ids, &ids);
    assert_true(lines >= 5);   /* key, listening, open, request, close, stop... */
    assert_int_equal(ids.opens, 2);   /* the start-up probe's and ours */
    assert_int_equal(ids.pings, 1);
    assert_true(ids.open_conn > 0);
    assert_int_equal(ids.ping_conn, ids.open_conn);
    assert_true(ids.key_line);
}

/* Text lines: a timestamp first, and the request's conn= as its open line's. */
static void test_text_request_line_names_the_connection_of_its_open_line(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *first = harness_fx_connect(fx, hs->port);
    harness_conn *c = harness_fx_connect(fx, hs->port);   /* the second: conn 2 */
    (void)first;
    harness_reply r;
    harness_call(c, "sys.ping", "{}", &r);
    harness_reply_free(&r);
    assert_true(harness_log_wait(hs, " request method=sys.ping ", WAIT_MS));
    char *log = read_log(hs->log_path);
    const char *req = strstr(log, " request method=sys.ping ");
    const char *conn = strstr(req, " conn=");
    assert_non_null(conn);
    unsigned long long id = strtoull(conn + 6, NULL, 10);
    char open_line[64];
    snprintf(open_line, sizeof open_line, " conn_open conn=%llu ", id);
    assert_non_null(strstr(log, open_line));
    assert_true(id >= 2);   /* not the first connection's */
    /* Every line starts with its timestamp: 2026-12-02T02:09:14.123Z */
    for (const char *line = log; *line;) {
        const char *end = strchr(line, '\n');
        if (!end) break;
        if (end - line < 25 || line[10] != 'T' || line[23] != 'Z' || line[24] != ' ')
            fail_msg("text line without a timestamp: %.*s", (int)(end - line), line);
        line = end + 1;
    }
    free(log);
}

/* A queue of one ACTIVE slot: B waits until A's slot expires and the tick
 * admits B. Returns the concert id. */
static uint64_t admit_by_tick(harness_fixture *fx, const char *args, harness_venue *v)
{
    harness_venue_open(fx, args, 10, 1000, v);
    harness_user a, b;
    char token[HARNESS_TOKEN_CAP];
    harness_register(v->c, &a);
    harness_register(v->c, &b);
    harness_enter_until_active(v->c, a.session, v->concert_id, token, 2000);
    harness_enter_until_active(v->c, b.session, v->concert_id, token, 5000);   /* by the tick */
    harness_charge(v->c, b.session, 5000);   /* a write: a group commit of a request */
    return v->concert_id;
}

static void test_debug_logs_connections_commits_and_admissions_and_info_does_not(void **state)
{
    harness_fixture *fx = *state;
    const char *quick = "--max-active 1 --active-ttl 1s --admit-interval 100ms";
    char args[256];
    snprintf(args, sizeof args, "%s --log-level debug", quick);
    harness_venue v;
    uint64_t concert = admit_by_tick(fx, args, &v);
    char admitted[96];
    snprintf(admitted, sizeof admitted, "debug admission tick: concert %llu admitted 1 ",
             (unsigned long long)concert);
    assert_true(harness_log_wait(v.hs, admitted, WAIT_MS));
    assert_true(harness_log_wait(v.hs, "debug group commit: ", WAIT_MS));
    assert_true(harness_log_count(v.hs, " writes, commit ") > 0);
    assert_true(harness_log_wait(v.hs, "debug conn 1 from 127.0.0.1:", WAIT_MS));
    assert_true(harness_log_count(v.hs, "--max-conns") > 0);

    harness_venue quiet;
    admit_by_tick(fx, quick, &quiet);   /* info: the same work, no debug line */
    assert_true(harness_log_wait(quiet.hs, " request method=wallet.charge ", WAIT_MS));
    harness_sleep_ms(300);   /* a few more ticks */
    assert_int_equal(harness_log_count(quiet.hs, " debug "), 0);
    assert_int_equal(harness_log_count(quiet.hs, "admission tick"), 0);
    assert_int_equal(harness_log_count(quiet.hs, "group commit:"), 0);
}

static void test_start_up_says_the_key_was_created_then_loaded(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    char created[400], loaded[400];
    snprintf(created, sizeof created, "info signing key created: %s/keys", hs->data_dir);
    snprintf(loaded, sizeof loaded, "info signing key loaded: %s/keys", hs->data_dir);
    assert_true(harness_log_wait(hs, created, WAIT_MS));
    assert_int_equal(harness_log_count(hs, loaded), 0);
    assert_true(harness_kill(hs, SIGTERM) >= 0);
    harness_restart(hs);
    assert_true(harness_log_wait(hs, loaded, WAIT_MS));
    assert_int_equal(harness_log_count(hs, created), 1);   /* once, the first time only */
}

typedef struct death_seen {
    char want[64];
    bool seen;
} death_seen;

static void note_death(const json_line *jl, void *ctx)
{
    death_seen *d = ctx;
    if (json_str_has(jl, "msg", d->want)) {
        d->seen = true;
        assert_true(json_str_is(jl, "level", "warn"));
        assert_true(json_str_is(jl, "event", "message"));
    }
}

static void test_a_killed_workers_death_line_is_json(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--workers 2 --log-json");
    pid_t kids[8];
    size_t n = harness_children(hs->pid, kids, 8);
    assert_true(n >= 1);
    assert_int_equal(kill(kids[0], SIGKILL), 0);
    death_seen d = { .seen = false };
    snprintf(d.want, sizeof d.want, "worker %d died (signal 9)", (int)kids[0]);
    assert_true(harness_log_wait(hs, d.want, WAIT_MS));
    each_json_line(hs->log_path, note_death, &d);
    assert_true(d.seen);
}

/* The store's lines under --log-json: a data file cut short is refused at
 * start with a JSON error line (usherd exits 1). */
static void test_the_stores_messages_are_json_lines(void **state)
{
    (void)state;
    char root[] = "/tmp/usher-log-XXXXXX", data[300], mdb[340], log_path[340], bin[512], out[4096];
    assert_non_null(mkdtemp(root));
    snprintf(data, sizeof data, "%s/data", root);
    snprintf(mdb, sizeof mdb, "%s/data.mdb", data);
    snprintf(log_path, sizeof log_path, "%s/usherd.log", root);
    store_options opt = store_options_default();
    opt.map_size_bytes = (size_t)64 << 20;
    store *st;
    assert_int_equal(store_open(&st, data, &opt), USHER_ERR_OK);
    store_txn *t;
    uint64_t concert_id, schedule_id;
    int64_t prices[STORE_SEATS_MAX];
    for (size_t i = 0; i < STORE_SEATS_MAX; i++) prices[i] = 1000;
    assert_int_equal(store_write_begin(st, &t), USHER_ERR_OK);
    assert_int_equal(store_concert_create(t, "Cut", 3, "", 0, &concert_id), USHER_ERR_OK);
    for (int i = 0; i < 20; i++)
        assert_int_equal(store_schedule_create(t, concert_id, harness_now_ms() + 86400000LL + i,
                                               STORE_SEATS_MAX, prices, &schedule_id), USHER_ERR_OK);
    assert_int_equal(store_txn_commit(t), USHER_ERR_OK);
    store_close(st);
    assert_int_equal(truncate(mdb, 3 * 4096), 0);

    harness_program_path("USHERD_BIN", "usherd", bin, sizeof bin);
    int rc = harness_shell(out, sizeof out, "%s --data %s --listen 127.0.0.1:%u --map-size 64 --log-json "
                           "</dev/null >%s 2>&1; echo $?", bin, data, (unsigned)harness_free_port(), log_path);
    assert_int_equal(rc, 0);
    assert_int_equal(atoi(out), 1);   /* usherd refused to start */
    size_t lines = each_json_line(log_path, NULL, NULL);
    assert_true(lines >= 1);
    char *log = read_log(log_path);
    if (!strstr(log, "\"level\":\"error\"") || !strstr(log, "store: data.mdb is"))
        fail_msg("no store error line in:\n%s", log);
    free(log);
    char cleanup[700];
    snprintf(cleanup, sizeof cleanup, "rm -rf %s", root);
    assert_int_equal(harness_shell(out, sizeof out, "%s", cleanup), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_json_lines_parse_and_requests_carry_their_connection_id),
        HARNESS_TEST(test_text_request_line_names_the_connection_of_its_open_line),
        HARNESS_TEST(test_debug_logs_connections_commits_and_admissions_and_info_does_not),
        HARNESS_TEST(test_start_up_says_the_key_was_created_then_loaded),
        HARNESS_TEST(test_a_killed_workers_death_line_is_json),
        HARNESS_TEST(test_the_stores_messages_are_json_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
