/*  store_rollouts.h: the rollouts table. A rollout is one record under its
 *  id: the arguments it was started with (parsed again at load, so options
 *  have one parser), its state, and every target node's state. The format
 *  is defined here (store_rollouts.c) so the store check can read it.
 *  Writes travel as fdy_store_rollouts_part of the turn's commit.
 */
#ifndef FDY_STORE_ROLLOUTS_H_INCLUDED
#define FDY_STORE_ROLLOUTS_H_INCLUDED

#include "codec.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDY_ROLLOUT_TEXT_MAX  256u          /* a reason, with NUL */
#define FDY_ROLLOUT_ARGS_MAX  64u           /* rollout.start arguments */
#define FDY_ROLLOUT_ARG_MAX   (64u * 1024u) /* bytes of one (data=TEXT) */
#define FDY_ROLLOUT_NODES_MAX 65536u

/* One target node's durable state. state and flags are the engine's
 * (rollout_engine.h); the store only keeps them. */
typedef struct {
    char name[FDY_NAME_MAX];
    char site[FDY_NAME_MAX];
    uint32_t wave;
    uint8_t state;
    uint8_t flags;
    uint64_t job_id;
    uint64_t done_bytes;
    uint64_t total_bytes;
    uint64_t started_ms; /* wall clock */
    uint64_t updated_ms;
    char reason[FDY_ROLLOUT_TEXT_MAX];
} fdy_rollout_node_t;

/* One rollout. args and nodes are owned (fdy_store_rollouts_record_clear). */
typedef struct {
    uint64_t id;
    char **args;
    size_t arg_count;
    uint8_t state;          /* the engine's */
    uint8_t pause;          /* why it is paused */
    uint32_t wave;          /* the current wave, 0-based */
    uint64_t wave_done_ms;  /* when its last node ended (the soak starts); 0 not yet */
    uint64_t soak_from_ms;  /* the gates' window starts here (a resume restarts it) */
    uint64_t last_start_ms; /* the last node started (rate) */
    uint64_t created_ms;
    uint64_t updated_ms;
    char reason[FDY_ROLLOUT_TEXT_MAX];
    fdy_rollout_node_t *nodes;
    size_t node_count;
} fdy_rollout_record_t;

/* Encodes rec. Caller owns *buf_out (free()). FOUNDRY_OK, or FOUNDRY_EINVAL
 * (over the limits above) with reason. Aborts on out-of-memory. */
foundry_err fdy_store_rollouts_encode(const fdy_rollout_record_t *rec, uint8_t **buf_out,
                                      size_t *len_out, fdy_reason_t *reason);

/* Decodes untrusted bytes into *out (zeroed first; caller clears it, also
 * after an error). FOUNDRY_OK or FOUNDRY_ECORRUPT with reason. */
foundry_err fdy_store_rollouts_decode(const uint8_t *buf, size_t len, fdy_rollout_record_t *out,
                                      fdy_reason_t *reason);

/* Frees what rec owns and zeroes it. */
void fdy_store_rollouts_record_clear(fdy_rollout_record_t *rec);

/* One write: a rollout's encoded record, or its removal (record NULL). */
typedef struct {
    uint64_t id;
    const uint8_t *record; /* borrowed until the commit is done with; NULL: remove */
    size_t len;
} fdy_store_rollout_write_t;

/* data of fdy_store_rollouts_part (declared in commit.h). Not droppable. */
typedef struct {
    const fdy_store_rollout_write_t *items;
    size_t count;
} fdy_store_rollouts_t;

/* One stored rollout, decoded; borrowed for the call only. A record that
 * does not decode is passed as NULL with its reason (the caller reports
 * and skips it). Return non-OK to stop. */
typedef foundry_err(fdy_store_rollout_fn)(uint64_t id, const fdy_rollout_record_t *rec,
                                          const char *bad, void *user, fdy_reason_t *reason);

/* Calls fn for every stored rollout in id order, in one read transaction.
 * Returns FOUNDRY_OK, FOUNDRY_ESTORE or what fn returned, with reason. */
foundry_err fdy_store_rollouts_scan(fdy_store_t *store, fdy_store_rollout_fn *fn, void *user,
                                    fdy_reason_t *reason);

/* Writes rec at once in a transaction of its own (one fsync): for
 * rollout.start, whose id is answered only once it is durable. Returns
 * FOUNDRY_OK, FOUNDRY_EINVAL, FOUNDRY_EFULL or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_rollouts_put(fdy_store_t *store, const fdy_rollout_record_t *rec,
                                   fdy_reason_t *reason);

#endif
