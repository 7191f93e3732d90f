/* The method table, protocol/methods.def and PROTOCOL.md describe the same
 * methods: one row each, same names, and the flags the issue requires. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../../server/method.h"

static const method_def *row(const char *name)
{
    const method_def *m = method_lookup(name, strlen(name));
    assert_non_null(m);
    return m;
}

static void test_every_protocol_method_has_one_row(void **state)
{
    (void)state;
    size_t n;
    const method_def *table = method_table(&n);
    assert_int_equal(n, USHER_METHOD__COUNT);
    for (size_t i = 0; i < USHER_METHOD__COUNT; i++) {
        const char *name = usher_method_docs[i].name;
        const method_def *m = row(name);
        assert_string_equal(method_name(m), name);
        assert_non_null(m->handler);
        int seen = 0;
        for (size_t j = 0; j < n; j++) seen += table[j].id == (usher_method_id)i;
        assert_int_equal(seen, 1);
    }
}

static void test_unknown_method_has_no_row(void **state)
{
    (void)state;
    assert_null(method_lookup("seat.steal", 10));
    assert_null(method_lookup("sys.pin", 7));
    assert_null(method_lookup("sys.pingx", 9));
    assert_null(method_lookup("", 0));
}

static void test_flags_match_the_contract(void **state)
{
    (void)state;
    const char *active[] = { "concert.dates", "concert.seats", "seat.reserve", "payment.pay" };
    for (size_t i = 0; i < 4; i++)
        assert_true(row(active[i])->flags & METHOD_NEEDS_ACTIVE_QUEUE);
    const char *session[] = { "wallet.balance", "wallet.charge", "wallet.history", "queue.enter",
                              "reservation.cancel", "reservation.list", "payment.list" };
    for (size_t i = 0; i < 7; i++) assert_true(row(session[i])->flags & METHOD_NEEDS_SESSION);
    const char *writes[] = { "user.register", "wallet.charge", "queue.enter", "seat.reserve",
                             "reservation.cancel", "payment.pay", "admin.concert.create",
                             "admin.schedule.create" };
    for (size_t i = 0; i < 8; i++) assert_true(row(writes[i])->flags & METHOD_WRITE);
    assert_true(row("admin.concert.create")->flags & METHOD_ADMIN);
    assert_true(row("admin.schedule.create")->flags & METHOD_ADMIN);
    assert_true(row("queue.status")->flags & METHOD_NEEDS_QUEUE_TOKEN);
    assert_false(row("queue.status")->flags & METHOD_NEEDS_ACTIVE_QUEUE);
    assert_false(row("concert.list")->flags & (METHOD_NEEDS_SESSION | METHOD_WRITE));
    size_t n;
    const method_def *table = method_table(&n);
    for (size_t i = 0; i < n; i++) {   /* idempotent rows carry a fingerprint, others none */
        bool idem = table[i].flags & METHOD_IDEMPOTENT;
        assert_true(idem == (table[i].fingerprint != NULL));
        if (idem) assert_true(table[i].flags & METHOD_WRITE);
    }
    assert_true(row("wallet.charge")->flags & METHOD_IDEMPOTENT);
    assert_true(row("payment.pay")->flags & METHOD_IDEMPOTENT);
}

/* PROTOCOL.md has exactly one "### name" heading per method and no other method headings. */
static void test_protocol_md_documents_every_method(void **state)
{
    (void)state;
    FILE *f = fopen("PROTOCOL.md", "r");
    assert_non_null(f);
    int count[USHER_METHOD__COUNT] = { 0 };
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "### ", 4) != 0) continue;
        char *name = line + 4;
        name[strcspn(name, " \r\n`")] = '\0';
        if (name[0] == '`') name++;
        const usher_method_doc *doc = usher_method_find(name, strlen(name));
        if (doc) count[doc - usher_method_docs]++;
    }
    fclose(f);
    for (size_t i = 0; i < USHER_METHOD__COUNT; i++) {
        if (count[i] != 1) fprintf(stderr, "PROTOCOL.md: %s documented %d times\n",
                                   usher_method_docs[i].name, count[i]);
        assert_int_equal(count[i], 1);
    }
}

/* Every error code of the catalogue appears in PROTOCOL.md with its number. */
static void test_protocol_md_lists_every_error_code(void **state)
{
    (void)state;
    FILE *f = fopen("PROTOCOL.md", "r");
    assert_non_null(f);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    for (int e = 1; e < USHER_ERR__COUNT; e++) {   /* 0 is success, not an error */
        char row_text[96];
        snprintf(row_text, sizeof row_text, "| `%s` | %d |", usher_err_name((usher_err)e), e);
        if (!strstr(text, row_text)) fprintf(stderr, "PROTOCOL.md lacks the row \"%s\"\n", row_text);
        assert_non_null(strstr(text, row_text));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_protocol_method_has_one_row),
        cmocka_unit_test(test_unknown_method_has_no_row),
        cmocka_unit_test(test_flags_match_the_contract),
        cmocka_unit_test(test_protocol_md_documents_every_method),
        cmocka_unit_test(test_protocol_md_lists_every_error_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
