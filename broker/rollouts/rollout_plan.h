/*  rollout_plan.h: the parts of a rollout that are fixed at start, parsed
 *  and checked here without any I/O: the wave SPEC ("seongnam-lab;siheung;*"),
 *  the assignment of target nodes to waves, and telemetry gates
 *  ("inspection.reject_rate<0.02"). The engine that runs a plan is
 *  rollout_engine.h.
 */
#ifndef FDY_ROLLOUT_PLAN_H_INCLUDED
#define FDY_ROLLOUT_PLAN_H_INCLUDED

#include "codec.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDY_ROLLOUT_WAVES_MAX      16u
#define FDY_ROLLOUT_WAVE_SITES_MAX 16u
#define FDY_ROLLOUT_GATES_MAX      8u
#define FDY_ROLLOUT_SPEC_MAX       1024u /* bytes of a wave SPEC */
#define FDY_ROLLOUT_METRIC_MAX     255u  /* FOUNDRY_SUBJECT_MAX */
/* A node in no wave (the SPEC names none of its sites and has no '*'). */
#define FDY_ROLLOUT_NO_WAVE UINT32_MAX

typedef enum {
    FDY_ROLLOUT_WAVE_SITES = 0, /* "siheung,bucheon" */
    FDY_ROLLOUT_WAVE_PERCENT,   /* "10%" of all target nodes */
    FDY_ROLLOUT_WAVE_REST,      /* "*": every node not in an earlier wave */
} fdy_rollout_wave_kind_t;

typedef struct {
    fdy_rollout_wave_kind_t kind;
    char sites[FDY_ROLLOUT_WAVE_SITES_MAX][FDY_NAME_MAX];
    size_t site_count;
    uint32_t percent; /* 1..100 */
} fdy_rollout_wave_t;

typedef struct {
    fdy_rollout_wave_t waves[FDY_ROLLOUT_WAVES_MAX];
    size_t count;
} fdy_rollout_waves_t;

/* Parses a wave SPEC: waves separated by ';', each a comma list of site
 * ids, "N%" (1..100) or "*". NULL or "" is "*". Returns FOUNDRY_OK and *out,
 * or FOUNDRY_EINVAL with a reason naming the wave and what is wrong
 * ("wave 2: '150%' is not 1..100%"). */
foundry_err fdy_rollout_plan_parse_waves(const char *spec, fdy_rollout_waves_t *out,
                                         fdy_reason_t *reason);

/* One target node, as the plan sees it. Borrowed. */
typedef struct {
    const char *name;
    const char *site;
} fdy_rollout_target_t;

/* Assigns each of count nodes (sorted by name) its wave in wave_out[i]
 * (FDY_ROLLOUT_NO_WAVE for none): a site wave takes the nodes at its sites
 * not in an earlier wave; "N%" takes ceil(N% of count), at least 1, of the
 * remaining nodes in name order; "*" every remaining node. */
void fdy_rollout_plan_assign(const fdy_rollout_waves_t *waves, const fdy_rollout_target_t *nodes,
                             size_t count, uint32_t *wave_out);

/* The wave as text for rollout.ls and status ("siheung,bucheon", "10%", "*"). */
void fdy_rollout_plan_wave_text(const fdy_rollout_wave_t *wave, char *buf, size_t size);

typedef enum {
    FDY_GATE_LT = 0, /* < */
    FDY_GATE_LE,     /* <= */
    FDY_GATE_GT,     /* > */
    FDY_GATE_GE,     /* >= */
    FDY_GATE_EQ,     /* == */
} fdy_gate_op_t;

/* A telemetry gate: every sample of metric must satisfy `value op bound`. */
typedef struct {
    char metric[FDY_ROLLOUT_METRIC_MAX + 1];
    fdy_gate_op_t op;
    double bound;
} fdy_rollout_gate_t;

/* Parses "METRIC<VALUE" (also <=, >, >=, ==): METRIC a subject, VALUE a
 * finite decimal. Returns FOUNDRY_OK and *out or FOUNDRY_EINVAL with
 * reason ("gate 'x<': 'x<' has no value"). */
foundry_err fdy_rollout_plan_parse_gate(const char *expr, fdy_rollout_gate_t *out,
                                        fdy_reason_t *reason);

/* True when a sample's value satisfies the gate. */
bool fdy_rollout_gate_holds(const fdy_rollout_gate_t *gate, double value);

/* The gate as it was written ("inspection.reject_rate<0.02"). */
void fdy_rollout_gate_text(const fdy_rollout_gate_t *gate, char *buf, size_t size);

/* A value in its shortest exact form ("0.05"), for reasons. */
void fdy_rollout_value_text(double value, char *buf, size_t size);

#endif
