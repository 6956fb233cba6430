/*  test_arena.c: the budgeted bump allocator the codec decodes into:
 *  alignment, the hard budget, reset, and memory that stays intact across
 *  block boundaries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arena.h"

#include <string.h>

static void
test_arena_aligns_to_16(void **state)
{
    (void) state;
    fdy_arena_t *arena = fdy_arena_new(1u << 20);
    assert_non_null(arena);
    size_t sizes[] = {1, 3, 16, 17, 33, 7, 100, 4095, 5};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *ptr = fdy_arena_alloc(arena, sizes[i]);
        assert_non_null(ptr);
        assert_int_equal((uintptr_t) ptr % 16, 0);
        memset(ptr, 0xab, sizes[i]);
    }
    fdy_arena_destroy(&arena);
    assert_null(arena);
}

static void
test_arena_zero_size_is_not_failure(void **state)
{
    (void) state;
    fdy_arena_t *arena = fdy_arena_new(64);
    assert_non_null(fdy_arena_alloc(arena, 0));
    fdy_arena_destroy(&arena);
}

static void
test_arena_enforces_budget(void **state)
{
    (void) state;
    fdy_arena_t *arena = fdy_arena_new(100);
    /* 100 bytes of budget is six 16-byte units: 96 usable, rounded. */
    for (int i = 0; i < 6; i++)
        assert_non_null(fdy_arena_alloc(arena, 16));
    assert_int_equal(fdy_arena_used(arena), 96);
    assert_null(fdy_arena_alloc(arena, 16));
    assert_null(fdy_arena_alloc(arena, 1));
    assert_int_equal(fdy_arena_used(arena), 96);
    fdy_arena_destroy(&arena);
}

static void
test_arena_counts_rounded_bytes(void **state)
{
    (void) state;
    fdy_arena_t *arena = fdy_arena_new(1000);
    assert_int_equal(fdy_arena_used(arena), 0);
    assert_non_null(fdy_arena_alloc(arena, 1));
    assert_int_equal(fdy_arena_used(arena), 16);
    assert_non_null(fdy_arena_alloc(arena, 17));
    assert_int_equal(fdy_arena_used(arena), 48);
    fdy_arena_destroy(&arena);
}

static void
test_arena_refuses_huge_requests(void **state)
{
    (void) state;
    fdy_arena_t *arena = fdy_arena_new(SIZE_MAX);
    assert_null(fdy_arena_alloc(arena, SIZE_MAX));
    assert_null(fdy_arena_alloc(arena, SIZE_MAX - 8));
    /* Still usable afterwards. */
    assert_non_null(fdy_arena_alloc(arena, 10));
    fdy_arena_destroy(&arena);

    arena = fdy_arena_new(1u << 20);
    assert_null(fdy_arena_alloc(arena, (1u << 20) + 1));
    assert_non_null(fdy_arena_alloc(arena, 1u << 20));
    fdy_arena_destroy(&arena);
}

static void
test_arena_keeps_contents_across_blocks(void **state)
{
    (void) state;
    fdy_arena_t *arena = fdy_arena_new(64u << 20);
    enum { COUNT = 2000 };
    static unsigned char *ptrs[COUNT];
    for (size_t i = 0; i < COUNT; i++) {
        size_t size = 1 + (i * 37) % 3000;
        ptrs[i] = fdy_arena_alloc(arena, size);
        assert_non_null(ptrs[i]);
        memset(ptrs[i], (int) (i & 0xff), size);
    }
    for (size_t i = 0; i < COUNT; i++) {
        size_t size = 1 + (i * 37) % 3000;
        for (size_t j = 0; j < size; j++)
            assert_int_equal(ptrs[i][j], i & 0xff);
    }
    /* One allocation larger than any block size. */
    unsigned char *big = fdy_arena_alloc(arena, 3u << 20);
    assert_non_null(big);
    memset(big, 1, 3u << 20);
    fdy_arena_destroy(&arena);
}

static void
test_arena_reset_releases_and_rebudgets(void **state)
{
    (void) state;
    fdy_arena_t *arena = fdy_arena_new(256);
    while (fdy_arena_alloc(arena, 16))
        ;
    assert_int_equal(fdy_arena_used(arena), 256);

    fdy_arena_reset(arena, 4096);
    assert_int_equal(fdy_arena_used(arena), 0);
    void *ptr = fdy_arena_alloc(arena, 4000);
    assert_non_null(ptr);
    memset(ptr, 0, 4000);
    assert_null(fdy_arena_alloc(arena, 100));

    /* A smaller budget after reset applies at once. */
    fdy_arena_reset(arena, 32);
    assert_non_null(fdy_arena_alloc(arena, 32));
    assert_null(fdy_arena_alloc(arena, 1));

    /* Reset after many blocks, then reuse heavily (ASan checks the kept
     * block is really usable). */
    fdy_arena_reset(arena, 8u << 20);
    for (int i = 0; i < 1000; i++) {
        void *p = fdy_arena_alloc(arena, 5000);
        assert_non_null(p);
        memset(p, i & 0xff, 5000);
    }
    fdy_arena_reset(arena, 8u << 20);
    for (int i = 0; i < 1000; i++)
        assert_non_null(fdy_arena_alloc(arena, 5000));
    fdy_arena_destroy(&arena);
}

static void
test_arena_destroy_accepts_null(void **state)
{
    (void) state;
    fdy_arena_t *arena = NULL;
    fdy_arena_destroy(&arena);
    assert_null(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_aligns_to_16),
        cmocka_unit_test(test_arena_zero_size_is_not_failure),
        cmocka_unit_test(test_arena_enforces_budget),
        cmocka_unit_test(test_arena_counts_rounded_bytes),
        cmocka_unit_test(test_arena_refuses_huge_requests),
        cmocka_unit_test(test_arena_keeps_contents_across_blocks),
        cmocka_unit_test(test_arena_reset_releases_and_rebudgets),
        cmocka_unit_test(test_arena_destroy_accepts_null),
    };
    return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
