/* End to end, sys.stats: admin only; a result of exactly the contract's keys
 * and shapes; its figures move with the traffic (requests by method and
 * code, latency, commits, connections, queues, holds, seats sold); with
 * --workers 2 it sums both processes whichever answers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_procs.h"

#include <stdio.h>
#include <string.h>

static const char *const result_keys[] = {
    "instance", "version", "uptime_s", "processes", "connections", "requests", "latency",
    "commits", "queues", "holds_live", "seats_sold", "storage",
};

static void stats(harness_conn *c, const char *admin, harness_reply *r)
{
    harness_callf(c, r, "sys.stats", "{\"admin\":\"%s\"}", admin);
    harness_expect(r, OK);
}

/* A map value of key in map o. */
static const msgpack_object *obj_map(const msgpack_object *o, const char *key)
{
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
            memcmp(kv->key.via.str.ptr, key, kv->key.via.str.size) == 0) {
            if (kv->val.type != MSGPACK_OBJECT_MAP) fail_msg("%s is not a map", key);
            return &kv->val;
        }
    }
    fail_msg("no key %s", key);
    return NULL;
}

/* A string value of key in map o, copied into out. */
static void obj_str(const msgpack_object *o, const char *key, char *out, size_t cap)
{
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.via.str.size == strlen(key) && memcmp(kv->key.via.str.ptr, key, strlen(key)) == 0 &&
            kv->val.type == MSGPACK_OBJECT_STR) {
            snprintf(out, cap, "%.*s", (int)kv->val.via.str.size, kv->val.via.str.ptr);
            return;
        }
    }
    fail_msg("no string %s", key);
}

/* The count of the requests row (method, code), 0 when absent. */
static uint64_t request_count(const harness_reply *r, const char *method, const char *code)
{
    size_t n;
    const msgpack_object *rows = harness_get_array(r, "requests", &n);
    for (size_t i = 0; i < n; i++)
        if (harness_obj_str_is(&rows[i], "method", method) && harness_obj_str_is(&rows[i], "code", code)) {
            uint64_t count = harness_obj_u64(&rows[i], "count");
            assert_true(count > 0);   /* only rows with count > 0 are listed */
            return count;
        }
    return 0;
}

static const msgpack_object *latency_row(const harness_reply *r, const char *method)
{
    size_t n;
    const msgpack_object *rows = harness_get_array(r, "latency", &n);
    for (size_t i = 0; i < n; i++)
        if (harness_obj_str_is(&rows[i], "method", method)) return &rows[i];
    return NULL;
}

static const msgpack_object *queue_row(const harness_reply *r, uint64_t concert_id)
{
    size_t n;
    const msgpack_object *rows = harness_get_array(r, "queues", &n);
    for (size_t i = 0; i < n; i++)
        if (harness_obj_u64(&rows[i], "concert_id") == concert_id) return &rows[i];
    return NULL;
}

static void test_sys_stats_without_admin_token_is_forbidden(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, NULL);
    harness_conn *c = harness_fx_connect(fx, hs->port);
    harness_reply r;
    harness_call(c, "sys.stats", "{}", &r);
    harness_expect(&r, FORBIDDEN);
    harness_reply_free(&r);
    harness_user u;
    harness_register(c, &u);   /* a session is no admin token */
    harness_callf(c, &r, "sys.stats", "{\"admin\":\"%s\"}", u.session);
    harness_expect(&r, FORBIDDEN);
    harness_reply_free(&r);
}

