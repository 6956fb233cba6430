/*  test_keys.c: CURVE key files: generation and loading, file modes, the
 *  refusal of readable secrets, no overwriting, bad and missing files, and
 *  interoperability with czmq's zcert in both directions.
 */
#include "keys.h"

#include <czmq.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#define assert_foundry_err(expr, want)                                                             \
    do {                                                                                           \
        foundry_err got_ = (expr);                                                                 \
        if (got_ != (want))                                                                        \
            fail_msg("%s: got %s, want %s (reason: %s)", #expr, foundry_strerror(got_),            \
                     foundry_strerror(want), reason.text);                                         \
    } while (0)
#define assert_foundry_ok(expr) assert_foundry_err(expr, FOUNDRY_OK)

typedef struct {
    char dir[64];
    char path[512];
    char secret[512];
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    strcpy(fx->dir, "/tmp/test_keys.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    *state = fx;
    return 0;
}

/* rm -r of the temporary tree (no symlinks are made in it). */
static void
s_remove_tree(const char *path)
{
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *entry;
        while ((entry = readdir(dir))) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
                continue;
            char child[1024];
            snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
            s_remove_tree(child);
        }
        closedir(dir);
    }
    remove(path);
}

static int
s_teardown(void **state)
{
    fixture_t *fx = *state;
    s_remove_tree(fx->dir);
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
s_write(const char *path, const char *text, mode_t mode)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    assert_int_equal(fclose(file), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static char *
s_slurp(const char *path)
{
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, file);
    buf[n] = '\0';
    fclose(file);
    return strdup(buf);
}

static void
test_keys_generate_and_load(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {{0}};
    char dir[128];
    snprintf(dir, sizeof dir, "%s/a/b", fx->dir);
    assert_foundry_ok(fdy_keys_generate(dir, "broker", &reason));

    snprintf(fx->path, sizeof fx->path, "%s/broker.key", dir);
    snprintf(fx->secret, sizeof fx->secret, "%s/broker.key_secret", dir);
    assert_int_equal(s_mode(dir), 0700);
    assert_int_equal(s_mode(fx->path), 0644);
    assert_int_equal(s_mode(fx->secret), 0600);

    char public_key[FDY_Z85_KEY_LEN + 1];
    char public_from_secret[FDY_Z85_KEY_LEN + 1];
    assert_foundry_ok(fdy_keys_load_public(fx->path, public_key, &reason));
    assert_foundry_ok(fdy_keys_load_public(fx->secret, public_from_secret, &reason));
    assert_int_equal(strlen(public_key), FDY_Z85_KEY_LEN);
    assert_string_equal(public_key, public_from_secret);
    /* The public file must not carry the secret. */
    char *text = s_slurp(fx->path);
    assert_null(strstr(text, "secret-key"));
    free(text);

    fdy_keypair_t *pair = NULL;
    assert_foundry_ok(fdy_keys_load_secret(fx->secret, &pair, &reason));
    assert_non_null(pair);
    assert_string_equal(fdy_keypair_public(pair), public_key);
    assert_int_equal(strlen(fdy_keypair_secret(pair)), FDY_Z85_KEY_LEN);
    char derived[FDY_Z85_KEY_LEN + 1];
    assert_int_equal(zmq_curve_public(derived, fdy_keypair_secret(pair)), 0);
    assert_string_equal(derived, public_key);
    fdy_keypair_destroy(&pair);
    assert_null(pair);
    fdy_keypair_destroy(&pair); /* idempotent */

    char fingerprint[9];
    fdy_keys_fingerprint(public_key, fingerprint);
    assert_int_equal(strlen(fingerprint), 8);
    assert_memory_equal(fingerprint, public_key, 8);

    /* Two generations give different keys. */
    assert_foundry_ok(fdy_keys_generate(dir, "other", &reason));
    char other[FDY_Z85_KEY_LEN + 1];
    snprintf(fx->path, sizeof fx->path, "%s/other.key", dir);
    assert_foundry_ok(fdy_keys_load_public(fx->path, other, &reason));
    assert_string_not_equal(other, public_key);
}

static void
test_keys_never_overwrites(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {{0}};
    assert_foundry_ok(fdy_keys_generate(fx->dir, "n1", &reason));
    snprintf(fx->path, sizeof fx->path, "%s/n1.key", fx->dir);
    snprintf(fx->secret, sizeof fx->secret, "%s/n1.key_secret", fx->dir);
    char *before_public = s_slurp(fx->path);
    char *before_secret = s_slurp(fx->secret);
    assert_foundry_err(fdy_keys_generate(fx->dir, "n1", &reason), FOUNDRY_EEXIST);
    assert_non_null(strstr(reason.text, "n1.key"));
    char *after_public = s_slurp(fx->path);
    char *after_secret = s_slurp(fx->secret);
    assert_string_equal(before_public, after_public);
    assert_string_equal(before_secret, after_secret);
    free(before_public);
    free(before_secret);
    free(after_public);
    free(after_secret);

    /* Only the secret exists: refused, and no public file appears. */
    assert_int_equal(unlink(fx->path), 0);
    assert_foundry_err(fdy_keys_generate(fx->dir, "n1", &reason), FOUNDRY_EEXIST);
    assert_int_equal(access(fx->path, F_OK), -1);

    /* Only the public exists: refused, and no secret file appears. */
    s_write(fx->path, "x", 0644);
    assert_int_equal(unlink(fx->secret), 0);
    assert_foundry_err(fdy_keys_generate(fx->dir, "n1", &reason), FOUNDRY_EEXIST);
    assert_int_equal(access(fx->secret, F_OK), -1);
}

static void
test_keys_bad_names(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {{0}};
    const char *bad[] = {"", "a/b", "a b", "../x", "x\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_foundry_err(fdy_keys_generate(fx->dir, bad[i], &reason), FOUNDRY_EINVAL);
    char long_name[FDY_NAME_MAX + 1];
    memset(long_name, 'k', FDY_NAME_MAX);
    long_name[FDY_NAME_MAX] = '\0';
    assert_foundry_err(fdy_keys_generate(fx->dir, long_name, &reason), FOUNDRY_EINVAL);
    assert_foundry_ok(fdy_keys_generate(fx->dir, "node-1.site_A", &reason));
}

static void
test_keys_refuses_readable_secret(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {{0}};
    assert_foundry_ok(fdy_keys_generate(fx->dir, "s", &reason));
    snprintf(fx->secret, sizeof fx->secret, "%s/s.key_secret", fx->dir);
    fdy_keypair_t *pair = NULL;
    const mode_t refused[] = {0644, 0640, 0604, 0610, 0601, 0620};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(chmod(fx->secret, refused[i]), 0);
        assert_foundry_err(fdy_keys_load_secret(fx->secret, &pair, &reason), FOUNDRY_EAUTH);
        assert_null(pair);
        char want[600];
        snprintf(want, sizeof want, "chmod 600 %s", fx->secret);
        assert_non_null(strstr(reason.text, want));
    }
    assert_int_equal(chmod(fx->secret, 0400), 0);
    assert_foundry_ok(fdy_keys_load_secret(fx->secret, &pair, &reason));
    fdy_keypair_destroy(&pair);
}

static void
test_keys_bad_files(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {{0}};
    char public_key[FDY_Z85_KEY_LEN + 1];
    fdy_keypair_t *pair = NULL;
    snprintf(fx->path, sizeof fx->path, "%s/missing.key", fx->dir);
    assert_foundry_err(fdy_keys_load_public(fx->path, public_key, &reason), FOUNDRY_EIO);
    assert_non_null(strstr(reason.text, fx->path));
    assert_foundry_err(fdy_keys_load_secret(fx->path, &pair, &reason), FOUNDRY_EIO);
    assert_null(pair);
    assert_foundry_err(fdy_keys_load_public(fx->dir, public_key, &reason), FOUNDRY_EIO);

    snprintf(fx->path, sizeof fx->path, "%s/garbage.key_secret", fx->dir);
    const char *garbage[] = {
        "hello world\n",
        "",
        "curve\n",
        "curve\n    public-key = \"short\"\n    secret-key = \"short\"\n",
        "curve\n    public-key = \"0000000000000000000000000000000000000000\n",
        "curve\n    public-key\n",
        /* Valid characters, but the groups overflow 32 bits. */
        "curve\n    public-key = \"##########################################\"\n"
        "    secret-key = \"########################################\"\n",
    };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        s_write(fx->path, garbage[i], 0600);
        assert_foundry_err(fdy_keys_load_secret(fx->path, &pair, &reason), FOUNDRY_EINVAL);
        assert_null(pair);
        assert_foundry_err(fdy_keys_load_public(fx->path, public_key, &reason), FOUNDRY_EINVAL);
    }
    FILE *file = fopen(fx->path, "w");
    assert_non_null(file);
    fwrite("curve\n\0\0\0", 1, 9, file);
    fclose(file);
    assert_foundry_err(fdy_keys_load_public(fx->path, public_key, &reason), FOUNDRY_EINVAL);

    /* A public file is not a secret file. */
    assert_foundry_ok(fdy_keys_generate(fx->dir, "p", &reason));
    snprintf(fx->path, sizeof fx->path, "%s/p.key", fx->dir);
    assert_int_equal(chmod(fx->path, 0600), 0);
    assert_foundry_err(fdy_keys_load_secret(fx->path, &pair, &reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, "secret-key"));

    /* Keys that do not belong together are refused. */
    char *text = s_slurp(fx->path);
    snprintf(fx->secret, sizeof fx->secret, "%s/p.key_secret", fx->dir);
    fdy_keypair_t *real = NULL;
    assert_foundry_ok(fdy_keys_load_secret(fx->secret, &real, &reason));
    char public_other[41], secret_other[41];
    assert_int_equal(zmq_curve_keypair(public_other, secret_other), 0);
    char mixed[512];
    snprintf(mixed, sizeof mixed, "curve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n",
             fdy_keypair_public(real), secret_other);
    fdy_keypair_destroy(&real);
    free(text);
    snprintf(fx->path, sizeof fx->path, "%s/mixed.key_secret", fx->dir);
    s_write(fx->path, mixed, 0600);
    assert_foundry_err(fdy_keys_load_secret(fx->path, &pair, &reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, "does not belong"));
}

