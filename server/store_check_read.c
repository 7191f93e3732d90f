/* The checker's reading helpers (store_check_internal.h): point lookups
 * and walks that turn LMDB failures into storage.damaged, loaders that
 * validate a record's shape, and the growable arrays the groupings use. */
#include <stdlib.h>
#include "store_check_internal.h"

/* ---- reading ---- */

int check_get(check_run *r, enum store_db db, const void *key, size_t key_len, MDB_val *val)
{
    if (r->stop)
        return MDB_NOTFOUND;
    int rc = store_get(r->t, db, key, key_len, val);
    if (rc != 0 && rc != MDB_NOTFOUND)
        check_damaged(r, db, rc);
    return rc;
}

bool check_has_key(check_run *r, enum store_db db, const void *key, size_t len, MDB_val *v)
{
    MDB_val scratch;
    return check_get(r, db, key, len, v ? v : &scratch) == 0;
}

uint64_t check_counter(check_run *r, enum store_counter counter)
{
    const char *name = store_counter_key(counter);
    MDB_val v;
    uint64_t last = 0;
    if (check_get(r, DB_META, name, strlen(name), &v) == 0 && v.mv_size == sizeof last)
        memcpy(&last, v.mv_data, sizeof last);
    return last;
}

void check_iter_init(check_iter *it, enum store_db db, const void *prefix, size_t prefix_len)
{
    memset(it, 0, sizeof *it);
    it->db = db;
    if (prefix_len > sizeof it->prefix)
        prefix_len = sizeof it->prefix;
    if (prefix_len)
        memcpy(it->prefix, prefix, prefix_len);
    it->prefix_len = prefix_len;
}

bool check_iter_next(check_run *r, check_iter *it)
{
    if (r->stop)
        return false;
    int rc;
    if (!it->started) {
        it->started = true;
        rc = mdb_cursor_open(r->t->txn, r->t->st->dbi[it->db], &it->cur);
        if (rc) {
            it->cur = NULL;
            check_damaged(r, it->db, rc);
            return false;
        }
        if (it->prefix_len) {
            it->k = (MDB_val){ it->prefix_len, it->prefix };
            rc = mdb_cursor_get(it->cur, &it->k, &it->v, MDB_SET_RANGE);
        } else {
            rc = mdb_cursor_get(it->cur, &it->k, &it->v, MDB_FIRST);
        }
    } else if (!it->cur) {
        return false;
    } else {
        rc = mdb_cursor_get(it->cur, &it->k, &it->v, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND)
        return false;
    if (rc) {
        check_damaged(r, it->db, rc);
        return false;
    }
    if (it->prefix_len && (it->k.mv_size < it->prefix_len ||
                           memcmp(it->k.mv_data, it->prefix, it->prefix_len) != 0))
        return false;
    return true;
}

bool check_shape(check_run *r, const check_iter *it, size_t key_len, size_t val_len)
{
    if ((key_len == CHECK_ANY_LEN || it->k.mv_size == key_len) &&
        (val_len == CHECK_ANY_LEN || it->v.mv_size == val_len))
        return true;
    check_report(r, "record.format", "%s: a record of %zu/%zu bytes (key/value)",
                 store_db_name(it->db), it->k.mv_size, it->v.mv_size);
    return false;
}

void check_iter_end(check_iter *it)
{
    if (it->cur)
        mdb_cursor_close(it->cur);
    it->cur = NULL;
}

/* ---- record loaders ---- */

bool check_load_reservation(check_run *r, uint64_t id, rec_reservation *out)
{
    unsigned char key[8];
    key_put_u64(key, id);
    MDB_val v;
    if (check_get(r, DB_RESERVATIONS, key, sizeof key, &v) != 0)
        return false;
    if (v.mv_size != sizeof *out)
        return false;   /* the reservations walk reports the shape */
    memcpy(out, v.mv_data, sizeof *out);
    return true;
}

bool check_load_schedule(check_run *r, uint64_t id, schedule_view *out)
{
    unsigned char key[8];
    key_put_u64(key, id);
    MDB_val v;
    if (check_get(r, DB_SCHEDULES, key, sizeof key, &v) != 0 || v.mv_size < sizeof out->rec)
        return false;
    memcpy(&out->rec, v.mv_data, sizeof out->rec);
    if (out->rec.seats < 1 || out->rec.seats > STORE_SEATS_MAX ||
        v.mv_size != sizeof out->rec + (size_t)out->rec.seats * sizeof(int64_t))
        return false;
    out->prices = (const unsigned char *)v.mv_data + sizeof out->rec;
    return true;
}

bool check_load_seat(check_run *r, uint64_t schedule_id, uint32_t seat_no, rec_seat *out)
{
    unsigned char key[SEAT_KEY_LEN];
    seat_key(key, schedule_id, seat_no);
    MDB_val v;
    if (check_get(r, DB_SEATS, key, sizeof key, &v) != 0 || v.mv_size != sizeof *out)
        return false;
    memcpy(out, v.mv_data, sizeof *out);
    return true;
}

bool check_parse_payment(check_run *r, uint64_t id, const MDB_val *v, check_payment *out)
{
    (void)r;
    (void)id;
    if (v->mv_size < sizeof out->rec)
        return false;
    memcpy(&out->rec, v->mv_data, sizeof out->rec);
    uint32_t n = out->rec.n_reservations;
    if (n < 1 || n > STORE_HOLDS_MAX || v->mv_size != sizeof out->rec + (size_t)n * sizeof(uint64_t))
        return false;
    memcpy(out->ids, (const unsigned char *)v->mv_data + sizeof out->rec, (size_t)n * sizeof(uint64_t));
    return true;
}

bool check_load_payment(check_run *r, uint64_t id, check_payment *out)
{
    unsigned char key[8];
    key_put_u64(key, id);
    MDB_val v;
    if (check_get(r, DB_PAYMENTS, key, sizeof key, &v) != 0)
        return false;
    return check_parse_payment(r, id, &v, out);
}

/* ---- vectors ---- */

void check_vec_init(check_vec *v, size_t item_size)
{
    *v = (check_vec){ .size = item_size };
}

bool check_vec_push(check_run *r, check_vec *v, const void *item)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        unsigned char *items = realloc(v->items, cap * v->size);
        if (!items) {
            check_oom(r);
            return false;
        }
        v->items = items;
        v->cap = cap;
    }
    memcpy(v->items + v->n * v->size, item, v->size);
    v->n++;
    return true;
}

void *check_vec_at(const check_vec *v, size_t i)
{
    return v->items + i * v->size;
}

void check_vec_sort(check_vec *v, int (*cmp)(const void *, const void *))
{
    if (v->n > 1)
        qsort(v->items, v->n, v->size, cmp);
}

void check_vec_free(check_vec *v)
{
    free(v->items);
    *v = (check_vec){ .size = v->size };
}

