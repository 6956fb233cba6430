/*  kv.h: one LMDB environment in a directory, the plumbing every durable
 *  table of the daemons shares (the broker's store, the node's outbox):
 *  open with an optional exclusive lock file, write transactions that grow
 *  the map and run again from scratch, a reused read transaction, u64
 *  metadata values, and LMDB errors mapped once (STYLE.md §4).
 *
 *  Durability: no NOSYNC-family flag is ever set, so a commit that returned
 *  0 has fsynced. Not thread-safe: one thread owns a kv (other processes may
 *  open the same directory, as LMDB allows). Never linked into libfoundry.
 */
#ifndef FDY_KV_H_INCLUDED
#define FDY_KV_H_INCLUDED

#include "histogram.h"
#include "reason.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct fdy_kv fdy_kv_t;

typedef struct {
    const char *dir;       /* created (mkdir -p, 0700) if missing, unless read_only */
    const char *label;     /* "store", "outbox": names it in reasons and logs; NULL = "kv" */
    const char *lock_file; /* NULL, or a file name in dir held with an exclusive flock */
    uint64_t map_size;     /* at least this (a map grown earlier is kept); 0 = as recorded */
    uint64_t map_size_max; /* fdy_kv_write grows the map up to this; below map_size = map_size */
    unsigned max_dbs;      /* named databases; 0 = LMDB's default (none) */
    bool read_only;        /* MDB_RDONLY: the directory must exist, no growth, no writes */
    /* With read_only only: data.mdb is not checked first, so a truncated
     * one is mapped and a read past its end is a SIGBUS. For a salvage,
     * in a process of its own (broker/store/store_salvage.c). */
    bool unchecked;
} fdy_kv_opts_t;

/* Opens the environment (MDB_NOTLS, default sync flags) and clears stale
 * reader slots. All strings in opts are copied. An existing data.mdb is
 * checked against its meta pages first (fdy_kv_check_file: never a new
 * store over an empty file, never a map over a truncated one), and LMDB's
 * assertions are logged (fdy_kv_check_arm).
 * Returns FOUNDRY_OK and *out (caller owns; fdy_kv_close()), FOUNDRY_EINVAL
 * (no directory, map_size_max too large, path too long), FOUNDRY_EIO (the
 * directory or lock file), FOUNDRY_EEXIST (another process holds the lock
 * file), FOUNDRY_EFULL (the disk is full: FDY_KV_DISK_FULL), FOUNDRY_ECORRUPT
 * (data.mdb empty, short, truncated or with a damaged meta page: the reason
 * says which and what to do), FOUNDRY_ENOMEM
 * or FOUNDRY_ESTORE (LMDB; reason has mdb_strerror), with reason. */
foundry_err fdy_kv_open(const fdy_kv_opts_t *opts, fdy_kv_t **out, fdy_reason_t *reason);

/* Aborts the cached read transaction, closes the environment (and every
 * database handle) and the lock file, nulls *self_p. Accepts NULL. Every
 * other transaction must have ended. */
void fdy_kv_close(fdy_kv_t **self_p);

/* The environment. Borrowed, valid until fdy_kv_close(). */
MDB_env *fdy_kv_env(fdy_kv_t *self);
/* The directory. Borrowed, valid until fdy_kv_close(). */
const char *fdy_kv_dir(const fdy_kv_t *self);
bool fdy_kv_read_only(const fdy_kv_t *self);
uint64_t fdy_kv_map_size_max(const fdy_kv_t *self);
/* Write transactions committed since open (fdy_kv_write, fdy_kv_commit). */
uint64_t fdy_kv_commits(const fdy_kv_t *self);
/* How long each of those commits took (mdb_txn_commit: page writes and
 * fsyncs), in microseconds. Borrowed, valid until fdy_kv_close(). */
const fdy_histogram_t *fdy_kv_commit_latency(const fdy_kv_t *self);

/* Maps an LMDB error once: MDB_MAP_FULL, ENOSPC and EDQUOT ->
 * FOUNDRY_EFULL, anything else -> FOUNDRY_ESTORE; the reason is "<what>:
 * <mdb_strerror>". Returns the code. It knows no directory: fdy_kv_write()
 * and fdy_kv_commit() turn a full filesystem into the FDY_KV_DISK_FULL
 * reason below. */
foundry_err fdy_kv_err(int rc, fdy_reason_t *reason, const char *what);

/* A full filesystem is FOUNDRY_EFULL with a reason starting "disk full at
 * <dir>: " (then what failed), so it reads differently from the map_size_max
 * case ("<label> full: map size ... reached map_size_max ..."). It covers
 * ENOSPC and EDQUOT, and LMDB's short write: mdb_txn_commit() returns EIO
 * when a write() stored only part of the pages, which kv tells from a disk
 * fault by trying to allocate 64 KiB in the directory. */
#define FDY_KV_DISK_FULL "disk full at "
/* True when reason_text (may be NULL) is such a reason. */
bool fdy_kv_reason_disk_full(const char *reason_text);

/* Begins a transaction (flags: 0 or MDB_RDONLY), adopting a map another
 * process has grown. *txn_out is NULL on error. Returns FOUNDRY_OK,
 * FOUNDRY_EFULL (map or disk) or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_kv_txn_begin(fdy_kv_t *self, unsigned flags, MDB_txn **txn_out,
                             fdy_reason_t *reason);

/* Commits a write transaction begun with fdy_kv_txn_begin and counts it.
 * The txn is gone whatever the result. Returns FOUNDRY_OK (durable),
 * FOUNDRY_EFULL (the map, or the disk: FDY_KV_DISK_FULL) or FOUNDRY_ESTORE,
 * with reason ("commit: ..."). */
