/*  damage.h: test-only damage to a store's data.mdb, as a disk or a hand
 *  would do it: a page relabelled, zeroed or overwritten with random bytes,
 *  the file cut short or emptied. Pages are found through LMDB (the page
 *  that holds a given message record), so the damage hits a live page. No
 *  store may be open on data_dir in the calling process when it is changed.
 */
#ifndef FDY_DAMAGE_H_INCLUDED
#define FDY_DAMAGE_H_INCLUDED

#include "reason.h"

#include <stdint.h>

/* The number of the leaf page holding record seq of stream (its value must
 * be small enough to live in the leaf), and the page size. Opens the store
 * read-only. Returns FOUNDRY_OK, FOUNDRY_ENOTFOUND (stream or seq), or the
 * store's error, with reason. */
foundry_err fdy_damage_find_leaf(const char *data_dir, const char *stream, uint64_t seq,
                                 uint64_t *pgno_out, uint32_t *page_size_out, fdy_reason_t *reason);

typedef enum {
    FDY_DAMAGE_LEAF_TO_BRANCH, /* the header's P_LEAF flag replaced by P_BRANCH */
    FDY_DAMAGE_ZERO,           /* every byte 0 */
    FDY_DAMAGE_RANDOM,         /* random bytes (seeded: the same every run) */
} fdy_damage_page_t;

/* Damages page pgno of data_dir/data.mdb. Returns FOUNDRY_OK or FOUNDRY_EIO. */
foundry_err fdy_damage_page(const char *data_dir, uint64_t pgno, uint32_t page_size,
                            fdy_damage_page_t how, fdy_reason_t *reason);

/* Cuts data.mdb to percent (0..100) of its size. */
foundry_err fdy_damage_truncate(const char *data_dir, unsigned percent, fdy_reason_t *reason);

/* Copies data.mdb (and nothing else) from one directory to another
 * (created if missing). */
foundry_err fdy_damage_copy_store(const char *from_dir, const char *to_dir, fdy_reason_t *reason);

#endif
