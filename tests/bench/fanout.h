/*  fanout.h: foundry-bench --fanout, the fan-out benchmark: one producer
 *  publishing durably into a stream read by N durable consumers (plus one
 *  that never reads, whose credit must bound what the broker holds for it),
 *  measuring total deliveries per second, end-to-end latency and the CPU
 *  per delivery of the broker and of the clients.
 */
#ifndef FDY_FANOUT_H_INCLUDED
#define FDY_FANOUT_H_INCLUDED

#include "bench_env.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDY_FANOUT_CONSUMERS_MAX 16

typedef struct {
    size_t count;               /* messages published */
    size_t payload_size;        /* bytes, at least 16 (send time and index) */
    size_t consumers;           /* durable consumers that read, 1..FDY_FANOUT_CONSUMERS_MAX */
    bool stalled;               /* one more consumer that subscribes and never reads */
    uint32_t credit;            /* credit_msgs of each subscription; 0: the library's */
    uint32_t max_in_flight;     /* producer window; 0: the library's */
    double rate;                /* paced phase, msgs/s; 0: half the max phase's rate */
    double baseline_msgs_per_s; /* raw CURVE figure of the same run, 0 if none */
    double load_start;          /* load average when the run began */
} fdy_fanout_opts_t;

/* Runs two phases on the broker of env, each on a stream of its own with
 * consumers created by `ctl`, the producer and each consumer on its own
 * thread with its own client: (1) `count` messages as fast as the
 * producer's window allows (throughput; latency includes the backlog),
 * with the stalled consumer; (2) a paced run (latency without a backlog).
 * Prints the figures and a final JSON line ("bench":"fanout").
 * Returns FOUNDRY_OK, or an error having printed why (a message lost,
 * duplicated or out of order is an error; slowness is not). */
foundry_err fdy_fanout_run(const fdy_bench_env_t *env, const char *ctl,
                           const fdy_fanout_opts_t *opts);

#endif
