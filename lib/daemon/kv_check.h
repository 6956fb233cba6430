/*  kv_check.h: what kv.c checks of an LMDB data file before LMDB maps it,
 *  and LMDB's assertion hook. LMDB takes a 0-byte data.mdb for a new
 *  environment and initialises it silently, and maps a file cut short, so
 *  the first read past its end is a SIGBUS: both are refused here, with a
 *  reason, from the two meta pages alone (no B-tree is read). The walk of
 *  the trees is the broker store's check (broker/store/store_check.h).
 *
 *  On-disk facts used (LMDB 0.9, mdb.c; the layout follows the word size):
 *  page 0 and page 1 are meta pages: a page header (pgno, pad u16, flags
 *  u16 with P_META 0x08, lower/upper u16) then MDB_meta: magic u32
 *  0xBEEFC0DE, version u32 (1), address, mapsize, the free and main
 *  MDB_db (the first one's md_pad holds the page size), last_pg, txnid.
 *  LMDB uses the meta with the larger txnid; it needs both to be valid.
 */
#ifndef FDY_KV_CHECK_H_INCLUDED
#define FDY_KV_CHECK_H_INCLUDED

#include "reason.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

/* What the meta pages say about a data file. */
typedef struct {
    bool exists;        /* false: no data.mdb yet (LMDB will create one) */
    uint64_t size;      /* file size, bytes */
    uint32_t page_size; /* of the newest meta */
    uint64_t last_page; /* the newest meta's last used page */
    uint64_t txnid;     /* the newest meta's transaction id */
    uint64_t map_size;  /* the newest meta's recorded map size */
    unsigned newest;    /* 0 or 1: which meta page is the newest */
} fdy_kv_file_t;

/* Checks <dir>/data.mdb: absent is fine (a new store, out->exists false);
 * otherwise it must be at least two pages long, both meta pages must carry
 * P_META, LMDB's magic and data version, the same sane page size, roots
 * within their last page, and the file must hold every page the newest
 * meta uses: (last_page + 1) x page_size bytes. The metas are read before
 * the size is taken: LMDB writes a meta only after the pages it names, and
 * never shrinks the file, so a process committing meanwhile cannot make a
 * sound file look short. label names the environment in reasons ("store").
 * out may be NULL. Reads only; safe while other processes use the file.
 * Returns FOUNDRY_OK, FOUNDRY_ECORRUPT (empty, short, a damaged meta page,
 * truncated: the reason names the file, what is wrong, and what to do),
 * FOUNDRY_EIO (cannot stat, open or read it) or FOUNDRY_EINVAL (path too
 * long), with reason. */
foundry_err fdy_kv_check_file(const char *dir, const char *label, fdy_kv_file_t *out,
                              fdy_reason_t *reason);

/* Installs the assertion hook on env: an LMDB assertion (a damaged page
 * structure: "IS_LEAF(mp)") logs STORE-DAMAGED naming the environment's
 * path and what to do, before LMDB aborts the process as it always does.
 * Replaces any earlier hook (the store check's child sets its own). */
void fdy_kv_check_arm(MDB_env *env);

#endif
