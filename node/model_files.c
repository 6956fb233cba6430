/*  model_files.c: version files and the current/previous symlinks
 *  (model_files.h). A link is replaced by making `.LINK.tmp` and renaming
 *  it over LINK, which POSIX makes atomic: a reader always finds the old
 *  or the new target. Targets are relative ("4"), so the directory can be
 *  moved whole.
 */
#include "model_files.h"

#include "model_state.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PATH_LEN  4096
#define COPY_SIZE (256u * 1024u)

struct fdy_model_assembly {
    char dir[PATH_LEN];
    char tmp[PATH_LEN];
    char path[PATH_LEN];
    uint64_t size;
    uint32_t chunk_size;
    uint8_t *hashes;
    size_t chunk_count;
    size_t next;
    fdy_blobs_t *blobs;
    int fd;
    uint8_t *buf;
    bool kernel_copy; /* copy_file_range works here (until it says otherwise) */
};

foundry_err
fdy_model_assembly_new(const char *model_dir, uint64_t version, uint64_t size, uint32_t chunk_size,
                       const uint8_t *chunk_hashes, size_t chunk_count, fdy_blobs_t *blobs,
                       fdy_model_assembly_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    if (mkdir(model_dir, 0700) != 0 && errno != EEXIST)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot create %s: %s", model_dir,
                              strerror(errno));
    fdy_model_assembly_t *self = fdy_xalloc(sizeof *self);
    if ((size_t) snprintf(self->dir, sizeof self->dir, "%s", model_dir) >= sizeof self->dir ||
        (size_t) snprintf(self->tmp, sizeof self->tmp, "%s/.%" PRIu64 ".tmp", model_dir, version) >=
            sizeof self->tmp ||
        (size_t) snprintf(self->path, sizeof self->path, "%s/%" PRIu64, model_dir, version) >=
            sizeof self->path) {
        free(self);
        return fdy_reason_set(reason, FOUNDRY_EIO, "models_dir is too long");
    }
    self->fd = open(self->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (self->fd < 0) {
        foundry_err err =
            fdy_reason_set(reason, FOUNDRY_EIO, "cannot create %s: %s", self->tmp, strerror(errno));
        free(self);
        return err;
    }
    self->size = size;
    self->chunk_size = chunk_size;
    self->chunk_count = chunk_count;
    self->hashes = fdy_xalloc(chunk_count ? chunk_count * FDY_MODEL_HASH_LEN : 1);
    if (chunk_count)
        memcpy(self->hashes, chunk_hashes, chunk_count * FDY_MODEL_HASH_LEN);
    self->blobs = blobs;
    self->buf = fdy_xalloc(COPY_SIZE);
    self->kernel_copy = true;
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_model_assembly_destroy(fdy_model_assembly_t **self_p)
{
    fdy_model_assembly_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0) {
        close(self->fd);
        unlink(self->tmp);
    }
    free(self->hashes);
    free(self->buf);
    free(self);
    *self_p = NULL;
}

static foundry_err
s_write_all(int fd, const uint8_t *data, size_t len, const char *path, fdy_reason_t *reason)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return fdy_reason_set(reason, FOUNDRY_EIO, "writing %s: %s", path,
                                  n < 0 ? strerror(errno) : "short write");
        data += n;
        len -= (size_t) n;
    }
    return FOUNDRY_OK;
}

/* Copies up to want + 1 bytes (one more shows a blob that is too long)
 * from fd to out in the kernel: no pass through our buffer, and a reflink
 * where the filesystem has them. Returns the bytes copied, or -1 when the
 * kernel cannot do it for these files (nothing copied: read and write
 * then) or on an error (errno). The glibc wrapper needs _GNU_SOURCE; the
 * system call does not. */
static int64_t
s_kernel_copy(int fd, int out, uint64_t want, bool *unsupported)
{
    *unsupported = false;
    uint64_t got = 0;
    while (got <= want) {
        long n = syscall(SYS_copy_file_range, fd, NULL, out, NULL, (size_t) (want + 1 - got), 0u);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *unsupported = got == 0 && (errno == ENOSYS || errno == EXDEV || errno == EINVAL ||
                                        errno == EOPNOTSUPP || errno == EBADF);
            return -1;
        }
        if (n == 0)
            break;
        got += (uint64_t) n;
    }
    return (int64_t) got;
}

/* Copies chunk i from its blob; its length is checked against the
 * manifest (its hash was checked when it was stored). */
