/*  backup_blobs.h: the blob half of `foundryctl backup`: copies the
 *  content-addressed blob files of a broker's <data_dir>/blobs (model
 *  chunks, lib/daemon/model_blobs.h layout: ab/abcdef...64 hex) into a
 *  backup, checking each one's BLAKE2b-256 against its name on the way,
 *  so a backup never carries a blob damaged on the source disk.
 */
#ifndef FDY_BACKUP_BLOBS_H_INCLUDED
#define FDY_BACKUP_BLOBS_H_INCLUDED

#include "model_blobs.h"
#include "reason.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    uint64_t copied;  /* blob files copied */
    uint64_t bytes;   /* their bytes */
    uint64_t skipped; /* not wanted (want() said false) or removed meanwhile */
    uint64_t damaged; /* content does not match the name: not copied, listed */
} fdy_backup_blobs_result_t;

/* Which blobs to copy: true to copy the blob named hash. NULL: all. */
typedef bool(fdy_backup_blobs_want_fn)(const uint8_t hash[FDY_BLOB_HASH_LEN], void *user);

/* Copies the blobs of source_dir (absent: nothing to copy, FOUNDRY_OK) to
 * dest_dir (created, 0700), each file 0600 and fsynced, then its directory.
 * Temporary files of a put in progress are not blobs and are skipped. A
 * damaged blob is named on progress (may be NULL; it also gets a progress
 * line every 256 blobs and a summary) and counted, not copied. Returns
 * FOUNDRY_OK and *out, FOUNDRY_ENOSPC (the backup's disk is full) or
 * FOUNDRY_EIO (the reason names the path), with reason. */
foundry_err fdy_backup_blobs_copy(const char *source_dir, const char *dest_dir,
                                  fdy_backup_blobs_want_fn *want, void *user, FILE *progress,
                                  fdy_backup_blobs_result_t *out, fdy_reason_t *reason);

#endif
