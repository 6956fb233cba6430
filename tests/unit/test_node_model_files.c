/*  test_node_model_files.c: node/model_files.c and node/model_state.c in
 *  a temporary directory: a version assembled from stored chunks (bytes
 *  equal to the original; a missing or wrong-length chunk refused and no
 *  version file left), current/previous switched and rolled back, old
 *  versions pruned, and the per-model state file saved, read back, listed,
 *  and refused when damaged.
 */
#include "model_files.h"
#include "model_state.h"

#include "artifact.h"
#include "model_blobs.h"

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

#define CHUNK (64u * 1024u)
#define SIZE  (2u * CHUNK + 100u)

typedef struct {
    char dir[64];
    char model_dir[96];
    fdy_blobs_t *blobs;
    uint8_t *data;
    uint8_t hashes[3 * 32];
    fdy_reason_t reason;
} fixture_t;

static int
setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/foundry-mfiles-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->model_dir, sizeof fx->model_dir, "%s/vision", fx->dir);
    char blobs[128];
    snprintf(blobs, sizeof blobs, "%s/.blobs", fx->dir);
    assert_int_equal(fdy_blobs_open(blobs, &fx->blobs, &fx->reason), FOUNDRY_OK);
    fx->data = malloc(SIZE);
    for (size_t i = 0; i < SIZE; i++)
        fx->data[i] = (uint8_t) (i * 7 + i / 251);
    for (size_t i = 0; i < 3; i++) {
        size_t len = fdy_artifact_chunk_len(SIZE, CHUNK, i);
        fdy_artifact_hash_chunk(fx->data + i * CHUNK, len, fx->hashes + 32 * i);
    }
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *fx = *state;
    fdy_blobs_close(&fx->blobs);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx->data);
    free(fx);
    return 0;
}

static void
s_store_chunks(fixture_t *fx)
{
    for (size_t i = 0; i < 3; i++) {
        size_t len = fdy_artifact_chunk_len(SIZE, CHUNK, i);
        assert_int_equal(fdy_blobs_put(fx->blobs, fx->hashes + 32 * i, fx->data + i * CHUNK, len,
                                       true, &fx->reason),
                         FOUNDRY_OK);
    }
}

static foundry_err
s_assemble(fixture_t *fx, uint64_t version)
{
    fdy_model_assembly_t *a = NULL;
    foundry_err err = fdy_model_assembly_new(fx->model_dir, version, SIZE, CHUNK, fx->hashes, 3,
                                             fx->blobs, &a, &fx->reason);
    bool done = false;
    size_t steps = 0;
    while (err == FOUNDRY_OK && !done) {
        err = fdy_model_assembly_step(a, 1, &done, &fx->reason);
        steps++;
    }
    fdy_model_assembly_destroy(&a);
    if (err == FOUNDRY_OK)
        assert_int_equal(steps, 3); /* one chunk per step, as asked */
    return err;
}

static bool
s_exists(const fixture_t *fx, const char *name)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", fx->model_dir, name);
    struct stat st;
    return lstat(path, &st) == 0;
}

