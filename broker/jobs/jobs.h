/*  jobs.h: what other broker services (the rollouts service's fleet jobs)
 *  use of the jobs service: submit a job as the broker itself, pinned to
 *  one node, read a job's state, cancel it, and read a registered node's
 *  labels. Changes are committed with the turn's commit like any other
 *  job change; nothing here replies to a peer.
 */
#ifndef FDY_JOBS_H_INCLUDED
#define FDY_JOBS_H_INCLUDED

#include "codec_jobs.h"
#include "service.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fdy_jobs fdy_jobs_t;

/* The jobs service among deps->services (created before the caller), or
 * NULL when it is not in the table. */
fdy_jobs_t *fdy_jobs_find(const fdy_service_deps_t *deps);

/* Queues a job of tenant "admin" from submitter (a name for job.ls, e.g.
 * "rollout-7") with spec (copied; zero fields take the defaults; set
 * spec->node to pin it to one node key). Returns FOUNDRY_OK and *job_id_out,
 * or FOUNDRY_EINVAL / FOUNDRY_ETOOBIG (the spec) with reason. */
foundry_err fdy_jobs_submit_as_broker(fdy_jobs_t *self, const char *submitter,
                                      const fdy_job_spec_t *spec, uint64_t *job_id_out,
                                      fdy_reason_t *reason);

/* The state name of job id ("queued" ... "expired", as fdy_job_state_name)
 * and its last error ("" when none), both borrowed until the next jobs
 * call; false when there is no such job (its result expired). */
bool fdy_jobs_state(fdy_jobs_t *self, uint64_t id, const char **state_out, const char **error_out);

/* Cancels job id if it has not ended (a running one gets a kill order).
 * True when it was cancelled now. */
bool fdy_jobs_cancel(fdy_jobs_t *self, uint64_t id, const char *why);

/* The labels ("key=value") of node as it registered for jobs, borrowed
 * until the next jobs call, in labels_out (up to max); returns how many,
 * or -1 when the node is not registered. */
int fdy_jobs_node_labels(fdy_jobs_t *self, const char *node, const char **labels_out, size_t max);

#endif
