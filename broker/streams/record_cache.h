/*  record_cache.h: copies of a stream's recently read records, so the
 *  consumers of one stream, which drift apart by up to their credit, do not
 *  each read (and checksum) the same records from LMDB again. Holds one
 *  contiguous range of seqs within a fixed memory budget, dropping the
 *  oldest first. Not thread-safe; no I/O.
 */
#ifndef FDY_RECORD_CACHE_H_INCLUDED
#define FDY_RECORD_CACHE_H_INCLUDED

#include "store.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct fdy_record_cache fdy_record_cache_t;

/* Returns an empty cache (a few MiB, allocated now). Aborts on
 * out-of-memory (daemon allocator). Caller owns; fdy_record_cache_destroy(). */
fdy_record_cache_t *fdy_record_cache_new(void);
void fdy_record_cache_destroy(fdy_record_cache_t **self_p);

/* Copies rec in (its publisher, data and ext; rec is borrowed) when it
 * extends the cached range; one further ahead starts a new range; one
 * before the end of the range is ignored; one too large for the budget
 * empties the cache. */
void fdy_record_cache_put(fdy_record_cache_t *self, const fdy_stored_t *rec);

/* True when seq is cached: *rec_out then describes it, with stream set to
 * `stream` (borrowed) and no msg id; its pointers are borrowed until the
 * next put. */
bool fdy_record_cache_get(const fdy_record_cache_t *self, const char *stream, uint64_t seq,
                          fdy_stored_t *rec_out);

#endif
