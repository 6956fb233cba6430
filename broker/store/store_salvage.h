/*  store_salvage.h: copying what is readable of a damaged store into a new
 *  one (foundry-broker --salvage-to, foundryctl store salvage). The old
 *  store is only read, by forked children: a record whose read kills one
 *  (a damaged page: SIGABRT, SIGSEGV, SIGBUS) is skipped and a new child
 *  goes on after it from the last commit to the new store.
 *
 *  What is copied: the keys whose records pass their checksum; every
 *  stream with its filters and limits; each message record that passes
 *  its checksum, byte for byte (stored time, publisher, id, dead-letter
 *  block), renumbered from 1 in order (a stream whose records all survive
 *  keeps its seqs when it started at 1); the consumers of each stream with
 *  their configuration and their ack floor and delivered seq mapped to the
 *  new numbers (messages acked above the floor are delivered again: at
 *  least once). The dedupe index needs no copy: the broker rebuilds it
 *  from the records at open, and their stored times are kept. Not copied:
 *  the audit log (keep the old store for it), the broker clock.
 */
#ifndef FDY_STORE_SALVAGE_H_INCLUDED
#define FDY_STORE_SALVAGE_H_INCLUDED

#include "reason.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *from; /* the damaged store's data directory */
    const char *to;   /* the new store's; must hold no data.mdb yet */
    FILE *report;     /* what is skipped and the summary; NULL: nothing printed */
} fdy_store_salvage_opts_t;

typedef enum {
    FDY_STORE_SALVAGE_COMPLETE = 0, /* everything copied */
    FDY_STORE_SALVAGE_PARTIAL = 1,  /* copied, but records were skipped */
    FDY_STORE_SALVAGE_FAILED = 2    /* could not run (reason) */
} fdy_store_salvage_verdict_t;

typedef struct {
    fdy_store_salvage_verdict_t verdict;
    uint64_t keys, keys_skipped;
    uint64_t streams, streams_skipped;
    uint64_t messages, messages_skipped;
    uint64_t consumers, consumers_skipped;
    uint64_t child_deaths; /* reads that killed a child */
    char reason[640];      /* why it failed; "" otherwise */
} fdy_store_salvage_result_t;

/* Salvages opts->from into opts->to (see the file comment) and fills *out.
 * Returns FOUNDRY_OK when it ran (out->verdict), FOUNDRY_EINVAL (no store
 * in from, to holds one already), FOUNDRY_EIO (fork, shared memory) or the
 * error that stopped it (the new store cannot be written: FOUNDRY_EFULL,
 * FOUNDRY_ESTORE; the old store's catalogue cannot be read:
 * FOUNDRY_ECORRUPT), with out->reason. No LMDB environment of either store
 * may be open in this process. */
foundry_err fdy_store_salvage(const fdy_store_salvage_opts_t *opts,
                              fdy_store_salvage_result_t *out);

/* 0 complete, 1 partial, 2 failed. */
int fdy_store_salvage_exit_status(const fdy_store_salvage_result_t *result);

#endif
