/*  model_assembly.c: a version file written chunk by chunk at each
 *  chunk's offset (model_assembly.h). The temporary file has the
 *  artifact's length from the start (sparse until written), so a chunk
 *  that never arrived is a hole a resume skips without reading it.
 */
#define _GNU_SOURCE /* lseek's SEEK_DATA, to skip holes unread */
#include "model_assembly.h"

#include "artifact.h"
#include "direct_write.h"
#include "files.h"
#include "model_state.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_LEN 4096

struct fdy_model_assembly {
    char dir[PATH_LEN];
    char tmp[PATH_LEN];
    char path[PATH_LEN];
    uint64_t size;
    uint32_t chunk_size;
    uint8_t *hashes;
    size_t chunk_count;
    uint8_t *have; /* a bit per chunk: in the file, checked */
    size_t held;   /* bits set in have */
    int fd;
    bool resuming;      /* the file is one an earlier run left */
    size_t next_resume; /* the next chunk resume() looks at */
    uint8_t *buf;       /* one chunk, for resume() only */
    /* Chunks go past the page cache: on our virtual machines a buffered
     * write of a fresh file cost more CPU than decrypting and hashing the
     * chunk together, and finish()'s fsync() has little left to wait for. */
    fdy_direct_writer_t *writer;
};

static bool
s_have(const fdy_model_assembly_t *self, size_t index)
{
    return (self->have[index / 8] >> (index % 8)) & 1u;
}

static void
s_mark(fdy_model_assembly_t *self, size_t index)
{
    if (s_have(self, index))
        return;
    self->have[index / 8] |= (uint8_t) (1u << (index % 8));
    self->held++;
}

/* Opens the temporary file: kept when it has the artifact's length (a
 * resume), else emptied and given that length. */
static foundry_err
s_open(fdy_model_assembly_t *self, fdy_reason_t *reason)
{
    self->fd = open(self->tmp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (self->fd < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot create %s: %s", self->tmp,
                              strerror(errno));
    struct stat st;
    if (fstat(self->fd, &st) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "stat %s: %s", self->tmp, strerror(errno));
    if (S_ISREG(st.st_mode) && (uint64_t) st.st_size == self->size && st.st_blocks > 0) {
        self->resuming = true;
        return FOUNDRY_OK;
    }
    if (ftruncate(self->fd, 0) != 0 || ftruncate(self->fd, (off_t) self->size) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "sizing %s: %s", self->tmp, strerror(errno));
    return FOUNDRY_OK;
}

foundry_err
fdy_model_assembly_new(const char *model_dir, uint64_t version, uint64_t size, uint32_t chunk_size,
                       const uint8_t *chunk_hashes, size_t chunk_count, fdy_model_assembly_t **out,
                       fdy_reason_t *reason)
{
    *out = NULL;
    if (mkdir(model_dir, 0700) != 0 && errno != EEXIST)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot create %s: %s", model_dir,
                              strerror(errno));
    fdy_model_assembly_t *self = fdy_xalloc(sizeof *self);
    self->fd = -1;
    if ((size_t) snprintf(self->dir, sizeof self->dir, "%s", model_dir) >= sizeof self->dir ||
        (size_t) snprintf(self->tmp, sizeof self->tmp, "%s/.%" PRIu64 ".tmp", model_dir, version) >=
            sizeof self->tmp ||
        (size_t) snprintf(self->path, sizeof self->path, "%s/%" PRIu64, model_dir, version) >=
            sizeof self->path) {
        free(self);
        return fdy_reason_set(reason, FOUNDRY_EIO, "models_dir is too long");
    }
    self->size = size;
    self->chunk_size = chunk_size;
    self->chunk_count = chunk_count;
    self->hashes = fdy_xalloc(chunk_count ? chunk_count * FDY_MODEL_HASH_LEN : 1);
    if (chunk_count)
        memcpy(self->hashes, chunk_hashes, chunk_count * FDY_MODEL_HASH_LEN);
    self->have = fdy_xalloc(chunk_count / 8 + 1);
    self->writer = fdy_direct_writer_new(); /* NULL: plain writes, slower only */
    foundry_err err = s_open(self, reason);
    if (err != FOUNDRY_OK) {
        fdy_model_assembly_destroy(&self, false);
        return err;
    }
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_model_assembly_destroy(fdy_model_assembly_t **self_p, bool keep)
{
    fdy_model_assembly_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0) {
        close(self->fd);
        if (!keep)
            unlink(self->tmp);
    }
    free(self->hashes);
    free(self->have);
    free(self->buf);
    fdy_direct_writer_destroy(&self->writer);
    free(self);
    *self_p = NULL;
}

