/*  model_upload.c: uploads of model artifacts (UPLOAD_BEGIN, UPLOAD_CHUNK)
 *  and the collector of what an interrupted upload left. A chunk is
 *  hashed once on arrival, written as a blob without fsync, and becomes
 *  "held" only when the turn's commit (models.c) has fsynced the blobs and
 *  stored the upload's bitmap. Chunk references (every held bit of every
 *  upload, every chunk of every accepted manifest) decide which blobs live.
 */
#include "models_core.h"

#include "artifact.h"
#include "log.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/* Bounds on the upkeep one tick does. */
#define EXPIRE_PER_TICK   64
#define GC_VISIT_PER_TICK 1024
#define GC_INTERVAL_MS    10000

#define MIB ((uint64_t) 1024 * 1024)

void
fdy_model_upload_free(fdy_model_upload_t **self_p)
{
    fdy_model_upload_t *self = *self_p;
    if (!self)
        return;
    free(self->hashes);
    free(self->have);
    free(self);
    *self_p = NULL;
}

fdy_model_upload_t *
fdy_model_upload_find(fdy_models_t *self, const uint8_t id[32])
{
    char hex[2 * FDY_MODEL_HASH_LEN + 1];
    fdy_blobs_hex(id, hex);
    fdy_model_upload_t *up = zhashx_lookup(self->uploads, hex);
    return up;
}

void
fdy_model_chunk_ref(fdy_models_t *self, const uint8_t hash[32], uint64_t len, int delta)
{
    char hex[2 * FDY_MODEL_HASH_LEN + 1];
    fdy_blobs_hex(hash, hex);
    fdy_model_chunk_ref_t *ref = zhashx_lookup(self->chunks, hex);
    if (delta > 0) {
        if (!ref) {
            ref = fdy_xalloc(sizeof *ref);
            ref->len = len;
            zhashx_insert(self->chunks, hex, ref);
        }
        ref->refs++;
    } else if (ref && --ref->refs == 0) {
        zhashx_delete(self->chunks, hex);
    }
}

bool
fdy_model_chunk_referenced(fdy_models_t *self, const uint8_t hash[32])
{
    char hex[2 * FDY_MODEL_HASH_LEN + 1];
    fdy_blobs_hex(hash, hex);
    return zhashx_lookup(self->chunks, hex) != NULL;
}

fdy_model_upload_t *
fdy_model_upload_new(const uint8_t id[32], uint64_t size, uint32_t chunk_size,
                     const uint8_t *hashes, size_t chunk_count)
{
    fdy_model_upload_t *up = fdy_xalloc(sizeof *up);
    memcpy(up->id, id, sizeof up->id);
    up->size = size;
    up->chunk_size = chunk_size;
    up->chunk_count = chunk_count;
    up->hashes = fdy_xalloc(chunk_count * FDY_MODEL_HASH_LEN);
    if (hashes)
        memcpy(up->hashes, hashes, chunk_count * FDY_MODEL_HASH_LEN);
    else
        memset(up->hashes, 0, chunk_count * FDY_MODEL_HASH_LEN);
    up->have_len = (chunk_count + 7) / 8;
    up->have = fdy_xalloc(up->have_len);
    return up;
}

void
fdy_model_upload_insert(fdy_models_t *self, fdy_model_upload_t *up)
{
    char hex[2 * FDY_MODEL_HASH_LEN + 1];
    fdy_blobs_hex(up->id, hex);
    zhashx_insert(self->uploads, hex, up);
}

/* Chunks already held durably, by this or any other artifact, count as
 * held: identical chunks are stored once. */
static void
s_adopt_held(fdy_models_t *self, fdy_model_upload_t *up)
{
    for (size_t c = 0; c < up->chunk_count; c++) {
        const uint8_t *hash = up->hashes + c * FDY_MODEL_HASH_LEN;
        if ((up->have[c / 8] & (1u << (c % 8))) || !fdy_model_chunk_referenced(self, hash))
            continue;
        up->have[c / 8] |= (uint8_t) (1u << (c % 8));
        up->held++;
        up->dirty = true;
        fdy_model_chunk_ref(self, hash, fdy_artifact_chunk_len(up->size, up->chunk_size, c), 1);
    }
}

