/*  fixture_store.h: a store in a fresh temporary directory for the unit
 *  tests of broker/store (test_store.c, test_store_streams.c,
 *  test_commit.c, the tables' tests), its removal, a one-part commit and a
 *  store check. Tests only; the functions are static inline so each test
 *  file gets its own copy.
 */
#ifndef FX_STORE_H_INCLUDED
#define FX_STORE_H_INCLUDED

#include "commit.h"
#include "store.h"
#include "store_check.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#define FX_STORE_DIR_LEN 64

/* Makes /tmp/<prefix>.XXXXXX into dir and, when opts is not NULL, opens a
 * store there (opts->dir is replaced by dir; *store: caller owns, removed
 * with fx_store_rm). Fails the test when either fails. */
static inline void
fx_store_open_tmp(char dir[FX_STORE_DIR_LEN], const char *prefix, const fdy_store_opts_t *opts,
                  fdy_store_t **store, fdy_reason_t *reason)
{
    snprintf(dir, FX_STORE_DIR_LEN, "/tmp/%s.XXXXXX", prefix);
    assert_non_null(mkdtemp(dir));
    if (!opts)
        return;
    fdy_store_opts_t o = *opts;
    o.dir = dir;
    foundry_err err = fdy_store_open(&o, store, reason);
    if (err != FOUNDRY_OK)
        fail_msg("open store in %s: %s (%s)", dir, foundry_strerror(err), reason->text);
}

/* Closes *store (may be NULL) and removes the directory and its files. */
static inline void
fx_store_rm(const char *dir, fdy_store_t **store)
{
    fdy_store_close(store);
    const char *files[] = { "data.mdb", "lock.mdb" };
    char path[FX_STORE_DIR_LEN + 16];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* Runs one commit of part with data; fails the test when it fails. */
static inline void
fx_store_commit_one(fdy_store_t *store, const fdy_commit_part_t *part, void *data)
{
    fdy_commit_t commit;
    fdy_commit_init(&commit);
    fdy_commit_add(&commit, part, data);
    fdy_reason_t reason = { { 0 } };
    foundry_err err = fdy_commit_run(&commit, store, &reason);
    if (err != FOUNDRY_OK)
        fail_msg("commit: %s (%s)", foundry_strerror(err), reason.text);
}

/* Checks the (closed) store in dir, the report thrown away. */
static inline fdy_store_check_result_t
fx_store_check(const char *dir)
{
    FILE *report = tmpfile();
    assert_non_null(report);
    fdy_store_check_opts_t opts = { .dir = dir, .report = report };
    fdy_store_check_result_t result;
    assert_int_equal(fdy_store_check(&opts, &result), FOUNDRY_OK);
    fclose(report);
    return result;
}

#endif
