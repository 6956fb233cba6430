/*  jobs_node_requests.c: the JOB requests of node agents (jobs_core.h):
 *  register, credit, result, progress and heartbeat. The node is always
 *  the one of the authenticated key; every result, progress and heartbeat
 *  carries its lease's fence, and a stale one is refused. Changes are
 *  written in the turn's commit like the rest of the jobs service.
 */
#include "jobs_core.h"

#include "log.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

foundry_err
fdy_jobs_node_of(fdy_jobs_t *self, const fdy_request_t *req, fdy_job_node_t **node_out,
                 fdy_reason_t *reason)
{
    if (req->who->role != FDY_ROLE_NODE)
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "only node keys take jobs");
    fdy_job_node_t *node = fdy_job_nodes_by_name(self->nodes, req->who->name);
    if (!node)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "node %s is not registered",
                              req->who->name);
    /* A reconnected agent speaks from a new ROUTER identity. */
    node->peer_len = req->peer.len <= sizeof node->peer ? req->peer.len : 0;
    memcpy(node->peer, req->peer.id, node->peer_len);
    node->connected = node->peer_len > 0;
    node->last_seen_ms = req->now_ms;
    node->last_seen_wall_ms = fdy_jobs_wall_ms();
    *node_out = node;
    return FOUNDRY_OK;
}

foundry_err
fdy_jobs_register(fdy_jobs_t *self, const fdy_request_t *req, const fdy_job_request_t *jr,
           fdy_reason_t *reason)
{
    if (req->who->role != FDY_ROLE_NODE)
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "only node keys register for jobs");
    fdy_job_node_t *node = fdy_job_nodes_register(self->nodes, req->who, &req->peer, jr,
                                                  req->now_ms, fdy_jobs_wall_ms());
    node->site_index = req->site;
    /* Leases it still holds count against its slots. */
    for (uint64_t id = fdy_job_index_first(&self->jobs); id < fdy_job_index_end(&self->jobs);
         id++) {
        fdy_job_t *job = fdy_job_index_get(&self->jobs, id);
        if (job && (job->state == FDY_JOB_LEASED || job->state == FDY_JOB_RUNNING) &&
            job->node && strcmp(job->node, node->name) == 0) {
            fdy_job_slot_t *slot = fdy_job_node_slot(node, job->spec->type);
            if (slot && slot->credit)
                slot->credit--;
        }
    }
    fdy_log_info("JOB-NODE", "node %s at %s registered: %zu types, %zu labels", node->name,
                 node->site, node->slot_count, node->label_count);
    fdy_job_reply_t reply = { 0, false, NULL, 0, NULL, 0 };
    fdy_jobs_send_body(self, &req->peer, FDY_KIND_JOB_REPLY, req->env->request_id, &reply);
    return FOUNDRY_OK;
}

static void
s_add_credit(fdy_job_node_t *node, const char *type, uint32_t credit)
{
    fdy_job_slot_t *slot = type ? fdy_job_node_slot(node, type) : NULL;
    if (slot && credit && slot->credit + credit >= slot->credit)
        slot->credit += credit;
}

foundry_err
fdy_jobs_credit(fdy_jobs_t *self, const fdy_request_t *req, const fdy_job_request_t *jr,
         fdy_reason_t *reason)
{
    fdy_job_node_t *node;
    foundry_err err = fdy_jobs_node_of(self, req, &node, reason);
    if (err != FOUNDRY_OK)
        return err;
    for (size_t i = 0; i < jr->type_count; i++)
        s_add_credit(node, jr->types[i], jr->credit);
    return FOUNDRY_OK;
}

/* The job a node reports on, if its fence is the current one:
 * FOUNDRY_ENOTFOUND (no such job) or FOUNDRY_ESTALE otherwise. */
static foundry_err
s_fenced(fdy_jobs_t *self, const char *node, uint64_t id, uint64_t fence, fdy_job_t **job_out,
         fdy_reason_t *reason)
{
    *job_out = NULL;
    fdy_job_t *job = fdy_jobs_get(self, id);
    if (!job)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no job %" PRIu64, id);
    bool live = job->state == FDY_JOB_LEASED || job->state == FDY_JOB_RUNNING;
    if (!live || fence != job->fence || !job->node || strcmp(job->node, node) != 0) {
        self->stale_refused++;
        fdy_log_limited(FDY_LOG_NOTICE, "JOB-STALE",
                        "job %" PRIu64 " from %s: fence %" PRIu64 " refused (current %" PRIu64
                        ", %s)",
                        id, node, fence, job->fence, fdy_job_state_name(job->state));
        return fdy_reason_set(reason, FOUNDRY_ESTALE,
                              "job %" PRIu64 ": fence %" PRIu64 " is stale (current %" PRIu64
                              ", %s)",
                              id, fence, job->fence, fdy_job_state_name(job->state));
    }
    *job_out = job;
    return FOUNDRY_OK;
}

/* True when the attempt with this fence already ended by a result of this
 * node (not by a cancel, a timeout or a lost lease). */
static bool
s_reported(const fdy_job_t *job, const char *node, uint64_t fence)
{
    for (size_t i = job->try_count; i > 0; i--) {
        const fdy_job_try_t *t = &job->tries[i - 1];
        if (t->fence != fence)
            continue;
        return t->node && strcmp(t->node, node) == 0 && t->state &&
               (strcmp(t->state, "succeeded") == 0 || strcmp(t->state, "failed") == 0);
    }
    return false;
}

