/* Harness, histories: the record itself (ops with copies of their params
 * and results, under one mutex), the final-state slots, queue-token claims,
 * and non-failing map readers shared by the client threads and the checker. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_history.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct harness_history {
    pthread_mutex_t lock;       /* guards ops, nops, cap and zone */
    harness_op **ops;
    size_t nops, cap;
    msgpack_zone *zone;         /* copies of params and results */
    harness_user_final **finals;  /* one allocation each, so slots never move */
    size_t nfinals;
};

harness_history *harness_history_new(void)
{
    harness_history *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->zone = msgpack_zone_new(1 << 16);
    if (!h->zone || pthread_mutex_init(&h->lock, NULL) != 0) {
        if (h->zone)
            msgpack_zone_free(h->zone);
        free(h);
        return NULL;
    }
    return h;
}

void harness_history_free(harness_history *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nops; i++)
        free(h->ops[i]);
    free(h->ops);
    for (size_t i = 0; i < h->nfinals; i++) {
        if (!h->finals[i])
            continue;
        free(h->finals[i]->ledger);
        free(h->finals[i]->reservations);
        free(h->finals[i]->payments);
        free(h->finals[i]);
    }
    free(h->finals);
    msgpack_zone_free(h->zone);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* Packs JSON text (NULL or "" is {}) into sb; false on bad JSON. */
static bool pack_json(msgpack_sbuffer *sb, const char *json)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    const char *text = json && *json ? json : "{}";
    size_t err_at = 0;
    return msg_from_json(text, strlen(text), &pk, &err_at) == USHER_ERR_OK;
}

/* A copy of the packed object in sb inside h's zone; the lock is held. The
 * bytes are copied too: unpacked strings point into them. NULL on OOM or
 * bad bytes. */
static const msgpack_object *zone_copy(harness_history *h, const msgpack_sbuffer *sb)
{
    msgpack_object *o = msgpack_zone_malloc(h->zone, sizeof *o);
    char *bytes = msgpack_zone_malloc(h->zone, sb->size ? sb->size : 1);
    if (!o || !bytes)
        return NULL;
    memcpy(bytes, sb->data, sb->size);
    size_t off = 0;
    if (msgpack_unpack(bytes, sb->size, &off, h->zone, o) != MSGPACK_UNPACK_SUCCESS)
        return NULL;
    return o;
}

/* Appends one op with packed params (and result when not NULL). */
static long append(harness_history *h, const harness_op *head, const msgpack_sbuffer *params,
                   const msgpack_sbuffer *result)
{
    harness_op *op = malloc(sizeof *op);
    if (!op)
        return -1;
    *op = *head;
    long index = -1;
    pthread_mutex_lock(&h->lock);
    if (h->nops == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        harness_op **grown = realloc(h->ops, cap * sizeof *grown);
        if (!grown)
            goto done;
        h->ops = grown;
        h->cap = cap;
    }
    op->params = zone_copy(h, params);
    op->result = result ? zone_copy(h, result) : NULL;
    if (!op->params || (result && !op->result))
        goto done;
    op->index = h->nops;
    h->ops[h->nops++] = op;
    index = (long)op->index;
    op = NULL;
done:
    pthread_mutex_unlock(&h->lock);
    free(op);
    return index;
}

/* The fixed fields of an op. */
static harness_op op_head(uint32_t client, uint32_t user, const char *method, int64_t sent_ms,
                          int64_t replied_ms, harness_outcome outcome, usher_err err)
{
    harness_op op = { .client = client, .user = user, .sent_ms = sent_ms, .replied_ms = replied_ms,
                      .outcome = outcome, .err = outcome == HARNESS_OP_OK ? USHER_ERR_OK : err };
    snprintf(op.method, sizeof op.method, "%s", method);
    return op;
}

/* Records one op whose params are JSON and whose result (NULL unless OK)
 * is already packed. */
static long record_packed(harness_history *h, const harness_op *head, const char *params_json,
                          const msgpack_sbuffer *result)
{
    msgpack_sbuffer params;
    msgpack_sbuffer_init(&params);
    long index = pack_json(&params, params_json) ? append(h, head, &params, result) : -1;
    msgpack_sbuffer_destroy(&params);
    return index;
}

long harness_history_add(harness_history *h, uint32_t client, uint32_t user, const char *method,
                         const char *params_json, int64_t sent_ms, int64_t replied_ms,
                         harness_outcome outcome, usher_err err, const char *result_json)
{
    harness_op head = op_head(client, user, method, sent_ms, replied_ms, outcome, err);
    msgpack_sbuffer result;
    msgpack_sbuffer_init(&result);
    long index = -1;
    if (outcome != HARNESS_OP_OK)
        index = record_packed(h, &head, params_json, NULL);
    else if (pack_json(&result, result_json))
        index = record_packed(h, &head, params_json, &result);
    msgpack_sbuffer_destroy(&result);
    return index;
}

long harness_history_record(harness_history *h, uint32_t client, uint32_t user, const char *method,
                            const char *params_json, int64_t sent_ms, int64_t replied_ms,
                            harness_outcome outcome, usher_err err, const msgpack_object *result)
{
    harness_op head = op_head(client, user, method, sent_ms, replied_ms, outcome, err);
    msgpack_sbuffer packed;
    msgpack_sbuffer_init(&packed);
    bool with_result = outcome == HARNESS_OP_OK && result;
    if (with_result) {
        msgpack_packer pk;
        msgpack_packer_init(&pk, &packed, msgpack_sbuffer_write);
        msgpack_pack_object(&pk, *result);
    }
    long index = record_packed(h, &head, params_json, with_result ? &packed : NULL);
    msgpack_sbuffer_destroy(&packed);
    return index;
}

