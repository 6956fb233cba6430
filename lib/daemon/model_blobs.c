/*  model_blobs.c: the content-addressed blob directory (model_blobs.h).
 *  Files only: which blobs are wanted (the garbage collector's keep()) and
 *  what a set of blobs means (artifact.h) are the callers'. The invariant
 *  is that a blob's final name appears only by rename() of a complete file,
 *  so a reader never sees a partial blob under a real name.
 */
#define _GNU_SOURCE /* sync_file_range */
#include "model_blobs.h"

#include "artifact.h"
#include "direct_write.h"
#include "files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEMP_PREFIX  ".tmp-"
#define SUBDIR_COUNT 256
#define HEX_LEN      (2 * FDY_BLOB_HASH_LEN)

struct fdy_blobs {
    char *dir;
    int dirfd;
    /* Written since the last sync, neither file nor directory fsynced. */
    uint8_t (*pending)[FDY_BLOB_HASH_LEN];
    size_t pending_count;
    size_t pending_cap;
    bool subdir_dirty[SUBDIR_COUNT]; /* holds an unsynced rename */
    bool top_dirty;                  /* holds an unsynced new subdirectory */
    bool subdir_made[SUBDIR_COUNT];  /* known to exist: no mkdirat per blob */
    unsigned temp_seq;
    /* Blob bytes go past the page cache: a buffered write costs more
     * than the copy, and the turn's fdatasync() has less to wait for. */
    fdy_direct_writer_t *writer;
    /* Where the last bounded gc stopped: subdirectory and last name seen. */
    unsigned gc_subdir;
    char gc_after[NAME_MAX + 1];
};

/* ---- names --------------------------------------------------------------- */

void
fdy_blobs_hex(const uint8_t hash[FDY_BLOB_HASH_LEN], char out[2 * FDY_BLOB_HASH_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < FDY_BLOB_HASH_LEN; i++) {
        out[2 * i] = digits[hash[i] >> 4];
        out[2 * i + 1] = digits[hash[i] & 15];
    }
    out[HEX_LEN] = '\0';
}

static int
s_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

foundry_err
fdy_blobs_parse_hex(const char *hex, uint8_t out[FDY_BLOB_HASH_LEN])
{
    if (!hex || strlen(hex) != HEX_LEN)
        return FOUNDRY_EINVAL;
    uint8_t tmp[FDY_BLOB_HASH_LEN];
    for (size_t i = 0; i < FDY_BLOB_HASH_LEN; i++) {
        int hi = s_hex_digit(hex[2 * i]);
        int lo = s_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return FOUNDRY_EINVAL;
        tmp[i] = (uint8_t) (hi << 4 | lo);
    }
    memcpy(out, tmp, sizeof tmp);
    return FOUNDRY_OK;
}

/* "ab/abcdef..." relative to the blob directory. */
static void
s_rel_path(const uint8_t hash[FDY_BLOB_HASH_LEN], char out[3 + HEX_LEN + 1])
{
    char hex[HEX_LEN + 1];
    fdy_blobs_hex(hash, hex);
    memcpy(out, hex, 2);
    out[2] = '/';
    memcpy(out + 3, hex, HEX_LEN + 1);
}

/* ---- open and close ------------------------------------------------------ */

foundry_err
fdy_blobs_open(const char *dir, fdy_blobs_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    foundry_err err = fdy_dirs_make(dir, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_blobs_t *self = calloc(1, sizeof *self);
    if (!self)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "blob directory: out of memory");
    self->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    self->dir = strdup(dir);
    self->writer = fdy_direct_writer_new(); /* NULL: plain writes, slower only */
    if (self->dirfd < 0 || !self->dir) {
        err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot open blob directory %s: %s", dir,
                             strerror(errno));
        fdy_blobs_close(&self);
        return err;
    }
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_blobs_close(fdy_blobs_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fdy_blobs_t *self = *self_p;
    if (self->dirfd >= 0)
        close(self->dirfd);
    free(self->pending);
    fdy_direct_writer_destroy(&self->writer);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

const char *
fdy_blobs_dir(const fdy_blobs_t *self)
{
    return self->dir;
}

bool
fdy_blobs_has(const fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN])
{
    char rel[3 + HEX_LEN + 1];
    s_rel_path(hash, rel);
    struct stat st;
    return fstatat(self->dirfd, rel, &st, 0) == 0 && S_ISREG(st.st_mode);
}

