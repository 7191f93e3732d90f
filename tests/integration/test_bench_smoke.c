/* usher-bench end to end, tiny: against a fresh usherd at its defaults, every scenario reports successful
 * calls in its --json line, the sale sells out without oversell, --hot turns reserve collisions into counted
 * SEAT_UNAVAILABLE outcomes, a comma list of ports spreads the calls over two usherd on one data dir, and bad
 * usage exits 2. Figures are never judged: the machine is shared. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_CAP (256 * 1024)

static const char *const SCENARIOS[] = { "ping", "status", "dates", "charge", "enter", "reserve", "sale" };
static const char *const MAIN_METHODS[] = { "sys.ping", "queue.status", "concert.dates", "wallet.charge",
                                            "queue.enter", "seat.reserve", "seat.reserve" };
#define N_SCENARIOS (sizeof SCENARIOS / sizeof SCENARIOS[0])

/* The bench's JSON line, unpacked. */
typedef struct bench_json {
    msgpack_sbuffer packed;
    msgpack_unpacked root;
} bench_json;

/* Runs usher-bench against the servers of ports (a --port value; hs is the first, for its admin token and
 * root) with args; stdout into out, stderr into ROOT/bench.err (printed on failure). Returns the exit status. */
static int run_bench_ports(char *out, harness_server *hs, const char *ports, const char *args)
{
    char bin[512];
    harness_program_path("USHER_BENCH_BIN", "usher-bench", bin, sizeof bin);
    int rc = harness_shell(out, OUT_CAP, "'%s' --port %s --admin '%s' %s </dev/null 2>'%s/bench.err'", bin,
                           ports, harness_admin_token(hs), args, hs->root);
    if (rc != 0) {
        char err[8192];
        harness_shell(err, sizeof err, "tail -20 '%s/bench.err'", hs->root);
        fprintf(stderr, "usher-bench exited %d; stdout:\n%s\nstderr (tail):\n%s\n", rc, out, err);
    }
    return rc;
}

/* run_bench_ports against hs alone. */
static int run_bench(char *out, harness_server *hs, const char *args)
{
    char port[16];
    snprintf(port, sizeof port, "%u", (unsigned)hs->port);
    return run_bench_ports(out, hs, port, args);
}

/* Parses the last line of out as JSON; fails the test when it is not an object. */
static const msgpack_object *last_line_json(char *out, bench_json *bj)
{
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
    char *line = strrchr(out, '\n');
    line = line ? line + 1 : out;
    msgpack_sbuffer_init(&bj->packed);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &bj->packed, msgpack_sbuffer_write);
    size_t err_at = 0;
    if (msg_from_json(line, strlen(line), &pk, &err_at) != USHER_ERR_OK)
        fail_msg("last line is not JSON (at byte %zu): %s", err_at, line);
    msgpack_unpacked_init(&bj->root);
    assert_int_equal(msgpack_unpack_next(&bj->root, bj->packed.data, bj->packed.size, NULL), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(bj->root.data.type, MSGPACK_OBJECT_MAP);
    return &bj->root.data;
}

static void bench_json_free(bench_json *bj)
{
    msgpack_unpacked_destroy(&bj->root);
    msgpack_sbuffer_destroy(&bj->packed);
}

/* Value of key in map o, or NULL. */
static const msgpack_object *find(const msgpack_object *o, const char *key)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
            return &o->via.map.ptr[i].val;
    }
    return NULL;
}

/* Value of key in map o; fails the test when absent. */
static const msgpack_object *need(const msgpack_object *o, const char *key)
{
    const msgpack_object *v = find(o, key);
    if (!v)
        fail_msg("no '%s' in the bench's JSON", key);
    return v;
}

/* The count of one error code in the errors map of a scenario or method (0 when absent). */
static uint64_t error_count(const msgpack_object *figs, const char *code)
{
    const msgpack_object *errors = need(figs, "errors");
    return find(errors, code) ? harness_obj_u64(errors, code) : 0;
}

