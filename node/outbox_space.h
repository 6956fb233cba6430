/*  outbox_space.h: the outbox's disk reserve (docs/node.md, "A full disk").
 *  LMDB copies pages on write, so deleting an entry needs new pages too: an
 *  outbox whose appends took the last free block of a full disk could not
 *  delete what the broker acknowledged. So the data file's blocks are
 *  allocated ahead of LMDB (fdy_kv_preallocate), appends are admitted only
 *  while their transaction's estimated pages leave `reserve` bytes of the
 *  allocated file unused, and one delete transaction takes at most a
 *  quarter of the reserve. While the disk is full, pages LMDB freed
 *  (deleted entries) count as room again, so new entries are stored once
 *  acknowledged ones are gone.
 *
 *  The fields belong to outbox_space.c; the outbox embeds one. Not
 *  thread-safe.
 */
#ifndef FDY_OUTBOX_SPACE_H_INCLUDED
#define FDY_OUTBOX_SPACE_H_INCLUDED

#include "kv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    fdy_kv_t *kv;
    uint64_t page_size;
    uint64_t node_max; /* larger leaf nodes go to overflow pages */
    uint64_t map_size;
    uint64_t reserve;
    uint64_t used;     /* data file bytes in use, as last committed */
    uint64_t growth;   /* new page bytes the open transaction's appends may take */
    uint64_t reusable; /* free-list bytes, counted while the disk is full */
    uint64_t wanted;   /* growth of the first append refused */
    bool full;         /* appends are refused, or fit only in freed pages */
    bool refused;      /* ... and one of the open transaction was */
    bool no_reserve;   /* the file system cannot allocate ahead */
    char reason[FDY_REASON_MAX];
} fdy_outbox_space_t;

/* Sets the reserve from max_bytes (1/64 of it, within 1..16 MiB) and
 * allocates the data file up to what it uses plus the reserve. kv is
 * borrowed, valid until the outbox closes. On a full disk appends are
 * refused until space returns; on a file system that cannot allocate
 * ahead, OUTBOX-NO-RESERVE is logged and appends are not held back. */
void fdy_outbox_space_init(fdy_outbox_space_t *self, fdy_kv_t *kv, uint64_t max_bytes,
                           uint64_t map_size);

/* Before a write transaction begins: forgets the last one's estimate; on a
 * full disk tries to allocate again, else counts LMDB's reusable pages. */
void fdy_outbox_space_begin(fdy_outbox_space_t *self);

/* Admits the append of a value_len-byte value to the open transaction,
 * allocating ahead when needed. Returns FOUNDRY_OK or FOUNDRY_EFULL with
 * reason ("disk full at DIR: ..."); after one refusal the rest of the
 * transaction is refused without trying. */
foundry_err fdy_outbox_space_admit(fdy_outbox_space_t *self, size_t value_len,
                                   fdy_reason_t *reason);

/* After a commit: notes what the data file uses now. */
void fdy_outbox_space_committed(fdy_outbox_space_t *self);

/* Estimated new page bytes that deleting a value_len-byte value takes, and
 * what one delete transaction may take in all. */
uint64_t fdy_outbox_space_delete_cost(const fdy_outbox_space_t *self, size_t value_len);
uint64_t fdy_outbox_space_delete_budget(const fdy_outbox_space_t *self);

/* True from an append refused for space until allocating what it wanted
 * works again; meanwhile appends fit only in the pages deletes freed. */
bool fdy_outbox_space_full(const fdy_outbox_space_t *self);

#endif
