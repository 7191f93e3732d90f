/* Parameter decoders, UTF-8 validation and page cutting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "../../server/params.h"
#include "../../server/methods/pack.h"
#include "../../protocol/msg.h"

typedef struct fixture {
    msgpack_sbuffer sb;
    msgpack_zone zone;
    msgpack_object params;
    call c;
} fixture;

/* Decodes JSON params into f->c.params. */
static void load(fixture *f, const char *json)
{
    msgpack_packer pk;
    size_t err_at = 0;
    msgpack_sbuffer_init(&f->sb);
    msgpack_packer_init(&pk, &f->sb, msgpack_sbuffer_write);
    assert_int_equal(msg_from_json(json, strlen(json), &pk, &err_at), USHER_ERR_OK);
    msgpack_zone_init(&f->zone, 1024);
    msg_limits lim = msg_limits_default();
    assert_int_equal(msg_decode((const uint8_t *)f->sb.data, f->sb.size, &lim, &f->zone, &f->params),
                     USHER_ERR_OK);
    memset(&f->c, 0, sizeof f->c);
    f->c.params = &f->params;
}

static void unload(fixture *f)
{
    msgpack_zone_destroy(&f->zone);
    msgpack_sbuffer_destroy(&f->sb);
}

static void test_param_id_accepts_positive_and_names_bad_ones(void **state)
{
    (void)state;
    fixture f;
    uint64_t id;
    load(&f, "{\"a\": 7, \"b\": 0, \"c\": -3, \"d\": \"7\", \"e\": 1.5, \"f\": 18446744073709551615, \"g\": null}");
    assert_int_equal(param_id(&f.c, "a", &id), USHER_ERR_OK);
    assert_int_equal(id, 7);
    const char *bad[] = { "b", "c", "d", "e", "f" };
    for (size_t i = 0; i < 5; i++) {
        f.c.bad_param = NULL;
        assert_int_equal(param_id(&f.c, bad[i], &id), USHER_ERR_INVALID_ARGUMENT);
        assert_string_equal(f.c.bad_param, bad[i]);
    }
    assert_int_equal(param_id(&f.c, "missing", &id), USHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(f.c.detail, "is required");
    assert_int_equal(param_id(&f.c, "g", &id), USHER_ERR_INVALID_ARGUMENT);   /* nil = absent */
    assert_int_equal(param_id_opt(&f.c, "g", &id), USHER_ERR_OK);
    assert_int_equal(id, 0);
    unload(&f);
}

static void test_param_int_range_limits_inclusive(void **state)
{
    (void)state;
    fixture f;
    int64_t v;
    load(&f, "{\"lo\": 1, \"hi\": 50, \"under\": 0, \"over\": 51}");
    assert_int_equal(param_int(&f.c, "lo", 1, 50, &v), USHER_ERR_OK);
    assert_int_equal(v, 1);
    assert_int_equal(param_int(&f.c, "hi", 1, 50, &v), USHER_ERR_OK);
    assert_int_equal(v, 50);
    assert_int_equal(param_int(&f.c, "under", 1, 50, &v), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(param_int(&f.c, "over", 1, 50, &v), USHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(f.c.bad_param, "over");
    unload(&f);
}

static void test_param_str_length_bounds(void **state)
{
    (void)state;
    fixture f;
    const char *s;
    size_t n;
    load(&f, "{\"s\": \"abcd\", \"empty\": \"\", \"num\": 5}");
    assert_int_equal(param_str(&f.c, "s", 1, 4, &s, &n), USHER_ERR_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(s, "abcd", 4);
    assert_int_equal(param_str(&f.c, "s", 1, 3, &s, &n), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(param_str(&f.c, "empty", 1, 3, &s, &n), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(param_str(&f.c, "num", 1, 3, &s, &n), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(param_str_opt(&f.c, "nothing", 1, 3, &s, &n), USHER_ERR_OK);
    assert_null(s);
    unload(&f);
}

static void test_param_id_array_counts_and_elements(void **state)
{
    (void)state;
    fixture f;
    uint64_t ids[4];
    size_t n;
    load(&f, "{\"ok\": [3, 1, 2], \"empty\": [], \"five\": [1,2,3,4,5], \"bad\": [1, -1], \"notarr\": 3}");
    assert_int_equal(param_id_array(&f.c, "ok", 1, 4, ids, &n), USHER_ERR_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 3);
    assert_int_equal(param_id_array(&f.c, "empty", 1, 4, ids, &n), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(param_id_array(&f.c, "five", 1, 4, ids, &n), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(param_id_array(&f.c, "bad", 1, 4, ids, &n), USHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(param_id_array(&f.c, "notarr", 1, 4, ids, &n), USHER_ERR_INVALID_ARGUMENT);
    unload(&f);
}

static void test_param_limit_default_cap_and_zero(void **state)
{
    (void)state;
    fixture f;
    size_t limit;
    load(&f, "{}");
    assert_int_equal(param_limit(&f.c, 50, 500, &limit), USHER_ERR_OK);
    assert_int_equal(limit, 50);
    unload(&f);
    load(&f, "{\"limit\": 501}");
    assert_int_equal(param_limit(&f.c, 50, 500, &limit), USHER_ERR_OK);
    assert_int_equal(limit, 500);
    unload(&f);
    load(&f, "{\"limit\": 0}");
    assert_int_equal(param_limit(&f.c, 50, 500, &limit), USHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(f.c.bad_param, "limit");
    unload(&f);
    load(&f, "{\"limit\": -4}");
    assert_int_equal(param_limit(&f.c, 50, 500, &limit), USHER_ERR_INVALID_ARGUMENT);
    unload(&f);
}

static void test_utf8_validation(void **state)
{
    (void)state;
    assert_true(utf8_valid("plain", 5));
    assert_true(utf8_valid("\xec\x84\x9c\xec\x9a\xb8", 6));          /* 서울 */
    assert_true(utf8_valid("\xf0\x9f\x8e\xb5", 4));                  /* U+1F3B5 */
    assert_false(utf8_valid("\xc0\xaf", 2));                         /* overlong */
    assert_false(utf8_valid("\xed\xa0\x80", 3));                     /* surrogate */
    assert_false(utf8_valid("\xec\x84", 2));                         /* truncated */
    assert_false(utf8_valid("\xff", 1));
    assert_false(utf8_valid("\xf4\x90\x80\x80", 4));                 /* above U+10FFFF */
}

static void test_page_is_cut_to_budget_but_never_empty(void **state)
{
    (void)state;
    page pg;
    msgpack_sbuffer out;
    msgpack_packer pk;
    msgpack_sbuffer_init(&out);
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    page_init(&pg, 100);
    size_t added = 0;
    for (int i = 0; i < 100; i++) {
        msgpack_packer *ip = page_item_begin(&pg);
        msgpack_pack_str(ip, 20);
        msgpack_pack_str_body(ip, "01234567890123456789", 20);   /* 21 bytes each */
        if (!page_item_end(&pg)) break;
        added++;
    }
    assert_int_equal(added, 4);     /* 4 * 21 = 84 <= 100 < 105 */
    page_finish(&pg, &pk);
    msgpack_zone zone;
    msgpack_object o;
    msgpack_zone_init(&zone, 512);
    msg_limits lim = msg_limits_default();
    assert_int_equal(msg_decode((const uint8_t *)out.data, out.size, &lim, &zone, &o), USHER_ERR_OK);
    assert_int_equal(o.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o.via.array.size, 4);
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_clear(&out);

    page_init(&pg, 5);              /* one item larger than the budget still fits alone */
    msgpack_packer *ip = page_item_begin(&pg);
    msgpack_pack_str(ip, 20);
    msgpack_pack_str_body(ip, "01234567890123456789", 20);
    assert_true(page_item_end(&pg));
    page_finish(&pg, &pk);
    assert_int_equal((unsigned char)out.data[0], 0x91);
    msgpack_sbuffer_destroy(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_id_accepts_positive_and_names_bad_ones),
        cmocka_unit_test(test_param_int_range_limits_inclusive),
        cmocka_unit_test(test_param_str_length_bounds),
        cmocka_unit_test(test_param_id_array_counts_and_elements),
        cmocka_unit_test(test_param_limit_default_cap_and_zero),
        cmocka_unit_test(test_utf8_validation),
        cmocka_unit_test(test_page_is_cut_to_budget_but_never_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
