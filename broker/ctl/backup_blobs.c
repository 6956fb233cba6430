/*  backup_blobs.c: copies blob files into a backup. A blob never changes
 *  once its name exists (it is written under a temporary name and renamed),
 *  so copying a file the broker may be reading is safe; one the broker's
 *  garbage collector removes meanwhile is unreferenced and simply skipped.
 */
#include "backup_blobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUF_LEN (64u * 1024u)
#define HEX_LEN (2 * FDY_BLOB_HASH_LEN)

typedef struct {
    const char *dest_dir;
    fdy_backup_blobs_want_fn *want;
    void *user;
    FILE *progress;
    fdy_backup_blobs_result_t *out;
    uint8_t buf[BUF_LEN];
} copy_t;

static foundry_err
s_io(fdy_reason_t *reason, const char *path, const char *what, int errnum)
{
    if (errnum == ENOSPC || errnum == EDQUOT)
        return fdy_reason_set(reason, FOUNDRY_ENOSPC, "backup disk full: %s: %s", path,
                              strerror(errnum));
    return fdy_reason_set(reason, FOUNDRY_EIO, "%s: %s: %s", path, what, strerror(errnum));
}

static foundry_err
s_fsync_path(const char *path, fdy_reason_t *reason)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return s_io(reason, path, "open", errno);
    int rc = fsync(fd), saved = errno;
    close(fd);
    return rc == 0 ? FOUNDRY_OK : s_io(reason, path, "fsync", saved);
}

/* dir/name into out; false when it does not fit. */
static bool
s_join(char out[PATH_MAX], const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
    return n >= 0 && n < PATH_MAX;
}

static bool
s_is_hex(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
            return false;
    return text[len] == '\0';
}

/* Copies from in to a new file at dest, hashing as it goes; *match tells
 * whether the bytes hash to `hash`. */
static foundry_err
s_copy_fd(copy_t *self, int in, const char *dest, const uint8_t hash[FDY_BLOB_HASH_LEN],
          bool *match, uint64_t *len_out, fdy_reason_t *reason)
{
    int out = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0)
        return s_io(reason, dest, "open", errno);
    crypto_generichash_state state;
    crypto_generichash_init(&state, NULL, 0, FDY_BLOB_HASH_LEN);
    foundry_err err = FOUNDRY_OK;
    uint64_t total = 0;
    for (;;) {
        ssize_t got = read(in, self->buf, BUF_LEN);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            err = s_io(reason, dest, "reading its source", errno);
            break;
        }
        if (got == 0)
            break;
        crypto_generichash_update(&state, self->buf, (size_t) got);
        for (ssize_t done = 0; done < got;) {
            ssize_t put = write(out, self->buf + done, (size_t) (got - done));
            if (put < 0 && errno == EINTR)
                continue;
            if (put < 0) {
                err = s_io(reason, dest, "write", errno);
                break;
            }
            done += put;
        }
        if (err != FOUNDRY_OK)
            break;
        total += (uint64_t) got;
    }
    if (err == FOUNDRY_OK && fsync(out) != 0)
        err = s_io(reason, dest, "fsync", errno);
    close(out);
    uint8_t got_hash[FDY_BLOB_HASH_LEN];
    crypto_generichash_final(&state, got_hash, sizeof got_hash);
    *match = sodium_memcmp(got_hash, hash, FDY_BLOB_HASH_LEN) == 0;
    *len_out = total;
    if (err != FOUNDRY_OK || !*match)
        unlink(dest);
    return err;
}

