/*  job_worker.h: foundry-node's job side: registers the handler types with
 *  the broker, takes offers within its slots, runs each attempt
 *  (job_runner.c), heartbeats the leases it holds, and reports results
 *  through the result outbox (job_results.c), which it replays after a
 *  restart. Driven from the agent's loop (agent.c); one thread.
 */
#ifndef FDY_JOB_WORKER_H_INCLUDED
#define FDY_JOB_WORKER_H_INCLUDED

#include "agent_config.h"
#include "foundry.h"

#include <stdint.h>

typedef struct fdy_job_worker fdy_job_worker_t;

/* Loads cfg->jobs and opens <data_dir>/results. Returns FOUNDRY_OK and
 * *out (NULL when cfg->jobs is unset: no jobs), or the error with reason
 * ("file:line: ..." for a bad handlers file). */
foundry_err fdy_job_worker_new(const fdy_agent_cfg_t *cfg, fdy_job_worker_t **out,
                               fdy_reason_t *reason);
/* Kills running handlers (their leases expire and the broker retries
 * them), keeps unreported results in the outbox. Accepts NULL. */
void fdy_job_worker_destroy(fdy_job_worker_t **self_p);

/* The client to use (borrowed until detach), after a connect. */
void fdy_job_worker_attach(fdy_job_worker_t *self, foundry_client_t *client);
void fdy_job_worker_detach(fdy_job_worker_t *self);

/* One turn: offers, running attempts, heartbeats, results. Returns the ms
 * until it needs the next turn. */
int fdy_job_worker_service(fdy_job_worker_t *self, int64_t now_ms);

/* Descriptors worth waking for (worker processes' answers; at most max),
 * so the agent's wait ends when an attempt finishes. Accepts NULL. */
size_t fdy_job_worker_fds(const fdy_job_worker_t *self, int *fds, size_t max);

/* True when offers wait to be taken (read off the socket now): the
 * agent then does not sleep. Accepts NULL. */
bool fdy_job_worker_has_offers(fdy_job_worker_t *self);

/* Handler runs since start: started, finished ok or not, running now, and
 * results the broker refused as stale. */
typedef struct {
    uint64_t started;
    uint64_t succeeded;
    uint64_t failed;
    uint64_t running;
    uint64_t results_refused;
} fdy_job_worker_stats_t;
void fdy_job_worker_stats(const fdy_job_worker_t *self, fdy_job_worker_stats_t *out);

#endif
