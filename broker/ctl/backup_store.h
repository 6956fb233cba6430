/*  backup_store.h: a hot, consistent, compacted copy of a broker's LMDB
 *  store, for `foundryctl backup`. It opens the store read-only beside the
 *  running broker (LMDB lets readers of other processes share the lock
 *  file) and copies one read transaction's snapshot with MDB_CP_COMPACT,
 *  which needs no writer lock: the broker keeps committing meanwhile.
 *  Not for restore (a restore is a file copy: docs/operations.md).
 */
#ifndef FDY_BACKUP_STORE_H_INCLUDED
#define FDY_BACKUP_STORE_H_INCLUDED

#include "reason.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
    uint64_t source_bytes; /* pages the source uses (up to its last page) */
    uint64_t copy_bytes;   /* data.mdb written: the compacted snapshot */
    uint64_t elapsed_ms;
} fdy_backup_store_result_t;

/* Copies the store in data_dir (which holds data.mdb) to dest_dir/data.mdb
 * (dest_dir must exist; data.mdb must not), mode 0600, fsynced with its
 * directory. progress (may be NULL) gets a line about twice a second while
 * it copies and one at the end. Returns FOUNDRY_OK and *out, or
 * FOUNDRY_EINVAL (no store in data_dir), FOUNDRY_ECORRUPT (its data.mdb is
 * damaged), FOUNDRY_EIO (dest_dir: the reason names the path and errno),
 * FOUNDRY_EFULL (the destination's disk is full) or FOUNDRY_ESTORE (LMDB),
 * with reason. On error nothing is left in dest_dir. */
foundry_err fdy_backup_store_copy(const char *data_dir, const char *dest_dir, FILE *progress,
                                  fdy_backup_store_result_t *out, fdy_reason_t *reason);

#endif
