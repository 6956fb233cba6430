/*  test_model_blobs.c: the blob directory (lib/daemon/model_blobs.c) on a
 *  real temporary directory: put, has and read; a blob whose bytes do not
 *  match its name is refused and nothing is written; the same blob stored
 *  twice is one file; unsynced puts become durable at sync; gc removes what
 *  keep() rejects and a crashed put's temporary file, and nothing else;
 *  blobs of every length come back byte for byte (the aligned part goes
 *  with O_DIRECT, the tail plainly), also after their subdirectory went.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "artifact.h"
#include "model_blobs.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char root[64];
    char dir[96];
    fdy_blobs_t *blobs;
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/test_model_blobs.XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof f->dir, "%s/data/blobs", f->root); /* parents made too */
    fdy_reason_t reason;
    assert_int_equal(fdy_blobs_open(f->dir, &f->blobs, &reason), FOUNDRY_OK);
    *state = f;
    return 0;
}

static int
s_rm_tree(const char *path)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    return system(cmd);
}

static int
s_teardown(void **state)
{
    fixture_t *f = *state;
    fdy_blobs_close(&f->blobs);
    assert_null(f->blobs);
    s_rm_tree(f->root);
    free(f);
    return 0;
}

/* Files in every subdirectory of the blob directory. */
static int
s_count_files(const fixture_t *f)
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
        assert_non_null(dir);
        for (struct dirent *e; (e = readdir(dir));)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                count++;
        closedir(dir);
    }
    closedir(top);
    return count;
}

static void
test_model_blobs_put_has_read(void **state)
{
    fixture_t *f = *state;
    const char data[] = "chunk zero of the defect detector";
    uint8_t hash[FDY_BLOB_HASH_LEN];
    fdy_artifact_hash_chunk(data, sizeof data, hash);
    assert_false(fdy_blobs_has(f->blobs, hash));
    fdy_reason_t reason;
    assert_int_equal(fdy_blobs_put(f->blobs, hash, data, sizeof data, true, &reason), FOUNDRY_OK);
    assert_true(fdy_blobs_has(f->blobs, hash));
    char buf[128];
    size_t len = 0;
    assert_int_equal(fdy_blobs_read(f->blobs, hash, buf, sizeof buf, &len, &reason), FOUNDRY_OK);
    assert_int_equal(len, sizeof data);
    assert_memory_equal(buf, data, sizeof data);
    /* Stored at DIR/ab/<hex>. */
    char hex[2 * FDY_BLOB_HASH_LEN + 1], path[256];
    fdy_blobs_hex(hash, hex);
    snprintf(path, sizeof path, "%s/%.2s/%s", fdy_blobs_dir(f->blobs), hex, hex);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, sizeof data);
    /* A buffer too small is refused, not overrun. */
    assert_int_equal(fdy_blobs_read(f->blobs, hash, buf, 4, &len, &reason), FOUNDRY_ETOOBIG);
    int fd = -1;
    assert_int_equal(fdy_blobs_open_fd(f->blobs, hash, &fd, &reason), FOUNDRY_OK);
    assert_int_equal(read(fd, buf, sizeof buf), (ssize_t) sizeof data);
    close(fd);
    assert_int_equal(fdy_blobs_remove(f->blobs, hash, &reason), FOUNDRY_OK);
    assert_false(fdy_blobs_has(f->blobs, hash));
    assert_int_equal(fdy_blobs_remove(f->blobs, hash, &reason), FOUNDRY_OK); /* absent: fine */
    assert_int_equal(fdy_blobs_read(f->blobs, hash, buf, sizeof buf, &len, &reason),
                     FOUNDRY_ENOTFOUND);
    assert_int_equal(fdy_blobs_open_fd(f->blobs, hash, &fd, &reason), FOUNDRY_ENOTFOUND);
}