static void
test_keys_czmq_loads_ours(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {{0}};
    assert_foundry_ok(fdy_keys_generate(fx->dir, "ours", &reason));
    snprintf(fx->path, sizeof fx->path, "%s/ours.key", fx->dir);
    snprintf(fx->secret, sizeof fx->secret, "%s/ours.key_secret", fx->dir);
    fdy_keypair_t *pair = NULL;
    assert_foundry_ok(fdy_keys_load_secret(fx->secret, &pair, &reason));

    /* zcert_load(NAME.key) reads NAME.key_secret when it exists. */
    zcert_t *cert = zcert_load(fx->path);
    assert_non_null(cert);
    assert_string_equal(zcert_public_txt(cert), fdy_keypair_public(pair));
    assert_string_equal(zcert_secret_txt(cert), fdy_keypair_secret(pair));
    zcert_destroy(&cert);

    /* And the public file alone. */
    char public_only[600];
    snprintf(public_only, sizeof public_only, "%s/copy.key", fx->dir);
    char *text = s_slurp(fx->path);
    s_write(public_only, text, 0644);
    free(text);
    cert = zcert_load(public_only);
    assert_non_null(cert);
    assert_string_equal(zcert_public_txt(cert), fdy_keypair_public(pair));
    zcert_destroy(&cert);
    fdy_keypair_destroy(&pair);
}

