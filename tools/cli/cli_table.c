/* The command table: one row per command. `help`, tab completion and the
 * dispatcher all read these rows, so a new command is one row and one
 * handler. */
#include "commands.h"

const cli_command cli_commands[] = {
    /* name           synopsis                            summary                                                   method                   min max handler */
    { "help",           "[COMMAND]",                      "list commands, or explain one (help call lists methods)", NULL,                    0, 1,  cmd_help },
    { "ping",           "",                               "check the server is alive and read its clock",           "sys.ping",              0, 0,  cmd_ping },
    { "hello",          "",                               "server name, version, protocol and instance",            "sys.hello",             0, 0,  cmd_hello },
    { "register",       "",                               "create a user and log in as it (secret shown once)",     "user.register",         0, 0,  cmd_register },
    { "login",          "USER SECRET",                    "log in as an existing user",                             "auth.login",            2, 2,  cmd_login },
    { "charge",         "AMOUNT",                         "add AMOUNT KRW to the wallet",                           "wallet.charge",         1, 1,  cmd_charge },
    { "balance",        "",                               "wallet balance",                                         "wallet.balance",        0, 0,  cmd_balance },
    { "history",        "",                               "wallet ledger, newest first",                            "wallet.history",        0, 0,  cmd_history },
    { "concerts",       "",                               "list concerts",                                          "concert.list",          0, 0,  cmd_concerts },
    { "enter",          "[CONCERT]",                      "join a concert's queue (remembers the queue token)",     "queue.enter",           0, 1,  cmd_enter },
    { "status",         "",                               "queue position and state of the remembered token",       "queue.status",          0, 0,  cmd_status },
    { "watch",          "",                               "follow the queue's pushed updates until ACTIVE (Ctrl-C stops)", "queue.watch",      0, 0,  cmd_watch },
    { "unwatch",        "",                               "stop the pushed updates of the remembered token",        "queue.unwatch",         0, 0,  cmd_unwatch },
    { "dates",          "[CONCERT]",                      "future performances with free seats",                    "concert.dates",         0, 1,  cmd_dates },
    { "seats",          "[SCHEDULE]",                     "seat map as JSON, then a grid of price tiers and your holds", "concert.seats",         0, 1,  cmd_seats },
    { "reserve",        "[SCHEDULE] SEAT",                "hold a seat for a few minutes",                          "seat.reserve",          1, 2,  cmd_reserve },
    { "cancel",         "[RID]",                          "release a hold (default: the last one reserved)",        "reservation.cancel",    0, 1,  cmd_cancel },
    { "reservations",   "",                               "your reservations, newest first",                        "reservation.list",      0, 0,  cmd_reservations },
    { "pay",            "[RID...]",                       "pay holds (default: every seat reserved in this shell)", "payment.pay",           0, -1, cmd_pay },
    { "payments",       "",                               "your payments, newest first",                            "payment.list",          0, 0,  cmd_payments },
    { "admin token",    "TOKEN",                          "use TOKEN for admin commands (usher-admin prints one)",  NULL,                    1, 1,  cmd_admin_token },
    { "admin concert",  "TITLE [VENUE]",                  "create a concert",                                       "admin.concert.create",  1, 2,  cmd_admin_concert },
    { "admin schedule", "CONCERT STARTS_AT PRICE [SEATS]", "create a performance (STARTS_AT: epoch ms or +2d, +3h)", "admin.schedule.create", 3, 4,  cmd_admin_schedule },
    { "admin queue get",    "[CONCERT]",                  "a concert's waiting room: waiting, active, rate, paused, throttled", "admin.queue.get", 0, 1, cmd_admin_queue_get },
    { "admin queue set",    "[CONCERT] OPTION VALUE...",   "change it: --max-active N (0: usherd's), --rate PER_MIN (0: no limit), --paused true|false", "admin.queue.set", 2, 7, cmd_admin_queue_set },
    { "admin queue pause",  "[CONCERT]",                  "admit nobody new (positions freeze; entering still works)", "admin.queue.set", 0, 1, cmd_admin_queue_pause },
    { "admin queue resume", "[CONCERT]",                  "admit again",                                            "admin.queue.set",       0, 1,  cmd_admin_queue_resume },
    { "admin queue open",   "CONCERT OPENS_AT",           "pre-queue until OPENS_AT (epoch ms or +1h): early arrivals get random places", "admin.queue.open", 2, 2, cmd_admin_queue_open },
    { "admin revoke",   "USER_ID",                        "end every session and queue token of a user",            "admin.session.revoke",  1, 1,  cmd_admin_revoke },
    { "stats",          "[-i SECONDS]",                   "server figures as tables (admin; -i redraws until Ctrl-C)", "sys.stats",            0, 2,  cmd_stats },
    { "call",           "METHOD [JSON]",                  "send any method with JSON params as given",              NULL,                    1, -1, cmd_call },
    { "send-hex",       "HEX",                            "send raw bytes frame by frame, show each reply",         NULL,                    1, -1, cmd_send_hex },
    { "connect",        "HOST PORT",                      "connect to another server",                              NULL,                    2, 2,  cmd_connect },
    { "quit",           "",                               "leave the shell",                                        NULL,                    0, 0,  cmd_quit },
    { NULL, NULL, NULL, NULL, 0, 0, NULL },
};
