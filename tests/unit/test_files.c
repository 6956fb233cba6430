/*  test_files.c: the shared careful file operations (lib/core/files.h):
 *  exclusive creation with its mode under any umask and no overwrite,
 *  mkdir -p, the secret-file reader's refusals (mode, size, kind), and
 *  positional full reads and writes (a read past the end says so).
 */
#include "files.h"

#include <errno.h>
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
    mode_t umask_before;
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    strcpy(fx->dir, "/tmp/test_files.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->umask_before = umask(077);
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fx = *state;
    umask(fx->umask_before);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

static void
s_path(const fixture_t *fx, const char *name, char out[128])
{
    snprintf(out, 128, "%s/%s", fx->dir, name);
}

static void
create_sets_mode_and_never_overwrites(void **state)
{
    fixture_t *fx = *state;
    char path[128];
    s_path(fx, "pub", path);
    fdy_reason_t reason = {0};
    /* umask 077 would give 0600: the mode asked for wins. */
    assert_int_equal(fdy_file_create(path, 0644, "hello\n", 6, &reason), FOUNDRY_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(st.st_size, 6);
    assert_int_equal(fdy_file_create(path, 0600, "other", 5, &reason), FOUNDRY_EEXIST);
    assert_non_null(strstr(reason.text, "already exists"));
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(fdy_file_read_secret(path, false, 64, &text, &len, &reason), FOUNDRY_OK);
    assert_int_equal(len, 6);
    assert_string_equal(text, "hello\n");
    fdy_file_secret_free(text);
}

static void
dirs_make_creates_the_missing_levels(void **state)
{
    fixture_t *fx = *state;
    char path[128];
    s_path(fx, "a/b/c", path);
    fdy_reason_t reason = {0};
    assert_int_equal(fdy_dirs_make(path, &reason), FOUNDRY_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(fdy_dir_fsync(path), 0);
    /* Again: existing directories are fine. */
    assert_int_equal(fdy_dirs_make(path, &reason), FOUNDRY_OK);
    /* A file in the way is refused. */
    char file[128];
    s_path(fx, "a/file", file);
    assert_int_equal(fdy_file_create(file, 0600, "x", 1, &reason), FOUNDRY_OK);
    assert_int_equal(fdy_dir_fsync_parent(file), 0);
    assert_int_equal(fdy_dirs_make(file, &reason), FOUNDRY_EIO);
    assert_non_null(strstr(reason.text, "not a directory"));
    assert_int_equal(fdy_dirs_make("", &reason), FOUNDRY_EINVAL);
}

static void
read_secret_refuses_open_mode_size_and_kind(void **state)
{
    fixture_t *fx = *state;
    char path[128];
    s_path(fx, "secret", path);
    fdy_reason_t reason = {0};
    assert_int_equal(fdy_file_create(path, 0640, "key = value\n", 12, &reason), FOUNDRY_OK);
    char *text = NULL;
    assert_int_equal(fdy_file_read_secret(path, true, 64, &text, NULL, &reason), FOUNDRY_EAUTH);
    assert_null(text);
    assert_non_null(strstr(reason.text, "chmod 600"));
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(fdy_file_read_secret(path, true, 64, &text, NULL, &reason), FOUNDRY_OK);
    assert_string_equal(text, "key = value\n");
    fdy_file_secret_free(text);
    text = NULL;
    /* Over the limit. */
    assert_int_equal(fdy_file_read_secret(path, true, 4, &text, NULL, &reason), FOUNDRY_EINVAL);
    assert_null(text);
    assert_non_null(strstr(reason.text, "too big"));
    /* Not a regular file; missing. */
    assert_int_equal(fdy_file_read_secret(fx->dir, false, 64, &text, NULL, &reason), FOUNDRY_EIO);
    assert_non_null(strstr(reason.text, "not a regular file"));
    char missing[128];
    s_path(fx, "missing", missing);
    assert_int_equal(fdy_file_read_secret(missing, false, 64, &text, NULL, &reason), FOUNDRY_EIO);
    assert_non_null(strstr(reason.text, "cannot open"));
}

static void
pread_pwrite_all_at_offsets(void **state)
{
    fixture_t *fx = *state;
    char path[128];
    s_path(fx, "data", path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fdy_pwrite_all(fd, "world", 5, 6), FOUNDRY_OK);
    assert_int_equal(fdy_pwrite_all(fd, "hello ", 6, 0), FOUNDRY_OK);
    char buf[12] = {0};
    assert_int_equal(fdy_pread_all(fd, buf, 11, 0), FOUNDRY_OK);
    assert_string_equal(buf, "hello world");
    assert_int_equal(fdy_pread_all(fd, buf, 5, 6), FOUNDRY_OK);
    assert_memory_equal(buf, "world", 5);
    /* Past the end: EIO with errno 0, so callers can say the file is short. */
    errno = EINVAL;
    assert_int_equal(fdy_pread_all(fd, buf, 6, 6), FOUNDRY_EIO);
    assert_int_equal(errno, 0);
    close(fd);
    /* A closed descriptor: EIO with its errno. */
    assert_int_equal(fdy_pread_all(fd, buf, 1, 0), FOUNDRY_EIO);
    assert_int_equal(errno, EBADF);
    assert_int_equal(fdy_pwrite_all(fd, "x", 1, 0), FOUNDRY_EIO);
    assert_int_equal(errno, EBADF);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_sets_mode_and_never_overwrites, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(dirs_make_creates_the_missing_levels, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(read_secret_refuses_open_mode_size_and_kind, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(pread_pwrite_all_at_offsets, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
