/* The wait estimate: nil until 5 s of samples with an admission, then
 * ceil(position / rate) with the rate between the admissions seen, slower
 * once the queue has been quiet longer than its usual gap, forgotten when
 * nobody asks; and the eta_s placeholder of a reply replaced in place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <msgpack.h>
#include "../../server/method.h"
#include "../../server/queue_eta.h"

#define CONCERT 7

/* Samples every 100 ms from t0 to t1 with one admission every gap_ms from first_ms. */
static void feed(queue_eta *qe, int64_t t0, int64_t t1, int64_t first_ms, int64_t gap_ms, uint64_t *total)
{
    for (int64_t t = t0; t <= t1; t += 100) {
        if (gap_ms > 0 && t >= first_ms && (t - first_ms) % gap_ms == 0) (*total)++;
        queue_eta_sample(qe, CONCERT, t, *total);
    }
}

static void test_nil_until_five_seconds_with_an_admission(void **state)
{
    (void)state;
    queue_eta *qe = queue_eta_new();
    int64_t eta;
    queue_eta_interest(qe, CONCERT, 0);
    uint64_t total = 10;
    feed(qe, 0, 4000, 1000, 1000, &total);
    assert_false(queue_eta_seconds(qe, CONCERT, 5, 4000, &eta));   /* 4 s only */
    feed(qe, 4100, 6000, 5000, 1000, &total);
    assert_true(queue_eta_seconds(qe, CONCERT, 5, 6000, &eta));
    queue_eta_free(qe);

    qe = queue_eta_new();   /* no admission at all: nil however long */
    queue_eta_interest(qe, CONCERT, 0);
    total = 3;
    feed(qe, 0, 20000, 0, 0, &total);
    assert_false(queue_eta_seconds(qe, CONCERT, 5, 20000, &eta));
    queue_eta_free(qe);
}

static void test_steady_rate_gives_position_over_rate(void **state)
{
    (void)state;
    queue_eta *qe = queue_eta_new();
    queue_eta_interest(qe, CONCERT, 0);
    uint64_t total = 0;
    feed(qe, 0, 20000, 500, 500, &total);   /* 2 a second */
    int64_t eta;
    assert_true(queue_eta_seconds(qe, CONCERT, 10, 20000, &eta));
    assert_int_equal(eta, 5);
    assert_true(queue_eta_seconds(qe, CONCERT, 11, 20000, &eta));
    assert_int_equal(eta, 6);   /* 5.5 rounds up */
    queue_eta_free(qe);
}

static void test_quiet_queue_is_estimated_slower_then_nil(void **state)
{
    (void)state;
    queue_eta *qe = queue_eta_new();
    queue_eta_interest(qe, CONCERT, 0);
    uint64_t total = 0;
    feed(qe, 0, 10000, 1000, 1000, &total);
    int64_t steady, later;
    assert_true(queue_eta_seconds(qe, CONCERT, 10, 10000, &steady));
    feed(qe, 10100, 20000, 0, 0, &total);          /* nothing admitted for 10 s */
    queue_eta_interest(qe, CONCERT, 20000);
    assert_true(queue_eta_seconds(qe, CONCERT, 10, 20000, &later));
    assert_true(later > steady);
    feed(qe, 20100, 90000, 0, 0, &total);          /* and for more than the window */
    queue_eta_interest(qe, CONCERT, 90000);
    assert_false(queue_eta_seconds(qe, CONCERT, 10, 90000, &later));
    queue_eta_free(qe);
}

static void test_queue_nobody_asks_about_is_forgotten(void **state)
{
    (void)state;
    queue_eta *qe = queue_eta_new();
    uint64_t ids[4];
    queue_eta_interest(qe, CONCERT, 0);
    queue_eta_interest(qe, CONCERT + 1, 30000);
    assert_int_equal(queue_eta_queues(qe, 40000, ids, 4), 2);
    assert_int_equal(queue_eta_queues(qe, QUEUE_ETA_WINDOW_MS + 1, ids, 4), 1);
    assert_int_equal(ids[0], CONCERT + 1);
    queue_eta_free(qe);
}

/* Packs {a: 1, eta_s: <placeholder>, b: "x"} and finishes it. */
static void finish_reply(queue_eta *qe, msgpack_sbuffer *buf, int64_t now_ms)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    call c = { .out = &pk, .now_ms = now_ms };
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "a", 1);
    msgpack_pack_int(&pk, 1);
    queue_eta_reply_pack(&c, CONCERT, 10);
    msgpack_pack_str_with_body(&pk, "b", 1);
    msgpack_pack_str_with_body(&pk, "x", 1);
    assert_true(c.eta_pending);
    assert_true(queue_eta_reply_finish(&c, buf, qe));
    assert_false(c.eta_pending);
}

static const msgpack_object *value_of(const msgpack_object *map, const char *key)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.via.str.size == strlen(key) && memcmp(kv->key.via.str.ptr, key, strlen(key)) == 0)
            return &kv->val;
    }
    fail_msg("no %s", key);
    return NULL;
}

static void test_reply_placeholder_becomes_the_estimate_or_stays_nil(void **state)
{
    (void)state;
    queue_eta *qe = queue_eta_new();
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    finish_reply(qe, &buf, 0);   /* also notes the interest */
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, buf.data, buf.size, NULL), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(value_of(&u.data, "eta_s")->type, MSGPACK_OBJECT_NIL);
    uint64_t total = 0;
    feed(qe, 0, 20000, 500, 500, &total);
    msgpack_sbuffer_clear(&buf);
    finish_reply(qe, &buf, 20000);
    assert_int_equal(msgpack_unpack_next(&u, buf.data, buf.size, NULL), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(value_of(&u.data, "eta_s")->via.u64, 5);
    assert_int_equal(value_of(&u.data, "a")->via.u64, 1);
    assert_int_equal(value_of(&u.data, "b")->via.str.size, 1);   /* the bytes behind it moved intact */
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&buf);
    queue_eta_free(qe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nil_until_five_seconds_with_an_admission),
        cmocka_unit_test(test_steady_rate_gives_position_over_rate),
        cmocka_unit_test(test_quiet_queue_is_estimated_slower_then_nil),
        cmocka_unit_test(test_queue_nobody_asks_about_is_forgotten),
        cmocka_unit_test(test_reply_placeholder_becomes_the_estimate_or_stays_nil),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
