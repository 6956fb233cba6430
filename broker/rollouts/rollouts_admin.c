/*  rollouts_admin.c: the rollouts service's admin commands (rollout.start,
 *  .pause, .resume, .abort, .ls, .status; docs/rollouts.md). Each change
 *  is written to the store before its answer leaves, so an acknowledged
 *  start, pause or abort survives a broker SIGKILL. Target nodes are fixed
 *  here, at start: the node keys at the targeted sites, in name order.
 */
#include "rollouts_core.h"

#include "admin_table.h"
#include "log.h"
#include "registry.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABELS_TEXT_MAX (FDY_JOB_LABELS_MAX * (FDY_JOB_LABEL_MAX + 1))

static foundry_err
s_id_arg(fdy_rollouts_t *self, const fdy_admin_call_t *call, fdy_rollouts_item_t **item_out,
         fdy_reason_t *reason)
{
    uint64_t id = 0;
    foundry_err err = fdy_admin_arg_uint(call, "id", 0, &id, reason);
    if (err != FOUNDRY_OK)
        return err;
    *item_out = fdy_rollouts_get(self, id);
    if (!*item_out)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no rollout %" PRIu64, id);
    return FOUNDRY_OK;
}

/* ---- rollout.start ------------------------------------------------------------ */

static bool
s_manifest_site_ok(const fdy_model_manifest_t *m, const char *site)
{
    if (!m || m->site_count == 0)
        return true;
    for (size_t i = 0; i < m->site_count; i++)
        if (strcmp(m->sites[i], site) == 0)
            return true;
    return false;
}

/* The args to store: the caller's, plus the manifest's labels as label=
 * filters, so the stored rollout needs no manifest to mean the same. */
static void
s_copy_args(fdy_rollout_record_t *rec, const fdy_admin_call_t *call, const fdy_model_manifest_t *m)
{
    size_t extra = m ? m->label_count : 0;
    rec->args = fdy_xalloc((call->arg_count + extra + 1) * sizeof *rec->args);
    for (size_t i = 0; i < call->arg_count; i++)
        rec->args[rec->arg_count++] = fdy_xstrdup(call->args[i]);
    for (size_t i = 0; i < extra; i++) {
        size_t len = strlen(m->labels[i]) + 7;
        char *arg = fdy_xalloc(len);
        snprintf(arg, len, "label=%s", m->labels[i]);
        rec->args[rec->arg_count++] = arg;
    }
}

/* Target nodes (sorted by name: the registry's order) and their waves. */
static foundry_err
s_targets(fdy_rollouts_t *self, fdy_rollouts_item_t *item, const fdy_model_manifest_t *m,
          uint64_t now, fdy_reason_t *reason)
{
    fdy_rollout_t *r = &item->rollout;
    size_t total = fdy_registry_count(self->deps.registry);
    fdy_rollout_target_t *targets = fdy_xalloc((total ? total : 1) * sizeof *targets);
    uint32_t *waves = fdy_xalloc((total ? total : 1) * sizeof *waves);
    size_t count = 0;
    for (size_t i = 0; i < total; i++) {
        const fdy_principal_t *p = fdy_registry_at(self->deps.registry, i);
        if (p->role != FDY_ROLE_NODE || p->revoked ||
            !fdy_rollout_options_site_ok(&r->options, p->site) || !s_manifest_site_ok(m, p->site))
            continue;
        targets[count++] = (fdy_rollout_target_t){p->name, p->site};
    }
    fdy_rollout_plan_assign(&r->options.waves, targets, count, waves);
    r->rec.nodes = fdy_xalloc((count ? count : 1) * sizeof *r->rec.nodes);
    for (size_t i = 0; i < count; i++) {
        if (waves[i] == FDY_ROLLOUT_NO_WAVE)
            continue;
        fdy_rollout_node_t *n = &r->rec.nodes[r->rec.node_count++];
        snprintf(n->name, sizeof n->name, "%s", targets[i].name);
        snprintf(n->site, sizeof n->site, "%s", targets[i].site);
        n->wave = waves[i];
        n->state = FDY_RNODE_PENDING;
        n->total_bytes = m ? m->size : 0;
        n->updated_ms = now;
    }
    free(targets);
    free(waves);
    if (r->rec.node_count == 0) {
        if (count == 0)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "no target nodes: no node key at the %s",
                                  r->options.site_count || (m && m->site_count) ? "targeted sites"
                                                                                : "broker");
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "no target nodes: waves=%s takes none of the %zu node keys",
                              r->options.waves_spec, count);
    }
    if (r->options.label_count) {
        char buf[LABELS_TEXT_MAX];
        const char *labels[FDY_JOB_LABELS_MAX];
        for (size_t i = 0; i < r->rec.node_count; i++) {
            int n = fdy_rollouts_node_labels(self, r->rec.nodes[i].name, buf, sizeof buf, labels,
                                             FDY_JOB_LABELS_MAX);
            if (n >= 0)
                fdy_rollout_engine_labels(r, r->rec.nodes[i].name, labels, (size_t) n, now);
        }
    }
    return FOUNDRY_OK;
}