size_t harness_history_count(const harness_history *h)
{
    return h->nops;
}

const harness_op *harness_history_op(const harness_history *h, size_t i)
{
    return i < h->nops ? h->ops[i] : NULL;
}

/* ------------------------------------------------------------ final state */

harness_user_final *harness_history_final(harness_history *h, uint32_t user)
{
    if (user == HARNESS_NO_USER)
        return NULL;
    if (user >= h->nfinals) {
        size_t n = (size_t)user + 1;
        harness_user_final **grown = realloc(h->finals, n * sizeof *grown);
        if (!grown)
            return NULL;
        memset(grown + h->nfinals, 0, (n - h->nfinals) * sizeof *grown);
        h->finals = grown;
        h->nfinals = n;
    }
    if (!h->finals[user])
        h->finals[user] = calloc(1, sizeof *h->finals[user]);
    return h->finals[user];
}

uint32_t harness_history_users(const harness_history *h)
{
    return (uint32_t)h->nfinals;
}

const harness_user_final *harness_history_final_of(const harness_history *h, uint32_t user)
{
    return user < h->nfinals && h->finals[user] && h->finals[user]->read ? h->finals[user] : NULL;
}

/* Appends item (size bytes) to *array of *n; false on OOM. */
static bool push(void **array, size_t *n, const void *item, size_t size)
{
    void *grown = realloc(*array, (*n + 1) * size);
    if (!grown)
        return false;
    memcpy((char *)grown + *n * size, item, size);
    *array = grown;
    (*n)++;
    return true;
}

bool harness_final_add_entry(harness_user_final *f, harness_ledger_entry e)
{
    f->read = true;
    return push((void **)&f->ledger, &f->nledger, &e, sizeof e);
}

bool harness_final_add_reservation(harness_user_final *f, harness_reservation r)
{
    f->read = true;
    return push((void **)&f->reservations, &f->nreservations, &r, sizeof r);
}

bool harness_final_add_payment(harness_user_final *f, harness_payment p)
{
    f->read = true;
    return push((void **)&f->payments, &f->npayments, &p, sizeof p);
}

/* ------------------------------------------------------------ queue tokens
 * server/token.c: "u1." + base64url-no-padding(46 bytes of claims || 64 of
 * signature); claims: version (1), kind (1; 2 = queue), key id (4), user
 * (16), expiry (8), concert_id (8, at 30), seq (8, at 38), big-endian. The
 * tests read the claims to learn an entry's sequence number: the reply says
 * only the position among those still WAITING. */

#define QTOKEN_PREFIX "u1."
#define QTOKEN_CLAIMS 46
#define QTOKEN_BIN (QTOKEN_CLAIMS + 64)
#define QTOKEN_KIND_QUEUE 2

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

bool harness_queue_token_entry(const char *s, size_t len, uint64_t *concert_id, uint64_t *seq)
{
    size_t prefix = sizeof QTOKEN_PREFIX - 1;
    uint8_t bin[QTOKEN_BIN];
    size_t bin_len = 0;
    if (len <= prefix || memcmp(s, QTOKEN_PREFIX, prefix) != 0)
        return false;
    if (sodium_base642bin(bin, sizeof bin, s + prefix, len - prefix, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 || bin_len != QTOKEN_BIN)
        return false;
    if (bin[1] != QTOKEN_KIND_QUEUE)
        return false;
    *concert_id = be64(bin + 30);
    *seq = be64(bin + 38);
    return true;
}

void harness_fake_queue_token(uint64_t concert_id, uint64_t seq, char *out)
{
    uint8_t bin[QTOKEN_BIN] = { 1, QTOKEN_KIND_QUEUE };
    for (int i = 0; i < 8; i++) {
        bin[30 + i] = (uint8_t)(concert_id >> (56 - 8 * i));
        bin[38 + i] = (uint8_t)(seq >> (56 - 8 * i));
    }
    memcpy(out, QTOKEN_PREFIX, sizeof QTOKEN_PREFIX - 1);
    sodium_bin2base64(out + sizeof QTOKEN_PREFIX - 1, HARNESS_TOKEN_CAP - (sizeof QTOKEN_PREFIX - 1), bin,
                      sizeof bin, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* ------------------------------------------------------------ map readers */

bool harness_find_i64(const msgpack_object *map, const char *key, int64_t *out)
{
    const msgpack_object *v = map && map->type == MSGPACK_OBJECT_MAP ? msg_map_get(map, key) : NULL;
    if (!v)
        return false;
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = v->via.i64;
        return true;
    }
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)v->via.u64;
        return true;
    }
    return false;
}

bool harness_find_u64(const msgpack_object *map, const char *key, uint64_t *out)
{
    const msgpack_object *v = map && map->type == MSGPACK_OBJECT_MAP ? msg_map_get(map, key) : NULL;
    if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *out = v->via.u64;
    return true;
}

bool harness_find_str(const msgpack_object *map, const char *key, const char **s, size_t *len)
{
    const msgpack_object *v = map && map->type == MSGPACK_OBJECT_MAP ? msg_map_get(map, key) : NULL;
    if (!v || v->type != MSGPACK_OBJECT_STR)
        return false;
    *s = v->via.str.ptr;
    *len = v->via.str.size;
    return true;
}

bool harness_find_strcpy(const msgpack_object *map, const char *key, char *out, size_t cap)
{
    const char *s;
    size_t len;
    if (!harness_find_str(map, key, &s, &len) || len >= cap)
        return false;
    memcpy(out, s, len);
    out[len] = '\0';
    return true;
}
