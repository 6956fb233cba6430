/*  jobs_metrics.h: the jobs service's labeled metrics: its traffic
 *  (submits and results in, offers out, by site) and the gauge
 *  foundry_jobs{state,type}, recomputed from the jobs in memory when the
 *  stats are read. Kept apart from jobs.c so the hot path only gains
 *  one call per counted message.
 */
#ifndef FDY_JOBS_METRICS_H_INCLUDED
#define FDY_JOBS_METRICS_H_INCLUDED

#include "service.h"

typedef struct fdy_jobs fdy_jobs_t;
typedef struct fdy_jobs_metrics fdy_jobs_metrics_t;

/* Returns new metrics over deps' peers (borrowed, outlive them). Aborts
 * on out-of-memory. Caller owns; fdy_jobs_metrics_destroy(). */
fdy_jobs_metrics_t *fdy_jobs_metrics_new(const fdy_service_deps_t *deps);
void fdy_jobs_metrics_destroy(fdy_jobs_metrics_t **self_p);

/* A decoded JOB request of op (SUBMIT and RESULT are counted) in req,
 * carrying jobs specs or results (a batch), or one when 0. */
void fdy_jobs_metrics_request(fdy_jobs_metrics_t *self, const fdy_request_t *req, int op,
                             size_t jobs);
/* offers (one message, JOB_OFFER or JOB_OFFERS) of len bytes sent to a
 * node of site index site. */
void fdy_jobs_metrics_offer(fdy_jobs_metrics_t *self, uint32_t site, size_t offers, size_t len);
/* Recounts the jobs of jobs by state and type and appends both tables
 * (valid until the next call) to out. */
void fdy_jobs_metrics_stats(fdy_jobs_metrics_t *self, const fdy_jobs_t *jobs, fdy_stats_t *out);

#endif
