/*  store_check.h: the integrity check of a whole store (foundry-broker
 *  --check-store, foundryctl store check, and the broker's check at start).
 *  The walk runs in a forked child, so a damaged page that makes LMDB
 *  assert (SIGABRT), or a read that faults (SIGSEGV, SIGBUS), is reported
 *  here as a finding naming the table and record where the walk died; the
 *  caller never crashes. Reads only: safe while a broker uses the store.
 *  Call it with no LMDB environment of the same store open in this process
 *  (the child must not inherit one) and from one thread.
 */
#ifndef FDY_STORE_CHECK_H_INCLUDED
#define FDY_STORE_CHECK_H_INCLUDED

#include "reason.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    FDY_STORE_CHECK_CLEAN = 0,   /* every page and record readable and intact */
    FDY_STORE_CHECK_DAMAGED = 1, /* at least one finding */
    FDY_STORE_CHECK_UNUSABLE = 2 /* the check could not run (no store, I/O, version) */
} fdy_store_check_verdict_t;

typedef struct {
    const char *dir; /* the data directory (holds data.mdb) */
    /* Findings, per-stream lines and the summary go here; NULL: findings
     * are logged (STORE-CHECK-DAMAGED) and the summary is in the result. */
    FILE *report;
    bool progress; /* progress lines on stderr during long walks */
} fdy_store_check_opts_t;

typedef struct {
    fdy_store_check_verdict_t verdict;
    uint64_t tables;  /* tables walked (LMDB's own two included) */
    uint64_t streams; /* streams whose messages were walked */
    uint64_t streams_damaged;
    uint64_t records; /* records read */
    uint64_t damaged; /* records damaged or missing */
    /* Of damaged: 1 when the audit log's hash chain is broken. An edited
     * log is evidence, not a store LMDB or the broker cannot use: the
     * broker starts and `audit verify` names the entry. */
    uint64_t audit_chain_damaged;
    uint64_t elapsed_ms;
    /* The first finding (or why the check could not run): names the file,
     * what is wrong and, for damage, what to do. "" when clean. */
    char reason[640];
} fdy_store_check_result_t;

/* Checks the store in opts->dir (see the file comment) and fills *out.
 * Returns FOUNDRY_OK when the check ran (out->verdict says what it found)
 * or FOUNDRY_EINVAL (no data directory, or no data.mdb in it), FOUNDRY_EIO
 * (fork, pipe or shared memory failed), with out->reason; then the verdict
 * is FDY_STORE_CHECK_UNUSABLE. */
foundry_err fdy_store_check(const fdy_store_check_opts_t *opts, fdy_store_check_result_t *out);

/* "SIGABRT", "SIGSEGV", "SIGBUS", ... for a signal that killed a child
 * reading a damaged store ("a signal" for others). Static. */
const char *fdy_store_check_signal_name(int sig);

/* The exit status of a check command for a result: 0 clean, 1 damaged, 2
 * could not run. */
int fdy_store_check_exit_status(const fdy_store_check_result_t *result);

#endif
