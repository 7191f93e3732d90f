/* Handlers of usher-cli's commands, one per row of the command table
 * (cli_table.c). Each returns CLI_OK or CLI_FAILED and prints its own output. */
#ifndef USHER_CLI_COMMANDS_H
#define USHER_CLI_COMMANDS_H

#include "cli.h"

/* cmd_account.c */
cli_handler cmd_ping, cmd_hello, cmd_register, cmd_login, cmd_charge, cmd_balance, cmd_history;
/* cmd_queue.c */
cli_handler cmd_concerts, cmd_enter, cmd_status, cmd_watch, cmd_unwatch;
/* cmd_seats.c */
cli_handler cmd_dates, cmd_seats, cmd_reserve, cmd_cancel, cmd_reservations, cmd_pay, cmd_payments;
/* cmd_admin.c */
cli_handler cmd_admin_token, cmd_admin_concert, cmd_admin_schedule, cmd_admin_revoke;
/* cmd_admin_queue.c */
cli_handler cmd_admin_queue_get, cmd_admin_queue_set, cmd_admin_queue_pause, cmd_admin_queue_resume,
            cmd_admin_queue_open;
/* cmd_stats.c */
cli_handler cmd_stats;
/* cmd_raw.c */
cli_handler cmd_call, cmd_send_hex;
/* cmd_shell.c */
cli_handler cmd_help, cmd_connect, cmd_quit;

#endif
