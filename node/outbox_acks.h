/*  outbox_acks.h: the outbox's acknowledged entries that are not deleted
 *  yet, as ranges of seqs, and <outbox>/acked, the file that keeps them
 *  across a restart when their delete could not be committed (outbox.h).
 *
 *  The file is two 4 KiB slots, each checksummed with a generation; a save
 *  overwrites the older slot in place and fdatasyncs, so it needs no new
 *  disk blocks (the file is written whole when it is created) and a torn
 *  write leaves the other slot intact. A slot holds at most
 *  FDY_OUTBOX_ACKS_FILE_RANGES ranges: the lowest seqs are kept.
 *  Not thread-safe; owned by one outbox.
 */
#ifndef FDY_OUTBOX_ACKS_H_INCLUDED
#define FDY_OUTBOX_ACKS_H_INCLUDED

#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fdy_outbox_acks fdy_outbox_acks_t;

#define FDY_OUTBOX_ACKS_SLOT_LEN    4096u
#define FDY_OUTBOX_ACKS_FILE_RANGES ((FDY_OUTBOX_ACKS_SLOT_LEN - 32u) / 16u)

/* An empty set without a file. Returns NULL when out of memory. Caller
 * owns; fdy_outbox_acks_destroy(). */
fdy_outbox_acks_t *fdy_outbox_acks_new(void);

/* Closes the file (without saving) and frees; nulls *self_p. Accepts NULL. */
void fdy_outbox_acks_destroy(fdy_outbox_acks_t **self_p);

/* Opens the file at path (borrowed; created and written whole, 8 KiB, when
 * missing) and adds the ranges its newest valid slot saved for epoch; slots
 * of another epoch or failing their checksum are ignored.
 * Returns FOUNDRY_OK, FOUNDRY_EIO (the file cannot be created or read: the
 * set keeps working in memory, without surviving a restart) or
 * FOUNDRY_ENOMEM, with reason. */
foundry_err fdy_outbox_acks_attach(fdy_outbox_acks_t *self, const char *path, uint64_t epoch,
                                   fdy_reason_t *reason);

/* Adds seq. Returns FOUNDRY_OK or FOUNDRY_ENOMEM (not added). */
foundry_err fdy_outbox_acks_add(fdy_outbox_acks_t *self, uint64_t seq);

bool fdy_outbox_acks_empty(const fdy_outbox_acks_t *self);

/* seq itself when it is not in the set, else the first seq after its range. */
uint64_t fdy_outbox_acks_skip(const fdy_outbox_acks_t *self, uint64_t seq);

/* The ranges, in order: count, and the index-th one (index < count). */
size_t fdy_outbox_acks_range_count(const fdy_outbox_acks_t *self);
void fdy_outbox_acks_range(const fdy_outbox_acks_t *self, size_t index, uint64_t *first_out,
                           uint64_t *last_out);

/* Removes every seq below seq (they were deleted durably). */
void fdy_outbox_acks_forget_below(fdy_outbox_acks_t *self, uint64_t seq);

/* Ranges the file holds now (0 without a file). */
size_t fdy_outbox_acks_saved(const fdy_outbox_acks_t *self);

/* Writes the set to the file when it changed since the last save (nothing
 * without a file). Returns FOUNDRY_OK or FOUNDRY_EIO with reason (the file
 * keeps what it held). */
foundry_err fdy_outbox_acks_save(fdy_outbox_acks_t *self, fdy_reason_t *reason);

#endif
