/*  job_queue.c: queued jobs by priority, then age (job_queue.h). Few
 *  distinct priorities are expected, so the buckets are a small sorted
 *  array; each is a doubly linked FIFO through the jobs themselves.
 */
#include "job_queue.h"

#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t priority;
    fdy_job_t *head, *tail;
} s_bucket_t;

struct fdy_job_queue {
    s_bucket_t *buckets; /* priority descending */
    size_t count;
    size_t capacity;
    size_t size;
};

fdy_job_queue_t *
fdy_job_queue_new(void)
{
    return fdy_xalloc(sizeof(fdy_job_queue_t));
}

void
fdy_job_queue_destroy(fdy_job_queue_t **self_p)
{
    fdy_job_queue_t *self = *self_p;
    if (!self)
        return;
    free(self->buckets);
    free(self);
    *self_p = NULL;
}

static s_bucket_t *
s_bucket(fdy_job_queue_t *self, uint32_t priority)
{
    size_t at = 0;
    while (at < self->count && self->buckets[at].priority > priority)
        at++;
    if (at < self->count && self->buckets[at].priority == priority)
        return &self->buckets[at];
    self->buckets = fdy_xgrow(self->buckets, &self->capacity, self->count + 1,
                              sizeof *self->buckets);
    memmove(&self->buckets[at + 1], &self->buckets[at],
            (self->count - at) * sizeof *self->buckets);
    self->count++;
    self->buckets[at] = (s_bucket_t){priority, NULL, NULL};
    return &self->buckets[at];
}

void
fdy_job_queue_add(fdy_job_queue_t *self, fdy_job_t *job)
{
    if (job->queued)
        return;
    s_bucket_t *b = s_bucket(self, job->spec->priority);
    /* New jobs go last; a retried one walks back to its place by id. */
    fdy_job_t *after = b->tail;
    while (after && after->id > job->id)
        after = after->prev;
    job->prev = after;
    job->next = after ? after->next : b->head;
    if (job->next)
        job->next->prev = job;
    else
        b->tail = job;
    if (after)
        after->next = job;
    else
        b->head = job;
    job->bucket = job->spec->priority;
    job->queued = true;
    self->size++;
}

void
fdy_job_queue_remove(fdy_job_queue_t *self, fdy_job_t *job)
{
    if (!job->queued)
        return;
    s_bucket_t *b = s_bucket(self, job->bucket);
    if (job->prev)
        job->prev->next = job->next;
    else
        b->head = job->next;
    if (job->next)
        job->next->prev = job->prev;
    else
        b->tail = job->prev;
    job->prev = job->next = NULL;
    job->queued = false;
    self->size--;
}

size_t
fdy_job_queue_size(const fdy_job_queue_t *self)
{
    return self->size;
}

fdy_job_t *
fdy_job_queue_first(const fdy_job_queue_t *self, fdy_job_eligible_fn *eligible, void *user,
                    size_t max_scan)
{
    size_t scanned = 0;
    for (size_t i = 0; i < self->count; i++)
        for (fdy_job_t *job = self->buckets[i].head; job; job = job->next) {
            if (eligible(job, user))
                return job;
            if (++scanned >= max_scan)
                return NULL;
        }
    return NULL;
}
