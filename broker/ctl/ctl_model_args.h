/*  ctl_model_args.h: the values foundryctl's model and rollout commands
 *  take, checked before anything is sent (ctl_model_args.c): NAME@VERSION,
 *  wave specs, rates, percentages, gates, key=value pairs, the rollout
 *  options as the broker's rollout.start arguments, and the numbers a
 *  rollback manifest needs. Pure functions: they print nothing and return
 *  FOUNDRY_EINVAL with a reason naming what is wrong, so the commands
 *  print it and the unit tests check it (tests/unit/test_ctl_model_args.c).
 */
#ifndef FDY_CTL_MODEL_ARGS_H_INCLUDED
#define FDY_CTL_MODEL_ARGS_H_INCLUDED

#include "codec_models.h"
#include "ctl.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "NAME" or "NAME@VERSION" (VERSION > 0). With version_required the
 * version must be there; without it *version_out is 0 when absent. */
foundry_err fdy_ctl_model_ref_parse(const char *text, bool version_required,
                                    char name_out[FDY_MODEL_NAME_MAX + 1], uint64_t *version_out,
                                    fdy_reason_t *reason);

/* A wave spec: waves separated by ';', each a comma list of site names,
 * or N% (1..100), or '*' (every remaining node: alone, in the last wave). */
foundry_err fdy_ctl_waves_check(const char *spec, fdy_reason_t *reason);

/* A start rate: "N", "N/m", "N/min" (nodes a minute) or "N/s"; 0 = no
 * limit. *per_minute_out gets nodes a minute. */
foundry_err fdy_ctl_rate_parse(const char *text, uint64_t *per_minute_out, fdy_reason_t *reason);

/* A percentage "0".."100", with or without a trailing '%'. */
foundry_err fdy_ctl_percent_parse(const char *text, uint64_t *out, fdy_reason_t *reason);

/* A gate: METRIC then <, >, <=, >= or == then a number, no spaces
 * ("inspection.reject_rate<0.02"). */
foundry_err fdy_ctl_gate_check(const char *text, fdy_reason_t *reason);

/* "key=value" with a non-empty key; what names the option in the reason. */
foundry_err fdy_ctl_pair_check(const char *what, const char *text, fdy_reason_t *reason);

#define FDY_CTL_ROLLOUT_LIST_MAX 16

/* The options of `rollout start`, as given (strings borrowed from argv). */
typedef struct {
    const char *model; /* NAME@VERSION, or NULL with job */
    const char *job;   /* a fleet job's type, or NULL with model */
    const char *waves;
    const char *rate;
    const char *soak;           /* a duration */
    const char *success;        /* PCT */
    const char *abort_failures; /* N */
    const char *abort_rate;     /* PCT */
    const char *gates[FDY_CTL_ROLLOUT_LIST_MAX];
    size_t gate_count;
    const char *sites[FDY_CTL_ROLLOUT_LIST_MAX];
    size_t site_count;
    const char *labels[FDY_CTL_ROLLOUT_LIST_MAX];
    size_t label_count;
    const char *data;        /* fleet jobs: the payload */
    const char *run_timeout; /* fleet jobs: a duration */
} fdy_ctl_rollout_opts_t;

/* Checks every option and appends the rollout.start arguments to *argv
 * ("model=NAME@VERSION" or "job=TYPE", then "waves=SPEC", "rate=N",
 * "soak=MS", "success=PCT", "abort_failures=N", "abort_rate=PCT",
 * "gate=EXPR"..., "site=S"..., "label=K=V"..., "data=TEXT",
 * "timeout=MS"; only those given). FOUNDRY_OK, FOUNDRY_EINVAL with
 * reason, or FOUNDRY_ENOMEM. */
foundry_err fdy_ctl_rollout_argv(const fdy_ctl_rollout_opts_t *opts, fdy_ctl_argv_t *argv,
                                 fdy_reason_t *reason);

/* What a rollback to version `to` must say, from the versions named by
 * the model's release log (in order), the current (newest accepted)
 * version and that manifest's release_version: rollback_of = current,
 * release_version = one above every version and release_version seen.
 * FOUNDRY_EINVAL when `to` is not below the current version or never
 * appears in the log. */
foundry_err fdy_ctl_rollback_plan(const uint64_t *log_versions, size_t count, uint64_t current,
                                  uint64_t current_release_version, uint64_t to,
                                  uint64_t *rollback_of_out, uint64_t *release_version_out,
                                  fdy_reason_t *reason);

#endif