static void
test_node_model_files_assembles_the_artifact(void **state)
{
    fixture_t *fx = *state;
    s_store_chunks(fx);
    assert_int_equal(s_assemble(fx, 5), FOUNDRY_OK);
    char path[160];
    snprintf(path, sizeof path, "%s/5", fx->model_dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *back = malloc(SIZE + 1);
    assert_int_equal(fread(back, 1, SIZE + 1, f), SIZE);
    fclose(f);
    assert_memory_equal(back, fx->data, SIZE);
    free(back);
    assert_false(s_exists(fx, ".5.tmp"));
}

static void
test_node_model_files_refuses_a_missing_chunk(void **state)
{
    fixture_t *fx = *state;
    s_store_chunks(fx);
    assert_int_equal(fdy_blobs_remove(fx->blobs, fx->hashes + 32, &fx->reason), FOUNDRY_OK);
    assert_int_equal(s_assemble(fx, 5), FOUNDRY_ENOTFOUND);
    assert_false(s_exists(fx, "5"));
    assert_false(s_exists(fx, ".5.tmp"));
}

static void
test_node_model_files_refuses_a_chunk_of_the_wrong_length(void **state)
{
    fixture_t *fx = *state;
    s_store_chunks(fx);
    /* The manifest claims a bigger last chunk than the one stored. */
    fdy_model_assembly_t *a = NULL;
    assert_int_equal(fdy_model_assembly_new(fx->model_dir, 6, SIZE + 1, CHUNK, fx->hashes, 3,
                                            fx->blobs, &a, &fx->reason),
                     FOUNDRY_OK);
    bool done = false;
    foundry_err err = FOUNDRY_OK;
    while (err == FOUNDRY_OK && !done)
        err = fdy_model_assembly_step(a, 8, &done, &fx->reason);
    fdy_model_assembly_destroy(&a);
    assert_int_equal(err, FOUNDRY_ECORRUPT);
    assert_non_null(strstr(fx->reason.text, "chunk 2 is 100 bytes, the manifest says 101"));
    assert_false(s_exists(fx, "6"));
    assert_false(s_exists(fx, ".6.tmp"));
}

static void
test_node_model_files_switches_and_rolls_back(void **state)
{
    fixture_t *fx = *state;
    s_store_chunks(fx);
    assert_int_equal(s_assemble(fx, 1), FOUNDRY_OK);
    assert_int_equal(s_assemble(fx, 2), FOUNDRY_OK);
    uint64_t old = 99, v = 0;
    assert_int_equal(fdy_model_files_switch(fx->model_dir, 1, &old, &fx->reason), FOUNDRY_OK);
    assert_int_equal(old, 0);
    assert_int_equal(fdy_model_files_link(fx->model_dir, "current", &v), FOUNDRY_OK);
    assert_int_equal(v, 1);
    assert_int_equal(fdy_model_files_link(fx->model_dir, "previous", &v), FOUNDRY_ENOTFOUND);

    assert_int_equal(fdy_model_files_switch(fx->model_dir, 2, &old, &fx->reason), FOUNDRY_OK);
    assert_int_equal(old, 1);
    assert_int_equal(fdy_model_files_link(fx->model_dir, "current", &v), FOUNDRY_OK);
    assert_int_equal(v, 2);
    assert_int_equal(fdy_model_files_link(fx->model_dir, "previous", &v), FOUNDRY_OK);
    assert_int_equal(v, 1);
    /* current is a relative link that opens the version's bytes */
    char path[160];
    snprintf(path, sizeof path, "%s/current", fx->model_dir);
    char target[16] = "";
    assert_int_equal(readlink(path, target, sizeof target - 1), 1);
    assert_string_equal(target, "2");

    assert_int_equal(fdy_model_files_rollback(fx->model_dir, &v, &fx->reason), FOUNDRY_OK);
    assert_int_equal(v, 1);
    assert_int_equal(fdy_model_files_link(fx->model_dir, "current", &v), FOUNDRY_OK);
    assert_int_equal(v, 1);
    assert_false(s_exists(fx, ".current.tmp"));
}

static void
test_node_model_files_switch_needs_the_version_file(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(mkdir(fx->model_dir, 0700), 0);
    uint64_t old = 0;
    assert_int_equal(fdy_model_files_switch(fx->model_dir, 3, &old, &fx->reason),
                     FOUNDRY_ENOTFOUND);
    assert_false(s_exists(fx, "current"));
}

static void
test_node_model_files_rollback_without_previous_clears_current(void **state)
{
    fixture_t *fx = *state;
    s_store_chunks(fx);
    assert_int_equal(s_assemble(fx, 1), FOUNDRY_OK);
    assert_int_equal(fdy_model_files_switch(fx->model_dir, 1, NULL, &fx->reason), FOUNDRY_OK);
    uint64_t v = 7;
    assert_int_equal(fdy_model_files_rollback(fx->model_dir, &v, &fx->reason), FOUNDRY_ENOTFOUND);
    assert_int_equal(v, 0);
    assert_false(s_exists(fx, "current"));
}

static void
test_node_model_files_prunes_other_versions(void **state)
{
    fixture_t *fx = *state;
    s_store_chunks(fx);
    for (uint64_t v = 1; v <= 4; v++)
        assert_int_equal(s_assemble(fx, v), FOUNDRY_OK);
    assert_int_equal(fdy_model_files_switch(fx->model_dir, 4, NULL, &fx->reason), FOUNDRY_OK);
    assert_int_equal(fdy_model_files_prune(fx->model_dir, 4, 3), 2);
    assert_false(s_exists(fx, "1"));
    assert_false(s_exists(fx, "2"));
    assert_true(s_exists(fx, "3"));
    assert_true(s_exists(fx, "4"));
    assert_true(s_exists(fx, "current"));
}

/* ---- state ---------------------------------------------------------------- */

static fdy_model_held_t
s_state(const char *name, uint64_t version)
{
    fdy_model_held_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "%s", name);
    s.version = version;
    memset(s.manifest_hash, 0xab, 32);
    s.previous = version - 1;
    memset(s.previous_manifest_hash, 0xcd, 32);
    s.head.index = 9;
    memset(s.head.hash, 0x5a, 32);
    s.head.version = version;
    s.head.release_version = version + 10;
    return s;
}

