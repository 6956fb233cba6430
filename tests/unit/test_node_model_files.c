/*  test_node_model_files.c: node/model_files.c and node/model_state.c in
 *  a temporary directory: current/previous switched and rolled back, old
 *  versions and leftover temporary files pruned, and the per-model state
 *  file saved, read back, listed, and refused when damaged. (The version
 *  file itself is written by model_assembly.c: test_node_model_assembly.c.)
 */
#include "model_files.h"
#include "model_state.h"

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

typedef struct {
    char dir[64];
    char model_dir[96];
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
    free(fx);
    return 0;
}

/* A file named name in the model's directory (created). */
static void
s_file(fixture_t *fx, const char *name)
{
    (void) mkdir(fx->model_dir, 0700);
    char path[160];
    snprintf(path, sizeof path, "%s/%s", fx->model_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "model %s\n", name);
    fclose(f);
}

/* A version file, as model_assembly.c leaves it. */
static void
s_version(fixture_t *fx, uint64_t version)
{
    char name[32];
    snprintf(name, sizeof name, "%llu", (unsigned long long) version);
    s_file(fx, name);
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
test_node_model_files_switches_and_rolls_back(void **state)
{
    fixture_t *fx = *state;
    s_version(fx, 1);
    s_version(fx, 2);
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
    s_version(fx, 1);
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
    for (uint64_t v = 1; v <= 4; v++)
        s_version(fx, v);
    s_file(fx, ".5.tmp"); /* a download given up for another version */
    s_file(fx, "notes");  /* not ours */
    assert_int_equal(fdy_model_files_switch(fx->model_dir, 4, NULL, &fx->reason), FOUNDRY_OK);
    assert_int_equal(fdy_model_files_prune(fx->model_dir, 4, 3), 3);
    assert_false(s_exists(fx, ".5.tmp"));
    assert_true(s_exists(fx, "notes"));
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
    /* what an earlier agent's chunk directory looks like */
    char blobs[128];
    snprintf(blobs, sizeof blobs, "%s/.blobs", fx->dir);
    assert_int_equal(mkdir(blobs, 0700), 0);
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
