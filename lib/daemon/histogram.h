/*  histogram.h: a fixed-bucket histogram of unsigned values for the
 *  metrics endpoint (Prometheus histograms): a count per bucket (not
 *  cumulative), their sum and count. No allocation, no locks: one owner
 *  thread observes, the same thread reads.
 */
#ifndef FDY_HISTOGRAM_H_INCLUDED
#define FDY_HISTOGRAM_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define FDY_HISTOGRAM_BUCKETS_MAX 16

typedef struct {
    const uint64_t *bounds;   /* upper bounds, increasing; static; the last bucket is +Inf */
    size_t bound_count;       /* at most FDY_HISTOGRAM_BUCKETS_MAX - 1 */
    uint64_t counts[FDY_HISTOGRAM_BUCKETS_MAX]; /* [bound_count] is the +Inf bucket */
    uint64_t sum;
    uint64_t count;
} fdy_histogram_t;

/* Empties self over bounds (borrowed, static). */
void fdy_histogram_init(fdy_histogram_t *self, const uint64_t *bounds, size_t bound_count);
void fdy_histogram_observe(fdy_histogram_t *self, uint64_t value);

/* Bounds in use: fsync latency in microseconds, and records per batch. */
extern const uint64_t fdy_histogram_latency_us[];
extern const size_t fdy_histogram_latency_us_count;
extern const uint64_t fdy_histogram_batch[];
extern const size_t fdy_histogram_batch_count;

#endif
