/*  test_kv_check.c: the open-time check of an LMDB data file
 *  (lib/daemon/kv_check.h) on a real environment written by kv.c: what the
 *  meta pages say matches LMDB's own figures, and an empty, short,
 *  truncated or meta-damaged data.mdb is refused by fdy_kv_open with a
 *  reason, leaving the file as it was (no new store over it).
 */
#include "kv.h"
#include "kv_check.h"

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
    char data[96];
    fdy_reason_t reason;
    uint32_t page_size; /* as LMDB reported it */
    uint64_t last_page;
    uint64_t txnid;
} fixture_t;

static foundry_err
s_fill(MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    (void) ctx;
    (void) skip_commit;
    MDB_dbi dbi;
    int rc = mdb_dbi_open(txn, "t", MDB_CREATE, &dbi);
    uint8_t value[700];
    memset(value, 0x5a, sizeof value);
    for (unsigned i = 0; rc == 0 && i < 300; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%05u", i);
        MDB_val k = {strlen(key), key}, v = {sizeof value, value};
        rc = mdb_put(txn, dbi, &k, &v, 0);
    }
    return rc == 0 ? FOUNDRY_OK : fdy_kv_err(rc, reason, "fill");
}

static foundry_err
s_open(fixture_t *fx, bool read_only, fdy_kv_t **kv)
{
    fdy_kv_opts_t opts = {.dir = fx->dir,
                          .label = "store",
                          .map_size = 8u << 20,
                          .max_dbs = 4,
                          .read_only = read_only};
    fdy_reason_clear(&fx->reason);
    return fdy_kv_open(&opts, kv, &fx->reason);
}

static int
s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    strcpy(fx->dir, "/tmp/test_kv_check.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->data, sizeof fx->data, "%s/data.mdb", fx->dir);
    fdy_kv_t *kv = NULL;
    assert_int_equal(s_open(fx, false, &kv), FOUNDRY_OK);
    assert_int_equal(fdy_kv_write(kv, s_fill, NULL, &fx->reason), FOUNDRY_OK);
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(fdy_kv_env(kv), &info);
    mdb_env_stat(fdy_kv_env(kv), &st);
    fx->page_size = st.ms_psize;
    fx->last_page = info.me_last_pgno;
    fx->txnid = info.me_last_txnid;
    fdy_kv_close(&kv);
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fx = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/lock.mdb", fx->dir);
    unlink(path);
    unlink(fx->data);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static uint64_t
s_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t) st.st_size;
}

/* Writes len bytes of `byte` at offset. */
static void
s_overwrite(const char *path, off_t offset, size_t len, uint8_t byte)
{
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    memset(buf, byte, len);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, buf, len, offset), (ssize_t) len);
    close(fd);
    free(buf);
}

/* fdy_kv_open refuses the damaged file with ECORRUPT and a reason holding
 * `text`, and leaves it exactly as long as it was. */
static void
s_assert_refused(fixture_t *fx, const char *text)
{
    uint64_t before = s_size(fx->data);
    fdy_kv_t *kv = (fdy_kv_t *) 1;
    assert_int_equal(s_open(fx, false, &kv), FOUNDRY_ECORRUPT);
    assert_null(kv);
    if (!strstr(fx->reason.text, text))
        fail_msg("reason \"%s\" lacks \"%s\"", fx->reason.text, text);
    assert_non_null(strstr(fx->reason.text, fx->data));
    assert_int_equal(s_open(fx, true, &kv), FOUNDRY_ECORRUPT);
    assert_int_equal(s_size(fx->data), before);
}

static void
test_kv_check_reads_what_lmdb_wrote(void **state)
{
    fixture_t *fx = *state;
    fdy_kv_file_t file;
    assert_int_equal(fdy_kv_check_file(fx->dir, "store", &file, &fx->reason), FOUNDRY_OK);
    assert_true(file.exists);
    assert_int_equal(file.page_size, fx->page_size);
    assert_int_equal(file.last_page, fx->last_page);
    assert_int_equal(file.txnid, fx->txnid);
    assert_int_equal(file.size, s_size(fx->data));
    assert_true(file.size >= (file.last_page + 1) * file.page_size);
    assert_int_equal(file.map_size, 8u << 20);
    fdy_kv_t *kv = NULL;
    assert_int_equal(s_open(fx, false, &kv), FOUNDRY_OK);
    fdy_kv_close(&kv);
}

static void
test_kv_check_no_file_is_a_new_store(void **state)
{
    fixture_t *fx = *state;
    unlink(fx->data);
    fdy_kv_file_t file;
    assert_int_equal(fdy_kv_check_file(fx->dir, "store", &file, &fx->reason), FOUNDRY_OK);
    assert_false(file.exists);
    fdy_kv_t *kv = NULL;
    assert_int_equal(s_open(fx, false, &kv), FOUNDRY_OK);
    fdy_kv_close(&kv);
    assert_true(s_size(fx->data) > 0);
}

static void
test_kv_check_refuses_an_empty_file(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(truncate(fx->data, 0), 0);
    s_assert_refused(fx, "is empty (0 bytes): not creating a new store over it");
    assert_non_null(strstr(fx->reason.text, "restore a backup or remove it to start empty"));
}

static void
test_kv_check_refuses_a_short_file(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(truncate(fx->data, 100), 0);
    s_assert_refused(fx, "shorter than its two meta pages");
    assert_int_equal(truncate(fx->data, fx->page_size + 10), 0);
    s_assert_refused(fx, "shorter than its two meta pages");
}

static void
test_kv_check_refuses_a_truncated_file(void **state)
{
    fixture_t *fx = *state;
    uint64_t full = s_size(fx->data);
    assert_int_equal(truncate(fx->data, (off_t) (full * 9 / 10)), 0);
    s_assert_refused(fx, "is truncated");
    assert_int_equal(truncate(fx->data, (off_t) (full / 2)), 0);
    s_assert_refused(fx, "is truncated");
    assert_non_null(strstr(fx->reason.text, "Recovering a damaged store"));
}

static void
test_kv_check_refuses_damaged_meta_pages(void **state)
{
    fixture_t *fx = *state;
    /* The second meta: zeroed. */
    s_overwrite(fx->data, fx->page_size, fx->page_size, 0);
    s_assert_refused(fx, "meta page 1 is damaged");
    /* The first one: its magic (after the 16-byte page header) flipped. */
    s_overwrite(fx->data, 16, 1, 0x11);
    s_assert_refused(fx, "meta page 0 is damaged");
}

static void
test_kv_check_refuses_a_page_size_out_of_range(void **state)
{
    fixture_t *fx = *state;
    /* The free DB's md_pad, the page size: 16 + 8 + 2 * 8 bytes in. */
    s_overwrite(fx->data, 40, 1, 0x07);
    s_assert_refused(fx, "page size");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kv_check_reads_what_lmdb_wrote, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_kv_check_no_file_is_a_new_store, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_kv_check_refuses_an_empty_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_kv_check_refuses_a_short_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_kv_check_refuses_a_truncated_file, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_kv_check_refuses_damaged_meta_pages, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_kv_check_refuses_a_page_size_out_of_range, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests_name("kv_check", tests, NULL, NULL);
}
