/*  model_files.h: a model's files under <models_dir>/NAME: one file per
 *  version (NAME/VERSION, the artifact: model_assembly.h writes it), and
 *  two symlinks, `current` (what runs) and `previous`
 *  (what a failed health check goes back to), each replaced by an atomic
 *  rename. Everything that becomes visible was fsynced first, with its
 *  directory. Not for deciding what to install (model_update.c).
 */
#ifndef FDY_MODEL_FILES_H_INCLUDED
#define FDY_MODEL_FILES_H_INCLUDED

#include "codec_models.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Points model_dir/current at VERSION and model_dir/previous at what
 * current pointed at before (unless that is VERSION itself). The file
 * VERSION must exist. *old_out (may be NULL) gets the version current held
 * (0: none). FOUNDRY_OK, FOUNDRY_ENOTFOUND or FOUNDRY_EIO, with reason. */
foundry_err fdy_model_files_switch(const char *model_dir, uint64_t version, uint64_t *old_out,
                                   fdy_reason_t *reason);

/* Points model_dir/current back at the version `previous` names (a failed
 * health check); previous is left as it is. *version_out gets it.
 * FOUNDRY_ENOTFOUND when there is no previous (current is then removed, so
 * nothing unhealthy stays current), FOUNDRY_EIO. */
foundry_err fdy_model_files_rollback(const char *model_dir, uint64_t *version_out,
                                     fdy_reason_t *reason);

/* The version a link (current or previous) points at: FOUNDRY_OK and
 * *version_out, or FOUNDRY_ENOTFOUND. */
foundry_err fdy_model_files_link(const char *model_dir, const char *link, uint64_t *version_out);

/* Removes version files other than keep_a and keep_b (0: none), and
 * leftover temporary files. Returns how many it removed. */
size_t fdy_model_files_prune(const char *model_dir, uint64_t keep_a, uint64_t keep_b);

#endif
