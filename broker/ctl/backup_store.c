/*  backup_store.c: the store half of `foundryctl backup`: one read
 *  transaction's snapshot of the broker's LMDB store, compacted
 *  (mdb_env_copyfd2 with MDB_CP_COMPACT), while the broker serves. The
 *  compacting copy walks the B-trees under a read transaction only, so it
 *  never takes the writer lock; its one cost to the broker is that pages
 *  freed during the copy are reused only after it ends (the map may grow).
 */
#include "backup_store.h"

#include "clock.h"
#include "files.h"
#include "kv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_PERIOD_MS 500
#define MIB                (1024.0 * 1024.0)

/* The progress thread only reads the size of the file LMDB's writer
 * thread appends to: nothing is shared but fd and the stop flag. */
typedef struct {
    int fd;
    FILE *out;
    uint64_t source_bytes;
    bool stop;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
} progress_t;

static void
s_progress_line(progress_t *self)
{
    struct stat st;
    if (fstat(self->fd, &st) != 0)
        return;
    fprintf(self->out, "backup: store %.1f MiB copied (source uses %.1f MiB)\n",
            (double) st.st_size / MIB, (double) self->source_bytes / MIB);
    fflush(self->out);
}

static void *
s_progress_run(void *arg)
{
    progress_t *self = arg;
    pthread_mutex_lock(&self->mutex);
    while (!self->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += PROGRESS_PERIOD_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec += 1;
            until.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&self->cond, &self->mutex, &until) == ETIMEDOUT && !self->stop)
            s_progress_line(self);
    }
    pthread_mutex_unlock(&self->mutex);
    return NULL;
}

static uint64_t
s_source_bytes(MDB_env *env)
{
    MDB_envinfo info;
    MDB_stat stat;
    if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &stat) != 0)
        return 0;
    return ((uint64_t) info.me_last_pgno + 1) * stat.ms_psize;
}

/* Runs the compacting copy into fd with a progress thread beside it. */
static foundry_err
s_copy(MDB_env *env, int fd, FILE *progress_out, uint64_t source_bytes, fdy_reason_t *reason)
{
    progress_t progress = {.fd = fd, .out = progress_out, .source_bytes = source_bytes};
    pthread_mutex_init(&progress.mutex, NULL);
    pthread_cond_init(&progress.cond, NULL);
    pthread_t thread;
    bool started = progress_out && pthread_create(&thread, NULL, s_progress_run, &progress) == 0;
    int rc = mdb_env_copyfd2(env, fd, MDB_CP_COMPACT);
    for (int tries = 0; rc == MDB_MAP_RESIZED && tries < 3; tries++) {
        /* The broker grew the map since we opened it: adopt its size (no
         * txn of ours is open) and copy again from the start. */
        rc = mdb_env_set_mapsize(env, 0);
        if (rc == 0 && (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0))
            rc = errno;
        if (rc == 0)
            rc = mdb_env_copyfd2(env, fd, MDB_CP_COMPACT);
    }
    if (started) {
        pthread_mutex_lock(&progress.mutex);
        progress.stop = true;
        pthread_cond_signal(&progress.cond);
        pthread_mutex_unlock(&progress.mutex);
        pthread_join(thread, NULL);
    }
    pthread_cond_destroy(&progress.cond);
    pthread_mutex_destroy(&progress.mutex);
    if (rc == ENOSPC || rc == EDQUOT)
        return fdy_reason_set(reason, FOUNDRY_EFULL, "backup disk full: %s", mdb_strerror(rc));
    if (rc != 0)
        return fdy_kv_err(rc, reason, "copy");
    return FOUNDRY_OK;
}

foundry_err
fdy_backup_store_copy(const char *data_dir, const char *dest_dir, FILE *progress,
                      fdy_backup_store_result_t *out, fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    uint64_t start_ns = fdy_clock_mono_ns();
    char source[PATH_MAX], dest[PATH_MAX];
    if (snprintf(source, sizeof source, "%s/data.mdb", data_dir) >= (int) sizeof source ||
        snprintf(dest, sizeof dest, "%s/data.mdb", dest_dir) >= (int) sizeof dest)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "path too long");
    struct stat st;
    if (stat(source, &st) != 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s: no store here (%s)", data_dir,
                              strerror(errno));

    /* Read-only: LMDB registers us as a reader in lock.mdb, beside the
     * broker; kv checks data.mdb's meta pages before mapping it. */
    fdy_kv_opts_t opts = {.dir = data_dir, .label = "store", .read_only = true};
    fdy_kv_t *kv = NULL;
    foundry_err err = fdy_kv_open(&opts, &kv, reason);
    if (err != FOUNDRY_OK)
        return err;
    out->source_bytes = s_source_bytes(fdy_kv_env(kv));

    int fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        err = fdy_reason_set(reason, FOUNDRY_EIO, "%s: %s", dest, strerror(errno));
        fdy_kv_close(&kv);
        return err;
    }
    err = s_copy(fdy_kv_env(kv), fd, progress, out->source_bytes, reason);
    fdy_kv_close(&kv);
    if (err == FOUNDRY_OK && fsync(fd) != 0)
        err = fdy_reason_set(reason, errno == ENOSPC ? FOUNDRY_EFULL : FOUNDRY_EIO, "%s: fsync: %s",
                             dest, strerror(errno));
    if (err == FOUNDRY_OK && fstat(fd, &st) == 0)
        out->copy_bytes = (uint64_t) st.st_size;
    close(fd);
    if (err == FOUNDRY_OK && fdy_dir_fsync(dest_dir) != 0)
        err = fdy_reason_set(reason, FOUNDRY_EIO, "%s: fsync: %s", dest_dir, strerror(errno));
    if (err != FOUNDRY_OK) {
        unlink(dest);
        return err;
    }
    out->elapsed_ms = (fdy_clock_mono_ns() - start_ns) / 1000000u;
    if (progress) {
        fprintf(progress, "backup: store %.1f MiB copied, compacted from %.1f MiB, in %.1f s\n",
                (double) out->copy_bytes / MIB, (double) out->source_bytes / MIB,
                (double) out->elapsed_ms / 1000.0);
        fflush(progress);
    }
    return FOUNDRY_OK;
}
