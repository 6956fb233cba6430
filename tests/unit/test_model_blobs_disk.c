/*  test_model_blobs_disk.c: the blob directory (lib/daemon/model_blobs.c)
 *  on a real 1 MiB tmpfs filled up: a put that does not fit says
 *  FOUNDRY_ENOSPC naming the disk, leaves no temporary file and no blob,
 *  and once space is back the same put succeeds. Skips (77) where tmpfs
 *  cannot be mounted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "artifact.h"
#include "model_blobs.h"
#include "tmpfs.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMPFS_SIZE (1024u * 1024u)
#define BLOB_SIZE  (64u * 1024u)

typedef struct {
    char root[64];
    char dir[96];
    char filler[96];
    fdy_blobs_t *blobs;
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/test_model_blobs_disk.XXXXXX");
    assert_non_null(mkdtemp(f->root));
    assert_int_equal(fdy_tmpfs_mount(f->root, TMPFS_SIZE), 0);
    snprintf(f->dir, sizeof f->dir, "%s/blobs", f->root);
    snprintf(f->filler, sizeof f->filler, "%s/filler", f->root);
    fdy_reason_t reason;
    assert_int_equal(fdy_blobs_open(f->dir, &f->blobs, &reason), FOUNDRY_OK);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *f = *state;
    fdy_blobs_close(&f->blobs);
    fdy_tmpfs_umount(f->root);
    rmdir(f->root);
    free(f);
    return 0;
}

/* Every name under the blob directory's subdirectories. */
static int
s_entries(const fixture_t *f)
{
    int count = 0;
    DIR *top = opendir(f->dir);
    assert_non_null(top);
    for (struct dirent *d; (d = readdir(top));) {
        if (d->d_name[0] == '.')
            continue;
        char sub[512];
        snprintf(sub, sizeof sub, "%s/%s", f->dir, d->d_name);
        DIR *dir = opendir(sub);
        for (struct dirent *e; dir && (e = readdir(dir));)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                count++;
        if (dir)
            closedir(dir);
    }
    closedir(top);
    return count;
}

static void
s_full_disk(bool sync, void **state)
{
    fixture_t *f = *state;
    uint8_t *data = malloc(BLOB_SIZE);
    memset(data, 0x3c, BLOB_SIZE);
    uint8_t hash[FDY_BLOB_HASH_LEN];
    fdy_artifact_hash_chunk(data, BLOB_SIZE, hash);
    /* Leave less than a blob free. */
    fdy_reason_t reason;
    assert_true(fdy_tmpfs_fill(f->filler, 8u * 1024u) >= 0);
    assert_true(fdy_tmpfs_free(f->root) < BLOB_SIZE);
    foundry_err err = fdy_blobs_put(f->blobs, hash, data, BLOB_SIZE, sync, &reason);
    assert_int_equal(err, FOUNDRY_ENOSPC);
    if (!strstr(reason.text, "blob disk full"))
        fail_msg("reason '%s' does not say the disk is full", reason.text);
    assert_false(fdy_blobs_has(f->blobs, hash));
    assert_int_equal(s_entries(f), 0); /* no temporary file left behind */
    /* Space back: the same put goes through. */
    assert_int_equal(unlink(f->filler), 0);
    assert_int_equal(fdy_blobs_put(f->blobs, hash, data, BLOB_SIZE, sync, &reason), FOUNDRY_OK);
    assert_int_equal(fdy_blobs_sync(f->blobs, &reason), FOUNDRY_OK);
    assert_true(fdy_blobs_has(f->blobs, hash));
    assert_int_equal(s_entries(f), 1);
    free(data);
}

static void
test_model_blobs_disk_full_synced_put(void **state)
{
    s_full_disk(true, state);
}

static void
test_model_blobs_disk_full_unsynced_put(void **state)
{
    s_full_disk(false, state);
}

int
main(void)
{
    if (!fdy_tmpfs_setup()) {
        printf("skipped: cannot mount\n");
        return FDY_TMPFS_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_model_blobs_disk_full_synced_put, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_model_blobs_disk_full_unsynced_put, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests_name("model_blobs_disk", tests, NULL, NULL);
}