/* ---- writing ------------------------------------------------------------- */

static bool
s_no_space(int errnum)
{
    return errnum == ENOSPC || errnum == EDQUOT;
}

static foundry_err
s_write_error(const fdy_blobs_t *self, const char *rel, int errnum, fdy_reason_t *reason)
{
    if (s_no_space(errnum))
        return fdy_reason_set(reason, FOUNDRY_ENOSPC, "blob disk full writing %s/%s: %s", self->dir,
                              rel, strerror(errnum));
    return fdy_reason_set(reason, FOUNDRY_EIO, "cannot write blob %s/%s: %s", self->dir, rel,
                          strerror(errnum));
}

/* The subdirectory ab/ of a hash; a new one makes the top directory dirty. */
static foundry_err
s_subdir(fdy_blobs_t *self, uint8_t index, const char *rel, fdy_reason_t *reason)
{
    if (self->subdir_made[index])
        return FOUNDRY_OK;
    char sub[3] = {rel[0], rel[1], '\0'};
    if (mkdirat(self->dirfd, sub, 0700) == 0)
        self->top_dirty = true;
    else if (errno != EEXIST)
        return s_write_error(self, sub, errno, reason);
    self->subdir_made[index] = true;
    return FOUNDRY_OK;
}

static foundry_err
s_pending_add(fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN], fdy_reason_t *reason)
{
    if (self->pending_count == self->pending_cap) {
        size_t cap = self->pending_cap ? 2 * self->pending_cap : 16;
        void *grown = realloc(self->pending, cap * sizeof *self->pending);
        if (!grown)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "blob directory: out of memory");
        self->pending = grown;
        self->pending_cap = cap;
    }
    memcpy(self->pending[self->pending_count++], hash, FDY_BLOB_HASH_LEN);
    self->subdir_dirty[hash[0]] = true;
    return FOUNDRY_OK;
}

static bool
s_pending_has(const fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN])
{
    for (size_t i = 0; i < self->pending_count; i++)
        if (memcmp(self->pending[i], hash, FDY_BLOB_HASH_LEN) == 0)
            return true;
    return false;
}

static foundry_err
s_fsync_at(fdy_blobs_t *self, const char *rel, int flags, bool data_only, fdy_reason_t *reason)
{
    int fd = openat(self->dirfd, rel, O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0)
        return errno == ENOENT ? FOUNDRY_OK /* removed since: nothing to make durable */
                               : s_write_error(self, rel, errno, reason);
    int rc = data_only ? fdatasync(fd) : fsync(fd);
    int errnum = errno;
    close(fd);
    return rc == 0 ? FOUNDRY_OK : s_write_error(self, rel, errnum, reason);
}

/* Writes rel's temporary file, renames it into place, and when sync makes
 * both durable at once. */