/* ---- resume ------------------------------------------------------------------ */

/* True when [start, start + len) of the file holds no data at all. */
static bool
s_hole(const fdy_model_assembly_t *self, uint64_t start, size_t len)
{
    off_t data = lseek(self->fd, (off_t) start, SEEK_DATA);
    if (data < 0)
        return errno == ENXIO; /* no data from start on; other errors: read it */
    return (uint64_t) data >= start + len;
}

foundry_err
fdy_model_assembly_resume(fdy_model_assembly_t *self, size_t max_chunks, bool *done_out,
                          fdy_reason_t *reason)
{
    *done_out = false;
    if (!self->resuming)
        self->next_resume = self->chunk_count;
    for (size_t n = 0; n < max_chunks && self->next_resume < self->chunk_count; n++) {
        size_t i = self->next_resume++;
        uint64_t offset = (uint64_t) i * self->chunk_size;
        size_t len = fdy_artifact_chunk_len(self->size, self->chunk_size, i);
        if (s_hole(self, offset, len))
            continue;
        if (!self->buf)
            self->buf = fdy_xalloc(self->chunk_size);
        if (fdy_pread_all(self->fd, self->buf, len, (off_t) offset) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EIO, "reading %s: %s", self->tmp,
                                  errno ? strerror(errno) : "file shrank");
        uint8_t hash[FDY_MODEL_HASH_LEN];
        fdy_artifact_hash_chunk(self->buf, len, hash);
        if (memcmp(hash, self->hashes + i * FDY_MODEL_HASH_LEN, sizeof hash) == 0)
            s_mark(self, i);
    }
    if (self->next_resume < self->chunk_count)
        return FOUNDRY_OK;
    free(self->buf);
    self->buf = NULL;
    *done_out = true;
    return FOUNDRY_OK;
}

bool
fdy_model_assembly_has(const fdy_model_assembly_t *self, size_t index)
{
    return index < self->chunk_count && s_have(self, index);
}

/* ---- writing ----------------------------------------------------------------- */

foundry_err
fdy_model_assembly_put(fdy_model_assembly_t *self, size_t index, const uint8_t *data, size_t len,
                       fdy_reason_t *reason)
{
    if (index >= self->chunk_count)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "chunk %zu of an artifact of %zu chunks",
                              index, self->chunk_count);
    size_t want = fdy_artifact_chunk_len(self->size, self->chunk_size, index);
    if (len != want)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "chunk %zu is %zu bytes, the manifest says %zu", index, len, want);
    uint8_t hash[FDY_MODEL_HASH_LEN];
    fdy_artifact_hash_chunk(data, len, hash);
    if (memcmp(hash, self->hashes + index * FDY_MODEL_HASH_LEN, sizeof hash) != 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "chunk %zu hash mismatch", index);
    int errnum = fdy_direct_pwrite(self->writer, self->fd, data, len,
                                   (off_t) index * self->chunk_size);
    if (errnum != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "writing %s: %s", self->tmp, strerror(errnum));
    s_mark(self, index);
    return FOUNDRY_OK;
}

foundry_err
fdy_model_assembly_finish(fdy_model_assembly_t *self, fdy_reason_t *reason)
{
    if (self->fd < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "assembly already finished");
    if (self->held != self->chunk_count)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu of %zu chunks are in %s", self->held,
                              self->chunk_count, self->tmp);
    if (fsync(self->fd) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "fsync %s: %s", self->tmp, strerror(errno));
    close(self->fd);
    self->fd = -1;
    if (rename(self->tmp, self->path) != 0) {
        int error = errno;
        unlink(self->tmp);
        return fdy_reason_set(reason, FOUNDRY_EIO, "rename %s: %s", self->tmp, strerror(error));
    }
    return fdy_model_state_sync_dir(self->dir, reason);
}