foundry_err fdy_kv_commit(fdy_kv_t *self, MDB_txn *txn, fdy_reason_t *reason);

/* A read transaction for looking only: it must not open database handles
 * (they would close when it is reset). Reuses the cached one when it is
 * free, because beginning one from scratch allocates per-database arrays.
 * End it with fdy_kv_rtxn_end(), never with mdb_txn_abort(). Returns
 * FOUNDRY_OK or FOUNDRY_ESTORE, with reason (may be NULL). */
foundry_err fdy_kv_rtxn_begin(fdy_kv_t *self, MDB_txn **txn_out, fdy_reason_t *reason);
/* Resets the cached transaction for reuse, aborts any other. Accepts NULL. */
void fdy_kv_rtxn_end(fdy_kv_t *self, MDB_txn *txn);

/* The body of a write transaction. Returns FOUNDRY_OK to commit; sets
 * *skip_commit to abort instead (nothing changed: no fsync). A FOUNDRY_EFULL
 * must come from fdy_kv_err() (MDB_MAP_FULL, ENOSPC, EDQUOT): unless the
 * disk is full it makes fdy_kv_write() grow the map and run the body again
 * from scratch, so the body keeps no state from an earlier attempt. */
typedef foundry_err(fdy_kv_txn_fn)(MDB_txn *txn, void *ctx, bool *skip_commit,
                                   fdy_reason_t *reason);

/* Runs fn in a write transaction and commits it synchronously; on
 * FOUNDRY_EFULL doubles the map (capped at map_size_max) and runs fn again,
 * logging STORE-MAP-GROWN. A failure (EFULL or ESTORE) while the filesystem
 * is full is FOUNDRY_EFULL with the FDY_KV_DISK_FULL reason, and the map is
 * not grown. Returns what fn returned, FOUNDRY_EFULL (at map_size_max, the
 * disk full, or read-only) or FOUNDRY_ESTORE, with reason; the reason of an
 * earlier attempt's MAP_FULL is cleared when a later one succeeds. */
foundry_err fdy_kv_write(fdy_kv_t *self, fdy_kv_txn_fn *fn, void *ctx, fdy_reason_t *reason);

/* Doubles the map, capped at map_size_max; no transaction may be open in
 * this process. Returns FOUNDRY_OK (grown), FOUNDRY_EFULL (at the maximum
 * or read-only) or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_kv_grow(fdy_kv_t *self, fdy_reason_t *reason);

/* ---- disk space: a user that must keep writing on a full disk (the node's
 * outbox removes acknowledged entries) allocates blocks ahead of LMDB. ---- */

/* LMDB's page size. */
uint64_t fdy_kv_page_size(fdy_kv_t *self);
/* Bytes of the data file up to its last used page, as last committed. The
 * file never shrinks; pages freed below this are reused from LMDB's free
 * list. */
uint64_t fdy_kv_used_bytes(fdy_kv_t *self);
/* Bytes of the data file known to have their disk blocks: its size at open,
 * raised by fdy_kv_preallocate(). Writes below it need no new disk space
 * (on file systems that overwrite in place: not btrfs or ZFS). */
uint64_t fdy_kv_allocated_bytes(const fdy_kv_t *self);
/* Allocates the data file's blocks up to bytes (posix_fallocate; the file
 * size grows with it, which LMDB ignores). Returns FOUNDRY_OK, FOUNDRY_EFULL
 * (FDY_KV_DISK_FULL reason: nothing more allocated) or FOUNDRY_EIO (the
 * file system cannot do it, or read-only), with reason. */
foundry_err fdy_kv_preallocate(fdy_kv_t *self, uint64_t bytes, fdy_reason_t *reason);
/* Bytes the data file's file system has free for unprivileged use now
 * (fstatvfs: f_bavail; quotas are not seen), 0 if it cannot be told. A
 * hint for how much fdy_kv_preallocate() may get, never a promise. */
uint64_t fdy_kv_free_bytes(fdy_kv_t *self);
/* Bytes of the pages on LMDB's free list that the next write transaction
 * may reuse: freed by transactions before the last one (LMDB keeps the
 * last snapshot), assuming no other process reads an older one. One read
 * transaction over the free list. Returns FOUNDRY_OK or FOUNDRY_ESTORE,
 * with reason. */
foundry_err fdy_kv_reusable_bytes(fdy_kv_t *self, uint64_t *bytes_out, fdy_reason_t *reason);

/* Reads the u64 (LE) stored under key in dbi: *value_out = 0 and *found_out
 * (may be NULL) false when absent. Returns FOUNDRY_OK, FOUNDRY_ECORRUPT
 * (not 8 bytes) or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_kv_meta_get(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *value_out,
                            bool *found_out, fdy_reason_t *reason);
/* Writes value (u64 LE) under key. Returns FOUNDRY_OK, FOUNDRY_EFULL or
 * FOUNDRY_ESTORE, with reason. */
foundry_err fdy_kv_meta_put(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t value,
                            fdy_reason_t *reason);

/* Clears stale reader slots (mdb_reader_check); logs what it cleared. */
void fdy_kv_check_readers(fdy_kv_t *self);

/* Drops this process's mappings of the data file's pages (madvise
 * MADV_DONTNEED over the map, found in /proc/self/maps). The data stays in
 * the page cache and a later read maps it again; what shrinks is the
 * resident set, which otherwise grows with every page a read touched. */
void fdy_kv_release_pages(fdy_kv_t *self);

#endif
