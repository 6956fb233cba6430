/*  rollouts_core.h: the state the rollouts service's modules share
 *  (private to broker/rollouts/). rollouts.c is the service (load, commit,
 *  tick, the models hooks), rollouts_admin.c the rollout.* commands,
 *  rollout_gates.c the telemetry reader behind gates, rollout_act.c what a
 *  node's start and cancel mean for models and for fleet jobs.
 */
#ifndef FDY_ROLLOUTS_CORE_H_INCLUDED
#define FDY_ROLLOUTS_CORE_H_INCLUDED

#include "jobs.h"
#include "models.h"
#include "rollout_engine.h"
#include "service.h"
#include "store_rollouts.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

/* The gate reader of one site's telemetry stream during a wave's soak. */
typedef struct {
    char site[FDY_NAME_MAX];
    uint64_t next_seq;
    bool caught_up;
} fdy_rollout_gate_site_t;

typedef struct {
    uint64_t from_ms, until_ms; /* the window this reader was set up for */
    uint32_t wave;
    fdy_rollout_gate_site_t *sites;
    size_t site_count;
    char violation[FDY_ROLLOUT_TEXT_MAX]; /* "" while every gate holds */
} fdy_rollout_gate_scan_t;

/* One rollout and its non-durable companions. */
typedef struct {
    fdy_rollout_t rollout;
    fdy_rollout_gate_scan_t scan;
    bool settled; /* ended, and no cancel is owed any more */
    bool removing; /* kept past rollout_keep_ended: its removal is owed or in the commit */
} fdy_rollouts_item_t;

typedef struct {
    fdy_service_deps_t deps;
    fdy_models_t *models;        /* NULL: no models service, model rollouts refused */
    fdy_jobs_t *jobs;            /* NULL: no jobs service, fleet jobs refused */
    fdy_rollouts_item_t **items; /* by start order (= id order) */
    size_t item_count, item_capacity;
    uint64_t next_id;
    zhashx_t *labels; /* node name -> its last WATCH labels (char *, space-joined) */
    /* The commit in flight. */
    fdy_store_rollout_write_t *writes;
    uint8_t **write_bufs;
    fdy_rollouts_item_t **written;
    size_t write_count, write_capacity;
    fdy_store_rollouts_t part;
    bool added;
    fdy_arena_t *arena; /* telemetry decoding */
    /* counters */
    uint64_t started, aborted, succeeded, nodes_started, reports, reports_ignored, gate_pauses;
    uint64_t removed;
} fdy_rollouts_t;

/* Wall-clock ms: what rollout times are in. */
uint64_t fdy_rollouts_wall_ms(void);
/* The rollout with id, or NULL. */
fdy_rollouts_item_t *fdy_rollouts_get(fdy_rollouts_t *self, uint64_t id);
/* Adds a new rollout (takes ownership). */
void fdy_rollouts_add(fdy_rollouts_t *self, fdy_rollouts_item_t *item);
void fdy_rollouts_item_destroy(fdy_rollouts_item_t **item_p);
/* Parses item->rollout.rec.args into its options; FOUNDRY_EINVAL with reason. */
foundry_err fdy_rollouts_item_parse(fdy_rollouts_item_t *item, fdy_reason_t *reason);
/* The labels known for node (WATCH or job registration) in labels_out (up
 * to max, borrowed until the next rollouts or jobs call), or -1 when none
 * are known. buf holds the copies. */
int fdy_rollouts_node_labels(fdy_rollouts_t *self, const char *node, char *buf, size_t size,
                             const char **labels_out, size_t max);

/* ---- rollout_act.c ---- */
/* Does what the engine flagged (start, cancel) and follows fleet jobs'
 * states, for one rollout. Bounded by the wave's size. */
void fdy_rollout_act(fdy_rollouts_t *self, fdy_rollouts_item_t *item, uint64_t now_ms);

/* ---- rollout_gates.c ---- */
/* Reads (boundedly) the telemetry of the soaking wave's nodes and fills
 * *out; false when the rollout is not soaking with gates. */
bool fdy_rollout_gates_check(fdy_rollouts_t *self, fdy_rollouts_item_t *item, uint64_t now_ms,
                             fdy_rollout_gates_t *out);
void fdy_rollout_gates_reset(fdy_rollout_gate_scan_t *scan);

/* ---- rollouts_admin.c ---- */
extern const char *const fdy_rollouts_admin_prefixes[];
foundry_err fdy_rollouts_admin(void *self, const fdy_admin_call_t *call, fdy_admin_table_t *out,
                               fdy_reason_t *reason);

#endif
