/*  job_sched.c: the jobs service's scheduling (jobs_core.h): offers the
 *  highest-priority, oldest eligible job to each node with credit, under
 *  a lease with a new fencing token; expires leases whose node stopped
 *  heartbeating, attempts past their timeout, queued jobs past their
 *  deadline and results past their TTL; retries with back-off; forgets
 *  lost nodes. Every change is marked for the next commit, and offers
 *  leave only after it (a lease is durable before anyone acts on it).
 */
#include "jobs_core.h"

#include "log.h"
#include "names.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define OFFERS_PER_RUN 4096
#define SCAN_PER_OFFER 1024
#define SWEEP_PER_TICK 8192
#define TICK_MS        100

void
fdy_job_sched_dequeue(fdy_jobs_t *self, fdy_job_t *job)
{
    fdy_job_queue_remove(self->queue, job);
    for (size_t i = 0; i < self->delayed_count; i++)
        if (self->delayed[i] == job) {
            self->delayed[i] = self->delayed[--self->delayed_count];
            break;
        }
}

void
fdy_job_sched_enqueue(fdy_jobs_t *self, fdy_job_t *job)
{
    fdy_job_sched_dequeue(self, job);
    if (job->state == FDY_JOB_FAILED && job->not_before_ms > fdy_jobs_wall_ms()) {
        self->delayed = fdy_xgrow(self->delayed, &self->delayed_capacity, self->delayed_count + 1,
                                  sizeof *self->delayed);
        self->delayed[self->delayed_count++] = job;
        return;
    }
    job->state = FDY_JOB_QUEUED;
    fdy_job_queue_add(self->queue, job);
}

void
fdy_job_sched_attempt_failed(fdy_jobs_t *self, fdy_job_t *job, const char *how,
                             const char *error, uint64_t wall_ms)
{
    fdy_job_end_attempt(job, how, error, wall_ms);
    fdy_job_node_t *node = job->node ? fdy_job_nodes_by_name(self->nodes, job->node) : NULL;
    if (node && node->busy)
        node->busy--;
    fdy_job_set_text(&job->error, error);
    self->failed_attempts++;
    if (job->attempt >= job->spec->max_attempts) {
        job->state = FDY_JOB_DEAD;
        self->dead++;
        fdy_log_notice("JOB-DEAD", "job %" PRIu64 " (%s) dead after %u attempts: %s", job->id,
                       job->spec->type, job->attempt, error ? error : "");
    } else {
        job->state = FDY_JOB_FAILED;
        job->not_before_ms = wall_ms + fdy_job_backoff_ms(job);
        fdy_job_sched_enqueue(self, job);
    }
    fdy_jobs_touch(self, job);
}

void
fdy_job_sched_cancel_running(fdy_jobs_t *self, fdy_job_t *job)
{
    if (!job->node)
        return;
    self->offers = fdy_xgrow(self->offers, &self->offer_capacity, self->offer_count + 1,
                             sizeof *self->offers);
    fdy_jobs_offer_t *o = &self->offers[self->offer_count++];
    memset(o, 0, sizeof *o);
    fdy_name_copy(o->node, sizeof o->node, job->node);
    o->job_id = job->id;
    o->fence = job->fence;
    o->cancel = true;
}

/* ---- matching ------------------------------------------------------------------ */

static bool
s_site_ok(const fdy_job_t *job, const char *site)
{
    if (job->spec->site_count == 0)
        return true;
    for (size_t i = 0; i < job->spec->site_count; i++)
        if (strcmp(job->spec->sites[i], site) == 0)
            return true;
    return false;
}

static bool
s_labels_ok(const fdy_job_t *job, const fdy_job_node_t *node, const char **missing)
{
    for (size_t i = 0; i < job->spec->label_count; i++)
        if (!fdy_job_node_has_label(node, job->spec->labels[i])) {
            if (missing)
                *missing = job->spec->labels[i];
            return false;
        }
    return true;
}

