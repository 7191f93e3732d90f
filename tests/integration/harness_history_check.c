/* Harness, history checker: judges a recorded history against the final
 * states. Four rules (docs/DESIGN.md "Checking histories" argues them):
 * holds of one seat never provably overlap (harness_history_holds.c);
 * acknowledged money is in the ledger and the balance is explained by a
 * subset of the unknown outcomes, and request_id retries repeat the first
 * result (harness_history_money.c); queue admissions follow sequence order
 * (harness_history_queue.c). This file prints and drives. Nothing here
 * fails the test: the caller asserts on the count. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_MAX 20           /* violations printed in full; the rest are counted */

/* ---------------------------------------------------------------- output */

static void print_op(const harness_op *op)
{
    char params[512], result[512];
    msgpack_object_print_buffer(params, sizeof params, *op->params);
    fprintf(stderr, "    op #%zu client %u user %d %s %s sent %lld replied %lld: ", op->index, op->client,
            op->user == HARNESS_NO_USER ? -1 : (int)op->user, op->method, params, (long long)op->sent_ms,
            (long long)op->replied_ms);
    if (op->outcome == HARNESS_OP_OK) {
        if (op->result)
            msgpack_object_print_buffer(result, sizeof result, *op->result);
        else
            snprintf(result, sizeof result, "{}");
        fprintf(stderr, "OK %s\n", result);
    } else if (op->outcome == HARNESS_OP_FAILED) {
        fprintf(stderr, "%s\n", usher_err_name(op->err));
    } else {
        fprintf(stderr, "no reply\n");
    }
}

void hcheck_violation(checker *k, const harness_op *a, const harness_op *b, const char *fmt, ...)
{
    ++*k->rule;
    if (++k->violations > REPORT_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: VIOLATION: ", k->label);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (a)
        print_op(a);
    if (b)
        print_op(b);
}

bool hcheck_is(const harness_op *op, const char *method)
{
    return strcmp(op->method, method) == 0;
}

bool hcheck_obj_equal(const msgpack_object *a, const msgpack_object *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case MSGPACK_OBJECT_MAP:
        if (a->via.map.size != b->via.map.size)
            return false;
        for (uint32_t i = 0; i < a->via.map.size; i++) {
            const msgpack_object_kv *kv = &a->via.map.ptr[i];
            const msgpack_object *other = NULL;
            for (uint32_t j = 0; j < b->via.map.size && !other; j++)
                if (msgpack_object_equal(kv->key, b->via.map.ptr[j].key))
                    other = &b->via.map.ptr[j].val;
            if (!other || !hcheck_obj_equal(&kv->val, other))
                return false;
        }
        return true;
    case MSGPACK_OBJECT_ARRAY:
        if (a->via.array.size != b->via.array.size)
            return false;
        for (uint32_t i = 0; i < a->via.array.size; i++)
            if (!hcheck_obj_equal(&a->via.array.ptr[i], &b->via.array.ptr[i]))
                return false;
        return true;
    default:
        return msgpack_object_equal(*a, *b);
    }
}

size_t hcheck_pay_ids(const harness_op *op, uint64_t *ids, size_t cap)
{
    const msgpack_object *v = msg_map_get(op->params, "reservation_ids");
    if (!v || v->type != MSGPACK_OBJECT_ARRAY)
        return 0;
    size_t n = 0;
    for (uint32_t i = 0; i < v->via.array.size && n < cap; i++)
        if (v->via.array.ptr[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            ids[n++] = v->via.array.ptr[i].via.u64;
    return n;
}

/* ---------------------------------------------------------------- driver */

size_t harness_history_check(const harness_history *h, const char *label, harness_check_counts *counts)
{
    checker k = { .h = h, .label = label };
    k.rule = &k.counts.holds;
    hold_index ix = { 0 };
    if (!hcheck_holds(&k, &ix)) {
        hcheck_violation(&k, NULL, NULL, "out of memory while checking holds");
        goto done;
    }
    k.rule = &k.counts.money;
    if (!hcheck_money(&k, &ix)) {
        hcheck_violation(&k, NULL, NULL, "out of memory while checking money");
        goto done;
    }
    k.rule = &k.counts.queue;
    hcheck_queue(&k);
done:
    if (k.violations > REPORT_MAX)
        fprintf(stderr, "%s: ... and %zu more violations\n", label, k.violations - REPORT_MAX);
    fprintf(stderr, "%s: history of %zu ops checked: %zu violations (holds %zu, money %zu, queue %zu, retries %zu)\n",
            label, harness_history_count(h), k.violations, k.counts.holds, k.counts.money, k.counts.queue,
            k.counts.retries);
    if (counts)
        *counts = k.counts;
    free(ix.items);
    return k.violations;
}
