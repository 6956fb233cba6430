/*  test_node_model_assembly.c: node/model_assembly.c in a temporary
 *  directory: chunks put in any order give the artifact byte for byte
 *  under its version's name; a chunk of the wrong length or hash is
 *  refused with nothing written; a reopened temporary file is checked
 *  again chunk by chunk (a good chunk kept, a damaged one dropped, a hole
 *  never counted), a slice at a time; destroy removes the unfinished file
 *  unless asked to keep it; finish refuses while a chunk is missing.
 */
#include "model_assembly.h"

#include "artifact.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define CHUNK  (64u * 1024u)
#define CHUNKS 4u
#define SIZE   (3u * CHUNK + 100u) /* the last chunk is short */

typedef struct {
    char dir[64];
    char model_dir[96];
    char tmp[128];
    char path[128];
    uint8_t *data;
    uint8_t hashes[CHUNKS * 32];
    fdy_reason_t reason;
} fixture_t;

static int
setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/foundry-massembly-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->model_dir, sizeof fx->model_dir, "%s/vision", fx->dir);
    snprintf(fx->tmp, sizeof fx->tmp, "%s/.5.tmp", fx->model_dir);
    snprintf(fx->path, sizeof fx->path, "%s/5", fx->model_dir);
    fx->data = malloc(SIZE);
    assert_non_null(fx->data);
    for (size_t i = 0; i < SIZE; i++)
        fx->data[i] = (uint8_t) (i * 7 + i / 251 + 1);
    for (size_t i = 0; i < CHUNKS; i++)
        fdy_artifact_hash_chunk(fx->data + i * CHUNK, fdy_artifact_chunk_len(SIZE, CHUNK, i),
                                fx->hashes + 32 * i);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *fx = *state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx->data);
    free(fx);
    return 0;
}

static fdy_model_assembly_t *
s_open(fixture_t *fx)
{
    fdy_model_assembly_t *a = NULL;
    assert_int_equal(
        fdy_model_assembly_new(fx->model_dir, 5, SIZE, CHUNK, fx->hashes, CHUNKS, &a, &fx->reason),
        FOUNDRY_OK);
    assert_non_null(a);
    return a;
}

static size_t
s_len(size_t index)
{
    return fdy_artifact_chunk_len(SIZE, CHUNK, index);
}

static void
s_put(fixture_t *fx, fdy_model_assembly_t *a, size_t index)
{
    assert_int_equal(
        fdy_model_assembly_put(a, index, fx->data + index * CHUNK, s_len(index), &fx->reason),
        FOUNDRY_OK);
}

/* Resumes a slice at a time; returns how many calls it took. */
static size_t
s_resume(fixture_t *fx, fdy_model_assembly_t *a, size_t per_call)
{
    bool done = false;
    size_t calls = 0;
    while (!done) {
        assert_int_equal(fdy_model_assembly_resume(a, per_call, &done, &fx->reason), FOUNDRY_OK);
        assert_true(++calls <= CHUNKS + 1);
    }
    return calls;
}

static bool
s_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The whole of path, which must be SIZE bytes long. */
static void
s_check_file(const fixture_t *fx, const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *back = malloc(SIZE + 1);
    assert_non_null(back);
    assert_int_equal(fread(back, 1, SIZE + 1, f), SIZE);
    fclose(f);
    assert_memory_equal(back, fx->data, SIZE);
    free(back);
}

static void
s_pwrite(const char *path, const void *data, size_t len, off_t offset)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, data, len, offset), (ssize_t) len);
    close(fd);
}

/* ---- tests ------------------------------------------------------------------------ */

static void
test_node_model_assembly_put_and_finish_give_the_artifact(void **state)
{
    fixture_t *fx = *state;
    fdy_model_assembly_t *a = s_open(fx);
    assert_int_equal(s_resume(fx, a, 1), 1); /* a new file: nothing to check */
    const size_t order[CHUNKS] = {3, 0, 2, 1};
    for (size_t i = 0; i < CHUNKS; i++) {
        assert_false(fdy_model_assembly_has(a, order[i]));
        s_put(fx, a, order[i]);
        assert_true(fdy_model_assembly_has(a, order[i]));
    }
    assert_false(fdy_model_assembly_has(a, CHUNKS));
    assert_true(s_exists(fx->tmp));
    assert_false(s_exists(fx->path)); /* not under its name before finish */
    assert_int_equal(fdy_model_assembly_finish(a, &fx->reason), FOUNDRY_OK);
    fdy_model_assembly_destroy(&a, false);
    assert_null(a);
    s_check_file(fx, fx->path);
    assert_false(s_exists(fx->tmp));
}