static void test_bench_every_scenario_succeeds_and_sale_sells_out_without_oversell(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL); /* defaults: --max-active 100, --sync full */
    char *out = malloc(OUT_CAP);
    assert_non_null(out);
    assert_int_equal(run_bench(out, hs, "--waiting 300 --seconds 1 --users 300 --perfs 2 --seats 20 --json"), 0);
    bench_json bj;
    const msgpack_object *root = last_line_json(out, &bj);
    const msgpack_object *scenarios = need(root, "scenarios");
    for (size_t i = 0; i < N_SCENARIOS; i++) {
        const msgpack_object *sc = need(scenarios, SCENARIOS[i]);
        if (harness_obj_u64(sc, "ok") == 0)
            fail_msg("scenario %s had no successful call", SCENARIOS[i]);
        assert_true(harness_obj_str_is(sc, "method", MAIN_METHODS[i]));
        need(need(sc, "methods"), MAIN_METHODS[i]);
    }
    /* status polls WAITING users only: 200 of the 300 (the first 100 are ACTIVE), every token valid */
    const msgpack_object *status = need(scenarios, "status");
    assert_true(harness_obj_str_is(status, "method", "queue.status"));
    assert_int_equal(need(status, "errors")->via.map.size, 0);
    /* reserve reports both of its methods */
    const msgpack_object *reserve_methods = need(need(scenarios, "reserve"), "methods");
    assert_true(harness_obj_u64(need(reserve_methods, "seat.reserve"), "ok") > 0);
    assert_true(harness_obj_u64(need(reserve_methods, "reservation.cancel"), "ok") > 0);
    /* the sale: 2 x 20 seats, every one paid once, and all shown taken afterwards */
    const msgpack_object *sale = need(scenarios, "sale");
    assert_int_equal(need(sale, "sold_out_s")->type, MSGPACK_OBJECT_FLOAT64);
    assert_int_equal(harness_obj_u64(sale, "seats"), 40);
    assert_int_equal(harness_obj_u64(sale, "sold"), 40);
    assert_int_equal(harness_obj_u64(sale, "oversold"), 0);
    assert_int_equal(harness_obj_u64(sale, "unsold_after"), 0);
    assert_int_equal(harness_obj_u64(need(need(sale, "methods"), "payment.pay"), "ok"), 40);
    need(root, "setup_s");
    bench_json_free(&bj);
    free(out);
    harness_usher_check(hs->data_dir, NULL);
}

static void test_bench_hot_reserve_counts_seat_unavailable_as_outcomes(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    char *out = malloc(OUT_CAP);
    assert_non_null(out);
    assert_int_equal(run_bench(out, hs, "--scenario reserve --hot 1 --seconds 1 --json"), 0);
    bench_json bj;
    const msgpack_object *scenarios = need(last_line_json(out, &bj), "scenarios");
    const msgpack_object *reserve = need(scenarios, "reserve");
    const msgpack_object *seat_reserve = need(need(reserve, "methods"), "seat.reserve");
    assert_true(harness_obj_u64(seat_reserve, "ok") > 0);
    assert_true(error_count(seat_reserve, "SEAT_UNAVAILABLE") > 0);
    assert_int_equal(scenarios->via.map.size, 1); /* only what was asked ran */
    bench_json_free(&bj);
    free(out);
}

/* --idle with --idle-partial holds that many slow-loris connections open and
 * reports the server's memory around them and after each scenario. */
static void test_bench_idle_partial_connections_report_server_memory(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    char *out = malloc(OUT_CAP);
    assert_non_null(out);
    char args[128];
    snprintf(args, sizeof args, "--scenario ping --seconds 1 --idle 40 --idle-partial --server-pid %d --json",
             (int)hs->pid);
    assert_int_equal(run_bench(out, hs, args), 0);
    assert_non_null(strstr(out, "# 40 idle connections holding 6 bytes of a frame: server VmRSS "));
    assert_non_null(strstr(out, "# server VmRSS after ping: "));
    bench_json bj;
    const msgpack_object *top = last_line_json(out, &bj);
    assert_int_equal(harness_obj_u64(top, "idle"), 40);
    assert_true(harness_obj_u64(need(need(top, "scenarios"), "ping"), "server_rss_kb") > 0);
    bench_json_free(&bj);
    free(out);
}

/* The successful requests of method that the usherd on port answered, from its own sys.stats (each usherd
 * counts only what it answered itself). */
static uint64_t server_ok_count(harness_fixture *fx, uint16_t port, const char *admin, const char *method)
{
    harness_conn *c = harness_fx_connect(fx, port);
    harness_reply r;
    assert_int_equal(harness_callf(c, &r, "sys.stats", "{\"admin\":\"%s\"}", admin), USHER_ERR_OK);
    size_t n = 0;
    const msgpack_object *req = harness_get_array(&r, "requests", &n);
    uint64_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (harness_obj_str_is(&req[i], "method", method) && harness_obj_str_is(&req[i], "code", "OK"))
            count += harness_obj_u64(&req[i], "count");
    harness_reply_free(&r);
    return count;
}

