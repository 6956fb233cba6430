/*  cmd_status.c: `foundryctl status`, the broker's one-row status table
 *  (uptime, messages, streams, connections, principals, store size) shown
 *  as "name  value" lines or one JSON object. Only asks; changes nothing.
 */
#include "ctl.h"

int
fdy_cmd_status_run(const fdy_ctl_args_t *args)
{
    fdy_ctl_conn_t *conn = NULL;
    int status = fdy_ctl_conn_open(args, &conn);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_table_t table;
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_ctl_conn_admin(conn, "status", NULL, 0, &table, &reason);
    if (err != FOUNDRY_OK) {
        status = fdy_ctl_conn_report(conn, err, &reason);
        goto out;
    }
    if (table.row_count != 1) {
        status = fdy_output_fail("the broker's status reply has %zu rows, not 1", table.row_count);
        goto out;
    }
    if (fdy_output_record(stdout, &table, 0, true, args->json) != FOUNDRY_OK)
        status = fdy_output_fail("out of memory");
out:
    fdy_ctl_conn_destroy(&conn);
    return status;
}
