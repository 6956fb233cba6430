/*  test_artifact.c: chunking and naming artifacts (lib/daemon/artifact.c):
 *  chunk counts and lengths at the edges, an id that changes with any byte
 *  (and with the chunk size), and hashing a file giving exactly what
 *  hashing its chunks one by one gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "artifact.h"
#include "codec_models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK FDY_MODEL_CHUNK_MIN

static void
test_artifact_chunk_counts(void **state)
{
    (void) state;
    assert_int_equal(fdy_artifact_chunk_count(0, CHUNK), 0);
    assert_int_equal(fdy_artifact_chunk_count(1, CHUNK), 1);
    assert_int_equal(fdy_artifact_chunk_count(CHUNK - 1, CHUNK), 1);
    assert_int_equal(fdy_artifact_chunk_count(CHUNK, CHUNK), 1);
    assert_int_equal(fdy_artifact_chunk_count(CHUNK + 1, CHUNK), 2);
    assert_int_equal(fdy_artifact_chunk_count(3u * CHUNK, CHUNK), 3);
    /* 64 GiB in 1 MiB chunks: 65536, far from overflowing anything. */
    assert_int_equal(fdy_artifact_chunk_count(64ull << 30, 1u << 20), 65536);
}

static void
test_artifact_chunk_lengths(void **state)
{
    (void) state;
    uint64_t size = 2u * CHUNK + 5;
    assert_int_equal(fdy_artifact_chunk_len(size, CHUNK, 0), CHUNK);
    assert_int_equal(fdy_artifact_chunk_len(size, CHUNK, 1), CHUNK);
    assert_int_equal(fdy_artifact_chunk_len(size, CHUNK, 2), 5);
    assert_int_equal(fdy_artifact_chunk_len(size, CHUNK, 3), 0); /* past the end */
    assert_int_equal(fdy_artifact_chunk_len(2u * CHUNK, CHUNK, 1), CHUNK);
    assert_int_equal(fdy_artifact_chunk_len(2u * CHUNK, CHUNK, 2), 0);
    assert_int_equal(fdy_artifact_chunk_len(1, CHUNK, 0), 1);
    assert_int_equal(fdy_artifact_chunk_len(0, CHUNK, 0), 0);
    assert_int_equal(fdy_artifact_chunk_len(size, CHUNK, SIZE_MAX), 0);
}

static void
test_artifact_id_changes_with_any_byte(void **state)
{
    (void) state;
    uint8_t hashes[3 * FDY_ARTIFACT_HASH_LEN];
    for (size_t i = 0; i < sizeof hashes; i++)
        hashes[i] = (uint8_t) i;
    uint64_t size = 2u * CHUNK + 5;
    uint8_t id[FDY_ARTIFACT_HASH_LEN], other[FDY_ARTIFACT_HASH_LEN];
    fdy_artifact_id(size, CHUNK, hashes, 3, id);
    fdy_artifact_id(size, CHUNK, hashes, 3, other);
    assert_memory_equal(id, other, sizeof id); /* deterministic */
    for (size_t i = 0; i < sizeof hashes; i++) {
        hashes[i] ^= 0x01;
        fdy_artifact_id(size, CHUNK, hashes, 3, other);
        assert_memory_not_equal(id, other, sizeof id);
        hashes[i] ^= 0x01;
    }
    fdy_artifact_id(size + 1, CHUNK, hashes, 3, other);
    assert_memory_not_equal(id, other, sizeof id);
    fdy_artifact_id(size, 2 * CHUNK, hashes, 3, other);
    assert_memory_not_equal(id, other, sizeof id);
    fdy_artifact_id(size, CHUNK, hashes, 2, other);
    assert_memory_not_equal(id, other, sizeof id);
}

static void
test_artifact_chunk_hash_changes_with_any_byte(void **state)
{
    (void) state;
    uint8_t data[256];
    memset(data, 0x5a, sizeof data);
    uint8_t h[FDY_ARTIFACT_HASH_LEN], h2[FDY_ARTIFACT_HASH_LEN];
    fdy_artifact_hash_chunk(data, sizeof data, h);
    for (size_t i = 0; i < sizeof data; i += 17) {
        data[i] ^= 0x80;
        fdy_artifact_hash_chunk(data, sizeof data, h2);
        assert_memory_not_equal(h, h2, sizeof h);
        data[i] ^= 0x80;
    }
    fdy_artifact_hash_chunk(data, sizeof data - 1, h2); /* a shorter chunk */
    assert_memory_not_equal(h, h2, sizeof h);
}

