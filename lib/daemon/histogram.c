/*  histogram.c: fixed buckets; observing is a short linear scan over at
 *  most 15 bounds, cheap next to the fsync it measures.
 */
#include "histogram.h"

#include <string.h>

/* 100 us .. 5 s: a local SSD syncs in ~0.1-2 ms, a busy disk in tens. */
const uint64_t fdy_histogram_latency_us[] = {100,   250,    500,    1000,   2500,   5000,
                                             10000, 25000,  50000,  100000, 250000, 1000000,
                                             5000000};
const size_t fdy_histogram_latency_us_count =
    sizeof fdy_histogram_latency_us / sizeof fdy_histogram_latency_us[0];
/* 1 .. 16384 records in one transaction (commit_max_msgs is at most 65536). */
const uint64_t fdy_histogram_batch[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384};
const size_t fdy_histogram_batch_count =
    sizeof fdy_histogram_batch / sizeof fdy_histogram_batch[0];

void
fdy_histogram_init(fdy_histogram_t *self, const uint64_t *bounds, size_t bound_count)
{
    memset(self, 0, sizeof *self);
    self->bounds = bounds;
    self->bound_count = bound_count < FDY_HISTOGRAM_BUCKETS_MAX ? bound_count
                                                                : FDY_HISTOGRAM_BUCKETS_MAX - 1;
}

void
fdy_histogram_observe(fdy_histogram_t *self, uint64_t value)
{
    size_t i = 0;
    while (i < self->bound_count && value > self->bounds[i])
        i++;
    self->counts[i]++;
    self->sum += value;
    self->count++;
}