/* Lengths around the O_DIRECT alignment and the 1 MiB bounce buffer. */
static void
test_model_blobs_lengths_round_trip(void **state)
{
    fixture_t *f = *state;
    const size_t lengths[] = {
        77, 4096, 3 * 4096 + 77, 1024 * 1024, 1024 * 1024 + 1, 300 * 4096 + 4095};
    size_t max = 300 * 4096 + 4095;
    uint8_t *data = malloc(max), *back = malloc(max);
    assert_non_null(data);
    assert_non_null(back);
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        for (size_t b = 0; b < lengths[i]; b++)
            data[b] = (uint8_t) (b * 131 + i * 7 + (b >> 12));
        uint8_t hash[FDY_BLOB_HASH_LEN];
        fdy_artifact_hash_chunk(data, lengths[i], hash);
        fdy_reason_t reason;
        bool sync = i % 2 == 0;
        if (i == 4) {
            /* Stored, removed, and its subdirectory removed behind the
             * store's back: the next put makes it again. */
            assert_int_equal(fdy_blobs_put(f->blobs, hash, data, lengths[i], true, &reason),
                             FOUNDRY_OK);
            assert_int_equal(fdy_blobs_remove(f->blobs, hash, &reason), FOUNDRY_OK);
            assert_int_equal(fdy_blobs_sync(f->blobs, &reason), FOUNDRY_OK);
            char hex[2 * FDY_BLOB_HASH_LEN + 1], sub[256];
            fdy_blobs_hex(hash, hex);
            snprintf(sub, sizeof sub, "%s/%.2s", fdy_blobs_dir(f->blobs), hex);
            assert_int_equal(rmdir(sub), 0);
        }
        assert_int_equal(fdy_blobs_put(f->blobs, hash, data, lengths[i], sync, &reason),
                         FOUNDRY_OK);
        assert_int_equal(fdy_blobs_sync(f->blobs, &reason), FOUNDRY_OK);
        size_t len = 0;
        assert_int_equal(fdy_blobs_read(f->blobs, hash, back, max, &len, &reason), FOUNDRY_OK);
        assert_int_equal(len, lengths[i]);
        assert_memory_equal(back, data, lengths[i]);
    }
    free(data);
    free(back);
}

static void
test_model_blobs_hash_mismatch_writes_nothing(void **state)
{
    fixture_t *f = *state;
    uint8_t hash[FDY_BLOB_HASH_LEN];
    fdy_artifact_hash_chunk("the real bytes", 14, hash);
    fdy_reason_t reason;
    assert_int_equal(fdy_blobs_put(f->blobs, hash, "other bytes!!!", 14, true, &reason),
                     FOUNDRY_EINVAL);
    assert_string_equal(reason.text, "chunk hash mismatch");
    assert_false(fdy_blobs_has(f->blobs, hash));
    assert_int_equal(s_count_files(f), 0);
}

static void
test_model_blobs_same_blob_stored_once(void **state)
{
    fixture_t *f = *state;
    uint8_t hash[FDY_BLOB_HASH_LEN];
    fdy_artifact_hash_chunk("same", 4, hash);
    fdy_reason_t reason;
    assert_int_equal(fdy_blobs_put(f->blobs, hash, "same", 4, true, &reason), FOUNDRY_OK);
    char hex[2 * FDY_BLOB_HASH_LEN + 1], path[256];
    fdy_blobs_hex(hash, hex);
    snprintf(path, sizeof path, "%s/%.2s/%s", f->dir, hex, hex);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    assert_int_equal(fdy_blobs_put(f->blobs, hash, "same", 4, true, &reason), FOUNDRY_OK);
    assert_int_equal(fdy_blobs_put_trusted(f->blobs, hash, "same", 4, false, &reason), FOUNDRY_OK);
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino); /* not rewritten */
    assert_int_equal(s_count_files(f), 1);
}

static void
test_model_blobs_unsynced_puts_then_sync(void **state)
{
    fixture_t *f = *state;
    fdy_reason_t reason;
    uint8_t hashes[20][FDY_BLOB_HASH_LEN];
    for (int i = 0; i < 20; i++) {
        char data[32];
        int len = snprintf(data, sizeof data, "chunk %d", i);
        fdy_artifact_hash_chunk(data, (size_t) len, hashes[i]);
        assert_int_equal(
            fdy_blobs_put_trusted(f->blobs, hashes[i], data, (size_t) len, false, &reason),
            FOUNDRY_OK);
        /* Readable at once, before any fsync. */
        assert_true(fdy_blobs_has(f->blobs, hashes[i]));
    }
    assert_int_equal(fdy_blobs_sync(f->blobs, &reason), FOUNDRY_OK);
    assert_int_equal(fdy_blobs_sync(f->blobs, &reason), FOUNDRY_OK); /* nothing left: fine */
    assert_int_equal(s_count_files(f), 20);
    char buf[32];
    size_t len;
    assert_int_equal(fdy_blobs_read(f->blobs, hashes[7], buf, sizeof buf, &len, &reason),
                     FOUNDRY_OK);
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "chunk 7", 7);
}

static bool
s_keep_even(const uint8_t hash[FDY_BLOB_HASH_LEN], void *user)
{
    int *calls = user;
    (*calls)++;
    return hash[FDY_BLOB_HASH_LEN - 1] % 2 == 0;
}

