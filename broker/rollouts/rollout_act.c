/*  rollout_act.c: what the engine's node flags mean outside it
 *  (rollouts_core.h). A model rollout's start is a MODEL_NOTICE (or the
 *  node's next WATCH reply), its cancel a notice with cancel set; a fleet
 *  job rollout's start is one job pinned to the node, its cancel that job's
 *  cancel, and the job's end is the node's end. Every change marks the
 *  rollout for the turn's commit, which carries the new jobs too.
 */
#include "rollouts_core.h"

#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void
s_start_model(fdy_rollouts_t *self, fdy_rollout_t *r, fdy_rollout_node_t *n)
{
    /* Not connected: its next WATCH reply carries the notice (pending hook). */
    if (self->models)
        (void) fdy_models_notify(self->models, n->name, r->rec.id, r->options.model,
                                 r->options.version, false);
}

static void
s_start_job(fdy_rollouts_t *self, fdy_rollout_t *r, fdy_rollout_node_t *n, uint64_t now_ms)
{
    char submitter[FDY_NAME_MAX];
    snprintf(submitter, sizeof submitter, "rollout-%" PRIu64, r->rec.id);
    const char *sites[] = {n->site};
    fdy_job_spec_t spec = {
        .type = r->options.job_type,
        .payload = (const uint8_t *) r->options.job_data,
        .payload_len = strlen(r->options.job_data),
        .sites = sites,
        .site_count = 1,
        .timeout_ms = r->options.job_timeout_ms,
        /* One attempt: the rollout's own criteria decide what a failure
         * means, not the job's retries. */
        .max_attempts = 1,
        .node = n->name,
    };
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err =
        self->jobs ? fdy_jobs_submit_as_broker(self->jobs, submitter, &spec, &n->job_id, &why)
                   : fdy_reason_set(&why, FOUNDRY_EINVAL, "no jobs service");
    if (err != FOUNDRY_OK) {
        (void) fdy_rollout_engine_report(r, n->name, FDY_RNODE_FAILED, why.text, 0, 0, now_ms);
        return;
    }
    char text[64];
    snprintf(text, sizeof text, "job %" PRIu64, n->job_id);
    snprintf(n->reason, sizeof n->reason, "%s", text);
}

/* A fleet job's state as the node's. */
static void
s_follow_job(fdy_rollouts_t *self, fdy_rollout_t *r, fdy_rollout_node_t *n, uint64_t now_ms)
{
    if (!self->jobs || n->job_id == 0)
        return;
    const char *state = NULL, *error = NULL;
    char text[FDY_ROLLOUT_TEXT_MAX];
    if (!fdy_jobs_state(self->jobs, n->job_id, &state, &error)) {
        snprintf(text, sizeof text, "job %" PRIu64 " is gone", n->job_id);
        (void) fdy_rollout_engine_report(r, n->name, FDY_RNODE_FAILED, text, 0, 0, now_ms);
        return;
    }
    if (strcmp(state, "succeeded") == 0) {
        snprintf(text, sizeof text, "job %" PRIu64 " succeeded", n->job_id);
        (void) fdy_rollout_engine_report(r, n->name, FDY_RNODE_HEALTHY, text, 0, 0, now_ms);
    } else if (strcmp(state, "leased") == 0 || strcmp(state, "running") == 0) {
        snprintf(text, sizeof text, "job %" PRIu64 " %s", n->job_id, state);
        (void) fdy_rollout_engine_report(r, n->name, FDY_RNODE_RUNNING, text, 0, 0, now_ms);
    } else if (strcmp(state, "queued") != 0) {
        /* failed, dead, cancelled, expired */
        snprintf(text, sizeof text, "job %" PRIu64 " %s: %s", n->job_id, state,
                 error && *error ? error : "no error text");
        (void) fdy_rollout_engine_report(r, n->name, FDY_RNODE_FAILED, text, 0, 0, now_ms);
    }
}

/* A label-filtered rollout's pending node of the current wave learns its
 * labels once the node registered for jobs (or WATCHed: the hook). */
static void
s_learn_labels(fdy_rollouts_t *self, fdy_rollout_t *r, fdy_rollout_node_t *n, uint64_t now_ms)
{
    char buf[FDY_JOB_LABELS_MAX * (FDY_JOB_LABEL_MAX + 1)];
    const char *labels[FDY_JOB_LABELS_MAX];
    int count =
        fdy_rollouts_node_labels(self, n->name, buf, sizeof buf, labels, FDY_JOB_LABELS_MAX);
    if (count >= 0)
        (void) fdy_rollout_engine_labels(r, n->name, labels, (size_t) count, now_ms);
}

void
fdy_rollout_act(fdy_rollouts_t *self, fdy_rollouts_item_t *item, uint64_t now_ms)
{
    fdy_rollout_t *r = &item->rollout;
    bool jobs = r->options.kind == FDY_ROLLOUT_JOB;
    bool live = r->rec.state <= FDY_ROLLOUT_PAUSED;
    for (size_t i = 0; i < r->rec.node_count; i++) {
        fdy_rollout_node_t *n = &r->rec.nodes[i];
        if (live && r->options.label_count && n->state == FDY_RNODE_PENDING &&
            n->wave == r->rec.wave && !(n->flags & FDY_RNODE_LABELS))
            s_learn_labels(self, r, n, now_ms);
        if (n->flags & FDY_RNODE_START_DUE) {
            n->flags &= (uint8_t) ~FDY_RNODE_START_DUE;
            r->dirty = true;
            self->nodes_started++;
            if (jobs)
                s_start_job(self, r, n, now_ms);
            else
                s_start_model(self, r, n);
        }
        if (n->flags & FDY_RNODE_CANCEL_DUE) {
            bool done = true;
            if (jobs && self->jobs && n->job_id) {
                char why[64];
                snprintf(why, sizeof why, "rollout %" PRIu64 " aborted", r->rec.id);
                (void) fdy_jobs_cancel(self->jobs, n->job_id, why);
            } else if (!jobs && self->models) {
                /* Not connected: the cancel waits for its next WATCH. */
                done = fdy_models_notify(self->models, n->name, r->rec.id, r->options.model,
                                         r->options.version, true);
            }
            if (done) {
                n->flags &= (uint8_t) ~FDY_RNODE_CANCEL_DUE;
                r->dirty = true;
            }
        }
        if (jobs && (n->state == FDY_RNODE_STARTED || n->state == FDY_RNODE_RUNNING))
            s_follow_job(self, r, n, now_ms);
    }
}