static const char *const s_id_columns[] = {"id"};
static const fdy_col_type_t s_id_types[] = {FDY_COL_INT};

static foundry_err
s_start(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    fdy_rollouts_t *self = self_;
    fdy_rollouts_item_t *item = fdy_xalloc(sizeof *item);
    fdy_rollout_t *r = &item->rollout;
    uint64_t now = fdy_rollouts_wall_ms();
    const fdy_model_manifest_t *manifest = NULL;
    foundry_err err = fdy_rollout_options_parse(call->args, call->arg_count, &r->options, reason);
    if (err == FOUNDRY_OK && r->options.kind == FDY_ROLLOUT_MODEL) {
        fdy_models_release_t rel;
        if (!self->models)
            err = fdy_reason_set(reason, FOUNDRY_EINVAL, "this broker has no models service");
        else
            err = fdy_models_release(self->models, r->options.model, r->options.version, &rel,
                                     reason);
        manifest = err == FOUNDRY_OK ? rel.manifest : NULL;
    }
    if (err == FOUNDRY_OK && r->options.kind == FDY_ROLLOUT_JOB && !self->jobs)
        err = fdy_reason_set(reason, FOUNDRY_EINVAL, "this broker has no jobs service");
    if (err == FOUNDRY_OK) {
        r->rec.id = self->next_id;
        r->rec.state = FDY_ROLLOUT_RUNNING;
        r->rec.created_ms = now;
        r->rec.updated_ms = now;
        s_copy_args(&r->rec, call, manifest);
        /* Parsed again from the stored args: what a restart will see. */
        err = fdy_rollouts_item_parse(item, reason);
    }
    if (err == FOUNDRY_OK)
        err = s_targets(self, item, manifest, now, reason);
    if (err == FOUNDRY_OK)
        err = fdy_store_rollouts_put(self->deps.store, &r->rec, reason);
    if (err == FOUNDRY_OK)
        err = fdy_admin_table_begin(out, call->arena, s_id_columns, s_id_types, 1, 1, reason);
    fdy_slice_t *row = err == FOUNDRY_OK ? fdy_admin_row_add(out) : NULL;
    if (err == FOUNDRY_OK && (!row || !fdy_admin_cell_int(out, &row[0], r->rec.id)))
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    if (err != FOUNDRY_OK) {
        fdy_rollouts_item_destroy(&item);
        return err;
    }
    r->dirty = false; /* just written */
    fdy_rollouts_add(self, item);
    self->started++;
    char target[FDY_ROLLOUT_TEXT_MAX];
    fdy_rollout_options_target(&r->options, target, sizeof target);
    fdy_log_notice("ROLLOUT-START", "rollout %" PRIu64 " of %s by %s: %zu nodes in %zu waves",
                   r->rec.id, target, call->caller->name, r->rec.node_count,
                   r->options.waves.count);
    return FOUNDRY_OK;
}

/* ---- pause, resume, abort --------------------------------------------------------- */

static const char *const s_state_columns[] = {"id", "state"};
static const fdy_col_type_t s_state_types[] = {FDY_COL_INT, FDY_COL_TEXT};

typedef enum { ACT_PAUSE, ACT_RESUME, ACT_ABORT } s_act_t;