/* --port A,B: two usherd on one data dir (a stand-in for two hosts on one store); the connections alternate
 * between them, so both answer the setup and the closed loops, and the JSON says 2 targets. */
static void test_bench_port_list_spreads_calls_over_two_servers(void **state)
{
    harness_fixture *fx = *state;
    harness_server *a = harness_fx_start(fx, NULL);
    harness_server *b = harness_fx_start_shared(fx, a, NULL);
    const char *admin = harness_admin_token(a);
    char *out = malloc(OUT_CAP), ports[32];
    assert_non_null(out);
    snprintf(ports, sizeof ports, "%u,%u", (unsigned)a->port, (unsigned)b->port);
    assert_int_equal(run_bench_ports(out, a, ports,
                                     "--scenario ping,status,reserve --waiting 200 --seconds 1 --connections 4 --json"),
                     0);
    assert_non_null(strstr(out, "# 2 servers, connections spread round-robin:"));
    bench_json bj;
    const msgpack_object *root = last_line_json(out, &bj);
    assert_int_equal(harness_obj_u64(root, "targets"), 2);
    const msgpack_object *scenarios = need(root, "scenarios");
    assert_int_equal(need(need(scenarios, "status"), "errors")->via.map.size, 0);
    assert_true(harness_obj_u64(need(scenarios, "reserve"), "ok") > 0);
    bench_json_free(&bj);
    free(out);
    /* Each server answered its share of every phase: the crowd's setup, the reads, the writes. */
    const char *const methods[] = { "sys.ping", "user.register", "queue.status", "seat.reserve" };
    const harness_server *both[] = { a, b };
    for (size_t s = 0; s < 2; s++)
        for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++)
            if (server_ok_count(fx, both[s]->port, admin, methods[m]) == 0)
                fail_msg("the usherd on port %u answered no %s", (unsigned)both[s]->port, methods[m]);
    harness_usher_check(a->data_dir, NULL);
}

static void test_bench_usage(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    char *out = malloc(OUT_CAP), bin[512];
    assert_non_null(out);
    harness_program_path("USHER_BENCH_BIN", "usher-bench", bin, sizeof bin);
    assert_int_equal(harness_shell(out, OUT_CAP, "'%s' --help", bin), 0);
    for (size_t i = 0; i < N_SCENARIOS; i++)
        assert_non_null(strstr(out, SCENARIOS[i]));
    const char *const opts[] = { "--waiting", "--hot", "--users", "--perfs", "--seats", "--poll-ms", "--json",
                                 "--connections", "--depth", "--seconds", "--scenario", "--admin",
                                 "--port PORT[,PORT...]", "--host HOST[,HOST...]", "round-robin" };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        assert_non_null(strstr(out, opts[i]));
    assert_int_equal(harness_shell(out, OUT_CAP, "'%s' --scenario nope 2>&1", bin), 2);
    assert_int_equal(harness_shell(out, OUT_CAP, "'%s' --port %u --scenario status 2>&1", bin, (unsigned)hs->port), 2);
    assert_non_null(strstr(out, "--admin"));
    assert_int_equal(harness_shell(out, OUT_CAP, "'%s' --seats 1001 2>&1", bin), 2);
    /* three ports and two hosts pair neither by position nor one for all */
    assert_int_equal(harness_shell(out, OUT_CAP, "'%s' --host 127.0.0.1,127.0.0.1 --port 1,2,3 2>&1", bin), 2);
    assert_non_null(strstr(out, "2 hosts and --port 3 ports"));
    assert_int_equal(harness_shell(out, OUT_CAP, "'%s' --port 7700,,7701 2>&1", bin), 2);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_bench_every_scenario_succeeds_and_sale_sells_out_without_oversell),
        HARNESS_TEST(test_bench_hot_reserve_counts_seat_unavailable_as_outcomes),
        HARNESS_TEST(test_bench_idle_partial_connections_report_server_memory),
        HARNESS_TEST(test_bench_port_list_spreads_calls_over_two_servers),
        HARNESS_TEST(test_bench_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
