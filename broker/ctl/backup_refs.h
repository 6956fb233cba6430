/*  backup_refs.h: which model blobs a store references, for `foundryctl
 *  backup` (only those are copied): every chunk of every accepted manifest
 *  (required: a restored broker serves them to agents) and every chunk an
 *  upload in progress holds (wanted, so the upload resumes). Read from the
 *  backup's own copy of the store, so the set is the snapshot's.
 */
#ifndef FDY_BACKUP_REFS_H_INCLUDED
#define FDY_BACKUP_REFS_H_INCLUDED

#include "model_blobs.h"
#include "reason.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct fdy_backup_refs fdy_backup_refs_t;

/* Reads the references of the store in dir (opened read-only). Returns
 * FOUNDRY_OK and *out (caller owns; fdy_backup_refs_destroy()), or the
 * store's error (FOUNDRY_ESTORE, FOUNDRY_ECORRUPT for a record that does
 * not decode: the reason names it), with reason. */
foundry_err fdy_backup_refs_load(const char *dir, fdy_backup_refs_t **out, fdy_reason_t *reason);
void fdy_backup_refs_destroy(fdy_backup_refs_t **self_p);

/* Referenced blobs, and of them those an accepted manifest needs. */
uint64_t fdy_backup_refs_count(const fdy_backup_refs_t *self);
uint64_t fdy_backup_refs_required(const fdy_backup_refs_t *self);
/* Manifests read. */
uint64_t fdy_backup_refs_manifests(const fdy_backup_refs_t *self);

/* A fdy_backup_blobs_want_fn: true when the blob is referenced. user is
 * the refs. */
bool fdy_backup_refs_want(const uint8_t hash[FDY_BLOB_HASH_LEN], void *user);

/* Counts the required blobs that are not in blobs_dir, naming each (with
 * its model and version) on report (may be NULL). */
uint64_t fdy_backup_refs_missing(const fdy_backup_refs_t *self, const char *blobs_dir,
                                 FILE *report);

#endif