static foundry_err
s_change(fdy_rollouts_t *self, const fdy_admin_call_t *call, fdy_admin_table_t *out, s_act_t act,
         fdy_reason_t *reason)
{
    fdy_rollouts_item_t *item;
    foundry_err err = s_id_arg(self, call, &item, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_rollout_t *r = &item->rollout;
    uint64_t now = fdy_rollouts_wall_ms();
    char why[FDY_ROLLOUT_TEXT_MAX];
    /* Work on a copy of the durable fields: if the store refuses, nothing
     * changed. */
    fdy_rollout_record_t saved = r->rec;
    fdy_rollout_node_t *nodes =
        fdy_xalloc((r->rec.node_count ? r->rec.node_count : 1) * sizeof *nodes);
    if (r->rec.node_count)
        memcpy(nodes, r->rec.nodes, r->rec.node_count * sizeof *nodes);
    bool was_dirty = r->dirty;
    if (act == ACT_PAUSE) {
        snprintf(why, sizeof why, "paused by %s", call->caller->name);
        err = fdy_rollout_engine_pause(r, FDY_PAUSE_ADMIN, why, now, reason);
    } else if (act == ACT_RESUME) {
        err = fdy_rollout_engine_resume(r, now, reason);
    } else {
        snprintf(why, sizeof why, "aborted by %s", call->caller->name);
        err = fdy_rollout_engine_abort(r, why, now, reason);
    }
    if (err == FOUNDRY_OK)
        err = fdy_store_rollouts_put(self->deps.store, &r->rec, reason);
    if (err != FOUNDRY_OK) {
        fdy_rollout_node_t *live = r->rec.nodes;
        r->rec = saved;
        r->rec.nodes = live;
        memcpy(live, nodes, r->rec.node_count * sizeof *nodes);
        r->dirty = was_dirty;
        free(nodes);
        return err;
    }
    free(nodes);
    r->dirty = was_dirty; /* whatever else changed is still owed */
    if (act == ACT_ABORT)
        self->aborted++;
    fdy_log_notice("ROLLOUT-STATE", "rollout %" PRIu64 " %s by %s", r->rec.id,
                   fdy_rollout_state_name(r->rec.state), call->caller->name);
    err = fdy_admin_table_begin(out, call->arena, s_state_columns, s_state_types, 2, 1, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_slice_t *row = fdy_admin_row_add(out);
    if (!row || !fdy_admin_cell_int(out, &row[0], r->rec.id) ||
        !fdy_admin_cell_text(out, &row[1], fdy_rollout_state_name(r->rec.state)))
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    return FOUNDRY_OK;
}

static foundry_err
s_pause_cmd(void *self, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    return s_change(self, call, out, ACT_PAUSE, reason);
}

static foundry_err
s_resume_cmd(void *self, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    return s_change(self, call, out, ACT_RESUME, reason);
}

static foundry_err
s_abort_cmd(void *self, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    return s_change(self, call, out, ACT_ABORT, reason);
}

/* ---- rollout.ls, rollout.status ------------------------------------------------------ */

static const char *const s_ls_columns[] = {
    "id", "target", "state", "wave", "nodes", "healthy", "failed", "reason",
};
static const fdy_col_type_t s_ls_types[] = {
    FDY_COL_INT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT,
    FDY_COL_INT, FDY_COL_INT,  FDY_COL_INT,  FDY_COL_TEXT,
};

/* The rollout's reason, or why its current wave waits (rate, labels). */
static void
s_reason(const fdy_rollout_t *r, uint64_t now, char *buf, size_t size)
{
    snprintf(buf, size, "%s", r->rec.reason);
    if (buf[0] || r->rec.state != FDY_ROLLOUT_RUNNING)
        return;
    for (size_t i = 0; i < r->rec.node_count && !buf[0]; i++)
        if (r->rec.nodes[i].wave == r->rec.wave)
            fdy_rollout_engine_waiting(r, &r->rec.nodes[i], now, buf, size);
}

static foundry_err
s_ls(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    fdy_rollouts_t *self = self_;
    foundry_err err = fdy_admin_table_begin(out, call->arena, s_ls_columns, s_ls_types, 8,
                                            self->item_count ? self->item_count : 1, reason);
    if (err != FOUNDRY_OK)
        return err;
    uint64_t now = fdy_rollouts_wall_ms();
    for (size_t i = 0; i < self->item_count; i++) {
        const fdy_rollout_t *r = &self->items[i]->rollout;
        char target[FDY_ROLLOUT_TEXT_MAX], wave[32], why[FDY_ROLLOUT_TEXT_MAX];
        fdy_rollout_options_target(&r->options, target, sizeof target);
        size_t shown =
            r->rec.wave < r->options.waves.count ? r->rec.wave + 1 : r->options.waves.count;
        snprintf(wave, sizeof wave, "%zu/%zu", shown, r->options.waves.count);
        s_reason(r, now, why, sizeof why);
        fdy_rollout_counts_t c;
        fdy_rollout_engine_counts(r, &c);
        fdy_slice_t *row = fdy_admin_row_add(out);
        bool ok =
            row && fdy_admin_cell_int(out, &row[0], r->rec.id) &&
            fdy_admin_cell_text(out, &row[1], target) &&
            fdy_admin_cell_text(out, &row[2], fdy_rollout_state_name(r->rec.state)) &&
            fdy_admin_cell_text(out, &row[3], wave) && fdy_admin_cell_int(out, &row[4], c.nodes) &&
            fdy_admin_cell_int(out, &row[5], c.healthy) &&
            fdy_admin_cell_int(out, &row[6], c.failed) && fdy_admin_cell_text(out, &row[7], why);
        if (!ok)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    }
    return FOUNDRY_OK;
}

static const char *const s_status_columns[] = {
    "wave", "site", "node", "state", "done_bytes", "total_bytes", "reason", "updated",
};
static const fdy_col_type_t s_status_types[] = {
    FDY_COL_INT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT,
    FDY_COL_INT, FDY_COL_INT,  FDY_COL_TEXT, FDY_COL_INT,
};

static foundry_err
s_status(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    fdy_rollouts_t *self = self_;
    fdy_rollouts_item_t *item;
    foundry_err err = s_id_arg(self, call, &item, reason);
    if (err != FOUNDRY_OK)
        return err;
    const fdy_rollout_t *r = &item->rollout;
    err = fdy_admin_table_begin(out, call->arena, s_status_columns, s_status_types, 8,
                                r->rec.node_count ? r->rec.node_count : 1, reason);
    if (err != FOUNDRY_OK)
        return err;
    uint64_t now = fdy_rollouts_wall_ms();
    for (size_t i = 0; i < r->rec.node_count; i++) {
        const fdy_rollout_node_t *n = &r->rec.nodes[i];
        char why[FDY_ROLLOUT_TEXT_MAX];
        snprintf(why, sizeof why, "%s", n->reason);
        if (!why[0])
            fdy_rollout_engine_waiting(r, n, now, why, sizeof why);
        fdy_slice_t *row = fdy_admin_row_add(out);
        bool ok = row && fdy_admin_cell_int(out, &row[0], (uint64_t) n->wave + 1) &&
                  fdy_admin_cell_text(out, &row[1], n->site) &&
                  fdy_admin_cell_text(out, &row[2], n->name) &&
                  fdy_admin_cell_text(out, &row[3], fdy_rollout_node_state_name(n->state)) &&
                  fdy_admin_cell_int(out, &row[4], n->done_bytes) &&
                  fdy_admin_cell_int(out, &row[5], n->total_bytes) &&
                  fdy_admin_cell_text(out, &row[6], why) &&
                  fdy_admin_cell_int(out, &row[7], n->updated_ms);
        if (!ok)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    }
    return FOUNDRY_OK;
}

static const fdy_admin_arg_spec_t s_start_args[] = {
    {"model", false, false},
    {"job", false, false},
    {"waves", false, false},
    {"rate", false, false},
    {"soak", false, false},
    {"success", false, false},
    {"abort_failures", false, false},
    {"abort_rate", false, false},
    {"gate", false, true},
    {"site", false, true},
    {"label", false, true},
    {"data", false, false},
    {"timeout", false, false},
};
static const fdy_admin_arg_spec_t s_id_spec[] = {{"id", true, false}};
#define ARGS(a) (sizeof a / sizeof a[0])

static const fdy_admin_command_t s_commands[] = {
    {"rollout.start", s_start_args, ARGS(s_start_args), s_start},
    {"rollout.pause", s_id_spec, ARGS(s_id_spec), s_pause_cmd},
    {"rollout.resume", s_id_spec, ARGS(s_id_spec), s_resume_cmd},
    {"rollout.abort", s_id_spec, ARGS(s_id_spec), s_abort_cmd},
    {"rollout.ls", NULL, 0, s_ls},
    {"rollout.status", s_id_spec, ARGS(s_id_spec), s_status},
};

const char *const fdy_rollouts_admin_prefixes[] = {"rollout.", NULL};

foundry_err
fdy_rollouts_admin(void *self, const fdy_admin_call_t *call, fdy_admin_table_t *out,
                   fdy_reason_t *reason)
{
    return fdy_admin_dispatch(self, s_commands, ARGS(s_commands), call, out, reason);
}
