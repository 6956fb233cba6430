/*  noisy.h: foundry-bench --noisy, the noisy-neighbour benchmark: how much
 *  one misbehaving connection slows a well-behaved client.
 */
#ifndef FDY_NOISY_H_INCLUDED
#define FDY_NOISY_H_INCLUDED

#include "bench_env.h"

typedef struct {
    size_t count;        /* the victim's window-1 publishes per phase */
    size_t payload_size; /* the victim's payload */
    double baseline_msgs_per_s;
    double load_start;
} fdy_noisy_opts_t;

/* With the broker of env running: the victim's window-1 ack latency alone,
 * next to a connection holding 32 full-credit tails it never reads, and
 * next to a node key flooding 1 MiB publishes without reading a reply.
 * Prints p50/p99 per phase and the p99 ratio to the phase alone. Returns
 * FOUNDRY_OK, or an error having printed why. */
foundry_err fdy_noisy_run(const fdy_bench_env_t *env, const char *ctl,
                          const fdy_noisy_opts_t *opts);

#endif
