/*  job_index.h: the jobs in memory by id. Ids are given in order and jobs
 *  mostly leave oldest first (retention), so the index is a window of
 *  slots from the oldest job held to the newest: memory follows the jobs
 *  held, not every id ever given. Lookup is one subtraction. Not for the
 *  offer order (job_queue.h) nor for storage (store_jobs.h).
 */
#ifndef FDY_JOB_INDEX_H_INCLUDED
#define FDY_JOB_INDEX_H_INCLUDED

#include "job.h"

#include <stddef.h>
#include <stdint.h>

/* A stack struct: zero it (or fdy_job_index_init), then put/take/get. The
 * jobs stay the caller's. */
typedef struct {
    fdy_job_t **slots; /* slots[start + i] holds job id first + i, or NULL */
    size_t capacity, start, span;
    uint64_t first;
    size_t live;
} fdy_job_index_t;

void fdy_job_index_init(fdy_job_index_t *self);
/* Frees the slots, not the jobs. */
void fdy_job_index_fini(fdy_job_index_t *self);

/* The job of id, or NULL. */
fdy_job_t *fdy_job_index_get(const fdy_job_index_t *self, uint64_t id);
/* Holds job at job->id (non-zero, not held yet). */
void fdy_job_index_put(fdy_job_index_t *self, fdy_job_t *job);
/* Lets go of the job of id; returns it (NULL when none). */
fdy_job_t *fdy_job_index_take(fdy_job_index_t *self, uint64_t id);

/* Every job held lies in [first, end): for walking them in id order
 * (skip the NULL gets). Both 0 when none is held. */
uint64_t fdy_job_index_first(const fdy_job_index_t *self);
uint64_t fdy_job_index_end(const fdy_job_index_t *self);
/* How many jobs are held. */
size_t fdy_job_index_count(const fdy_job_index_t *self);

#endif