static char s_path[64];

static uint8_t *
s_write_file(size_t size)
{
    snprintf(s_path, sizeof s_path, "/tmp/test_artifact.XXXXXX");
    int fd = mkstemp(s_path);
    assert_true(fd >= 0);
    uint8_t *data = malloc(size ? size : 1);
    for (size_t i = 0; i < size; i++)
        data[i] = (uint8_t) (i * 31 + (i >> 9));
    assert_int_equal(write(fd, data, size), (ssize_t) size);
    close(fd);
    return data;
}

typedef struct {
    int calls;
    uint64_t last_done;
} progress_t;

static void
s_progress(uint64_t done, uint64_t total, void *user)
{
    progress_t *p = user;
    assert_true(done > p->last_done);
    assert_true(done <= total);
    p->calls++;
    p->last_done = done;
}

static void
s_check_file(size_t size)
{
    uint8_t *data = s_write_file(size);
    uint64_t got_size = 0;
    uint8_t *hashes = NULL;
    size_t count = 0;
    uint8_t id[FDY_ARTIFACT_HASH_LEN];
    progress_t progress = {0, 0};
    fdy_reason_t reason;
    assert_int_equal(fdy_artifact_hash_file(s_path, CHUNK, &got_size, &hashes, &count, id,
                                            s_progress, &progress, &reason),
                     FOUNDRY_OK);
    size_t want = fdy_artifact_chunk_count(size, CHUNK);
    assert_int_equal(got_size, size);
    assert_int_equal(count, want);
    assert_int_equal(progress.calls, (int) want);
    uint8_t *expect = malloc(want ? want * FDY_ARTIFACT_HASH_LEN : 1);
    for (size_t i = 0; i < want; i++)
        fdy_artifact_hash_chunk(data + i * CHUNK, fdy_artifact_chunk_len(size, CHUNK, i),
                                expect + i * FDY_ARTIFACT_HASH_LEN);
    if (want)
        assert_memory_equal(hashes, expect, want * FDY_ARTIFACT_HASH_LEN);
    uint8_t expect_id[FDY_ARTIFACT_HASH_LEN];
    fdy_artifact_id(size, CHUNK, expect, want, expect_id);
    assert_memory_equal(id, expect_id, sizeof id);
    free(expect);
    free(hashes);
    free(data);
    unlink(s_path);
}

static void
test_artifact_hash_file_equals_chunk_by_chunk(void **state)
{
    (void) state;
    s_check_file(0);
    s_check_file(1);
    s_check_file(CHUNK);
    s_check_file(CHUNK + 1);
    s_check_file(3u * CHUNK - 7);
}

static void
test_artifact_hash_file_refusals(void **state)
{
    (void) state;
    uint64_t size;
    uint8_t *hashes = NULL;
    size_t count;
    uint8_t id[FDY_ARTIFACT_HASH_LEN];
    fdy_reason_t reason;
    assert_int_equal(fdy_artifact_hash_file("/nonexistent/model.onnx", CHUNK, &size, &hashes,
                                            &count, id, NULL, NULL, &reason),
                     FOUNDRY_EIO);
    assert_non_null(strstr(reason.text, "/nonexistent/model.onnx"));
    assert_int_equal(
        fdy_artifact_hash_file("/dev/null", 1000, &size, &hashes, &count, id, NULL, NULL, &reason),
        FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, "chunk size 1000"));
    assert_int_equal(
        fdy_artifact_hash_file("/tmp", CHUNK, &size, &hashes, &count, id, NULL, NULL, &reason),
        FOUNDRY_EIO);
    assert_null(hashes);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_artifact_chunk_counts),
        cmocka_unit_test(test_artifact_chunk_lengths),
        cmocka_unit_test(test_artifact_id_changes_with_any_byte),
        cmocka_unit_test(test_artifact_chunk_hash_changes_with_any_byte),
        cmocka_unit_test(test_artifact_hash_file_equals_chunk_by_chunk),
        cmocka_unit_test(test_artifact_hash_file_refusals),
    };
    return cmocka_run_group_tests_name("artifact", tests, NULL, NULL);
}
