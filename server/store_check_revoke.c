/* Checks of the revocations (store_revoke.c): each names a user that
 * exists (only a known user can be revoked, and users are never deleted),
 * and the version key counts at least every revoked user (each revocation
 * bumps it once, and a user's first one adds their key). */
#include "store_check_internal.h"

#define USER_KEY_LEN sizeof(((user_id *)0)->bytes)

void store_check_revoke(check_run *r)
{
    if (r->t->st->revocations_absent) return;
    uint64_t users = 0, version = 0;
    bool has_version = false;
    char u[CHECK_USER_STR];
    check_iter it;
    check_iter_init(&it, DB_REVOCATIONS, NULL, 0);
    while (check_iter_next(r, &it)) {
        if (it.k.mv_size != USER_KEY_LEN) {
            if (it.k.mv_size == 7 && memcmp(it.k.mv_data, "version", 7) == 0 &&
                it.v.mv_size == sizeof version) {
                memcpy(&version, it.v.mv_data, sizeof version);
                has_version = true;
            } else {
                check_report(r, "record.format", "revocations: a record of %zu/%zu bytes (key/value)",
                             it.k.mv_size, it.v.mv_size);
            }
            continue;
        }
        if (!check_shape(r, &it, USER_KEY_LEN, sizeof(int64_t))) continue;
        users++;
        user_id user;
        memcpy(user.bytes, it.k.mv_data, USER_KEY_LEN);
        if (!check_has_key(r, DB_USERS, user.bytes, USER_KEY_LEN, NULL) && !r->stop)
            check_report(r, "revocation.user", "revocation of user %s, who does not exist",
                         check_user_str(&user, u));
    }
    check_iter_end(&it);
    if (!r->stop && users > version)
        check_report(r, "revocation.user", "revocations: %llu users revoked but version %s%llu",
                     (unsigned long long)users, has_version ? "" : "absent, ",
                     (unsigned long long)version);
}
