/*  cmd_status.c: `foundryctl status`, the broker's one-row status table
 *  (uptime, messages, streams, connections, principals, store size) shown
 *  as "name  value" lines or one JSON object. Only asks; changes nothing.
 */
#include "ctl.h"

static int
s_status(const fdy_ctl_args_t *args)
{
    return fdy_ctl_conn_run(args, "status", NULL, FDY_CTL_SHOW_RECORD, NULL);
}

static const fdy_ctl_cmd_t s_commands[] = {
    {
        .words = "status",
        .synopsis = "",
        .summary = "show the broker's status (uptime, messages, streams, principals, store)",
        .notes = "Human output: one \"name  value\" line per field. --json: one object.",
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_status,
    },
};

const fdy_ctl_group_t fdy_cmd_status_group = {
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
};