static void
test_node_model_state_round_trips(void **state)
{
    fixture_t *fx = *state;
    fdy_model_held_t saved = s_state("vision", 4);
    assert_int_equal(fdy_model_state_save(fx->dir, &saved, &fx->reason), FOUNDRY_OK);
    fdy_model_held_t back;
    assert_int_equal(fdy_model_state_load(fx->dir, "vision", &back, &fx->reason), FOUNDRY_OK);
    assert_memory_equal(&back, &saved, sizeof saved);
    /* Saved again: replaced whole, no temporary file left. */
    saved.version = 5;
    assert_int_equal(fdy_model_state_save(fx->dir, &saved, &fx->reason), FOUNDRY_OK);
    assert_int_equal(fdy_model_state_load(fx->dir, "vision", &back, &fx->reason), FOUNDRY_OK);
    assert_int_equal(back.version, 5);
    assert_false(s_exists(fx, ".state.tmp"));
}

static void
test_node_model_state_missing_is_not_installed(void **state)
{
    fixture_t *fx = *state;
    fdy_model_held_t back;
    assert_int_equal(fdy_model_state_load(fx->dir, "absent", &back, &fx->reason),
                     FOUNDRY_ENOTFOUND);
    assert_int_equal(back.version, 0);
}

static void
test_node_model_state_refuses_a_damaged_file(void **state)
{
    fixture_t *fx = *state;
    fdy_model_held_t saved = s_state("vision", 4);
    assert_int_equal(fdy_model_state_save(fx->dir, &saved, &fx->reason), FOUNDRY_OK);
    char path[160];
    snprintf(path, sizeof path, "%s/state", fx->model_dir);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs("log_index = many\n", f);
    fclose(f);
    fdy_model_held_t back;
    assert_int_equal(fdy_model_state_load(fx->dir, "vision", &back, &fx->reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(fx->reason.text, "state:10: not a valid state line"));
}

static void
s_collect(const fdy_model_held_t *state, void *user)
{
    char *names = user;
    strcat(names, state->name);
    strcat(names, " ");
}

static void
test_node_model_state_lists_every_model(void **state)
{
    fixture_t *fx = *state;
    fdy_model_held_t a = s_state("alpha", 2), b = s_state("beta", 3);
    assert_int_equal(fdy_model_state_save(fx->dir, &a, &fx->reason), FOUNDRY_OK);
    assert_int_equal(fdy_model_state_save(fx->dir, &b, &fx->reason), FOUNDRY_OK);
    char names[64] = "";
    assert_int_equal(fdy_model_state_each(fx->dir, s_collect, names, &fx->reason), FOUNDRY_OK);
    /* .blobs and a directory without a state file are not models */
    assert_true(strstr(names, "alpha ") && strstr(names, "beta "));
    assert_int_equal(strlen(names), strlen("alpha beta "));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_node_model_files_assembles_the_artifact, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_files_refuses_a_missing_chunk, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_files_refuses_a_chunk_of_the_wrong_length,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_model_files_switches_and_rolls_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_files_switch_needs_the_version_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_node_model_files_rollback_without_previous_clears_current, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_model_files_prunes_other_versions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_state_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_model_state_missing_is_not_installed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_state_refuses_a_damaged_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_state_lists_every_model, setup, teardown),
    };
    return cmocka_run_group_tests_name("node_model_files", tests, NULL, NULL);
}
