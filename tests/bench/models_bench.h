/*  models_bench.h: foundry-bench --models: a large signed model pushed to
 *  the broker and rolled out to node agents on loopback, CURVE on, next to
 *  the two costs that bound it (raw CURVE bulk throughput, BLAKE2b hashing)
 *  measured in the same run.
 */
#ifndef FDY_MODELS_BENCH_H_INCLUDED
#define FDY_MODELS_BENCH_H_INCLUDED

#include "bench_env.h"

typedef struct {
    uint64_t size;       /* artifact bytes (scaled down when the disk is short) */
    size_t agents;       /* node agents, one site each */
    uint32_t chunk_size; /* 0: the library's default */
    uint32_t window;     /* 0: the library's default */
    double load_start;
} fdy_models_bench_opts_t;

/* With the broker of env running: checks the free disk, writes a random
 * artifact, measures BLAKE2b and raw CURVE 1 MiB throughput, pushes the
 * artifact (foundry_model_push), rolls it out to the agents in one wave
 * (foundryctl rollout start --wait), checks every agent installed it, and
 * prints the figures and a JSON line. Returns FOUNDRY_OK, or an error
 * having printed why. */
foundry_err fdy_models_bench_run(fdy_bench_env_t *env, const char *ctl,
                                 const fdy_models_bench_opts_t *opts);

#endif
