/*  model_state.h: what the agent holds of one model, persisted in a small
 *  text file per model, <models_dir>/NAME/state, replaced atomically
 *  (temporary name, fsync, rename, directory fsync), so after a crash it
 *  says either the old or the new install, never half of one:
 *
 *      version = 4            installed (current); 0 none
 *      manifest = <64 hex>    BLAKE2b-256 of the installed manifest's bytes
 *      previous = 3           the version `previous` points at; 0 none
 *      previous_manifest = <64 hex>
 *      log_index = 7          release-log head verified (fdy_release_head_t)
 *      log_hash = <64 hex>
 *      log_version = 4
 *      release_version = 5
 *
 *  One file per model rather than the agent's LMDB: an operator can read
 *  it, and it lives beside the files it describes. Not for the files
 *  themselves (model_files.h).
 */
#ifndef FDY_MODEL_STATE_H_INCLUDED
#define FDY_MODEL_STATE_H_INCLUDED

#include "codec_models.h"
#include "reason.h"
#include "release_log.h"

#include <stdint.h>

typedef struct {
    char name[FDY_MODEL_NAME_MAX + 1];
    uint64_t version;
    uint8_t manifest_hash[FDY_MODEL_HASH_LEN];
    uint64_t previous;
    uint8_t previous_manifest_hash[FDY_MODEL_HASH_LEN];
    fdy_release_head_t head;
} fdy_model_held_t;

/* Reads <models_dir>/NAME/state into *out (zeroed, name set first).
 * FOUNDRY_OK, FOUNDRY_ENOTFOUND (no file: nothing installed), FOUNDRY_EIO,
 * or FOUNDRY_EINVAL naming the file and line. */
foundry_err fdy_model_state_load(const char *models_dir, const char *name, fdy_model_held_t *out,
                                 fdy_reason_t *reason);

/* Writes state atomically (creating <models_dir>/NAME). FOUNDRY_OK or
 * FOUNDRY_EIO with reason. */
foundry_err fdy_model_state_save(const char *models_dir, const fdy_model_held_t *state,
                                 fdy_reason_t *reason);

/* Calls fn for each model with a readable state file under models_dir (a
 * bad one is skipped with a WARN naming it). FOUNDRY_OK (also when
 * models_dir does not exist) or FOUNDRY_EIO. */
typedef void(fdy_model_state_fn)(const fdy_model_held_t *state, void *user);
foundry_err fdy_model_state_each(const char *models_dir, fdy_model_state_fn *fn, void *user,
                                 fdy_reason_t *reason);

/* Writes data to dir/name atomically: dir/.name.tmp, fsync, rename, fsync
 * of dir. FOUNDRY_OK or FOUNDRY_EIO with reason. Shared with model_files.c. */
foundry_err fdy_model_state_write_file(const char *dir, const char *name, const void *data,
                                       size_t len, fdy_reason_t *reason);

/* fsync of a directory (after a rename in it). FOUNDRY_OK or FOUNDRY_EIO. */
foundry_err fdy_model_state_sync_dir(const char *dir, fdy_reason_t *reason);

#endif