foundry_err
fdy_model_upload_disk_check(fdy_models_t *self, const fdy_model_upload_t *up, fdy_reason_t *reason)
{
    uint64_t needed = 0;
    for (size_t c = 0; c < up->chunk_count; c++)
        if (!(up->have[c / 8] & (1u << (c % 8))))
            needed += fdy_artifact_chunk_len(up->size, up->chunk_size, c);
    struct statvfs vfs;
    if (statvfs(fdy_blobs_dir(self->blobs), &vfs) != 0)
        return FOUNDRY_OK; /* no answer is no reason to refuse; a full disk says ENOSPC later */
    uint64_t free_bytes = (uint64_t) vfs.f_bavail * vfs.f_frsize;
    if (needed > free_bytes)
        return fdy_reason_set(reason, FOUNDRY_ENOSPC,
                              "blob disk full: %" PRIu64 " MB free, artifact needs %" PRIu64 " MB",
                              free_bytes / MIB, (needed + MIB - 1) / MIB);
    return FOUNDRY_OK;
}

foundry_err
fdy_model_upload_begin(fdy_models_t *self, const fdy_request_t *req, const fdy_model_request_t *mr,
                       fdy_reason_t *reason)
{
    if (!mr->artifact_hash)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "UPLOAD_BEGIN needs artifact_hash");
    if (mr->chunk_size < FDY_MODEL_CHUNK_MIN || mr->chunk_size > FDY_MODEL_CHUNK_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "chunk_size %u is outside %u..%u",
                              mr->chunk_size, FDY_MODEL_CHUNK_MIN, FDY_MODEL_CHUNK_MAX);
    if (mr->size == 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "an artifact of 0 bytes");
    if (mr->size > self->deps.cfg->max_model_size)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG,
                              "artifact of %" PRIu64 " bytes: max_model_size is %" PRIu64, mr->size,
                              self->deps.cfg->max_model_size);
    if (mr->chunk_count != fdy_artifact_chunk_count(mr->size, mr->chunk_size))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "%zu chunk hashes for %" PRIu64 " bytes in chunks of %u",
                              mr->chunk_count, mr->size, mr->chunk_size);
    uint8_t id[FDY_MODEL_HASH_LEN];
    fdy_artifact_id(mr->size, mr->chunk_size, mr->chunk_hashes, mr->chunk_count, id);
    if (memcmp(id, mr->artifact_hash, sizeof id) != 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "artifact_hash is not the artifact id of its size, chunk size "
                              "and chunk hashes");
    fdy_model_upload_t *up = fdy_model_upload_find(self, id);
    bool created = false;
    if (up && up->removed) {
        up->removed = false; /* its expiry is not committed yet: it lives on */
    } else if (!up) {
        up = fdy_model_upload_new(id, mr->size, mr->chunk_size, mr->chunk_hashes, mr->chunk_count);
        up->created_ms = fdy_models_wall_ms();
        created = true;
    }
    s_adopt_held(self, up);
    foundry_err err = fdy_model_upload_disk_check(self, up, reason);
    if (err != FOUNDRY_OK) {
        if (created) {
            for (size_t c = 0; c < up->chunk_count; c++)
                if (up->have[c / 8] & (1u << (c % 8)))
                    fdy_model_chunk_ref(self, up->hashes + c * FDY_MODEL_HASH_LEN, 0, -1);
            fdy_model_upload_free(&up);
        }
        return err;
    }
    if (created)
        fdy_model_upload_insert(self, up);
    up->touched_ms = fdy_models_wall_ms();
    up->dirty = true;
    fdy_models_parked_t *p = fdy_models_park(self, req, FDY_MODELS_PARK_BEGIN);
    memcpy(p->upload, id, sizeof id);
    p->created = created;
    return FOUNDRY_OK;
}