static void test_sys_stats_has_the_contract_shape_and_moves_with_a_sale(void **state)
{
    harness_fixture *fx = *state;
    harness_venue v;
    harness_venue_open(fx, NULL, 10, 1000, &v);
    harness_reply r0, r1, hello;
    harness_call(v.c, "sys.hello", NULL, &hello);
    stats(v.c, v.admin, &r0);

    assert_int_equal(r0.result->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(r0.result->via.map.size, sizeof result_keys / sizeof result_keys[0]);
    for (size_t i = 0; i < sizeof result_keys / sizeof result_keys[0]; i++)
        if (!harness_has(&r0, result_keys[i])) fail_msg("sys.stats has no %s", result_keys[i]);
    assert_string_equal(harness_get_str(&r0, "instance"), harness_get_str(&hello, "instance"));
    assert_string_equal(harness_get_str(&r0, "version"), harness_get_str(&hello, "version"));
    assert_int_equal(harness_get_u64(&r0, "processes"), 1);
    harness_get_u64(&r0, "uptime_s");
    const msgpack_object *conns = obj_map(r0.result, "connections");
    assert_true(harness_obj_u64(conns, "open") >= 1);
    assert_true(harness_obj_u64(conns, "accepted") >= 1);
    assert_int_equal(harness_obj_u64(conns, "refused"), 0);
    const msgpack_object *storage = obj_map(r0.result, "storage");
    assert_true(harness_obj_u64(storage, "used_bytes") > 0);
    if (harness_store_is_url(v.hs->data_dir))   /* PostgreSQL: no map; used_bytes is the database's */
        assert_int_equal(harness_obj_u64(storage, "map_bytes"), 0);
    else
        assert_true(harness_obj_u64(storage, "used_bytes") <= harness_obj_u64(storage, "map_bytes"));
    const msgpack_object *commits0 = obj_map(r0.result, "commits");
    uint64_t commits_before = harness_obj_u64(commits0, "count");
    assert_true(commits_before >= 2);   /* the venue's concert and schedule */
    assert_true(harness_obj_u64(commits0, "writes") >= commits_before);
    assert_int_equal(request_count(&r0, "admin.concert.create", "OK"), 1);
    assert_int_equal(harness_get_u64(&r0, "holds_live"), 0);
    assert_int_equal(harness_get_u64(&r0, "seats_sold"), 0);

    /* A sale: one hold taken, one refused, one paid; an unknown method. */
    harness_shopper a, b;
    harness_shopper_new(v.c, v.concert_id, 5000, &a);
    harness_shopper_new(v.c, v.concert_id, 5000, &b);
    uint64_t rid = harness_reserve(v.c, a.token, v.schedule_id, 3, NULL);
    harness_callf_expect(v.c, SEAT_UNAVAILABLE, "seat.reserve",
                         "{\"token\":\"%s\",\"schedule_id\":%llu,\"seat_no\":3}", b.token,
                         (unsigned long long)v.schedule_id);
    harness_reserve(v.c, b.token, v.schedule_id, 4, NULL);
    harness_callf_expect(v.c, OK, "payment.pay", "{\"token\":\"%s\",\"reservation_ids\":[%llu]}",
                         a.token, (unsigned long long)rid);
    harness_callf_expect(v.c, UNKNOWN_METHOD, "seat.steal", "{}");
    stats(v.c, v.admin, &r1);

    assert_int_equal(request_count(&r1, "seat.reserve", "OK"), 2);
    assert_int_equal(request_count(&r1, "seat.reserve", "SEAT_UNAVAILABLE"), 1);
    assert_int_equal(request_count(&r1, "payment.pay", "OK"), 1);
    assert_int_equal(request_count(&r1, "-", "UNKNOWN_METHOD"), 1);
    assert_int_equal(request_count(&r1, "sys.stats", "OK"), 1);   /* r0; r1 counts once answered */
    const msgpack_object *lat = latency_row(&r1, "seat.reserve");
    assert_non_null(lat);
    assert_int_equal(harness_obj_u64(lat, "count"), 3);
    assert_true(harness_obj_u64(lat, "p50_us") <= harness_obj_u64(lat, "p99_us"));
    assert_true(harness_obj_u64(lat, "p99_us") > 0);
    assert_null(latency_row(&r1, "wallet.history"));   /* never called: no row */
    assert_true(harness_obj_u64(obj_map(r1.result, "commits"), "count") > commits_before);
    const msgpack_object *q = queue_row(&r1, v.concert_id);
    assert_non_null(q);
    assert_int_equal(harness_obj_u64(q, "waiting"), 0);
    assert_int_equal(harness_obj_u64(q, "active"), 1);   /* b: a's entry ended with the payment */
    assert_int_equal(harness_get_u64(&r1, "holds_live"), 1);
    assert_int_equal(harness_get_u64(&r1, "seats_sold"), 1);

    /* The requests rows are sorted by method, then code. */
    size_t n;
    const msgpack_object *rows = harness_get_array(&r1, "requests", &n);
    for (size_t i = 1; i < n; i++) {
        char pm[64], pc[64], cm[64], cc[64];
        obj_str(&rows[i - 1], "method", pm, sizeof pm);
        obj_str(&rows[i - 1], "code", pc, sizeof pc);
        obj_str(&rows[i], "method", cm, sizeof cm);
        obj_str(&rows[i], "code", cc, sizeof cc);
        int order = strcmp(pm, cm);
        if (order > 0 || (order == 0 && strcmp(pc, cc) >= 0))
            fail_msg("requests rows out of order: %s/%s before %s/%s", pm, pc, cm, cc);
    }
    harness_reply_free(&hello);
    harness_reply_free(&r0);
    harness_reply_free(&r1);
}

static void test_sys_stats_of_two_workers_sums_both_whichever_answers(void **state)
{
    harness_fixture *fx = *state;
    harness_server *hs = harness_fx_start(fx, "--workers 2");
    const char *admin = harness_admin_token(hs);
    harness_conn *a = harness_fx_connect(fx, hs->port);
    pid_t pid_a = harness_instance_pid(a), pid_b = 0;
    harness_conn *b = harness_fx_connect_other(fx, hs->port, &pid_a, 1, 5000, &pid_b);
    if (!b) fail_msg("no connection reached the second worker");
    harness_reply r;
    for (int i = 0; i < 2; i++) { harness_call(a, "sys.ping", NULL, &r); harness_reply_free(&r); }
    for (int i = 0; i < 7; i++) { harness_call(b, "sys.ping", NULL, &r); harness_reply_free(&r); }
    harness_reply ra, rb;
    stats(a, admin, &ra);
    stats(b, admin, &rb);
    assert_int_equal(harness_get_u64(&ra, "processes"), 2);
    assert_int_equal(request_count(&ra, "sys.ping", "OK"), 9);
    assert_int_equal(request_count(&rb, "sys.ping", "OK"), 9);
    assert_string_not_equal(harness_get_str(&ra, "instance"), harness_get_str(&rb, "instance"));
    assert_true(harness_obj_u64(obj_map(rb.result, "connections"), "open") >= 2);
    harness_reply_free(&ra);
    harness_reply_free(&rb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HARNESS_TEST(test_sys_stats_without_admin_token_is_forbidden),
        HARNESS_TEST(test_sys_stats_has_the_contract_shape_and_moves_with_a_sale),
        HARNESS_TEST(test_sys_stats_of_two_workers_sums_both_whichever_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