static void
test_node_model_assembly_refuses_a_wrong_chunk_and_writes_nothing(void **state)
{
    fixture_t *fx = *state;
    fdy_model_assembly_t *a = s_open(fx);
    uint8_t *bad = malloc(CHUNK + 1);
    assert_non_null(bad);
    memcpy(bad, fx->data + CHUNK, CHUNK);
    bad[100] ^= 1;
    assert_int_equal(fdy_model_assembly_put(a, 1, bad, CHUNK, &fx->reason), FOUNDRY_EINVAL);
    assert_string_equal(fx->reason.text, "chunk 1 hash mismatch");
    assert_false(fdy_model_assembly_has(a, 1));
    /* the right bytes, one too many */
    memcpy(bad, fx->data + CHUNK, CHUNK + 1);
    assert_int_equal(fdy_model_assembly_put(a, 1, bad, CHUNK + 1, &fx->reason), FOUNDRY_EINVAL);
    assert_string_equal(fx->reason.text, "chunk 1 is 65537 bytes, the manifest says 65536");
    assert_false(fdy_model_assembly_has(a, 1));
    assert_int_equal(fdy_model_assembly_put(a, CHUNKS, fx->data, CHUNK, &fx->reason),
                     FOUNDRY_EINVAL);
    free(bad);
    /* Nothing reached the disk: the file is all hole, as a reopen sees. */
    fdy_model_assembly_destroy(&a, true);
    struct stat st;
    assert_int_equal(stat(fx->tmp, &st), 0);
    assert_int_equal(st.st_size, SIZE);
    assert_int_equal(st.st_blocks, 0);
    int fd = open(fx->tmp, O_RDONLY);
    assert_true(fd >= 0);
    uint8_t *back = malloc(SIZE);
    assert_non_null(back);
    assert_int_equal(read(fd, back, SIZE), SIZE);
    close(fd);
    for (size_t i = 0; i < SIZE; i++)
        if (back[i] != 0)
            fail_msg("byte %zu of the temporary file is %u", i, back[i]);
    free(back);
}

static void
test_node_model_assembly_resume_keeps_good_chunks_and_drops_a_damaged_one(void **state)
{
    fixture_t *fx = *state;
    fdy_model_assembly_t *a = s_open(fx);
    s_put(fx, a, 0);
    s_put(fx, a, 1);
    s_put(fx, a, 3);
    fdy_model_assembly_destroy(&a, true); /* the agent stops mid-download */
    assert_true(s_exists(fx->tmp));
    /* A crash left chunk 1 half written. */
    uint8_t garbage[512];
    memset(garbage, 0xee, sizeof garbage);
    s_pwrite(fx->tmp, garbage, sizeof garbage, CHUNK + 4096);

    a = s_open(fx);
    for (size_t i = 0; i < CHUNKS; i++)
        assert_false(fdy_model_assembly_has(a, i)); /* nothing trusted before it is checked */
    /* two chunks a call: four chunks take two calls */
    assert_int_equal(s_resume(fx, a, 2), 2);
    assert_true(fdy_model_assembly_has(a, 0));
    assert_false(fdy_model_assembly_has(a, 1));
    assert_false(fdy_model_assembly_has(a, 2)); /* never written: a hole */
    assert_true(fdy_model_assembly_has(a, 3));
    assert_int_equal(fdy_model_assembly_finish(a, &fx->reason), FOUNDRY_EINVAL);
    s_put(fx, a, 1);
    s_put(fx, a, 2);
    assert_int_equal(fdy_model_assembly_finish(a, &fx->reason), FOUNDRY_OK);
    fdy_model_assembly_destroy(&a, false);
    s_check_file(fx, fx->path);
    assert_false(s_exists(fx->tmp));
}

