/*  rollout_engine.h: the decisions of a rollout, with no I/O: which nodes
 *  start now (waves, rate), what a node's report means (out-of-order and
 *  foreign reports ignored), when a wave is done, when it advances (success
 *  share, soak, gates), when the rollout pauses or aborts, and why. The
 *  service (rollouts.c) feeds it reports, gate results and the clock, and
 *  acts on the node flags it sets (start, cancel). Times are wall-clock ms,
 *  so they mean the same after a restart.
 */
#ifndef FDY_ROLLOUT_ENGINE_H_INCLUDED
#define FDY_ROLLOUT_ENGINE_H_INCLUDED

#include "rollout_options.h"
#include "store_rollouts.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    FDY_ROLLOUT_RUNNING = 0,
    FDY_ROLLOUT_PAUSED,
    FDY_ROLLOUT_ABORTED,
    FDY_ROLLOUT_SUCCEEDED,
} fdy_rollout_state_t;

/* Why a rollout is paused: what resume then does differs. */
typedef enum {
    FDY_PAUSE_NONE = 0,
    FDY_PAUSE_ADMIN,   /* rollout.pause: resume continues */
    FDY_PAUSE_SUCCESS, /* too few healthy: resume accepts the wave as it is */
    FDY_PAUSE_GATE,    /* a gate was violated: resume starts the soak again */
} fdy_rollout_pause_t;

/* A node's state, in the order a node normally passes them. */
typedef enum {
    FDY_RNODE_PENDING = 0, /* not started */
    FDY_RNODE_STARTED,     /* notice sent / job queued */
    FDY_RNODE_RUNNING,     /* its job runs */
    FDY_RNODE_DOWNLOADING, /* model reports, as models.proto names them */
    FDY_RNODE_VERIFIED,
    FDY_RNODE_WAITING_INTERLOCK,
    FDY_RNODE_INSTALLED,
    FDY_RNODE_HEALTHY,   /* ended well */
    FDY_RNODE_FAILED,    /* ended badly */
    FDY_RNODE_CANCELLED, /* in flight when the rollout aborted */
    FDY_RNODE_EXCLUDED,  /* its labels do not match the rollout's */
    FDY_RNODE_STATE_COUNT,
} fdy_rollout_node_state_t;

/* Node flags: work the service still owes (durable, so a restart does it). */
#define FDY_RNODE_START_DUE  0x01u /* send the notice / submit the job */
#define FDY_RNODE_CANCEL_DUE 0x02u /* send a cancel notice / cancel the job */
#define FDY_RNODE_LABELS     0x04u /* its labels are known (label-filtered rollouts) */

typedef struct {
    fdy_rollout_record_t rec;      /* durable state; the engine keeps it consistent */
    fdy_rollout_options_t options; /* parsed from rec.args */
    bool dirty;                    /* changed since last written */
} fdy_rollout_t;

/* Names as rollout.ls / rollout.status show them. */
const char *fdy_rollout_state_name(fdy_rollout_state_t state);
const char *fdy_rollout_node_state_name(fdy_rollout_node_state_t state);
/* Parses a node state name (the model REPORT states among them); false when unknown. */
bool fdy_rollout_node_state_parse(const char *name, fdy_rollout_node_state_t *out);
/* True for healthy, failed, cancelled and excluded. */
bool fdy_rollout_node_ended(fdy_rollout_node_state_t state);

/* The node called name, or NULL when it is not a target of self. */
fdy_rollout_node_t *fdy_rollout_engine_node(fdy_rollout_t *self, const char *name);

/* A node's state changed (a model REPORT, or its job's state). Ignored
 * (false) when the node is not in the rollout, has not been started, has
 * ended, the report goes back (downloading after installed) or the
 * rollout has ended. Otherwise records it (reason, bytes) and returns true. */
bool fdy_rollout_engine_report(fdy_rollout_t *self, const char *node,
                               fdy_rollout_node_state_t state, const char *reason,
                               uint64_t done_bytes, uint64_t total_bytes, uint64_t now_ms);

/* The node's labels became known: it stays a target, or is excluded when
 * they miss a label= of the rollout. Only for pending nodes of a
 * label-filtered rollout; true when something changed. */
bool fdy_rollout_engine_labels(fdy_rollout_t *self, const char *node, const char *const *labels,
                               size_t count, uint64_t now_ms);

/* What the service found in the telemetry of the current wave's nodes,
 * for fdy_rollout_engine_step(). */
typedef struct {
    bool caught_up;        /* read everything stored up to the soak's end */
    const char *violation; /* NULL, or the reason ("gate x<1 violated: 3 at s/n") */
} fdy_rollout_gates_t;

/* The gates' window while the current wave soaks: true and [from, until]
 * (wall ms) when the wave is done and has gates to check. */
bool fdy_rollout_engine_soaking(const fdy_rollout_t *self, uint64_t *from_ms, uint64_t *until_ms);

/* Decides what happens now: abort criteria, starts within the wave and
 * rate (sets FDY_RNODE_START_DUE), the wave's end, the success share,
 * soak and gates (gates may be NULL when there are none), the next wave,
 * success. Returns true when self changed; *next_ms (may be NULL) gets
 * the ms until it should run again (0: at once; INT64_MAX: only on news). */
bool fdy_rollout_engine_step(fdy_rollout_t *self, uint64_t now_ms, const fdy_rollout_gates_t *gates,
                             int64_t *next_ms);

/* Admin actions. FOUNDRY_OK, or FOUNDRY_EINVAL ("rollout 3 is aborted")
 * when the state does not allow it. */
foundry_err fdy_rollout_engine_pause(fdy_rollout_t *self, fdy_rollout_pause_t why,
                                     const char *reason, uint64_t now_ms, fdy_reason_t *err_reason);
foundry_err fdy_rollout_engine_resume(fdy_rollout_t *self, uint64_t now_ms, fdy_reason_t *reason);
/* Ends the rollout: nodes in flight get FDY_RNODE_CANCEL_DUE and state
 * cancelled. Also used when an abort criterion trips. */
foundry_err fdy_rollout_engine_abort(fdy_rollout_t *self, const char *why, uint64_t now_ms,
                                     fdy_reason_t *reason);

/* Counts over the whole rollout, for rollout.ls. */
typedef struct {
    size_t nodes; /* targets, excluded ones left out */
    size_t healthy;
    size_t failed;
    size_t started; /* started at some point */
} fdy_rollout_counts_t;
void fdy_rollout_engine_counts(const fdy_rollout_t *self, fdy_rollout_counts_t *out);

/* Why a pending node of the current wave has not started, into buf ("" if
 * it should start at the next step): rate, labels, a paused rollout. */
void fdy_rollout_engine_waiting(const fdy_rollout_t *self, const fdy_rollout_node_t *node,
                                uint64_t now_ms, char *buf, size_t size);

#endif
