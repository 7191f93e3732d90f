/* The error catalogue and the method list: stable, unique, and complete. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "errors.h"
#include "methods.h"

static const struct { const char *name; int num; } def_rows[] = {
#define USHER_ERROR(name, num, msg) { #name, num },
#include "errors.def"
#undef USHER_ERROR
};
#define DEF_ROWS (sizeof def_rows / sizeof def_rows[0])

static void test_errors_fixed_numbers_never_change(void **state)
{
    (void)state;
    /* the numbers are part of the wire contract (PROTOCOL.md) */
    assert_int_equal(USHER_ERR_OK, 0);
    assert_int_equal(USHER_ERR_BAD_FRAME, 1);
    assert_int_equal(USHER_ERR_BAD_REQUEST, 2);
    assert_int_equal(USHER_ERR_UNKNOWN_METHOD, 3);
    assert_int_equal(USHER_ERR_INVALID_ARGUMENT, 4);
    assert_int_equal(USHER_ERR_UNAUTHENTICATED, 5);
    assert_int_equal(USHER_ERR_TOKEN_INVALID, 6);
    assert_int_equal(USHER_ERR_TOKEN_EXPIRED, 7);
    assert_int_equal(USHER_ERR_QUEUE_WAITING, 8);
    assert_int_equal(USHER_ERR_FORBIDDEN, 9);
    assert_int_equal(USHER_ERR_NOT_FOUND, 10);
    assert_int_equal(USHER_ERR_SEAT_UNAVAILABLE, 11);
    assert_int_equal(USHER_ERR_HOLD_LIMIT, 12);
    assert_int_equal(USHER_ERR_HOLD_EXPIRED, 13);
    assert_int_equal(USHER_ERR_ALREADY_PAID, 14);
    assert_int_equal(USHER_ERR_INSUFFICIENT_BALANCE, 15);
    assert_int_equal(USHER_ERR_AMOUNT_LIMIT, 16);
    assert_int_equal(USHER_ERR_OVERLOADED, 17);
    assert_int_equal(USHER_ERR_INTERNAL, 18);
    assert_int_equal(USHER_ERR_STORAGE_FULL, 19);
    assert_int_equal(USHER_ERR_UNAVAILABLE, 20);
    assert_string_equal(usher_err_name(USHER_ERR_SEAT_UNAVAILABLE), "SEAT_UNAVAILABLE");
    assert_string_equal(usher_err_name(USHER_ERR_INTERNAL), "INTERNAL");
    assert_string_equal(usher_err_name(USHER_ERR_BAD_FRAME), "BAD_FRAME");
}

static void test_errors_names_and_numbers_are_unique(void **state)
{
    (void)state;
    assert_int_equal(DEF_ROWS, 21);
    for (size_t i = 0; i < DEF_ROWS; i++) {
        for (size_t j = i + 1; j < DEF_ROWS; j++) {
            assert_int_not_equal(def_rows[i].num, def_rows[j].num);
            assert_string_not_equal(def_rows[i].name, def_rows[j].name);
        }
    }
}

static void test_errors_every_code_has_name_and_message(void **state)
{
    (void)state;
    for (size_t i = 0; i < DEF_ROWS; i++) {
        usher_err e = (usher_err)def_rows[i].num;
        assert_string_equal(usher_err_name(e), def_rows[i].name);
        assert_true(strlen(usher_err_message(e)) > 0);
    }
}

static void test_errors_from_name_round_trips(void **state)
{
    (void)state;
    for (size_t i = 0; i < DEF_ROWS; i++) {
        usher_err e = (usher_err)def_rows[i].num, back = (usher_err)-1;
        const char *name = usher_err_name(e);
        assert_true(usher_err_from_name(name, strlen(name), &back));
        assert_int_equal(back, e);
    }
    usher_err out = USHER_ERR_OK;
    assert_false(usher_err_from_name("SEAT_UNAVAILABLEX", 17, &out));
    assert_false(usher_err_from_name("seat_unavailable", 16, &out));
    assert_false(usher_err_from_name("", 0, &out));
    /* the length decides, not a NUL: a prefix is not a match */
    assert_false(usher_err_from_name("SEAT_UNAVAILABLE", 4, &out));
    assert_true(usher_err_from_name("SEAT_UNAVAILABLE trailing", 16, &out));
    assert_int_equal(out, USHER_ERR_SEAT_UNAVAILABLE);
}

static void test_errors_out_of_range_maps_to_internal(void **state)
{
    (void)state;
    const usher_err odd[] = { (usher_err)-1, USHER_ERR__COUNT, (usher_err)1000 };
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(usher_err_name(odd[i]), "INTERNAL");
        assert_string_equal(usher_err_message(odd[i]), usher_err_message(USHER_ERR_INTERNAL));
    }
}

static void test_methods_find_every_row(void **state)
{
    (void)state;
    assert_true(USHER_METHOD__COUNT >= 19);
    for (size_t i = 0; i < USHER_METHOD__COUNT; i++) {
        const usher_method_doc *doc = &usher_method_docs[i];
        assert_non_null(doc->name);
        assert_non_null(doc->summary);
        assert_ptr_equal(usher_method_find(doc->name, strlen(doc->name)), doc);
        for (size_t j = i + 1; j < USHER_METHOD__COUNT; j++)
            assert_string_not_equal(doc->name, usher_method_docs[j].name);
    }
    assert_ptr_equal(usher_method_find("seat.reserve", 12), &usher_method_docs[USHER_METHOD_SEAT_RESERVE]);
    assert_ptr_equal(usher_method_find("payment.pay", 11), &usher_method_docs[USHER_METHOD_PAYMENT_PAY]);
}

static void test_methods_unknown_names_are_rejected(void **state)
{
    (void)state;
    assert_null(usher_method_find("seat.reserv", 11));
    assert_null(usher_method_find("seat.reservex", 13));
    assert_null(usher_method_find("SEAT.RESERVE", 12));
    assert_null(usher_method_find("", 0));
    assert_null(usher_method_find("seat.reserve", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_fixed_numbers_never_change),
        cmocka_unit_test(test_errors_names_and_numbers_are_unique),
        cmocka_unit_test(test_errors_every_code_has_name_and_message),
        cmocka_unit_test(test_errors_from_name_round_trips),
        cmocka_unit_test(test_errors_out_of_range_maps_to_internal),
        cmocka_unit_test(test_methods_find_every_row),
        cmocka_unit_test(test_methods_unknown_names_are_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