foundry_err
fdy_jobs_result_one(fdy_jobs_t *self, const fdy_request_t *req, fdy_job_node_t *node,
                    const fdy_job_result_item_t *jr, fdy_jobs_item_t *item, fdy_reason_t *reason)
{
    memset(item, 0, sizeof *item);
    item->job_id = jr->job_id;
    fdy_job_t *job;
    foundry_err err = s_fenced(self, req->who->name, jr->job_id, jr->fence, &job, reason);
    fdy_job_t *any = fdy_jobs_get(self, jr->job_id);
    if (any && node && jr->credit)
        s_add_credit(node, any->spec->type, jr->credit); /* the slot is free either way */
    if (err == FOUNDRY_ESTALE && s_reported(any, req->who->name, jr->fence)) {
        /* A resend of the result this attempt already reported (its answer
         * was lost with a connection): answered as stored, changes nothing. */
        item->duplicate = true;
        return FOUNDRY_OK;
    }
    if (err != FOUNDRY_OK)
        return err;
    uint64_t now = fdy_jobs_wall_ms();
    fdy_job_set_text(&job->log_tail, jr->log_tail);
    if (jr->ok) {
        if (node && node->busy)
            node->busy--;
        fdy_job_end_attempt(job, "succeeded", NULL, now);
        free(job->result);
        job->result = NULL;
        job->result_len = jr->result_len;
        if (jr->result_len) {
            job->result = fdy_xalloc(jr->result_len);
            memcpy(job->result, jr->result, jr->result_len);
        }
        job->state = FDY_JOB_SUCCEEDED;
        fdy_job_set_text(&job->error, NULL);
        self->succeeded++;
        fdy_jobs_touch(self, job);
    } else {
        fdy_job_sched_attempt_failed(self, job, "failed",
                                     jr->error && *jr->error ? jr->error : "handler failed", now);
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_jobs_result(fdy_jobs_t *self, const fdy_request_t *req, const fdy_job_request_t *jr,
         fdy_reason_t *reason)
{
    /* No registration needed: a result resent right after a broker restart
     * arrives before the node registers again, and the lease names the
     * node's key anyway. */
    if (req->who->role != FDY_ROLE_NODE)
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "only node keys report job results");
    fdy_job_node_t *node = NULL;
    (void) fdy_jobs_node_of(self, req, &node, reason);
    fdy_reason_clear(reason);
    if (jr->result_count)
        return fdy_jobs_result_batch(self, req, jr, node, reason);
    fdy_job_result_item_t one = { jr->job_id, jr->fence,    jr->ok,       jr->result,
                                  jr->result_len, jr->error, jr->log_tail, jr->credit };
    fdy_jobs_item_t item;
    foundry_err err = fdy_jobs_result_one(self, req, node, &one, &item, reason);
    if (err == FOUNDRY_OK)
        fdy_jobs_park(self, req, &item, NULL, 0);
    return err;
}

foundry_err
fdy_jobs_progress(fdy_jobs_t *self, const fdy_request_t *req, const fdy_job_request_t *jr,
           fdy_reason_t *reason)
{
    fdy_job_node_t *node;
    foundry_err err = fdy_jobs_node_of(self, req, &node, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_job_t *job;
    err = s_fenced(self, node->name, jr->job_id, jr->fence, &job, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_job_set_text(&job->progress, jr->progress);
    if (job->state == FDY_JOB_LEASED)
        job->state = FDY_JOB_RUNNING;
    fdy_jobs_touch(self, job);
    return FOUNDRY_OK;
}

/* Renews the leases the node names with their current fence, marks them
 * running, and answers with the ones it should stop (stale or cancelled). */
foundry_err
fdy_jobs_heartbeat(fdy_jobs_t *self, const fdy_request_t *req, const fdy_job_request_t *jr,
            fdy_reason_t *reason)
{
    fdy_job_node_t *node;
    foundry_err err = fdy_jobs_node_of(self, req, &node, reason);
    if (err != FOUNDRY_OK)
        return err;
    uint64_t now = fdy_jobs_wall_ms();
    fdy_job_t **stale = fdy_xalloc((jr->id_count ? jr->id_count : 1) * sizeof *stale);
    fdy_job_record_t *recs = fdy_xalloc((jr->id_count ? jr->id_count : 1) * sizeof *recs);
    fdy_job_spec_t none = { .type = "-" };
    size_t stale_count = 0;
    for (size_t i = 0; i < jr->id_count; i++) {
        fdy_job_t *job;
        /* No reason: the answer names only the id, the fence and "stale". */
        if (s_fenced(self, node->name, jr->job_ids[i], jr->fences[i], &job, NULL) ==
            FOUNDRY_OK) {
            job->lease_until_ms = now + self->lease_ms;
            if (job->state == FDY_JOB_LEASED) {
                job->state = FDY_JOB_RUNNING;
                job->updated_ms = now;
                fdy_jobs_touch(self, job);
            }
            continue;
        }
        /* Tell the node only the id, the fence it sent and the refusal. */
        recs[stale_count] = (fdy_job_record_t){ .id = jr->job_ids[i], .fence = jr->fences[i],
                                                .spec = none, .state = "stale" };
        stale[stale_count++] = NULL;
    }
    fdy_job_reply_t reply = { 0, false, recs, stale_count, NULL, 0 };
    fdy_jobs_send_body(self, &req->peer, FDY_KIND_JOB_REPLY, req->env->request_id, &reply);
    free(stale);
    free(recs);
    return FOUNDRY_OK;
}