foundry_err
fdy_model_upload_chunk(fdy_models_t *self, const fdy_request_t *req, const fdy_model_request_t *mr,
                       fdy_reason_t *reason)
{
    if (!mr->artifact_hash)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "UPLOAD_CHUNK needs artifact_hash");
    fdy_model_upload_t *up = fdy_model_upload_find(self, mr->artifact_hash);
    if (!up || up->removed) {
        char hex[2 * FDY_MODEL_HASH_LEN + 1];
        fdy_blobs_hex(mr->artifact_hash, hex);
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND,
                              "no upload of artifact %.16s: UPLOAD_BEGIN first", hex);
    }
    if (mr->index >= up->chunk_count)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "chunk %u of an artifact of %zu chunks",
                              mr->index, up->chunk_count);
    return fdy_model_upload_take(self, req, up, mr->index,
                                 up->hashes + (size_t) mr->index * FDY_MODEL_HASH_LEN, false,
                                 reason);
}

foundry_err
fdy_model_upload_take(fdy_models_t *self, const fdy_request_t *req, fdy_model_upload_t *up,
                      uint32_t index, const uint8_t hash[32], bool streamed, fdy_reason_t *reason)
{
    const fdy_slice_t *bytes = &req->frames[2];
    size_t expected = fdy_artifact_chunk_len(up->size, up->chunk_size, index);
    if (bytes->len != expected)
        return fdy_reason_set(reason, bytes->len > expected ? FOUNDRY_ETOOBIG : FOUNDRY_EINVAL,
                              "chunk %u is %zu bytes, %s says %zu", index, bytes->len,
                              streamed ? "the stream's size" : "manifest", expected);
    if (up->have[index / 8] & (1u << (index % 8))) {
        /* Held: an upload names its hashes up front, a stream learnt this
         * one from the chunk that filled the slot. */
        if (memcmp(up->hashes + (size_t) index * FDY_MODEL_HASH_LEN, hash, FDY_MODEL_HASH_LEN))
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "chunk %u: this stream holds other bytes there", index);
    } else if (!fdy_model_chunk_referenced(self, hash)) {
        /* The one hashing pass: the bytes must be what the pusher says,
         * or nothing is stored. */
        uint8_t got[FDY_MODEL_HASH_LEN];
        fdy_artifact_hash_chunk(bytes->data, bytes->len, got);
        if (memcmp(got, hash, sizeof got) != 0)
            return streamed ? fdy_reason_set(reason, FOUNDRY_EINVAL,
                                             "chunk %u: its bytes do not match its hash", index)
                            : fdy_reason_set(reason, FOUNDRY_EINVAL, "chunk %u hash mismatch",
                                             index);
        foundry_err err = fdy_model_upload_store(self, hash, index, bytes, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    up->touched_ms = fdy_models_wall_ms();
    up->dirty = true;
    fdy_models_parked_t *p = fdy_models_park(self, req, FDY_MODELS_PARK_CHUNK);
    memcpy(p->upload, up->id, sizeof p->upload);
    memcpy(p->hash, hash, sizeof p->hash);
    p->index = index;
    return FOUNDRY_OK;
}

foundry_err
fdy_model_upload_store(fdy_models_t *self, const uint8_t hash[32], uint32_t index,
                       const fdy_slice_t *bytes, fdy_reason_t *reason)
{
    /* A blob no durable record names may be what a crash left of an
     * unsynced write: it is written again, never trusted. */
    foundry_err err = fdy_blobs_remove(self->blobs, hash, reason);
    if (err == FOUNDRY_OK)
        err = fdy_blobs_put_trusted(self->blobs, hash, bytes->data, bytes->len, false, reason);
    if (err != FOUNDRY_OK) {
        fdy_log_warn_limited("MODEL-BLOB-WRITE", "chunk %u: %s", index, reason->text);
        return err;
    }
    self->blobs_unsynced = true;
    self->chunks_received++;
    return FOUNDRY_OK;
}

foundry_err
fdy_model_upload_load(fdy_models_t *self, const uint8_t *key, size_t key_len, const uint8_t *value,
                      size_t len, fdy_reason_t *reason)
{
    (void) reason;
    fdy_store_model_upload_t rec;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err =
        key_len == FDY_MODEL_HASH_LEN
            ? fdy_store_model_upload_decode(value, len, &rec, &why)
            : fdy_reason_set(&why, FOUNDRY_ECORRUPT, "upload key of %zu bytes", key_len);
    if (err == FOUNDRY_OK)
        err = fdy_store_model_upload_check_id(&rec, key, &why);
    if (err != FOUNDRY_OK) {
        fdy_log_err("MODEL-RECORD-BAD", "upload not loaded: %s", why.text);
        return FOUNDRY_OK;
    }
    fdy_model_upload_t *up =
        fdy_model_upload_new(key, rec.size, rec.chunk_size, rec.chunk_hashes, rec.chunk_count);
    up->stream = rec.stream;
    memcpy(up->have, rec.have, up->have_len);
    up->created_ms = rec.created_ms;
    up->touched_ms = rec.touched_ms;
    up->durable = true;
    for (size_t c = 0; c < up->chunk_count; c++) {
        if (!(up->have[c / 8] & (1u << (c % 8))))
            continue;
        up->held++;
        fdy_model_chunk_ref(self, up->hashes + c * FDY_MODEL_HASH_LEN,
                            fdy_artifact_chunk_len(up->size, up->chunk_size, c), 1);
    }
    fdy_model_upload_insert(self, up);
    return FOUNDRY_OK;
}

static bool
s_keep_blob(const uint8_t hash[FDY_BLOB_HASH_LEN], void *user)
{
    return fdy_model_chunk_referenced(user, hash);
}

int64_t
fdy_model_upload_tick(fdy_models_t *self, int64_t now_ms)
{
    if (now_ms < self->gc_next_ms)
        return self->gc_next_ms - now_ms;
    uint64_t gc_after = self->deps.cfg->upload_gc_after_ms;
    int64_t interval = gc_after < GC_INTERVAL_MS ? (int64_t) gc_after : GC_INTERVAL_MS;
    self->gc_next_ms = now_ms + interval;
    uint64_t wall = fdy_models_wall_ms();
    size_t expired = 0;
    for (fdy_model_upload_t *up = zhashx_first(self->uploads); up && expired < EXPIRE_PER_TICK;
         up = zhashx_next(self->uploads)) {
        if (up->removed || !up->durable || up->touched_ms + gc_after > wall)
            continue;
        up->removed = true;
        up->dirty = true;
        expired++;
        self->uploads_expired++;
        char hex[2 * FDY_MODEL_HASH_LEN + 1];
        fdy_blobs_hex(up->id, hex);
        fdy_log_info("MODEL-UPLOAD-EXPIRED",
                     "upload %.16s idle since %" PRIu64 " (%zu of %zu "
                     "chunks): dropped",
                     hex, up->touched_ms, up->held, up->chunk_count);
    }
    /* Only blobs older than the idle limit go, so a chunk written this
     * turn (not yet referenced by a commit) is never collected. */
    uint64_t removed = 0, bytes = 0;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    int64_t older_than_s = (int64_t) (gc_after / 1000) ? (int64_t) (gc_after / 1000) : 1;
    if (fdy_blobs_gc(self->blobs, older_than_s, s_keep_blob, self, GC_VISIT_PER_TICK, &removed,
                     &bytes, &why) != FOUNDRY_OK)
        fdy_log_warn_limited("MODEL-BLOB-GC", "%s", why.text);
    if (removed) {
        self->blobs_removed += removed;
        fdy_log_info("MODEL-BLOB-GC", "%" PRIu64 " unused chunks removed (%" PRIu64 " bytes)",
                     removed, bytes);
    }
    return interval;
}
