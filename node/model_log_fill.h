/*  model_log_fill.h: the release-log entries a notice lacks. A notice
 *  carries at most FDY_MODEL_ENTRIES_MAX entries, the newest; an agent
 *  further behind (a new one once a model has had more releases, or one
 *  offline through them) asks for the gap with LOG, a page at a time, and
 *  verifies the notice with the gap filled in front of its entries. Only
 *  collects: every entry is verified later, with the notice's, by
 *  model_verify.c. Not for the notice's other checks.
 */
#ifndef FDY_MODEL_LOG_FILL_H_INCLUDED
#define FDY_MODEL_LOG_FILL_H_INCLUDED

#include "arena.h"
#include "codec_models.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How far an agent may be behind (entries fetched for one notice). */
#define FDY_MODEL_LOG_FILL_MAX 65536u

typedef struct fdy_model_log_fill fdy_model_log_fill_t;

/* The model and index the notice's first release-log entry names (name
 * in arena). False for a cancel, a notice without entries or one whose
 * entry does not decode (its verification says why). There is a gap when
 * *first_out > held index + 1. */
bool fdy_model_log_first(const fdy_model_notice_t *notice, fdy_arena_t *arena,
                         const char **name_out, uint64_t *first_out);

/* A fill for notice (copied, encoded) from index held_index + 1 on.
 * Caller owns; fdy_model_log_fill_destroy(). NULL when the notice does not
 * encode (reason says why). */
fdy_model_log_fill_t *fdy_model_log_fill_new(const fdy_model_notice_t *notice, const char *name,
                                             uint64_t held_index, fdy_reason_t *reason);
void fdy_model_log_fill_destroy(fdy_model_log_fill_t **self_p);

const char *fdy_model_log_fill_name(const fdy_model_log_fill_t *self);
uint64_t fdy_model_log_fill_rollout(const fdy_model_log_fill_t *self);
/* The index the next LOG asks from; 0 once the gap is filled. */
uint64_t fdy_model_log_fill_next(const fdy_model_log_fill_t *self);

/* Adds the entries of a LOG reply (copied). Each must be the next index
 * and name this model; the part that overlaps the notice's own entries
 * ends the fill. FOUNDRY_OK; FOUNDRY_EDENIED (an entry out of order, of
 * another model, an empty page before the gap is filled, more than
 * FDY_MODEL_LOG_FILL_MAX) or FOUNDRY_EPROTO (does not decode), with
 * reason. */
foundry_err fdy_model_log_fill_add(fdy_model_log_fill_t *self,
                                   const fdy_model_signed_entry_t *entries, size_t count,
                                   fdy_arena_t *arena, fdy_reason_t *reason);

/* Once filled: *out is the notice with the gap's entries in front of its
 * own, decoded into arena; the entries stay valid until destroy.
 * FOUNDRY_OK, or FOUNDRY_EINVAL (not filled yet) / FOUNDRY_EPROTO. */
foundry_err fdy_model_log_fill_notice(fdy_model_log_fill_t *self, fdy_arena_t *arena,
                                      fdy_model_notice_t *out, fdy_reason_t *reason);

#endif
