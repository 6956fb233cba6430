/*  model_update.h: one verified model release on its way in, for one
 *  rollout: download its chunks (a window of FETCHes; resumes after a
 *  restart from the temporary file), check each chunk and the artifact id,
 *  write them into NAME/VERSION, wait for the interlock, switch `current`,
 *  persist, run the health check, and go back to `previous` if it fails.
 *  Each step is a REPORT through ops. Non-blocking: driven by
 *  fdy_model_update_service() from the agent's loop. Not for verifying the
 *  notice (model_verify.h) nor for the wire (model_updater.c).
 */
#ifndef FDY_MODEL_UPDATE_H_INCLUDED
#define FDY_MODEL_UPDATE_H_INCLUDED

#include "codec_models.h"
#include "model_check.h"
#include "model_state.h"
#include "model_verify.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the agent gives every update. Borrowed; outlives the update. */
typedef struct {
    const char *models_dir;
    const fdy_model_program_t *interlock; /* NULL: always safe */
    uint64_t interlock_interval_ms;
    const fdy_model_program_t *health; /* NULL: healthy once installed */
    uint32_t window;                   /* FETCHes in flight */
} fdy_model_update_env_t;

typedef struct {
    /* Sends FETCH name version index: FOUNDRY_OK and *request_id, or an
     * error (not connected: asked again later). */
    foundry_err (*fetch)(void *user, const char *name, uint64_t version, uint32_t index,
                         uint64_t *request_id);
    /* REPORT rollout_id name version state done_bytes reason (may be ""). */
    void (*report)(void *user, uint64_t rollout_id, const char *name, uint64_t version,
                   fdy_model_state_t state, uint64_t done_bytes, const char *reason);
    /* The model's new state (switch or rollback), to persist and hold.
     * FOUNDRY_OK or an error with reason. */
    foundry_err (*persist)(void *user, const fdy_model_held_t *state, fdy_reason_t *reason);
} fdy_model_update_ops_t;

typedef struct fdy_model_update fdy_model_update_t;

/* A new update of rollout_id from the verified release v (copied) and the
 * state held for its name (copied; NULL: none). Caller owns. */
fdy_model_update_t *fdy_model_update_new(const fdy_model_update_env_t *env,
                                         const fdy_model_update_ops_t *ops, void *user,
                                         uint64_t rollout_id, const fdy_model_verified_t *v,
                                         const fdy_model_held_t *held);
/* Kills a running check. An unfinished download's temporary file stays
 * for the next start to resume from (a failed or cancelled update removed
 * it already). Accepts NULL. */
void fdy_model_update_destroy(fdy_model_update_t **self_p);

/* One step. Returns true once the update is over (healthy, failed or
 * cancelled): destroy it. */
bool fdy_model_update_service(fdy_model_update_t *self, int64_t now_ms);

/* A FETCH answer: the chunk (borrowed for the call), or the failure
 * (err; a lost or timed-out request is asked again, a refusal fails the
 * update). Returns false when request_id is not this update's. */
bool fdy_model_update_on_chunk(fdy_model_update_t *self, uint64_t request_id, const uint8_t *data,
                               size_t len);
bool fdy_model_update_on_failed(fdy_model_update_t *self, uint64_t request_id, foundry_err err,
                                const char *reason);

/* The rollout was aborted: stops unless the model is switched already
 * (what is installed stays). */
void fdy_model_update_cancel(fdy_model_update_t *self);

uint64_t fdy_model_update_rollout(const fdy_model_update_t *self);
const char *fdy_model_update_name(const fdy_model_update_t *self);
/* After the update is over: true when it ended healthy. */
bool fdy_model_update_healthy(const fdy_model_update_t *self);
/* True while chunks are being fetched (the loop then turns faster). */
bool fdy_model_update_downloading(const fdy_model_update_t *self);

#endif