static void
test_model_blobs_gc_removes_rejected_and_temp_files(void **state)
{
    fixture_t *f = *state;
    fdy_reason_t reason;
    int kept = 0, dropped = 0;
    uint8_t hashes[12][FDY_BLOB_HASH_LEN];
    for (int i = 0; i < 12; i++) {
        char data[16];
        int len = snprintf(data, sizeof data, "blob-%d", i);
        fdy_artifact_hash_chunk(data, (size_t) len, hashes[i]);
        assert_int_equal(fdy_blobs_put(f->blobs, hashes[i], data, (size_t) len, false, &reason),
                         FOUNDRY_OK);
        if (hashes[i][FDY_BLOB_HASH_LEN - 1] % 2 == 0)
            kept++;
        else
            dropped++;
    }
    assert_int_equal(fdy_blobs_sync(f->blobs, &reason), FOUNDRY_OK);
    /* What a put that crashed before its rename leaves behind, and a file
     * that is not a blob at all (left alone). */
    char hex[2 * FDY_BLOB_HASH_LEN + 1], path[256];
    fdy_blobs_hex(hashes[0], hex);
    snprintf(path, sizeof path, "%s/%.2s/.tmp-%s-1-0", f->dir, hex, hex);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "half", 4), 4);
    close(fd);
    snprintf(path, sizeof path, "%s/%.2s/README", f->dir, hex);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    close(fd);

    /* Young blobs are not even looked at. */
    int calls = 0;
    uint64_t removed = 99, bytes = 99;
    assert_int_equal(
        fdy_blobs_gc(f->blobs, 3600, s_keep_even, &calls, 0, &removed, &bytes, &reason),
        FOUNDRY_OK);
    assert_int_equal(calls, 0);
    assert_int_equal(removed, 0);
    assert_int_equal(s_count_files(f), 14);

    /* Bounded to 5 files a call, it still gets through all of them. */
    uint64_t total_removed = 0, total_bytes = 0;
    for (int round = 0; round < 8; round++) {
        assert_int_equal(
            fdy_blobs_gc(f->blobs, 0, s_keep_even, &calls, 5, &removed, &bytes, &reason),
            FOUNDRY_OK);
        assert_true(removed <= 5);
        total_removed += removed;
        total_bytes += bytes;
    }
    assert_int_equal(total_removed, (uint64_t) dropped + 1); /* + the temporary file */
    assert_true(total_bytes >= 4);
    for (int i = 0; i < 12; i++)
        assert_int_equal(fdy_blobs_has(f->blobs, hashes[i]),
                         hashes[i][FDY_BLOB_HASH_LEN - 1] % 2 == 0);
    assert_int_equal(s_count_files(f), kept + 1); /* + README */
    assert_int_equal(access(path, F_OK), 0);
}

static void
test_model_blobs_hex(void **state)
{
    (void) state;
    uint8_t hash[FDY_BLOB_HASH_LEN], back[FDY_BLOB_HASH_LEN];
    for (size_t i = 0; i < sizeof hash; i++)
        hash[i] = (uint8_t) (i * 9);
    char hex[2 * FDY_BLOB_HASH_LEN + 1];
    fdy_blobs_hex(hash, hex);
    assert_int_equal(strlen(hex), 64);
    assert_memory_equal(hex, "000912", 6);
    assert_int_equal(fdy_blobs_parse_hex(hex, back), FOUNDRY_OK);
    assert_memory_equal(hash, back, sizeof hash);
    assert_int_equal(fdy_blobs_parse_hex("00", back), FOUNDRY_EINVAL);
    hex[10] = 'g';
    assert_int_equal(fdy_blobs_parse_hex(hex, back), FOUNDRY_EINVAL);
}

static void
test_model_blobs_open_refuses_a_file(void **state)
{
    fixture_t *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/not-a-dir", f->root);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    close(fd);
    fdy_blobs_t *blobs = NULL;
    fdy_reason_t reason;
    assert_int_equal(fdy_blobs_open(path, &blobs, &reason), FOUNDRY_EIO);
    assert_non_null(strstr(reason.text, path));
    assert_null(blobs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_model_blobs_put_has_read, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_model_blobs_lengths_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_model_blobs_hash_mismatch_writes_nothing, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_model_blobs_same_blob_stored_once, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_model_blobs_unsynced_puts_then_sync, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_model_blobs_gc_removes_rejected_and_temp_files,
                                        s_setup, s_teardown),
        cmocka_unit_test(test_model_blobs_hex),
        cmocka_unit_test_setup_teardown(test_model_blobs_open_refuses_a_file, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("model_blobs", tests, NULL, NULL);
}
