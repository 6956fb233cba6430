/*  test_ready_file.c: the daemons' ready file (lib/daemon/ready_file.h):
 *  mode 0600 under any umask, also over a leftover temporary file of
 *  another mode, content written whole, and nothing left behind on error.
 */
#include "ready_file.h"

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
    char path[128];
    char tmp[128];
    mode_t umask_before;
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    strcpy(fx->dir, "/tmp/test_ready_file.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/ready", fx->dir);
    snprintf(fx->tmp, sizeof fx->tmp, "%s/ready.tmp", fx->dir);
    fx->umask_before = umask(022);
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fx = *state;
    umask(fx->umask_before);
    unlink(fx->path);
    unlink(fx->tmp);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static mode_t
s_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void
s_check_content(const char *path, const char *want)
{
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    char text[256] = {0};
    size_t got = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    assert_int_equal(got, strlen(want));
    assert_string_equal(text, want);
}

static void
test_ready_file_mode_0600_under_any_umask(void **state)
{
    fixture_t *fx = *state;
    const mode_t masks[] = {022, 0, 077, 002};
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        umask(masks[i]);
        fdy_reason_t reason = {{0}};
        char text[64];
        snprintf(text, sizeof text, "pid %zu\n", i);
        assert_int_equal(fdy_ready_file_write(fx->path, text, &reason), FOUNDRY_OK);
        assert_int_equal(s_mode(fx->path), 0600);
        s_check_content(fx->path, text);
        assert_int_equal(access(fx->tmp, F_OK), -1);
    }
}

/* A crash can leave "<path>.tmp" behind with any mode: it is reused, not
 * trusted. */
static void
test_ready_file_leftover_tmp_gets_0600(void **state)
{
    fixture_t *fx = *state;
    umask(0);
    FILE *left = fopen(fx->tmp, "w");
    assert_non_null(left);
    fputs("stale stale stale stale stale\n", left);
    fclose(left);
    assert_int_equal(chmod(fx->tmp, 0666), 0);
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_ready_file_write(fx->path, "pid 1\n", &reason), FOUNDRY_OK);
    assert_int_equal(s_mode(fx->path), 0600);
    s_check_content(fx->path, "pid 1\n");
}

static void
test_ready_file_error_leaves_nothing(void **state)
{
    fixture_t *fx = *state;
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no-such-dir/ready", fx->dir);
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_ready_file_write(missing, "pid 1\n", &reason), FOUNDRY_EIO);
    assert_non_null(strstr(reason.text, "no-such-dir"));
    /* A directory in the way of the rename: the old name stays as it was. */
    assert_int_equal(mkdir(fx->path, 0700), 0);
    fdy_reason_clear(&reason);
    assert_int_equal(fdy_ready_file_write(fx->path, "pid 2\n", &reason), FOUNDRY_EIO);
    assert_int_equal(access(fx->tmp, F_OK), -1);
    assert_int_equal(rmdir(fx->path), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ready_file_mode_0600_under_any_umask, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_ready_file_leftover_tmp_gets_0600, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_ready_file_error_leaves_nothing, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("ready_file", tests, NULL, NULL);
}