static foundry_err
s_copy_blob(copy_t *self, const char *source_sub, const char *dest_sub, const char *name,
            fdy_reason_t *reason)
{
    uint8_t hash[FDY_BLOB_HASH_LEN];
    if (fdy_blobs_parse_hex(name, hash) != FOUNDRY_OK)
        return FOUNDRY_OK;
    if (self->want && !self->want(hash, self->user)) {
        self->out->skipped++;
        return FOUNDRY_OK;
    }
    char source[PATH_MAX], dest[PATH_MAX];
    if (!s_join(source, source_sub, name) || !s_join(dest, dest_sub, name))
        return fdy_reason_set(reason, FOUNDRY_EIO, "%s: path too long", source_sub);
    int in = open(source, O_RDONLY | O_CLOEXEC);
    if (in < 0 && errno == ENOENT) {
        self->out->skipped++; /* collected meanwhile: no longer referenced */
        return FOUNDRY_OK;
    }
    if (in < 0)
        return s_io(reason, source, "open", errno);
    bool match = false;
    uint64_t len = 0;
    foundry_err err = s_copy_fd(self, in, dest, hash, &match, &len, reason);
    close(in);
    if (err != FOUNDRY_OK)
        return err;
    if (!match) {
        self->out->damaged++;
        if (self->progress)
            fprintf(self->progress,
                    "backup: blob %s is damaged (its bytes do not hash to its name): not "
                    "copied\n",
                    source);
        return FOUNDRY_OK;
    }
    self->out->copied++;
    self->out->bytes += len;
    if (self->progress && self->out->copied % 256 == 0)
        fprintf(self->progress, "backup: %llu blobs copied (%.1f MiB)\n",
                (unsigned long long) self->out->copied,
                (double) self->out->bytes / (1024.0 * 1024.0));
    return FOUNDRY_OK;
}

/* One fan-out directory ("ab"): its blobs all start with those two hex. */
static foundry_err
s_copy_sub(copy_t *self, const char *source_dir, const char *sub, fdy_reason_t *reason)
{
    char source_sub[PATH_MAX], dest_sub[PATH_MAX];
    if (!s_join(source_sub, source_dir, sub) || !s_join(dest_sub, self->dest_dir, sub))
        return fdy_reason_set(reason, FOUNDRY_EIO, "%s: path too long", source_dir);
    DIR *dir = opendir(source_sub);
    if (!dir)
        return errno == ENOENT || errno == ENOTDIR ? FOUNDRY_OK
                                                   : s_io(reason, source_sub, "opendir", errno);
    if (mkdir(dest_sub, 0700) != 0 && errno != EEXIST) {
        foundry_err err = s_io(reason, dest_sub, "mkdir", errno);
        closedir(dir);
        return err;
    }
    foundry_err err = FOUNDRY_OK;
    struct dirent *entry;
    while (err == FOUNDRY_OK && (entry = readdir(dir)) != NULL) {
        /* Temporary files of a put have other names: not blobs yet. */
        if (strlen(entry->d_name) == HEX_LEN && s_is_hex(entry->d_name, HEX_LEN) &&
            strncmp(entry->d_name, sub, 2) == 0)
            err = s_copy_blob(self, source_sub, dest_sub, entry->d_name, reason);
    }
    closedir(dir);
    if (err == FOUNDRY_OK)
        err = s_fsync_path(dest_sub, reason);
    return err;
}

foundry_err
fdy_backup_blobs_copy(const char *source_dir, const char *dest_dir, fdy_backup_blobs_want_fn *want,
                      void *user, FILE *progress, fdy_backup_blobs_result_t *out,
                      fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    if (sodium_init() < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "libsodium failed to initialise");
    if (mkdir(dest_dir, 0700) != 0 && errno != EEXIST)
        return s_io(reason, dest_dir, "mkdir", errno);
    DIR *dir = opendir(source_dir);
    if (!dir && errno == ENOENT)
        return s_fsync_path(dest_dir, reason); /* a broker that never stored a model */
    if (!dir)
        return s_io(reason, source_dir, "opendir", errno);
    copy_t *self = calloc(1, sizeof *self);
    if (!self) {
        closedir(dir);
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    }
    self->dest_dir = dest_dir;
    self->want = want;
    self->user = user;
    self->progress = progress;
    self->out = out;
    foundry_err err = FOUNDRY_OK;
    struct dirent *entry;
    while (err == FOUNDRY_OK && (entry = readdir(dir)) != NULL)
        if (strlen(entry->d_name) == 2 && s_is_hex(entry->d_name, 2))
            err = s_copy_sub(self, source_dir, entry->d_name, reason);
    closedir(dir);
    free(self);
    if (err == FOUNDRY_OK)
        err = s_fsync_path(dest_dir, reason);
    if (err == FOUNDRY_OK && progress) {
        fprintf(progress, "backup: %llu blobs copied (%.1f MiB)%s\n",
                (unsigned long long) out->copied, (double) out->bytes / (1024.0 * 1024.0),
                out->damaged ? ", some damaged: see above" : "");
        fflush(progress);
    }
    return err;
}
