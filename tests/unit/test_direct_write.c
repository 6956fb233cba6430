/*  test_direct_write.c: writes past the page cache (lib/daemon/
 *  direct_write.c) on a real file in a temporary directory. Every offset
 *  and length around the 4 KiB alignment and the 1 MiB bounce buffer
 *  reads back byte for byte; the aligned part of an aligned write is not
 *  left in the page cache (where the filesystem has O_DIRECT); the file's
 *  flags are as before; a write to a read-only descriptor says EBADF.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "direct_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB (1024u * 1024u)

typedef struct {
    char dir[64];
    char path[96];
    int fd;
    fdy_direct_writer_t *writer;
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_direct_write.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/file", f->dir);
    f->fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(f->fd >= 0);
    f->writer = fdy_direct_writer_new();
    assert_non_null(f->writer);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *f = *state;
    fdy_direct_writer_destroy(&f->writer);
    assert_null(f->writer);
    close(f->fd);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void
s_fill(uint8_t *buf, size_t len, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t) x;
    }
}

/* Writes len bytes at offset and checks they read back, and that the
 * bytes before offset are untouched. */
static void
s_write_and_check(fixture_t *f, size_t len, off_t offset, uint32_t seed)
{
    assert_int_equal(ftruncate(f->fd, 0), 0);
    uint8_t *data = malloc(len + 1);
    uint8_t *back = malloc(len + (size_t) offset + 1);
    s_fill(data, len, seed);
    int flags = fcntl(f->fd, F_GETFL);
    assert_int_equal(fdy_direct_pwrite(f->writer, f->fd, data, len, offset), 0);
    assert_int_equal(fcntl(f->fd, F_GETFL), flags);
    assert_int_equal(pread(f->fd, back, len + (size_t) offset, 0), (ssize_t) (len + offset));
    for (off_t i = 0; i < offset; i++)
        assert_int_equal(back[i], 0);
    assert_memory_equal(back + offset, data, len);
    free(data);
    free(back);
}

static void
test_every_length_and_offset_reads_back(void **state)
{
    fixture_t *f = *state;
    const size_t lens[] = {1, 4095, 4096, 4097, 12288, MIB - 1, MIB, MIB + 1, 2 * MIB + 4096 + 5};
    const off_t offsets[] = {0, 100, 4096, MIB, 3 * 4096 + 7};
    uint32_t seed = 1;
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t j = 0; j < sizeof offsets / sizeof offsets[0]; j++)
            s_write_and_check(f, lens[i], offsets[j], seed++);
}

/* The aligned part of an aligned write leaves no page in the cache: the
 * point of the module. Checked only where O_DIRECT opens at all. */
static void
test_aligned_part_skips_the_page_cache(void **state)
{
    fixture_t *f = *state;
    int probe = open(f->path, O_RDWR | O_DIRECT | O_CLOEXEC);
    if (probe < 0) {
        skip(); /* a filesystem without O_DIRECT: plain writes, checked above */
        return;
    }
    close(probe);
    size_t len = 4 * MIB;
    uint8_t *data = malloc(len);
    s_fill(data, len, 99);
    assert_int_equal(fdy_direct_pwrite(f->writer, f->fd, data, len, 0), 0);
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, f->fd, 0);
    assert_true(map != MAP_FAILED);
    unsigned char resident[4 * MIB / 4096];
    assert_int_equal(mincore(map, len, resident), 0);
    size_t cached = 0;
    for (size_t i = 0; i < sizeof resident; i++)
        cached += resident[i] & 1u;
    assert_int_equal(cached, 0);
    assert_memory_equal(map, data, len);
    munmap(map, len);
    free(data);
}

static void
test_read_only_descriptor_says_ebadf(void **state)
{
    fixture_t *f = *state;
    int ro = open(f->path, O_RDONLY | O_CLOEXEC);
    assert_true(ro >= 0);
    uint8_t data[8192] = {1, 2, 3};
    assert_int_equal(fdy_direct_pwrite(f->writer, ro, data, sizeof data, 0), EBADF);
    assert_int_equal(fdy_direct_pwrite(f->writer, ro, data, 10, 0), EBADF);
    close(ro);
    /* The writer still works afterwards. */
    s_write_and_check(f, 8192, 0, 7);
}

/* No writer at all (allocation failed): plain writes, same bytes. */
static void
test_without_writer_writes_plainly(void **state)
{
    fixture_t *f = *state;
    fdy_direct_writer_destroy(&f->writer);
    s_write_and_check(f, MIB + 3, 0, 11);
    f->writer = fdy_direct_writer_new();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_length_and_offset_reads_back, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_aligned_part_skips_the_page_cache, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_read_only_descriptor_says_ebadf, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_without_writer_writes_plainly, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
