/*  fixture_store.h: a store in a fresh temporary directory for the unit
 *  tests of broker/store (test_store.c, test_store_streams.c,
 *  test_commit.c), and its removal. Tests only; the functions are static
 *  inline so each test file gets its own copy.
 */
#ifndef FX_STORE_H_INCLUDED
#define FX_STORE_H_INCLUDED

#include "store.h"

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

#endif