static void
test_node_model_assembly_resume_slices_and_restarts_a_file_of_another_size(void **state)
{
    fixture_t *fx = *state;
    fdy_model_assembly_t *a = s_open(fx);
    for (size_t i = 0; i < CHUNKS; i++)
        s_put(fx, a, i);
    fdy_model_assembly_destroy(&a, true);
    a = s_open(fx);
    /* one chunk a call: a slice never checks more than it is asked */
    bool done = false;
    for (size_t i = 0; i < CHUNKS; i++) {
        assert_false(done);
        assert_false(fdy_model_assembly_has(a, i));
        assert_int_equal(fdy_model_assembly_resume(a, 1, &done, &fx->reason), FOUNDRY_OK);
        assert_true(fdy_model_assembly_has(a, i));
    }
    assert_true(done);
    fdy_model_assembly_destroy(&a, true);
    /* A temporary file of another length (another artifact under this
     * version number) is started again, not resumed. */
    assert_int_equal(truncate(fx->tmp, SIZE + 1), 0);
    a = s_open(fx);
    s_resume(fx, a, CHUNKS);
    for (size_t i = 0; i < CHUNKS; i++)
        assert_false(fdy_model_assembly_has(a, i));
    fdy_model_assembly_destroy(&a, true);
    struct stat st;
    assert_int_equal(stat(fx->tmp, &st), 0);
    assert_int_equal(st.st_size, SIZE);
}

static void
test_node_model_assembly_destroy_removes_or_keeps_the_file(void **state)
{
    fixture_t *fx = *state;
    fdy_model_assembly_t *a = s_open(fx);
    s_put(fx, a, 0);
    fdy_model_assembly_destroy(&a, true);
    assert_null(a);
    assert_true(s_exists(fx->tmp));
    a = s_open(fx);
    s_resume(fx, a, CHUNKS);
    assert_true(fdy_model_assembly_has(a, 0));
    fdy_model_assembly_destroy(&a, false); /* failed or cancelled */
    assert_false(s_exists(fx->tmp));
    assert_false(s_exists(fx->path));
    fdy_model_assembly_destroy(&a, false); /* NULL accepted */
}

static void
test_node_model_assembly_finish_with_a_chunk_missing_is_refused(void **state)
{
    fixture_t *fx = *state;
    fdy_model_assembly_t *a = s_open(fx);
    s_put(fx, a, 0);
    s_put(fx, a, 1);
    s_put(fx, a, 3);
    assert_int_equal(fdy_model_assembly_finish(a, &fx->reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(fx->reason.text, "3 of 4 chunks"));
    assert_false(s_exists(fx->path));
    fdy_model_assembly_destroy(&a, false);
    assert_false(s_exists(fx->tmp));
    assert_false(s_exists(fx->path));
}

static void
test_node_model_assembly_an_empty_artifact(void **state)
{
    fixture_t *fx = *state;
    fdy_model_assembly_t *a = NULL;
    assert_int_equal(fdy_model_assembly_new(fx->model_dir, 5, 0, CHUNK, NULL, 0, &a, &fx->reason),
                     FOUNDRY_OK);
    s_resume(fx, a, 1);
    assert_int_equal(fdy_model_assembly_finish(a, &fx->reason), FOUNDRY_OK);
    fdy_model_assembly_destroy(&a, false);
    struct stat st;
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(st.st_size, 0);
}

static void
test_node_model_assembly_cannot_create_its_directory(void **state)
{
    fixture_t *fx = *state;
    char file[96], below[128];
    snprintf(file, sizeof file, "%s/file", fx->dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(below, sizeof below, "%s/vision", file);
    fdy_model_assembly_t *a = NULL;
    assert_int_equal(
        fdy_model_assembly_new(below, 5, SIZE, CHUNK, fx->hashes, CHUNKS, &a, &fx->reason),
        FOUNDRY_EIO);
    assert_null(a);
    assert_non_null(strstr(fx->reason.text, "cannot create"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_node_model_assembly_put_and_finish_give_the_artifact,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_node_model_assembly_refuses_a_wrong_chunk_and_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_node_model_assembly_resume_keeps_good_chunks_and_drops_a_damaged_one, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_node_model_assembly_resume_slices_and_restarts_a_file_of_another_size, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_node_model_assembly_destroy_removes_or_keeps_the_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_node_model_assembly_finish_with_a_chunk_missing_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_model_assembly_an_empty_artifact, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_assembly_cannot_create_its_directory, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("node_model_assembly", tests, NULL, NULL);
}