static foundry_err
s_put(fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN], const char *rel, const void *data,
      size_t len, bool sync, fdy_reason_t *reason)
{
    foundry_err err = s_subdir(self, hash[0], rel, reason);
    if (err != FOUNDRY_OK)
        return err;
    char temp[3 + sizeof TEMP_PREFIX + HEX_LEN + 32];
    snprintf(temp, sizeof temp, "%.2s/" TEMP_PREFIX "%s-%ld-%u", rel, rel + 3, (long) getpid(),
             self->temp_seq++);
    int fd = openat(self->dirfd, temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ENOENT) { /* the subdirectory went since we made it */
        self->subdir_made[hash[0]] = false;
        err = s_subdir(self, hash[0], rel, reason);
        if (err != FOUNDRY_OK)
            return err;
        fd = openat(self->dirfd, temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    if (fd < 0)
        return s_write_error(self, temp, errno, reason);
    int errnum = fdy_direct_pwrite(self->writer, fd, data, len, 0);
    if (errnum == 0 && sync && fdatasync(fd) != 0)
        errnum = errno;
    /* Unsynced: start the writeback now, so the disk works while the
     * next chunks are hashed and fdy_blobs_sync() mostly just waits.
     * Only a hint: fdatasync() there is what makes the blob durable. */
    if (errnum == 0 && !sync)
        (void) sync_file_range(fd, 0, (off_t) len, SYNC_FILE_RANGE_WRITE);
    if (close(fd) != 0 && errnum == 0)
        errnum = errno;
    if (errnum == 0 && renameat(self->dirfd, temp, self->dirfd, rel) != 0)
        errnum = errno;
    if (errnum != 0) {
        unlinkat(self->dirfd, temp, 0);
        return s_write_error(self, rel, errnum, reason);
    }
    if (!sync)
        return s_pending_add(self, hash, reason);
    char sub[3] = {rel[0], rel[1], '\0'};
    err = s_fsync_at(self, sub, O_DIRECTORY, false, reason);
    if (err == FOUNDRY_OK && self->top_dirty) {
        if (fsync(self->dirfd) != 0)
            return s_write_error(self, ".", errno, reason);
        self->top_dirty = false;
    }
    return err;
}

static foundry_err
s_put_checked(fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN], const void *data,
              size_t len, bool sync, fdy_reason_t *reason)
{
    if (fdy_blobs_has(self, hash)) {
        /* Stored once. It may still be waiting for its fsync, and this
         * caller asked for a durable blob. */
        if (sync && s_pending_has(self, hash))
            return fdy_blobs_sync(self, reason);
        return FOUNDRY_OK;
    }
    char rel[3 + HEX_LEN + 1];
    s_rel_path(hash, rel);
    return s_put(self, hash, rel, data, len, sync, reason);
}

foundry_err
fdy_blobs_put(fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN], const void *data,
              size_t len, bool sync, fdy_reason_t *reason)
{
    uint8_t actual[FDY_BLOB_HASH_LEN];
    fdy_artifact_hash_chunk(data, len, actual);
    if (memcmp(actual, hash, FDY_BLOB_HASH_LEN) != 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "chunk hash mismatch");
    return s_put_checked(self, hash, data, len, sync, reason);
}

foundry_err
fdy_blobs_put_trusted(fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN], const void *data,
                      size_t len, bool sync, fdy_reason_t *reason)
{
    return s_put_checked(self, hash, data, len, sync, reason);
}

foundry_err
fdy_blobs_sync(fdy_blobs_t *self, fdy_reason_t *reason)
{
    for (size_t i = 0; i < self->pending_count; i++) {
        char rel[3 + HEX_LEN + 1];
        s_rel_path(self->pending[i], rel);
        foundry_err err = s_fsync_at(self, rel, 0, true, reason);
        if (err != FOUNDRY_OK) {
            /* Its bytes may not be on disk: drop the name rather than
             * leave one that might not hold what it names after a crash. */
            unlinkat(self->dirfd, rel, 0);
            return err;
        }
    }
    self->pending_count = 0;
    for (unsigned i = 0; i < SUBDIR_COUNT; i++) {
        if (!self->subdir_dirty[i])
            continue;
        char sub[3];
        snprintf(sub, sizeof sub, "%02x", i);
        foundry_err err = s_fsync_at(self, sub, O_DIRECTORY, false, reason);
        if (err != FOUNDRY_OK)
            return err;
        self->subdir_dirty[i] = false;
    }
    if (self->top_dirty) {
        if (fsync(self->dirfd) != 0)
            return s_write_error(self, ".", errno, reason);
        self->top_dirty = false;
    }
    return FOUNDRY_OK;
}

/* ---- reading ------------------------------------------------------------- */

foundry_err
fdy_blobs_open_fd(const fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN], int *fd_out,
                  fdy_reason_t *reason)
{
    *fd_out = -1;
    char rel[3 + HEX_LEN + 1];
    s_rel_path(hash, rel);
    int fd = openat(self->dirfd, rel, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "blob %s is not stored", rel + 3);
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot open blob %s/%s: %s", self->dir, rel,
                              strerror(errno));
    }
    *fd_out = fd;
    return FOUNDRY_OK;
}

foundry_err
fdy_blobs_read(const fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN], void *buf,
               size_t cap, size_t *len_out, fdy_reason_t *reason)
{
    *len_out = 0;
    int fd;
    foundry_err err = fdy_blobs_open_fd(self, hash, &fd, reason);
    if (err != FOUNDRY_OK)
        return err;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot stat a blob in %s: %s", self->dir,
                             strerror(errno));
        goto out;
    }
    if ((uint64_t) st.st_size > cap) {
        err = fdy_reason_set(reason, FOUNDRY_ETOOBIG, "blob of %lld bytes exceeds %zu",
                             (long long) st.st_size, cap);
        goto out;
    }
    size_t got = 0;
    while (got < (size_t) st.st_size) {
        ssize_t n = read(fd, (uint8_t *) buf + got, (size_t) st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot read a blob in %s: %s", self->dir,
                                 n < 0 ? strerror(errno) : "file shrank");
            goto out;
        }
        got += (size_t) n;
    }
    *len_out = got;
