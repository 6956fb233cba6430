/*  jobs_admin.c: the jobs service's admin command, node.ls (the node
 *  agents that take jobs). Jobs themselves are submitted, listed, shown,
 *  cancelled and retried through JOB requests, by admins as by partners
 *  (foundryctl job ... uses libfoundry), so every change is committed
 *  before its reply.
 */
#include "jobs_core.h"

#include "admin_table.h"

#include <stdio.h>

static const char *const s_node_columns[] = {
    "site", "name", "labels", "slots", "busy", "last_heartbeat_ms", "connected",
};
static const fdy_col_type_t s_node_types[] = {
    FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_INT, FDY_COL_INT, FDY_COL_INT,
};
#define NODE_COLUMNS (sizeof s_node_columns / sizeof s_node_columns[0])

static foundry_err
s_node_ls(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    fdy_jobs_t *self = self_;
    size_t count = fdy_job_nodes_count(self->nodes);
    foundry_err err = fdy_admin_table_begin(out, call->arena, s_node_columns, s_node_types,
                                            NODE_COLUMNS, count ? count : 1, reason);
    if (err != FOUNDRY_OK)
        return err;
    for (size_t i = 0; i < count; i++) {
        const fdy_job_node_t *node = fdy_job_nodes_at(self->nodes, i);
        const char *labels[FDY_JOB_LABELS_MAX];
        char slot_text[FDY_JOB_LABELS_MAX][FDY_JOB_TYPE_MAX + 16];
        const char *slots[FDY_JOB_LABELS_MAX];
        for (size_t l = 0; l < node->label_count; l++)
            labels[l] = node->labels[l];
        for (size_t s = 0; s < node->slot_count; s++) {
            snprintf(slot_text[s], sizeof slot_text[s], "%s:%u", node->slots[s].type,
                     node->slots[s].credit);
            slots[s] = slot_text[s];
        }
        fdy_slice_t *row = fdy_admin_row_add(out);
        bool ok = row && fdy_admin_cell_text(out, &row[0], node->site) &&
                  fdy_admin_cell_text(out, &row[1], node->name) &&
                  fdy_admin_cell_join(out, &row[2], labels, node->label_count) &&
                  fdy_admin_cell_join(out, &row[3], slots, node->slot_count) &&
                  fdy_admin_cell_int(out, &row[4], node->busy) &&
                  fdy_admin_cell_int(out, &row[5], node->last_seen_wall_ms) &&
                  fdy_admin_cell_int(out, &row[6], node->connected ? 1 : 0);
        if (!ok)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    }
    return FOUNDRY_OK;
}

static const fdy_admin_command_t s_commands[] = {
    {"node.ls", NULL, 0, s_node_ls},
};

const char *const fdy_jobs_admin_prefixes[] = {"node.", NULL};

foundry_err
fdy_jobs_admin(void *self, const fdy_admin_call_t *call, fdy_admin_table_t *out,
               fdy_reason_t *reason)
{
    return fdy_admin_dispatch(self, s_commands, sizeof s_commands / sizeof s_commands[0], call, out,
                              reason);
}
