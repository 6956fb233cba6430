/*  model_stream.c: a push that sends chunks while it hashes them
 *  (STREAM_BEGIN, STREAM_CHUNK; docs/models.md "Streamed push"). The
 *  stream's record is an upload record keyed by the stream id, whose held
 *  bits reference their chunks like any upload's, so the UPLOAD_BEGIN that
 *  follows finds every streamed chunk held, a second run of the push skips
 *  what the first stored, and the collector drops the record and its
 *  chunks when the stream goes idle. Not for the artifact's own upload.
 */
#include "models_core.h"

#include "artifact.h"
#include "log.h"

#include <inttypes.h>
#include <string.h>

static foundry_err
s_shape_check(fdy_models_t *self, const fdy_model_request_t *mr, fdy_reason_t *reason)
{
    if (mr->chunk_size < FDY_MODEL_CHUNK_MIN || mr->chunk_size > FDY_MODEL_CHUNK_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "chunk_size %u is outside %u..%u",
                              mr->chunk_size, FDY_MODEL_CHUNK_MIN, FDY_MODEL_CHUNK_MAX);
    if (mr->size == 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "an artifact of 0 bytes");
    if (mr->size > self->deps.cfg->max_model_size)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG,
                              "artifact of %" PRIu64 " bytes: max_model_size is %" PRIu64, mr->size,
                              self->deps.cfg->max_model_size);
    if (fdy_artifact_chunk_count(mr->size, mr->chunk_size) > FDY_MODEL_CHUNKS_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "%" PRIu64 " bytes make more than %u chunks",
                              mr->size, FDY_MODEL_CHUNKS_MAX);
    uint8_t id[FDY_MODEL_HASH_LEN];
    fdy_artifact_stream_id(mr->size, mr->chunk_size, mr->chunk_hashes, id);
    if (memcmp(id, mr->artifact_hash, sizeof id) != 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "the stream id is not that of its size, chunk size and chunk 0");
    return FOUNDRY_OK;
}

foundry_err
fdy_model_stream_begin(fdy_models_t *self, const fdy_request_t *req, const fdy_model_request_t *mr,
                       fdy_reason_t *reason)
{
    foundry_err err = s_shape_check(self, mr, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_model_upload_t *up = fdy_model_upload_find(self, mr->artifact_hash);
    bool created = false;
    if (up && !up->stream)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "the stream id names an artifact's upload");
    if (up && up->removed) {
        up->removed = false; /* its expiry is not committed yet: it lives on */
    } else if (!up) {
        up = fdy_model_upload_new(mr->artifact_hash, mr->size, mr->chunk_size, NULL,
                                  fdy_artifact_chunk_count(mr->size, mr->chunk_size));
        up->stream = true;
        up->created_ms = fdy_models_wall_ms();
        created = true;
    }
    err = fdy_model_upload_disk_check(self, up, reason);
    if (err != FOUNDRY_OK) {
        if (created)
            fdy_model_upload_free(&up);
        return err;
    }
    if (created)
        fdy_model_upload_insert(self, up);
    up->touched_ms = fdy_models_wall_ms();
    up->dirty = true;
    fdy_models_parked_t *p = fdy_models_park(self, req, FDY_MODELS_PARK_BEGIN);
    memcpy(p->upload, up->id, sizeof p->upload);
    p->created = created;
    /* A new version that shares chunks with an old one: the pusher does
     * better hashing first, so UPLOAD_BEGIN can say which it need not send. */
    p->first_known = fdy_model_chunk_referenced(self, mr->chunk_hashes);
    return FOUNDRY_OK;
}

foundry_err
fdy_model_stream_chunk(fdy_models_t *self, const fdy_request_t *req, const fdy_model_request_t *mr,
                       fdy_reason_t *reason)
{
    fdy_model_upload_t *up = fdy_model_upload_find(self, mr->artifact_hash);
    if (!up || up->removed || !up->stream) {
        char hex[2 * FDY_MODEL_HASH_LEN + 1];
        fdy_blobs_hex(mr->artifact_hash, hex);
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream %.16s: STREAM_BEGIN first",
                              hex);
    }
    if (mr->index >= up->chunk_count)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "chunk %u of an artifact of %zu chunks",
                              mr->index, up->chunk_count);
    return fdy_model_upload_take(self, req, up, mr->index, mr->chunk_hashes, true, reason);
}