out:
    close(fd);
    return err;
}

foundry_err
fdy_blobs_remove(fdy_blobs_t *self, const uint8_t hash[FDY_BLOB_HASH_LEN], fdy_reason_t *reason)
{
    char rel[3 + HEX_LEN + 1];
    s_rel_path(hash, rel);
    if (unlinkat(self->dirfd, rel, 0) != 0 && errno != ENOENT)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot remove blob %s/%s: %s", self->dir, rel,
                              strerror(errno));
    self->subdir_dirty[hash[0]] = true; /* the removal is made durable at the next sync */
    return FOUNDRY_OK;
}

/* ---- garbage collection -------------------------------------------------- */

typedef struct {
    fdy_blobs_keep_fn *keep;
    void *user;
    time_t cutoff;
    uint64_t removed;
    uint64_t bytes;
} gc_run_t;

static int
s_name_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* One entry of subdirectory sub: a stale temporary file, or a blob the
 * caller no longer keeps, is removed. */
static void
s_gc_entry(fdy_blobs_t *self, unsigned index, const char *sub, const char *name, gc_run_t *run)
{
    char rel[3 + NAME_MAX + 1];
    snprintf(rel, sizeof rel, "%s/%s", sub, name);
    struct stat st;
    if (fstatat(self->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
        st.st_mtime > run->cutoff)
        return;
    bool remove;
    uint8_t hash[FDY_BLOB_HASH_LEN];
    if (strncmp(name, TEMP_PREFIX, sizeof TEMP_PREFIX - 1) == 0)
        remove = true; /* a put that crashed before its rename */
    else if (fdy_blobs_parse_hex(name, hash) == FOUNDRY_OK && strncmp(name, sub, 2) == 0)
        remove = !run->keep || !run->keep(hash, run->user);
    else
        return; /* not ours: leave it */
    if (remove && unlinkat(self->dirfd, rel, 0) == 0) {
        run->removed++;
        run->bytes += (uint64_t) st.st_size;
        self->subdir_dirty[index] = true;
    }
}

foundry_err
fdy_blobs_gc(fdy_blobs_t *self, int64_t older_than_s, fdy_blobs_keep_fn *keep, void *user,
             size_t max_visit, uint64_t *removed_out, uint64_t *bytes_out, fdy_reason_t *reason)
{
    gc_run_t run = {keep, user, time(NULL) - (time_t) older_than_s, 0, 0};
    size_t visited = 0;
    foundry_err err = FOUNDRY_OK;
    /* One pass at most per call, resuming where the last bounded one
     * stopped; names are visited in sorted order so the cursor is stable. */
    for (unsigned step = 0; step < SUBDIR_COUNT; step++) {
        unsigned index = self->gc_subdir;
        char sub[3];
        snprintf(sub, sizeof sub, "%02x", index);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", self->dir, sub);
        struct dirent **names = NULL;
        int n = scandir(path, &names, NULL, s_name_cmp);
        if (n < 0 && errno != ENOENT) {
            err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot list %s: %s", path, strerror(errno));
            break;
        }
        bool stopped = false;
        for (int i = 0; i < n; i++) {
            const char *name = names[i]->d_name;
            if (stopped || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
                (self->gc_after[0] && strcmp(name, self->gc_after) <= 0))
                continue;
            if (max_visit && visited == max_visit) {
                stopped = true;
                continue;
            }
            s_gc_entry(self, index, sub, name, &run);
            visited++;
            snprintf(self->gc_after, sizeof self->gc_after, "%s", name);
        }
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
        if (stopped)
            break;
        self->gc_after[0] = '\0';
        self->gc_subdir = (index + 1) % SUBDIR_COUNT;
        if (max_visit && visited == max_visit)
            break;
    }
    if (removed_out)
        *removed_out = run.removed;
    if (bytes_out)
        *bytes_out = run.bytes;
    return err;
}
