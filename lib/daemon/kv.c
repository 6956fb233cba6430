/*  kv.c: the LMDB environment plumbing shared by the broker's store and the
 *  node's outbox (kv.h): directory and lock file, map growth, the reused
 *  read transaction, u64 metadata, error mapping (a full disk included),
 *  blocks allocated ahead, reader check, page release. Not for what the
 *  tables hold: each user owns its databases and record formats.
 */
#include "kv.h"

#include "bytes.h"
#include "clock.h"
#include "kv_check.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct fdy_kv {
    MDB_env *env;
    char *dir;
    char *label;
    int lock_fd;
    uint64_t map_size_max;
    bool read_only;
    uint64_t commits;
    uint64_t allocated; /* data file bytes whose blocks exist (kv.h) */
    bool disk_full;     /* the last mapped failure was a full filesystem */
    /* A reset read transaction kept for reuse (MDB_NOTLS lets it renew). */
    MDB_txn *rtxn;
    bool rtxn_busy;
    fdy_histogram_t commit_us; /* how long each commit (its fsyncs) took */
};

/* ---- errors and accessors ------------------------------------------------ */

/* Room a write needs at least, tried when LMDB's EIO may be a short write. */
#define S_PROBE_BYTES (64u * 1024u)

foundry_err
fdy_kv_err(int rc, fdy_reason_t *reason, const char *what)
{
    if (rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT)
        return fdy_reason_set(reason, FOUNDRY_EFULL, "%s: %s", what, mdb_strerror(rc));
    return fdy_reason_set(reason, FOUNDRY_ESTORE, "%s: %s", what, mdb_strerror(rc));
}

bool
fdy_kv_reason_disk_full(const char *reason_text)
{
    return reason_text && strncmp(reason_text, FDY_KV_DISK_FULL, strlen(FDY_KV_DISK_FULL)) == 0;
}

/* Is the file system of the directory full now? LMDB reports a write that
 * stored only part of its pages as EIO, like a disk fault; the two differ
 * in whether a small allocation succeeds right after (the short write took
 * what was left). posix_fallocate also answers for quotas, which statvfs
 * does not see. */
static bool
s_disk_is_full(fdy_kv_t *self)
{
    if (self->read_only)
        return false;
    char path[PATH_MAX];
    if ((size_t) snprintf(path, sizeof path, "%s/.space-probe", self->dir) >= sizeof path)
        return false;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == ENOSPC || errno == EDQUOT;
    int rc = posix_fallocate(fd, 0, S_PROBE_BYTES);
    close(fd);
    unlink(path);
    return rc == ENOSPC || rc == EDQUOT;
}

/* The one place the disk-full reason is written: "disk full at DIR: DETAIL". */
static foundry_err
s_disk_full(fdy_kv_t *self, fdy_reason_t *reason, const char *detail)
{
    self->disk_full = true;
    return fdy_reason_set(reason, FOUNDRY_EFULL, FDY_KV_DISK_FULL "%s: %s", self->dir, detail);
}

/* fdy_kv_err() for calls where the directory is known: a full disk gets
 * its own reason, whether LMDB said ENOSPC, EDQUOT or a short write's EIO. */
static foundry_err
s_err(fdy_kv_t *self, int rc, fdy_reason_t *reason, const char *what)
{
    char detail[FDY_REASON_MAX];
    if (rc == ENOSPC || rc == EDQUOT) {
        snprintf(detail, sizeof detail, "%s: %s", what, strerror(rc));
        return s_disk_full(self, reason, detail);
    }
    if (rc == EIO && s_disk_is_full(self)) {
        snprintf(detail, sizeof detail, "%s: no space left (short write)", what);
        return s_disk_full(self, reason, detail);
    }
    return fdy_kv_err(rc, reason, what);
}

MDB_env *
fdy_kv_env(fdy_kv_t *self)
{
    return self->env;
}

const char *
fdy_kv_dir(const fdy_kv_t *self)
{
    return self->dir;
}

bool
fdy_kv_read_only(const fdy_kv_t *self)
{
    return self->read_only;
}

uint64_t
fdy_kv_map_size_max(const fdy_kv_t *self)
{
    return self->map_size_max;
}

const fdy_histogram_t *
fdy_kv_commit_latency(const fdy_kv_t *self)
{
    return &self->commit_us;
}

uint64_t
fdy_kv_commits(const fdy_kv_t *self)
{
    return self->commits;
}

/* ---- open and close ------------------------------------------------------ */