/* A pinned job (a fleet-job rollout's) is for exactly one node. */
static bool
s_pin_ok(const fdy_job_t *job, const char *name)
{
    return !job->spec->node || !*job->spec->node || strcmp(job->spec->node, name) == 0;
}

static bool
s_eligible(const fdy_job_t *job, void *user)
{
    fdy_job_node_t *node = user;
    fdy_job_slot_t *slot = fdy_job_node_slot(node, job->spec->type);
    return slot && slot->credit > 0 && s_pin_ok(job, node->name) && s_site_ok(job, node->site) &&
           s_labels_ok(job, node, NULL);
}

static bool
s_has_credit(const fdy_job_node_t *node)
{
    for (size_t i = 0; i < node->slot_count; i++)
        if (node->slots[i].credit)
            return true;
    return false;
}

bool
fdy_job_sched_offer(fdy_jobs_t *self, int64_t now_ms)
{
    (void) now_ms;
    if (fdy_job_queue_size(self->queue) == 0)
        return false;
    uint64_t wall = fdy_jobs_wall_ms();
    size_t offered = 0;
    bool progress = true;
    /* Round-robin one job per node per pass, so nodes share the queue. */
    while (progress && offered < OFFERS_PER_RUN) {
        progress = false;
        for (size_t i = 0; i < fdy_job_nodes_count(self->nodes) && offered < OFFERS_PER_RUN;
             i++) {
            fdy_job_node_t *node = fdy_job_nodes_at(self->nodes, i);
            if (!node->connected || !s_has_credit(node))
                continue;
            fdy_job_t *job = fdy_job_queue_first(self->queue, s_eligible, node, SCAN_PER_OFFER);
            if (!job)
                continue;
            fdy_job_queue_remove(self->queue, job);
            fdy_job_lease(job, node->name, wall, self->lease_ms);
            fdy_job_node_slot(node, job->spec->type)->credit--;
            node->busy++;
            fdy_jobs_touch(self, job);
            self->offers = fdy_xgrow(self->offers, &self->offer_capacity, self->offer_count + 1,
                                     sizeof *self->offers);
            fdy_jobs_offer_t *o = &self->offers[self->offer_count++];
            memset(o, 0, sizeof *o);
            fdy_name_copy(o->node, sizeof o->node, node->name);
            o->job_id = job->id;
            o->fence = job->fence;
            offered++;
            progress = true;
        }
    }
    /* Offers wait for the next commit: ask for a turn without waiting. */
    return offered > 0;
}

/* ---- upkeep -------------------------------------------------------------------- */

static void
s_sweep_one(fdy_jobs_t *self, fdy_job_t *job, uint64_t wall)
{
    switch (job->state) {
    case FDY_JOB_LEASED:
    case FDY_JOB_RUNNING:
        if (job->attempt_deadline_ms && wall > job->attempt_deadline_ms + self->lease_ms) {
            fdy_job_sched_cancel_running(self, job);
            fdy_job_sched_attempt_failed(self, job, "timeout", "attempt timed out", wall);
        } else if (job->lease_until_ms && wall > job->lease_until_ms) {
            fdy_job_sched_attempt_failed(self, job, "lost",
                                         "lease expired: the node stopped heartbeating", wall);
        }
        break;
    case FDY_JOB_QUEUED:
        if (job->spec->deadline_ms && wall > job->spec->deadline_ms) {
            fdy_job_sched_dequeue(self, job);
            job->state = FDY_JOB_EXPIRED;
            job->updated_ms = wall;
            fdy_job_set_text(&job->error, "deadline passed before it ran");
            self->expired++;
            fdy_jobs_touch(self, job);
        }
        break;
    case FDY_JOB_SUCCEEDED:
    case FDY_JOB_DEAD:
    case FDY_JOB_CANCELLED:
    case FDY_JOB_EXPIRED:
        if (!job->removed && job->spec->result_ttl_ms &&
            wall > job->updated_ms + job->spec->result_ttl_ms) {
            job->removed = true;
            fdy_jobs_touch(self, job);
        }
        break;
    default: break;
    }
}

