/*  rollout_options.h: the arguments of rollout.start ("model=NAME@VERSION"
 *  or "job=TYPE", then "waves=SPEC", "rate=N", ...; docs/rollouts.md)
 *  parsed and checked into one struct. The same parser runs at start and
 *  when a stored rollout is loaded, so a rollout means after a restart
 *  exactly what it meant before. Pure: no I/O.
 */
#ifndef FDY_ROLLOUT_OPTIONS_H_INCLUDED
#define FDY_ROLLOUT_OPTIONS_H_INCLUDED

#include "codec_jobs.h"
#include "rollout_plan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDY_ROLLOUT_FILTERS_MAX 16u /* site= and label= each */

typedef enum {
    FDY_ROLLOUT_MODEL = 0,
    FDY_ROLLOUT_JOB = 1,
} fdy_rollout_kind_t;

/* What decides when a wave advances, pauses or aborts. */
typedef struct {
    uint32_t rate;           /* nodes started per minute; 0 = no limit */
    uint64_t soak_ms;        /* gates hold this long after a wave's last node ended */
    uint32_t success;        /* % of a wave's nodes that must be healthy (0..100) */
    uint32_t abort_failures; /* abort when this many nodes failed; 0 = off */
    uint32_t abort_rate;     /* abort when this % of finished nodes failed; 0 = off */
} fdy_rollout_policy_t;

typedef struct {
    fdy_rollout_kind_t kind;
    char model[FDY_NAME_MAX + 1]; /* model rollouts */
    uint64_t version;
    char job_type[FDY_JOB_TYPE_MAX + 1]; /* fleet jobs */
    const char *job_data;                /* borrowed from the args; "" none */
    uint32_t job_timeout_ms;             /* 0: the jobs default */
    char waves_spec[FDY_ROLLOUT_SPEC_MAX + 1];
    fdy_rollout_waves_t waves;
    fdy_rollout_policy_t policy;
    fdy_rollout_gate_t gates[FDY_ROLLOUT_GATES_MAX];
    size_t gate_count;
    char sites[FDY_ROLLOUT_FILTERS_MAX][FDY_NAME_MAX]; /* none: every site */
    size_t site_count;
    char labels[FDY_ROLLOUT_FILTERS_MAX][FDY_JOB_LABEL_MAX + 1]; /* "k=v", all must match */
    size_t label_count;
} fdy_rollout_options_t;

/* Parses count "key=value" args (borrowed; out->job_data points into them).
 * Exactly one of model= and job= is needed; unknown keys, repeated
 * non-repeatable keys and bad values are refused. Returns FOUNDRY_OK and
 * *out, or FOUNDRY_EINVAL with a reason naming the argument. */
foundry_err fdy_rollout_options_parse(const char *const *args, size_t count,
                                      fdy_rollout_options_t *out, fdy_reason_t *reason);

/* What the rollout targets, as rollout.ls shows it: "vision@7", "job:reindex". */
void fdy_rollout_options_target(const fdy_rollout_options_t *self, char *buf, size_t size);

/* True when site passes the site= filters (none: every site). */
bool fdy_rollout_options_site_ok(const fdy_rollout_options_t *self, const char *site);

/* True when labels (count "k=v") include every label= asked for. */
bool fdy_rollout_options_labels_ok(const fdy_rollout_options_t *self, const char *const *labels,
                                   size_t count);

#endif