static foundry_err
s_copy_chunk(fdy_model_assembly_t *self, size_t i, fdy_reason_t *reason)
{
    uint64_t offset = (uint64_t) i * self->chunk_size;
    uint64_t want = self->size - offset < self->chunk_size ? self->size - offset : self->chunk_size;
    int fd = -1;
    foundry_err err =
        fdy_blobs_open_fd(self->blobs, self->hashes + i * FDY_MODEL_HASH_LEN, &fd, reason);
    if (err != FOUNDRY_OK)
        return err;
    uint64_t got = 0;
    bool unsupported = false;
    int64_t copied = self->kernel_copy ? s_kernel_copy(fd, self->fd, want, &unsupported) : -1;
    if (copied >= 0) {
        got = (uint64_t) copied;
        goto checked;
    }
    if (self->kernel_copy && !unsupported) {
        err = fdy_reason_set(reason, FOUNDRY_EIO, "copying chunk %zu: %s", i, strerror(errno));
        close(fd);
        return err;
    }
    self->kernel_copy = false; /* not for these files: read and write from now on */
    for (;;) {
        ssize_t n = read(fd, self->buf, COPY_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = fdy_reason_set(reason, FOUNDRY_EIO, "reading chunk %zu: %s", i, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        got += (uint64_t) n;
        if (got > want)
            break;
        err = s_write_all(self->fd, self->buf, (size_t) n, self->tmp, reason);
        if (err != FOUNDRY_OK)
            break;
    }
checked:
    close(fd);
    if (err == FOUNDRY_OK && got != want)
        err = fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                             "stored chunk %zu is %s%" PRIu64 " bytes, the manifest says %" PRIu64,
                             i, got > want ? "over " : "", got, want);
    return err;
}

foundry_err
fdy_model_assembly_step(fdy_model_assembly_t *self, size_t max_chunks, bool *done_out,
                        fdy_reason_t *reason)
{
    *done_out = false;
    if (self->fd < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "assembly already finished");
    for (size_t n = 0; n < max_chunks && self->next < self->chunk_count; n++) {
        foundry_err err = s_copy_chunk(self, self->next, reason);
        if (err != FOUNDRY_OK)
            return err;
        self->next++;
    }
    if (self->next < self->chunk_count)
        return FOUNDRY_OK;
    if (fsync(self->fd) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "fsync %s: %s", self->tmp, strerror(errno));
    close(self->fd);
    self->fd = -1;
    if (rename(self->tmp, self->path) != 0) {
        int error = errno;
        unlink(self->tmp);
        return fdy_reason_set(reason, FOUNDRY_EIO, "rename %s: %s", self->tmp, strerror(error));
    }
    foundry_err err = fdy_model_state_sync_dir(self->dir, reason);
    if (err == FOUNDRY_OK)
        *done_out = true;
    return err;
}

/* ---- links ----------------------------------------------------------------- */

foundry_err
fdy_model_files_link(const char *model_dir, const char *link, uint64_t *version_out)
{
    *version_out = 0;
    char path[PATH_LEN], target[64];
    snprintf(path, sizeof path, "%s/%s", model_dir, link);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return FOUNDRY_ENOTFOUND;
    target[n] = '\0';
    char *end = NULL;
    unsigned long long v = strtoull(target, &end, 10);
    if (*end || v == 0)
        return FOUNDRY_ENOTFOUND;
    *version_out = v;
    return FOUNDRY_OK;
}

/* Makes link point at version: .LINK.tmp, then rename over LINK. */
static foundry_err
s_point(const char *model_dir, const char *link, uint64_t version, fdy_reason_t *reason)
{
    char tmp[PATH_LEN], path[PATH_LEN], target[32];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", model_dir, link);
    snprintf(path, sizeof path, "%s/%s", model_dir, link);
    snprintf(target, sizeof target, "%" PRIu64, version);
    unlink(tmp);
    if (symlink(target, tmp) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "symlink %s: %s", tmp, strerror(errno));
    if (rename(tmp, path) != 0) {
        int error = errno;
        unlink(tmp);
        return fdy_reason_set(reason, FOUNDRY_EIO, "rename %s: %s", tmp, strerror(error));
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_model_files_switch(const char *model_dir, uint64_t version, uint64_t *old_out,
                       fdy_reason_t *reason)
{
    if (old_out)
        *old_out = 0;
    char path[PATH_LEN];
    snprintf(path, sizeof path, "%s/%" PRIu64, model_dir, version);
    struct stat st;
    if (stat(path, &st) != 0)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "%s: %s", path, strerror(errno));
    uint64_t old = 0;
    (void) fdy_model_files_link(model_dir, "current", &old);
    foundry_err err = FOUNDRY_OK;
    /* previous first: a crash between the two leaves current as it was. */
    if (old != 0 && old != version)
        err = s_point(model_dir, "previous", old, reason);
    if (err == FOUNDRY_OK)
        err = s_point(model_dir, "current", version, reason);
    if (err == FOUNDRY_OK)
        err = fdy_model_state_sync_dir(model_dir, reason);
    if (err == FOUNDRY_OK && old_out)
        *old_out = old;
    return err;
}

foundry_err
fdy_model_files_rollback(const char *model_dir, uint64_t *version_out, fdy_reason_t *reason)
{
    *version_out = 0;
    uint64_t previous = 0;
    if (fdy_model_files_link(model_dir, "previous", &previous) != FOUNDRY_OK) {
        char path[PATH_LEN];
        snprintf(path, sizeof path, "%s/current", model_dir);
        unlink(path);
        (void) fdy_model_state_sync_dir(model_dir, NULL);
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND,
                              "no previous version to go back to: current removed");
    }
    foundry_err err = s_point(model_dir, "current", previous, reason);
    if (err == FOUNDRY_OK)
        err = fdy_model_state_sync_dir(model_dir, reason);
    if (err == FOUNDRY_OK)
        *version_out = previous;
    return err;
}

size_t
fdy_model_files_prune(const char *model_dir, uint64_t keep_a, uint64_t keep_b)
{
    DIR *dir = opendir(model_dir);
    if (!dir)
        return 0;
    size_t removed = 0;
    struct dirent *d;
    while ((d = readdir(dir))) {
        const char *name = d->d_name;
        bool tmp =
            name[0] == '.' && strlen(name) > 5 && strcmp(name + strlen(name) - 4, ".tmp") == 0;
        char *end = NULL;
        unsigned long long v = strtoull(name, &end, 10);
        bool version_file = name[0] >= '1' && name[0] <= '9' && *end == '\0';
        if (!tmp && !(version_file && v != keep_a && v != keep_b))
            continue;
        char path[PATH_LEN];
        snprintf(path, sizeof path, "%s/%s", model_dir, name);
        if (unlink(path) == 0)
            removed++;
    }
    closedir(dir);
    return removed;
}