static void
test_keys_loads_czmq(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {{0}};
    snprintf(fx->path, sizeof fx->path, "%s/theirs.key", fx->dir);
    snprintf(fx->secret, sizeof fx->secret, "%s/theirs.key_secret", fx->dir);
    zcert_t *cert = zcert_new();
    assert_non_null(cert);
    zcert_set_meta(cert, "name", "%s", "theirs");
    assert_int_equal(zcert_save(cert, fx->path), 0);
    /* czmq's umask handling decides the secret's mode; ours demands 0600. */
    assert_int_equal(chmod(fx->secret, 0600), 0);

    char public_key[FDY_Z85_KEY_LEN + 1];
    assert_foundry_ok(fdy_keys_load_public(fx->path, public_key, &reason));
    assert_string_equal(public_key, zcert_public_txt(cert));
    fdy_keypair_t *pair = NULL;
    assert_foundry_ok(fdy_keys_load_secret(fx->secret, &pair, &reason));
    assert_string_equal(fdy_keypair_public(pair), zcert_public_txt(cert));
    assert_string_equal(fdy_keypair_secret(pair), zcert_secret_txt(cert));
    fdy_keypair_destroy(&pair);
    zcert_destroy(&cert);
}

static void
test_keys_name_from_path(void **state)
{
    (void) state;
    char name[FDY_NAME_MAX];
    assert_int_equal(fdy_keys_name_from_path("/etc/foundry/keys/broker.key", name), FOUNDRY_OK);
    assert_string_equal(name, "broker");
    assert_int_equal(fdy_keys_name_from_path("keys/node-1.key_secret", name), FOUNDRY_OK);
    assert_string_equal(name, "node-1");
    assert_int_equal(fdy_keys_name_from_path("admin", name), FOUNDRY_OK);
    assert_string_equal(name, "admin");
    assert_int_equal(fdy_keys_name_from_path("dir/.key", name), FOUNDRY_EINVAL);
    assert_int_equal(fdy_keys_name_from_path("", name), FOUNDRY_EINVAL);
    assert_int_equal(fdy_keys_name_from_path("dir/", name), FOUNDRY_OK);
    assert_string_equal(name, "dir");
    char long_path[200];
    memset(long_path, 'x', 100);
    strcpy(long_path + 100, ".key");
    assert_int_equal(fdy_keys_name_from_path(long_path, name), FOUNDRY_EINVAL);
}

int
main(void)
{
    zsys_handler_set(NULL); /* czmq must not install signal handlers */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keys_generate_and_load, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_keys_never_overwrites, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_keys_bad_names, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_keys_refuses_readable_secret, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_keys_bad_files, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_keys_czmq_loads_ours, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_keys_loads_czmq, s_setup, s_teardown),
        cmocka_unit_test(test_keys_name_from_path),
    };
    return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