static uint64_t
s_page_round(uint64_t size)
{
    long page = sysconf(_SC_PAGESIZE);
    uint64_t p = page > 0 ? (uint64_t) page : 4096u;
    return (size + p - 1) / p * p;
}

/* mkdir -p with mode 0700 for what it creates. */
static foundry_err
s_make_dir(const char *dir, fdy_reason_t *reason)
{
    size_t len = strlen(dir);
    char *path = malloc(len + 1);
    if (!path)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    memcpy(path, dir, len + 1);
    foundry_err err = FOUNDRY_OK;
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            err = fdy_reason_set(reason, FOUNDRY_EIO, "create directory %s: %s", path,
                                 strerror(errno));
            goto out;
        }
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        err = fdy_reason_set(reason, FOUNDRY_EIO, "data directory %s: not a directory", dir);
out:
    free(path);
    return err;
}

static foundry_err
s_check_dir(const char *dir, fdy_reason_t *reason)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "data directory %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fdy_reason_set(reason, FOUNDRY_EIO, "data directory %s: not a directory", dir);
    return FOUNDRY_OK;
}

static foundry_err
s_lock(fdy_kv_t *self, const char *file, fdy_reason_t *reason)
{
    char path[PATH_MAX];
    if ((size_t) snprintf(path, sizeof path, "%s/%s", self->dir, file) >= sizeof path)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s path too long", self->label);
    self->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot open %s: %s", path, strerror(errno));
    /* Two owners of one directory would fight over its records. The lock
     * belongs to the open file description and dies with the process. */
    if (flock(self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return fdy_reason_set(reason, FOUNDRY_EEXIST, "%s %s is in use by another process",
                                  self->label, self->dir);
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot lock %s: %s", path, strerror(errno));
    }
    return FOUNDRY_OK;
}

static foundry_err
s_env_open(fdy_kv_t *self, const fdy_kv_opts_t *opts, fdy_reason_t *reason)
{
    int rc = mdb_env_create(&self->env);
    if (rc == 0 && opts->max_dbs)
        rc = mdb_env_set_maxdbs(self->env, opts->max_dbs);
    if (rc != 0)
        return s_err(self, rc, reason, "create environment");
    /* No NOSYNC, NOMETASYNC or MAPASYNC: a commit returns after fsync.
     * NOTLS: read transactions are not tied to a thread's reader slot (and
     * a reset one can be renewed). */
    unsigned flags = MDB_NOTLS | (self->read_only ? MDB_RDONLY : 0u);
    /* The map size is set after opening, so a map grown earlier (and
     * recorded in the file) is kept rather than shrunk to opts->map_size. */
    rc = mdb_env_open(self->env, self->dir, flags, 0600);
    if (rc != 0) {
        char what[64];
        snprintf(what, sizeof what, "open %s", self->label);
        return s_err(self, rc, reason, what);
    }
    if (!self->read_only && opts->map_size) {
        MDB_envinfo info;
        mdb_env_info(self->env, &info);
        uint64_t wanted = s_page_round(opts->map_size);
        if (info.me_mapsize < wanted && (rc = mdb_env_set_mapsize(self->env, wanted)) != 0)
            return s_err(self, rc, reason, "set map size");
    }
    /* What exists of the file has its blocks: LMDB writes pages in order. */
    mdb_filehandle_t fd;
    struct stat st;
    if (mdb_env_get_fd(self->env, &fd) == 0 && fstat(fd, &st) == 0)
        self->allocated = (uint64_t) st.st_size;
    return FOUNDRY_OK;
}

foundry_err
fdy_kv_open(const fdy_kv_opts_t *opts, fdy_kv_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    if (!opts || !opts->dir || !*opts->dir)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s: no data directory",
                              opts && opts->label ? opts->label : "kv");
    uint64_t max = opts->map_size_max > opts->map_size ? opts->map_size_max : opts->map_size;
    if (max > SIZE_MAX / 2)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s: map_size_max too large",
                              opts->label ? opts->label : "kv");
    fdy_kv_t *self = calloc(1, sizeof *self);
    if (!self)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    self->lock_fd = -1;
    fdy_histogram_init(&self->commit_us, fdy_histogram_latency_us, fdy_histogram_latency_us_count);
    self->read_only = opts->read_only;
    self->map_size_max = s_page_round(max);
    self->dir = strdup(opts->dir);
    self->label = strdup(opts->label ? opts->label : "kv");
    foundry_err err = FOUNDRY_OK;
    if (!self->dir || !self->label) {
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
        goto out;
    }
    err = self->read_only ? s_check_dir(self->dir, reason) : s_make_dir(self->dir, reason);
    if (err == FOUNDRY_OK && opts->lock_file)
        err = s_lock(self, opts->lock_file, reason);
    /* Before LMDB sees the file: it would take an empty one for a new
     * store, and map a truncated one (kv_check.c). */
    if (err == FOUNDRY_OK && !(opts->read_only && opts->unchecked))
        err = fdy_kv_check_file(self->dir, self->label, NULL, reason);
    if (err == FOUNDRY_OK)
        err = s_env_open(self, opts, reason);
    if (err == FOUNDRY_OK)
        fdy_kv_check_arm(self->env);
    if (err == FOUNDRY_OK)
        fdy_kv_check_readers(self);
