/*  job_pool.h: the worker-mode attempts of a node: one long-running
 *  process per worker-mode type (job_process.c), started on first use and
 *  again after it died, the attempts sent to each, their deadlines, and
 *  their outcomes. When a process dies, every attempt it held fails with
 *  the reason; when one attempt outlives its timeout the process is
 *  killed (its state cannot be trusted) and restarted for the next job.
 */
#ifndef FDY_JOB_POOL_H_INCLUDED
#define FDY_JOB_POOL_H_INCLUDED

#include "foundry.h"
#include "job_config.h"
#include "job_results.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fdy_job_pool fdy_job_pool_t;

/* handlers is borrowed and outlives the pool. */
fdy_job_pool_t *fdy_job_pool_new(const fdy_job_config_t *handlers);
void fdy_job_pool_destroy(fdy_job_pool_t **self_p);

/* Sends the attempt to h's process, starting it if needed. FOUNDRY_OK, or
 * FOUNDRY_EIO (cannot start it) / FOUNDRY_EFULL (too many attempts) with
 * reason: the attempt failed before it ran. */
foundry_err fdy_job_pool_start(fdy_job_pool_t *self, const fdy_job_handler_t *h,
                               const foundry_job_offer_t *offer, fdy_reason_t *reason);
/* Drops the attempt of job_id (its process is told; no result is sent). */
void fdy_job_pool_cancel(fdy_job_pool_t *self, uint64_t job_id);

/* An attempt that ended (r borrowed for the call), or (cancelled) one that
 * was dropped; and a progress line. */
typedef void(fdy_job_pool_done_fn)(const fdy_job_result_t *r, bool cancelled, void *user);
typedef void(fdy_job_pool_progress_fn)(uint64_t job_id, uint64_t fence, const char *text,
                                       void *user);
void fdy_job_pool_service(fdy_job_pool_t *self, int64_t now_ms, fdy_job_pool_done_fn *done,
                          fdy_job_pool_progress_fn *progress, void *user);

/* Attempts in flight; their ids and fences (at most max); of one type. */
size_t fdy_job_pool_count(const fdy_job_pool_t *self);
size_t fdy_job_pool_list(const fdy_job_pool_t *self, uint64_t *ids, uint64_t *fences, size_t max);
uint32_t fdy_job_pool_busy(const fdy_job_pool_t *self, const char *type);
/* The answer descriptors of the running worker processes (at most max). */
size_t fdy_job_pool_fds(const fdy_job_pool_t *self, int *fds, size_t max);

#endif
