/*  model_updater.h: foundry-node's model updates (docs/node.md, "Model
 *  updates"): on every (re)connect it tells the broker what it holds
 *  (WATCH: installed models, versions, release-log heads, labels), verifies
 *  each notice it gets back or is pushed (model_verify.h), runs one update
 *  per model (model_update.h) and reports each step (REPORT). Driven from
 *  the agent's loop (agent.c); one thread, never blocking for long.
 */
#ifndef FDY_MODEL_UPDATER_H_INCLUDED
#define FDY_MODEL_UPDATER_H_INCLUDED

#include "agent_config.h"
#include "model_state.h"
#include "foundry.h"

#include <stdint.h>

typedef struct fdy_model_updater fdy_model_updater_t;

/* Makes models_dir (removing the chunk directory .blobs that agents before
 * this one left there), reads every model's state, loads the trust
 * file and release key and parses the interlock and health programs.
 * FOUNDRY_OK and *out (caller owns), or the error with reason naming the
 * option (a trust file that does not parse, a bad key). Without a trust
 * file or release key it still starts, and refuses every update, saying
 * so in each report. */
foundry_err fdy_model_updater_new(const fdy_agent_cfg_t *cfg, fdy_model_updater_t **out,
                                  fdy_reason_t *reason);
/* Stops what runs (downloads resume at the next start). Accepts NULL. */
void fdy_model_updater_destroy(fdy_model_updater_t **self_p);

/* The client to use (borrowed until detach), after a connect. */
void fdy_model_updater_attach(fdy_model_updater_t *self, foundry_client_t *client);
void fdy_model_updater_detach(fdy_model_updater_t *self);

/* One turn: WATCH when due, answers and notices, every update's step.
 * Returns the ms until it needs the next turn. */
int fdy_model_updater_service(fdy_model_updater_t *self, int64_t now_ms);

/* For the agent's metrics: the models installed now (borrowed, valid
 * until the next fdy_model_updater_service()), and the updates downloading
 * or installing, and waiting for a slot. */
size_t fdy_model_updater_held(const fdy_model_updater_t *self, const fdy_model_held_t **held_out);
size_t fdy_model_updater_running(const fdy_model_updater_t *self);
size_t fdy_model_updater_waiting(const fdy_model_updater_t *self);

#endif