out:
    if (err != FOUNDRY_OK) {
        fdy_kv_close(&self);
        return err;
    }
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_kv_close(fdy_kv_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fdy_kv_t *self = *self_p;
    if (self->rtxn)
        mdb_txn_abort(self->rtxn); /* before the environment goes */
    if (self->env)
        mdb_env_close(self->env); /* also closes the database handles */
    if (self->lock_fd >= 0)
        close(self->lock_fd);
    free(self->label);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

/* ---- transactions -------------------------------------------------------- */

foundry_err
fdy_kv_txn_begin(fdy_kv_t *self, unsigned flags, MDB_txn **txn_out, fdy_reason_t *reason)
{
    int rc = mdb_txn_begin(self->env, NULL, flags, txn_out);
    if (rc == MDB_MAP_RESIZED) {
        /* Another process grew the map: adopt its size (no txn is open here,
         * which mdb_env_set_mapsize requires) and begin again. */
        rc = mdb_env_set_mapsize(self->env, 0);
        if (rc == 0)
            rc = mdb_txn_begin(self->env, NULL, flags, txn_out);
    }
    if (rc != 0) {
        *txn_out = NULL;
        return s_err(self, rc, reason, "begin transaction");
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_kv_commit(fdy_kv_t *self, MDB_txn *txn, fdy_reason_t *reason)
{
    /* The durability point: LMDB writes the pages, fdatasyncs, then writes
     * and syncs the meta page. */
    uint64_t start_ns = fdy_clock_mono_ns();
    int rc = mdb_txn_commit(txn);
    if (rc != 0)
        return s_err(self, rc, reason, "commit");
    fdy_histogram_observe(&self->commit_us, (fdy_clock_mono_ns() - start_ns) / 1000u);
    self->commits++;
    return FOUNDRY_OK;
}

foundry_err
fdy_kv_rtxn_begin(fdy_kv_t *self, MDB_txn **txn_out, fdy_reason_t *reason)
{
    if (self->rtxn && !self->rtxn_busy) {
        int rc = mdb_txn_renew(self->rtxn);
        if (rc == 0) {
            self->rtxn_busy = true;
            *txn_out = self->rtxn;
            return FOUNDRY_OK;
        }
        /* MDB_MAP_RESIZED (another process grew the map) or worse: drop it;
         * a fresh begin adopts the new size. */
        mdb_txn_abort(self->rtxn);
        self->rtxn = NULL;
    }
    foundry_err err = fdy_kv_txn_begin(self, MDB_RDONLY, txn_out, reason);
    if (err == FOUNDRY_OK && !self->rtxn) {
        self->rtxn = *txn_out;
        self->rtxn_busy = true;
    }
    return err;
}

void
fdy_kv_rtxn_end(fdy_kv_t *self, MDB_txn *txn)
{
    if (txn && txn == self->rtxn) {
        /* Reset keeps the slot (MDB_NOTLS) but pins no snapshot. */
        mdb_txn_reset(txn);
        self->rtxn_busy = false;
    }
    else if (txn) {
        mdb_txn_abort(txn);
    }
}

foundry_err
fdy_kv_grow(fdy_kv_t *self, fdy_reason_t *reason)
{
    MDB_envinfo info;
    mdb_env_info(self->env, &info);
    uint64_t current = info.me_mapsize;
    if (self->read_only || current >= self->map_size_max)
        return fdy_reason_set(reason, FOUNDRY_EFULL,
                              "%s full: map size %llu bytes reached map_size_max %llu",
                              self->label, (unsigned long long) current,
                              (unsigned long long) self->map_size_max);
    uint64_t next = current * 2;
    if (next > self->map_size_max || next < current)
        next = self->map_size_max;
    int rc = mdb_env_set_mapsize(self->env, (size_t) next);
    if (rc != 0)
        return s_err(self, rc, reason, "grow map");
    mdb_env_info(self->env, &info);
    fdy_log_notice("STORE-MAP-GROWN", "%s %s: map grown from %llu to %llu bytes (max %llu)",
                   self->label, self->dir, (unsigned long long) current,
                   (unsigned long long) info.me_mapsize,
                   (unsigned long long) self->map_size_max);
    return FOUNDRY_OK;
}

/* A failure of fn (which knows no directory: fdy_kv_err) while the disk is
 * full becomes the disk-full reason, keeping fn's text as the detail. */
static foundry_err
s_write_failed(fdy_kv_t *self, foundry_err err, fdy_reason_t *reason)
{
    if (self->disk_full || (err != FOUNDRY_EFULL && err != FOUNDRY_ESTORE))
        return err;
    if (!s_disk_is_full(self))
        return err;
    fdy_reason_t detail;
    snprintf(detail.text, sizeof detail.text, "%s", reason ? reason->text : "write");
    return s_disk_full(self, reason, detail.text);
}

foundry_err
fdy_kv_write(fdy_kv_t *self, fdy_kv_txn_fn *fn, void *ctx, fdy_reason_t *reason)
{
    for (bool grown = false;; grown = true) {
        MDB_txn *txn;
        self->disk_full = false;
        foundry_err err = fdy_kv_txn_begin(self, 0, &txn, reason);
        if (err != FOUNDRY_OK)
            return err;
        bool skip_commit = false;
        err = fn(txn, ctx, &skip_commit, reason);
        if (err != FOUNDRY_OK || skip_commit)
            mdb_txn_abort(txn);
        else
            err = fdy_kv_commit(self, txn, reason);
        if (err == FOUNDRY_OK && grown)
            fdy_reason_clear(reason); /* the MAP_FULL of an earlier attempt */
        if (err != FOUNDRY_OK)
            err = s_write_failed(self, err, reason);
        /* A bigger map cannot help a full disk. */
        if (err != FOUNDRY_EFULL || self->disk_full)
            return err;
        /* MDB_MAP_FULL: the transaction is gone, so the map may be resized. */
        err = fdy_kv_grow(self, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
}

/* ---- disk space ------------------------------------------------------------ */

uint64_t
fdy_kv_page_size(fdy_kv_t *self)
{
    MDB_stat st;
    if (mdb_env_stat(self->env, &st) != 0 || st.ms_psize == 0)
        return 4096;
    return st.ms_psize;
}

uint64_t
fdy_kv_used_bytes(fdy_kv_t *self)
{
    MDB_envinfo info;
    mdb_env_info(self->env, &info);
    return ((uint64_t) info.me_last_pgno + 1) * fdy_kv_page_size(self);
}

uint64_t
fdy_kv_allocated_bytes(const fdy_kv_t *self)
{
    return self->allocated;
}

foundry_err
fdy_kv_preallocate(fdy_kv_t *self, uint64_t bytes, fdy_reason_t *reason)
{
    if (bytes <= self->allocated)
        return FOUNDRY_OK;
    mdb_filehandle_t fd;
    if (self->read_only || mdb_env_get_fd(self->env, &fd) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "%s %s: cannot allocate: read-only", self->label,
                              self->dir);
    /* From 0, not from allocated: a range that has its blocks costs
     * nothing, and a hole left by anything else gets filled. */
    int rc;
    do
        rc = posix_fallocate(fd, 0, (off_t) bytes);
    while (rc == EINTR);
    if (rc == ENOSPC || rc == EDQUOT) {
        char detail[96];
        snprintf(detail, sizeof detail, "cannot allocate %llu bytes for %s: %s",
                 (unsigned long long) bytes, self->label, strerror(rc));
        return s_disk_full(self, reason, detail);
    }
    if (rc != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "%s %s: cannot allocate: %s", self->label,
                              self->dir, strerror(rc));
    self->allocated = bytes;
    return FOUNDRY_OK;
}

uint64_t
fdy_kv_free_bytes(fdy_kv_t *self)
{
    mdb_filehandle_t fd;
    struct statvfs st;
    if (mdb_env_get_fd(self->env, &fd) != 0 || fstatvfs(fd, &st) != 0)
        return 0;
    return (uint64_t) st.f_bavail * st.f_frsize;
}

foundry_err
fdy_kv_reusable_bytes(fdy_kv_t *self, uint64_t *bytes_out, fdy_reason_t *reason)
{
    *bytes_out = 0;
    MDB_txn *txn;
    foundry_err err = fdy_kv_rtxn_begin(self, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, 0, &cursor); /* dbi 0: the free list */
    if (rc != 0) {
        fdy_kv_rtxn_end(self, txn);
        return fdy_kv_err(rc, reason, "free list");
    }
    /* Records are keyed by the transaction that freed the pages; LMDB
     * reuses them once that is older than the last snapshot. */
    uint64_t last = (uint64_t) mdb_txn_id(txn);
    uint64_t pages = 0;
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) == 0) {
        size_t freed_by = 0, count = 0;
        if (k.mv_size == sizeof freed_by)
            memcpy(&freed_by, k.mv_data, sizeof freed_by);
        if (v.mv_size >= sizeof count)
            memcpy(&count, v.mv_data, sizeof count); /* an IDL: count first */
        if ((uint64_t) freed_by < last)
            pages += count;
    }
    mdb_cursor_close(cursor);
    fdy_kv_rtxn_end(self, txn);
    if (rc != MDB_NOTFOUND)
        return fdy_kv_err(rc, reason, "free list");
    *bytes_out = pages * fdy_kv_page_size(self);
    return FOUNDRY_OK;
}

/* ---- metadata -------------------------------------------------------------- */

foundry_err
fdy_kv_meta_get(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *value_out, bool *found_out,
                fdy_reason_t *reason)
{
    MDB_val k = { strlen(key), (void *) key };
    MDB_val v;
    *value_out = 0;
    if (found_out)
        *found_out = false;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return FOUNDRY_OK;
    if (rc != 0)
        return fdy_kv_err(rc, reason, "read metadata");
    if (v.mv_size != 8)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "metadata %s: bad size %zu", key,
                              v.mv_size);
    *value_out = fdy_bytes_get_le64(v.mv_data);
    if (found_out)
        *found_out = true;
    return FOUNDRY_OK;
}

foundry_err
fdy_kv_meta_put(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t value, fdy_reason_t *reason)
{
    uint8_t buf[8];
    fdy_bytes_put_le64(buf, value);
    MDB_val k = { strlen(key), (void *) key };
    MDB_val v = { sizeof buf, buf };
    int rc = mdb_put(txn, dbi, &k, &v, 0);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "write metadata");
    return FOUNDRY_OK;
}

/* ---- upkeep ---------------------------------------------------------------- */

void
fdy_kv_check_readers(fdy_kv_t *self)
{
    int dead = 0;
    int rc = mdb_reader_check(self->env, &dead);
    if (rc != 0)
        fdy_log_warn("STORE-READER-CHECK", "%s %s: reader check: %s", self->label, self->dir,
                     mdb_strerror(rc));
    else if (dead > 0)
        fdy_log_notice("STORE-READERS-CLEARED", "%s %s: cleared %d stale reader slot(s)",
                       self->label, self->dir, dead);
}

/* Finds the mapping of the data file in /proc/self/maps: LMDB reports its
 * map address only for MDB_FIXEDMAP, and a grown map moves. */
static bool
s_map_range(fdy_kv_t *self, uintptr_t *start_out, uintptr_t *end_out)
{
    char wanted[PATH_MAX + 16];
    char real[PATH_MAX];
    if (!realpath(self->dir, real))
        return false;
    snprintf(wanted, sizeof wanted, "%s/data.mdb", real);
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps)
        return false;
    char line[PATH_MAX + 128];
    bool found = false;
    while (!found && fgets(line, sizeof line, maps)) {
        char *path = strchr(line, '/');
        if (!path)
            continue;
        path[strcspn(path, "\n")] = '\0';
        unsigned long start = 0, end = 0;
        if (strcmp(path, wanted) == 0 && sscanf(line, "%lx-%lx", &start, &end) == 2) {
            *start_out = (uintptr_t) start;
            *end_out = (uintptr_t) end;
            found = true;
        }
    }
    fclose(maps);
    return found;
}

void
fdy_kv_release_pages(fdy_kv_t *self)
{
    uintptr_t start = 0, end = 0;
    if (!s_map_range(self, &start, &end))
        return;
    /* The map is MAP_SHARED and read-only (no MDB_WRITEMAP): dropping the
     * mappings loses nothing, a later access faults the page back in from
     * the page cache. posix_madvise's DONTNEED is a no-op in glibc. */
    if (madvise((void *) start, end - start, MADV_DONTNEED) != 0)
        fdy_log_warn_limited("STORE-RELEASE-PAGES", "%s %s: madvise: %s", self->label, self->dir,
                             strerror(errno));
}
