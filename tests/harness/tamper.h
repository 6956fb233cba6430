/*  tamper.h: test-only surgery on a store's audit log, to check that
 *  verify finds it: flip a byte of an entry, cut an entry short, delete
 *  one, or move the trim point; and on a key record, to check that an
 *  altered one is refused. Each call opens the store in data_dir,
 *  changes it in one committed write transaction and closes it again, so
 *  no store may be open on data_dir in the calling process (another
 *  process, such as a stopped broker's successor, may). Test code only:
 *  it reaches past the store's API into its tables.
 */
#ifndef FDY_TAMPER_H_INCLUDED
#define FDY_TAMPER_H_INCLUDED

#include "reason.h"

#include <stddef.h>
#include <stdint.h>

/* XORs 0x01 into byte offset of entry seq's record. Returns FOUNDRY_OK,
 * FOUNDRY_ENOTFOUND (no such entry), FOUNDRY_EINVAL (offset past the
 * record), or the store's error, with reason. */
foundry_err fdy_tamper_audit_flip(const char *data_dir, uint64_t seq, size_t offset,
                                  fdy_reason_t *reason);

/* Keeps only the first len bytes of entry seq's record. Errors as flip. */
foundry_err fdy_tamper_audit_truncate(const char *data_dir, uint64_t seq, size_t len,
                                      fdy_reason_t *reason);

/* Deletes entry seq. Errors as flip. */
foundry_err fdy_tamper_audit_delete(const char *data_dir, uint64_t seq, fdy_reason_t *reason);

/* Makes entry seq (it must exist) the trim point: its seq and stored hash
 * become the "anchor" record, as a trim through it would leave them.
 * Errors as flip. */
foundry_err fdy_tamper_audit_anchor(const char *data_dir, uint64_t seq, fdy_reason_t *reason);

/* Deletes the audit log's head record (seq and hash of the last entry).
 * Returns FOUNDRY_OK, FOUNDRY_ENOTFOUND (none), or the store's error. */
foundry_err fdy_tamper_audit_forget_head(const char *data_dir, fdy_reason_t *reason);

/* Sets byte offset of the stored record of key name (its frame included:
 * the registry's encoding starts at FDY_KEY_REC_HEADER) to byte, without
 * fixing its checksum, as damage on disk would. Returns FOUNDRY_OK,
 * FOUNDRY_ENOTFOUND (no such key), FOUNDRY_EINVAL (offset past the record),
 * or the store's error, with reason. */
foundry_err fdy_tamper_key_set(const char *data_dir, const char *name, size_t offset, uint8_t byte,
                               fdy_reason_t *reason);

#endif
