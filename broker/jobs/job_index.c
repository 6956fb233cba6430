/*  job_index.c: a sliding window of job slots (see job_index.h). */
#include "job_index.h"

#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

void
fdy_job_index_init(fdy_job_index_t *self)
{
    memset(self, 0, sizeof *self);
}

void
fdy_job_index_fini(fdy_job_index_t *self)
{
    free(self->slots);
    fdy_job_index_init(self);
}

fdy_job_t *
fdy_job_index_get(const fdy_job_index_t *self, uint64_t id)
{
    if (id < self->first || id - self->first >= self->span)
        return NULL;
    return self->slots[self->start + (size_t) (id - self->first)];
}

/* Moves the held slots to the front of the array. */
static void
s_compact(fdy_job_index_t *self)
{
    if (!self->start)
        return;
    memmove(self->slots, self->slots + self->start, self->span * sizeof *self->slots);
    memset(self->slots + self->span, 0, self->start * sizeof *self->slots);
    self->start = 0;
}

/* Room for span slots from start. The array is kept at least twice the
 * window before the window moves back to its front, so each id costs at
 * most about one slot moved. */
static void
s_room(fdy_job_index_t *self, size_t span)
{
    if (self->start + span <= self->capacity)
        return;
    s_compact(self);
    if (span * 2 > self->capacity)
        self->slots = fdy_xgrow(self->slots, &self->capacity, span * 2, sizeof *self->slots);
}

/* After many jobs left: the array comes back to twice the window. */
static void
s_shrink(fdy_job_index_t *self)
{
    if (self->capacity < 1024 || self->span >= self->capacity / 8)
        return;
    s_compact(self);
    size_t capacity = self->span * 2 > 8 ? self->span * 2 : 8;
    self->slots = fdy_xrealloc(self->slots, capacity * sizeof *self->slots);
    self->capacity = capacity;
}

void
fdy_job_index_put(fdy_job_index_t *self, fdy_job_t *job)
{
    uint64_t id = job->id;
    if (self->span == 0) {
        self->first = id;
        self->start = 0;
    } else if (id < self->first) {
        /* Older than every job held (not how the broker loads, but kept
         * right): the window widens to the left. */
        size_t shift = (size_t) (self->first - id);
        s_room(self, self->span + shift);
        memmove(self->slots + self->start + shift, self->slots + self->start,
                self->span * sizeof *self->slots);
        memset(self->slots + self->start, 0, shift * sizeof *self->slots);
        self->span += shift;
        self->first = id;
    }
    size_t at = (size_t) (id - self->first);
    if (at >= self->span) {
        s_room(self, at + 1);
        self->span = at + 1;
    }
    self->slots[self->start + at] = job;
    self->live++;
}

fdy_job_t *
fdy_job_index_take(fdy_job_index_t *self, uint64_t id)
{
    fdy_job_t *job = fdy_job_index_get(self, id);
    if (!job)
        return NULL;
    self->slots[self->start + (size_t) (id - self->first)] = NULL;
    self->live--;
    /* The window shrinks from both ends to the jobs still held. */
    while (self->span && !self->slots[self->start]) {
        self->start++;
        self->first++;
        self->span--;
    }
    while (self->span && !self->slots[self->start + self->span - 1])
        self->span--;
    if (self->span == 0) {
        self->start = 0;
        self->first = 0;
    }
    s_shrink(self);
    return job;
}

uint64_t
fdy_job_index_first(const fdy_job_index_t *self)
{
    return self->span ? self->first : 0;
}

uint64_t
fdy_job_index_end(const fdy_job_index_t *self)
{
    return self->span ? self->first + self->span : 0;
}

size_t
fdy_job_index_count(const fdy_job_index_t *self)
{
    return self->live;
}