int64_t
fdy_job_sched_tick(fdy_jobs_t *self, int64_t now_ms)
{
    /* The loop calls this every turn (thousands a second under load); the
     * sweep's cost is bounded per TICK_MS instead. */
    if (now_ms < self->next_tick_ms)
        return self->dirty_count ? 0 : self->next_tick_ms - now_ms;
    self->next_tick_ms = now_ms + TICK_MS;
    uint64_t wall = fdy_jobs_wall_ms();
    for (size_t i = 0; i < fdy_job_nodes_count(self->nodes);) {
        fdy_job_node_t *node = fdy_job_nodes_at(self->nodes, i);
        if (now_ms - node->last_seen_ms > (int64_t) self->lease_ms) {
            /* Its leases run out by their own deadlines in the sweep. */
            fdy_log_notice("JOB-NODE-LOST", "node %s at %s silent for %" PRId64 " ms: lost",
                           node->name, node->site, now_ms - node->last_seen_ms);
            self->nodes_lost++;
            fdy_job_nodes_remove(self->nodes, i);
            continue;
        }
        i++;
    }
    for (size_t i = 0; i < self->delayed_count;) {
        fdy_job_t *job = self->delayed[i];
        if (job->not_before_ms <= wall) {
            self->delayed[i] = self->delayed[--self->delayed_count];
            job->state = FDY_JOB_QUEUED;
            fdy_job_queue_add(self->queue, job);
            fdy_jobs_touch(self, job);
            continue;
        }
        i++;
    }
    size_t swept = 0;
    /* A round over the window of ids held, a slice a tick. */
    uint64_t first = fdy_job_index_first(&self->jobs), end = fdy_job_index_end(&self->jobs);
    size_t span = (size_t) (end - first);
    if (self->sweep_next < first || self->sweep_next >= end)
        self->sweep_next = first;
    while (swept < SWEEP_PER_TICK && swept < span) {
        fdy_job_t *job = fdy_jobs_get(self, self->sweep_next);
        if (job)
            s_sweep_one(self, job, wall);
        swept++;
        if (++self->sweep_next >= end)
            self->sweep_next = first;
    }
    return self->dirty_count ? 0 : TICK_MS;
}

/* ---- why a job waits --------------------------------------------------------- */

void
fdy_job_sched_waiting(fdy_jobs_t *self, const fdy_job_t *job, char *buf, size_t size)
{
    uint64_t wall = fdy_jobs_wall_ms();
    if (job->state == FDY_JOB_FAILED && job->not_before_ms > wall) {
        snprintf(buf, size, "retry %u of %u after back-off, in %" PRIu64 " ms", job->attempt + 1,
                 job->spec->max_attempts, job->not_before_ms - wall);
        return;
    }
    const char *site = job->spec->site_count ? job->spec->sites[0] : "any site";
    bool at_site = false, runs_type = false;
    const char *missing = NULL;
    for (size_t i = 0; i < fdy_job_nodes_count(self->nodes); i++) {
        fdy_job_node_t *node = fdy_job_nodes_at(self->nodes, i);
        if (!s_site_ok(job, node->site) || !s_pin_ok(job, node->name))
            continue;
        at_site = true;
        if (!fdy_job_node_slot(node, job->spec->type))
            continue;
        runs_type = true;
        if (s_labels_ok(job, node, &missing)) {
            snprintf(buf, size, "every eligible node is busy");
            return;
        }
    }
    if (!at_site && job->spec->node && *job->spec->node)
        snprintf(buf, size, "pinned node %s is not connected", job->spec->node);
    else if (!at_site)
        snprintf(buf, size, "no node at %s", site);
    else if (!runs_type)
        snprintf(buf, size, "no node at %s runs type %s", site, job->spec->type);
    else
        snprintf(buf, size, "no node at %s with label %s", site, missing ? missing : "?");
}
