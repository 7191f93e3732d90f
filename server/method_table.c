/* The method table: one declarative row per protocol method. Adding a method
 * is one row here, one handler, one line in protocol/methods.def and its
 * section in PROTOCOL.md (a test checks all three agree). */
#include <string.h>
#include "method.h"
#include "methods/handlers.h"

#define W METHOD_WRITE
#define SESSION METHOD_NEEDS_SESSION
#define QUEUE METHOD_NEEDS_QUEUE_TOKEN
#define ACTIVE METHOD_NEEDS_ACTIVE_QUEUE
#define ADMIN METHOD_ADMIN
#define IDEM METHOD_IDEMPOTENT
#define PRE METHOD_PRECHECK

static const method_def table[] = {
    /* id                              handler               flags                fingerprint */
    { USHER_METHOD_SYS_PING,              sys_ping,              0,                   NULL },
    { USHER_METHOD_SYS_HELLO,             sys_hello,             0,                   NULL },
    { USHER_METHOD_SYS_STATS,             sys_stats,             ADMIN,               NULL },
    { USHER_METHOD_USER_REGISTER,         user_register,         W,                   NULL },
    { USHER_METHOD_AUTH_LOGIN,            auth_login,            0,                   NULL },
    { USHER_METHOD_WALLET_BALANCE,        wallet_balance,        SESSION,             NULL },
    { USHER_METHOD_WALLET_CHARGE,         wallet_charge,         W | SESSION | IDEM,  wallet_charge_fingerprint },
    { USHER_METHOD_WALLET_HISTORY,        wallet_history,        SESSION,             NULL },
    { USHER_METHOD_CONCERT_LIST,          concert_list,          0,                   NULL },
    { USHER_METHOD_QUEUE_ENTER,           queue_enter,           W | SESSION,         NULL },
    { USHER_METHOD_QUEUE_STATUS,          queue_status,          QUEUE,               NULL },
    { USHER_METHOD_QUEUE_WATCH,           queue_watch,           QUEUE,               NULL },
    { USHER_METHOD_QUEUE_UNWATCH,         queue_unwatch,         QUEUE,               NULL },
    { USHER_METHOD_CONCERT_DATES,         concert_dates,         ACTIVE,              NULL },
    { USHER_METHOD_CONCERT_SEATS,         concert_seats,         ACTIVE,              NULL },
    { USHER_METHOD_SEAT_RESERVE,          seat_reserve,          W | ACTIVE | PRE,    NULL },
    { USHER_METHOD_RESERVATION_CANCEL,    reservation_cancel,    W | SESSION,         NULL },
    { USHER_METHOD_RESERVATION_LIST,      reservation_list,      SESSION,             NULL },
    { USHER_METHOD_PAYMENT_PAY,           payment_pay,           W | ACTIVE | IDEM,   payment_pay_fingerprint },
    { USHER_METHOD_PAYMENT_LIST,          payment_list,          SESSION,             NULL },
    { USHER_METHOD_ADMIN_CONCERT_CREATE,  admin_concert_create,  W | ADMIN,           NULL },
    { USHER_METHOD_ADMIN_SCHEDULE_CREATE, admin_schedule_create, W | ADMIN,           NULL },
    { USHER_METHOD_ADMIN_QUEUE_GET,       admin_queue_get,       ADMIN,               NULL },
    { USHER_METHOD_ADMIN_QUEUE_SET,       admin_queue_set,       W | ADMIN,           NULL },
    { USHER_METHOD_ADMIN_QUEUE_OPEN,      admin_queue_open,      W | ADMIN,           NULL },
    { USHER_METHOD_ADMIN_SESSION_REVOKE,  admin_session_revoke,  W | ADMIN,           NULL },
};

const method_def *method_lookup(const char *name, size_t len)
{
    const usher_method_doc *doc = usher_method_find(name, len);
    if (!doc) return NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (usher_method_docs[table[i].id].name == doc->name) return &table[i];
    return NULL;
}

const method_def *method_table(size_t *n)
{
    *n = sizeof table / sizeof table[0];
    return table;
}
