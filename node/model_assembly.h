/*  model_assembly.h: a version file in the making. Each chunk, checked
 *  against its hash, is written straight into <model_dir>/.VERSION.tmp at
 *  its offset: no copy of it is kept elsewhere and no byte is written
 *  twice. The file becomes <model_dir>/VERSION (fsync, rename, directory
 *  fsync) only once every chunk is in. A restart resumes from the
 *  temporary file an earlier run left, trusting none of it: each chunk
 *  there is hashed again (a crash may have left it half on disk) and only
 *  those that match count. Not for deciding what to fetch (model_update.c)
 *  nor for the links (model_files.h).
 */
#ifndef FDY_MODEL_ASSEMBLY_H_INCLUDED
#define FDY_MODEL_ASSEMBLY_H_INCLUDED

#include "codec_models.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fdy_model_assembly fdy_model_assembly_t;

/* Opens model_dir/.VERSION.tmp (model_dir created), keeping what an
 * earlier run wrote when its length is the artifact's, else starting it
 * empty. chunk_hashes (chunk_count x 32 bytes) are copied. Returns
 * FOUNDRY_OK and *out (caller owns; fdy_model_assembly_destroy()), or
 * FOUNDRY_EIO with reason. */
foundry_err fdy_model_assembly_new(const char *model_dir, uint64_t version, uint64_t size,
                                   uint32_t chunk_size, const uint8_t *chunk_hashes,
                                   size_t chunk_count, fdy_model_assembly_t **out,
                                   fdy_reason_t *reason);

/* Checks up to max_chunks more chunks of what the file held when opened
 * (holes are skipped unread), a few per call so a large model never holds
 * up the agent's loop. *done_out = true once every chunk was looked at.
 * FOUNDRY_OK or FOUNDRY_EIO with reason. */
foundry_err fdy_model_assembly_resume(fdy_model_assembly_t *self, size_t max_chunks, bool *done_out,
                                      fdy_reason_t *reason);

/* True when chunk index is in the file, checked. */
bool fdy_model_assembly_has(const fdy_model_assembly_t *self, size_t index);

/* Checks chunk index (its length and hash against the manifest's) and
 * writes it at its offset, without fsync. FOUNDRY_OK, FOUNDRY_EINVAL (wrong
 * length or hash: nothing written) or FOUNDRY_EIO (disk full included),
 * with reason. */
foundry_err fdy_model_assembly_put(fdy_model_assembly_t *self, size_t index, const uint8_t *data,
                                   size_t len, fdy_reason_t *reason);

/* Every chunk in: fsync, rename to model_dir/VERSION, directory fsync.
 * FOUNDRY_OK, FOUNDRY_EINVAL (chunks missing) or FOUNDRY_EIO, with
 * reason; after an error destroy it. */
foundry_err fdy_model_assembly_finish(fdy_model_assembly_t *self, fdy_reason_t *reason);

/* Closes it. An unfinished temporary file is removed, unless keep (the
 * agent stops mid-download: the next start resumes from it). Accepts
 * NULL. */
void fdy_model_assembly_destroy(fdy_model_assembly_t **self_p, bool keep);

#endif
