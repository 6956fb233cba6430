/*  job_queue.h: the queued jobs in offer order: highest priority first,
 *  then oldest (lowest id). One FIFO per distinct priority, kept sorted,
 *  with intrusive links in fdy_job_t, so insert, remove and "first
 *  eligible" never move the other jobs.
 */
#ifndef FDY_JOB_QUEUE_H_INCLUDED
#define FDY_JOB_QUEUE_H_INCLUDED

#include "job.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct fdy_job_queue fdy_job_queue_t;

/* Caller owns; fdy_job_queue_destroy() (the jobs stay the caller's). */
fdy_job_queue_t *fdy_job_queue_new(void);
void fdy_job_queue_destroy(fdy_job_queue_t **self_p);

/* Adds a job not in the queue, in (priority desc, id asc) order. */
void fdy_job_queue_add(fdy_job_queue_t *self, fdy_job_t *job);
/* Removes a job if it is in the queue. */
void fdy_job_queue_remove(fdy_job_queue_t *self, fdy_job_t *job);
size_t fdy_job_queue_size(const fdy_job_queue_t *self);

/* The first job in offer order for which eligible(job, user) is true,
 * looking at no more than max_scan jobs; NULL when none. */
typedef bool(fdy_job_eligible_fn)(const fdy_job_t *job, void *user);
fdy_job_t *fdy_job_queue_first(const fdy_job_queue_t *self, fdy_job_eligible_fn *eligible,
                               void *user, size_t max_scan);

#endif
