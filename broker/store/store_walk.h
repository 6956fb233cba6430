/*  store_walk.h: the walk behind the store check (private to broker/store/;
 *  store_check.h runs it in a child process). It reads every page LMDB can
 *  reach and every record of every registered table, and writes where it is
 *  and what it found into a struct the parent shares, so that a walk killed
 *  by a damaged page (LMDB's assertion, SIGSEGV, SIGBUS) still says where.
 */
#ifndef FDY_STORE_WALK_H_INCLUDED
#define FDY_STORE_WALK_H_INCLUDED

#include "reason.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define FDY_WALK_TABLES_MAX 16
#define FDY_WALK_NAME_MAX   32
#define FDY_WALK_TEXT_MAX   512

typedef struct {
    char name[FDY_WALK_NAME_MAX];
    uint64_t records;
    uint64_t damaged;
} fdy_walk_table_t;

/* Lives in memory shared with the parent: plain bytes, no pointers. */
typedef struct {
    /* Where the walk is now: set before each database, and the key of the
     * record last read in a seq-keyed one. */
    char table[FDY_WALK_NAME_MAX];
    char db[FDY_WALK_NAME_MAX];
    char stream[FDY_WALK_NAME_MAX * 2 + 8];
    bool has_seq;
    uint64_t seq;
    char assertion[FDY_WALK_TEXT_MAX]; /* LMDB's assertion text, if one failed */
    /* What it found. */
    fdy_walk_table_t tables[FDY_WALK_TABLES_MAX];
    size_t table_count;
    uint64_t streams;
    uint64_t streams_damaged;
    uint64_t records;
    uint64_t damaged;
    uint64_t audit_chain_damaged;  /* of damaged: the audit chain's finding */
    char first[FDY_WALK_TEXT_MAX]; /* the first finding */
    /* The store could not be opened: FOUNDRY_ECORRUPT is damage, anything
     * else means the check could not run. */
    foundry_err open_err;
    char open_reason[FDY_REASON_MAX];
    bool finished;
} fdy_store_walk_t;

/* Walks the store in dir (opened read-only): LMDB's free list and its
 * catalogue of databases, then every registered table's databases record
 * by record (each table's check), every stream's messages (checksum, seqs
 * gap-free from first_seq to last_seq, the count the stream record
 * promises) and the audit chain. Findings go to report as "damaged: ..."
 * lines (at most 20 per table), and, when report is NULL, to the log
 * (STORE-CHECK-DAMAGED); progress lines go to stderr every few seconds when
 * progress is set. Fills *w as it goes, finished last. Meant to run in a
 * process of its own: a damaged page may kill it. */
void fdy_store_walk(const char *dir, fdy_store_walk_t *w, FILE *report, bool progress);

#endif
