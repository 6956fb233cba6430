/*  dedupe_index.h: an in-memory hash index from a 64-bit key hash to a
 *  message seq (private to broker/store/): one per stream, for the dedupe
 *  lookups of the append path (store_dedupe.c). Only the hash is kept, not
 *  the key, so a hit is a candidate the caller confirms against the record
 *  it names; several entries may share a hash. Knows nothing of LMDB.
 *  Open addressing with linear probing: 16 bytes a slot, at most 3/4 full,
 *  so 21 to 43 bytes an entry, and while growing the old table's too (the
 *  entries move to the doubled table a few slots per change, so no change
 *  costs more than a bounded amount). Not thread-safe.
 */
#ifndef FDY_DEDUPE_INDEX_H_INCLUDED
#define FDY_DEDUPE_INDEX_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes per slot, and the most entries per slot (numerator/denominator). */
#define FDY_DEDUPE_INDEX_SLOT_BYTES 16
#define FDY_DEDUPE_INDEX_LOAD_NUM 3
#define FDY_DEDUPE_INDEX_LOAD_DEN 4

typedef struct fdy_dedupe_index fdy_dedupe_index_t;

/* Returns a new, empty index. Caller owns it; destroy with
 * fdy_dedupe_index_destroy(). Aborts when out of memory (fdy_xalloc). */
fdy_dedupe_index_t *fdy_dedupe_index_new(void);
void fdy_dedupe_index_destroy(fdy_dedupe_index_t **self_p);

/* Entries held. */
size_t fdy_dedupe_index_count(const fdy_dedupe_index_t *self);

/* Bytes of memory the slots take. */
size_t fdy_dedupe_index_bytes(const fdy_dedupe_index_t *self);

/* Whether entries are still moving to a doubled table. */
bool fdy_dedupe_index_growing(const fdy_dedupe_index_t *self);

/* Where a walk of the entries with one hash stands. */
typedef struct {
    size_t pos;
    bool in_old; /* past the current table, in the one being emptied */
} fdy_dedupe_walk_t;

/* Walks the entries with this hash: set walk = fdy_dedupe_index_start(self,
 * hash), then each fdy_dedupe_index_next returns the seq of one more entry
 * with it, or 0 when there is none left. Valid while self is not changed. */
fdy_dedupe_walk_t fdy_dedupe_index_start(const fdy_dedupe_index_t *self, uint64_t hash);
uint64_t fdy_dedupe_index_next(const fdy_dedupe_index_t *self, uint64_t hash,
                               fdy_dedupe_walk_t *walk);

/* Starts loading the cache line where a walk of hash begins, so that a
 * caller with several lookups ahead overlaps their cache misses. Only a
 * hint: changes nothing, and a table that grows in between is still fine. */
void fdy_dedupe_index_prefetch(const fdy_dedupe_index_t *self, uint64_t hash);

/* Adds (hash, seq); seq must be > 0 and < UINT64_MAX. Past 3/4 full, starts
 * growing into a doubled table. The caller makes sure the pair is not
 * there already. */
void fdy_dedupe_index_insert(fdy_dedupe_index_t *self, uint64_t hash, uint64_t seq);

/* Makes the entry (hash, old_seq) name new_seq (> 0). Returns false when
 * there is no such entry. */
bool fdy_dedupe_index_replace(fdy_dedupe_index_t *self, uint64_t hash, uint64_t old_seq,
                              uint64_t new_seq);

/* Removes the entry (hash, seq). Returns false when there is none. */
bool fdy_dedupe_index_remove(fdy_dedupe_index_t *self, uint64_t hash, uint64_t seq);

#endif
