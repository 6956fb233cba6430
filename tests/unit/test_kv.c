/*  test_kv.c: lib/daemon/kv.c on a real 1 MiB tmpfs: a full file system is
 *  FOUNDRY_EFULL "disk full at DIR", whether LMDB saw ENOSPC or wrote part
 *  of its pages (a short write, EIO), the map is not grown for it, and a
 *  write works again once space is freed; blocks allocated ahead stay
 *  usable on a full disk. Skips (77) where tmpfs cannot be mounted.
 */
#include "kv.h"
#include "tmpfs.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define TMPFS_SIZE (1024u * 1024u)

typedef struct {
    char dir[64];
    char data[96];
    char filler[96];
    fdy_kv_t *kv;
    MDB_dbi dbi;
    fdy_reason_t reason;
} fixture_t;

typedef struct {
    MDB_dbi dbi;
    size_t len;
    unsigned key;
} s_put_t;

static foundry_err
s_put_txn(MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    (void) skip_commit;
    s_put_t *put = ctx;
    MDB_val k = {sizeof put->key, &put->key};
    MDB_val v = {put->len, NULL};
    int rc = mdb_put(txn, put->dbi, &k, &v, MDB_RESERVE);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "put");
    memset(v.mv_data, 0x33, put->len);
    return FOUNDRY_OK;
}

static foundry_err
s_put(fixture_t *fx, unsigned key, size_t len)
{
    s_put_t put = {fx->dbi, len, key};
    return fdy_kv_write(fx->kv, s_put_txn, &put, &fx->reason);
}

static int
setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/foundry-kv-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    assert_int_equal(fdy_tmpfs_mount(fx->dir, TMPFS_SIZE), 0);
    snprintf(fx->data, sizeof fx->data, "%s/kv", fx->dir);
    snprintf(fx->filler, sizeof fx->filler, "%s/filler", fx->dir);
    fdy_kv_opts_t opts = {
        .dir = fx->data, .label = "test", .map_size = 1u << 20, .map_size_max = 64u << 20};
    if (fdy_kv_open(&opts, &fx->kv, &fx->reason) != FOUNDRY_OK)
        fail_msg("open: %s", fx->reason.text);
    MDB_txn *txn;
    assert_int_equal(fdy_kv_txn_begin(fx->kv, 0, &txn, &fx->reason), FOUNDRY_OK);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &fx->dbi), 0);
    assert_int_equal(fdy_kv_commit(fx->kv, txn, &fx->reason), FOUNDRY_OK);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *fx = *state;
    fdy_kv_close(&fx->kv);
    fdy_tmpfs_umount(fx->dir);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void
s_expect_disk_full(fixture_t *fx, foundry_err err)
{
    if (err != FOUNDRY_EFULL)
        fail_msg("got %s (%s), want EFULL", foundry_strerror(err), fx->reason.text);
    char want[128];
    snprintf(want, sizeof want, "disk full at %s: ", fx->data);
    if (strncmp(fx->reason.text, want, strlen(want)) != 0)
        fail_msg("reason \"%s\" does not start \"%s\"", fx->reason.text, want);
    assert_true(fdy_kv_reason_disk_full(fx->reason.text));
}

/* No byte left: LMDB's write fails outright (ENOSPC). */
static void
test_kv_enospc_is_disk_full(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(s_put(fx, 1, 100), FOUNDRY_OK);
    assert_true(fdy_tmpfs_fill(fx->filler, 0) >= 0);
    MDB_envinfo before;
    mdb_env_info(fdy_kv_env(fx->kv), &before);
    s_expect_disk_full(fx, s_put(fx, 2, 200000));
    MDB_envinfo after;
    mdb_env_info(fdy_kv_env(fx->kv), &after);
    assert_int_equal(after.me_mapsize, before.me_mapsize); /* not grown for it */
    unlink(fx->filler);
    assert_int_equal(s_put(fx, 2, 200000), FOUNDRY_OK);
}

/* A few pages left: the write of 50 contiguous overflow pages stores part
 * of them and LMDB says EIO; it is the disk, not a fault. */
static void
test_kv_short_write_is_disk_full(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(s_put(fx, 1, 100), FOUNDRY_OK);
    assert_true(fdy_tmpfs_fill(fx->filler, 3 * 4096) >= 0);
    s_expect_disk_full(fx, s_put(fx, 2, 50 * 4096));
    assert_non_null(strstr(fx->reason.text, "short write"));
    unlink(fx->filler);
    assert_int_equal(s_put(fx, 2, 50 * 4096), FOUNDRY_OK);
}

/* Blocks allocated ahead are the data file's: a filler cannot take them,
 * and LMDB writes into them on a full disk. */
static void
test_kv_preallocated_blocks_survive_a_full_disk(void **state)
{
    fixture_t *fx = *state;
    uint64_t used = fdy_kv_used_bytes(fx->kv);
    assert_int_equal(fdy_kv_preallocate(fx->kv, used + 256 * 1024, &fx->reason), FOUNDRY_OK);
    assert_true(fdy_kv_allocated_bytes(fx->kv) >= used + 256 * 1024);
    assert_true(fdy_tmpfs_fill(fx->filler, 0) >= 0);
    assert_int_equal(s_put(fx, 1, 100000), FOUNDRY_OK);
    s_expect_disk_full(fx, fdy_kv_preallocate(fx->kv, used + 2048 * 1024, &fx->reason));
    unlink(fx->filler);
}

int
main(void)
{
    if (!fdy_tmpfs_setup()) {
        printf("skipped: cannot mount\n");
        return FDY_TMPFS_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kv_enospc_is_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv_short_write_is_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv_preallocated_blocks_survive_a_full_disk, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("kv", tests, NULL, NULL);
}
