/*  jobs_metrics.c: counting the jobs service's traffic and its jobs by
 *  state and type. The gauge is recounted at each read (O(jobs), one
 *  scrape every few seconds) instead of being kept on every transition,
 *  so the state machine stays untouched; its type set is rebuilt each
 *  time too, so types whose jobs are gone give their row back.
 */
#include "jobs_metrics.h"

#include "jobs_core.h"
#include "peers.h"
#include "traffic.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

static const fdy_labeled_family_t s_jobs_family[] = {
    {"foundry_jobs", "gauge", "Jobs known now, by state and type (types past the cap: other)"},
};

struct fdy_jobs_metrics {
    const char *states[FDY_LABELED_FIXED_MAX]; /* job.h's state names, in its order */
    size_t state_count;
    fdy_labeled_t traffic;
    fdy_labeled_values_t types;
    fdy_labeled_t by_state;
};

fdy_jobs_metrics_t *
fdy_jobs_metrics_new(const fdy_service_deps_t *deps)
{
    fdy_jobs_metrics_t *self = fdy_xalloc(sizeof *self);
    fdy_traffic_init(&self->traffic, fdy_traffic_jobs,
                     deps->peers ? fdy_peers_sites(deps->peers) : NULL);
    while (self->state_count < FDY_LABELED_FIXED_MAX &&
           strcmp(fdy_job_state_name((fdy_job_state_t) self->state_count), "?") != 0) {
        self->states[self->state_count] = fdy_job_state_name((fdy_job_state_t) self->state_count);
        self->state_count++;
    }
    fdy_labeled_init(&self->by_state, s_jobs_family, 1, "state", self->states, self->state_count,
                     "type", &self->types);
    return self;
}

void
fdy_jobs_metrics_destroy(fdy_jobs_metrics_t **self_p)
{
    free(*self_p);
    *self_p = NULL;
}

void
fdy_jobs_metrics_request(fdy_jobs_metrics_t *self, const fdy_request_t *req, int op,
                         size_t jobs)
{
    if (op == FDY_JOB_SUBMIT || op == FDY_JOB_RESULT)
        fdy_traffic_in(&self->traffic, req->site, jobs ? jobs : 1, req->frames[1].len);
}

void
fdy_jobs_metrics_offer(fdy_jobs_metrics_t *self, uint32_t site, size_t offers, size_t len)
{
    fdy_traffic_out(&self->traffic, site, offers, len);
}

void
fdy_jobs_metrics_stats(fdy_jobs_metrics_t *self, const fdy_jobs_t *jobs, fdy_stats_t *out)
{
    fdy_labeled_values_clear(&self->types);
    fdy_labeled_reset(&self->by_state);
    for (size_t i = 0; i < jobs->job_capacity; i++) {
        const fdy_job_t *job = jobs->jobs[i];
        if (!job || job->removed || (size_t) job->state >= self->state_count)
            continue;
        uint32_t type = fdy_labeled_values_index(&self->types, job->spec->type);
        fdy_labeled_add(&self->by_state, 0, (size_t) job->state, type, 1);
    }
    fdy_stats_add_table(out, &self->traffic);
    fdy_stats_add_table(out, &self->by_state);
}
