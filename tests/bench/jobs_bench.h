/*  jobs_bench.h: foundry-bench --jobs: jobs end to end on one machine.
 *  Real foundry-node agents (each with the worker-mode handler
 *  job_echo_worker), jobs submitted pipelined by one admin client, CURVE
 *  on, every state transition durable.
 */
#ifndef FDY_JOBS_BENCH_H_INCLUDED
#define FDY_JOBS_BENCH_H_INCLUDED

#include "bench_env.h"

typedef struct {
    size_t count;        /* jobs */
    size_t agents;       /* node agents */
    size_t slots;        /* worker-mode slots per agent */
    size_t payload_size;
    double baseline_msgs_per_s;
    double load_start;
} fdy_jobs_bench_opts_t;

/* With the broker of env running: starts the agents, submits count jobs
 * pipelined, waits until every one succeeded, and prints jobs/s from the
 * first submit to the last stored result and the submit-to-result latency
 * p50/p99 (the broker's own timestamps of a sample of jobs). Returns
 * FOUNDRY_OK, or an error having printed why. */
foundry_err fdy_jobs_bench_run(const fdy_bench_env_t *env, const char *ctl,
                               const fdy_jobs_bench_opts_t *opts);

#endif
