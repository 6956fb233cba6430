/*  test_dedupe_index.c: the dedupe hash table against a plain array model:
 *  entries sharing a hash are all found, removal (backward shift) never
 *  loses a neighbour, growth keeps every entry, replace names the new seq,
 *  and tables large enough for huge pages (with prefetches between the
 *  changes) behave the same.
 */
#include "dedupe_index.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Whether (hash, seq) is found by walking the entries with hash. */
static bool
s_has(const fdy_dedupe_index_t *idx, uint64_t hash, uint64_t seq)
{
    size_t pos = fdy_dedupe_index_start(idx, hash);
    uint64_t s;
    while ((s = fdy_dedupe_index_next(idx, hash, &pos)) != 0)
        if (s == seq)
            return true;
    return false;
}

static void
test_dedupe_index_same_hash_entries_all_found(void **state)
{
    (void) state;
    fdy_dedupe_index_t *idx = fdy_dedupe_index_new();
    uint64_t h = 0xabcdef0123456789ull;
    for (uint64_t seq = 1; seq <= 5; seq++)
        fdy_dedupe_index_insert(idx, h, seq);
    fdy_dedupe_index_insert(idx, h + 1, 9); /* a neighbour in the same run */
    size_t pos = fdy_dedupe_index_start(idx, h);
    uint64_t found = 0, s;
    while ((s = fdy_dedupe_index_next(idx, h, &pos)) != 0)
        found |= 1ull << s;
    assert_int_equal(found, 0x3e); /* seqs 1..5, not the neighbour */
    assert_true(fdy_dedupe_index_remove(idx, h, 3));
    assert_false(fdy_dedupe_index_remove(idx, h, 3));
    assert_false(s_has(idx, h, 3));
    assert_true(s_has(idx, h, 5));
    assert_true(s_has(idx, h + 1, 9));
    assert_true(fdy_dedupe_index_replace(idx, h, 5, 42));
    assert_true(s_has(idx, h, 42));
    assert_false(s_has(idx, h, 5));
    assert_false(fdy_dedupe_index_replace(idx, h, 5, 43));
    assert_int_equal(fdy_dedupe_index_count(idx), 5);
    fdy_dedupe_index_destroy(&idx);
    assert_null(idx);
    fdy_dedupe_index_destroy(&idx); /* idempotent */
}

/* Random inserts and removes, many hashes crowded into few home slots by
 * sharing top bits, checked against a model after every step. */
static void
test_dedupe_index_random_ops_match_model(void **state)
{
    (void) state;
    enum { N = 20000 };
    uint64_t *hashes = calloc(N, sizeof *hashes);
    bool *live = calloc(N, sizeof *live);
    assert_non_null(hashes);
    assert_non_null(live);
    fdy_dedupe_index_t *idx = fdy_dedupe_index_new();
    uint64_t x = 88172645463325252ull;
    size_t count = 0;
    for (size_t step = 0; step < 4 * N; step++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t i = (size_t) (x % N);
        uint64_t seq = i + 1;
        if (!live[i]) {
            /* Top bits from a small set: long probe runs across the wrap. */
            hashes[i] = (x & 0xe000000000000000ull) | (x >> 20);
            fdy_dedupe_index_insert(idx, hashes[i], seq);
            live[i] = true;
            count++;
        }
        else if (x & 0x100) {
            assert_true(fdy_dedupe_index_remove(idx, hashes[i], seq));
            live[i] = false;
            count--;
        }
        if (step % 997 == 0)
            for (size_t j = 0; j < N; j++)
                if (live[j])
                    assert_true(s_has(idx, hashes[j], j + 1));
    }
    assert_int_equal(fdy_dedupe_index_count(idx), count);
    for (size_t j = 0; j < N; j++)
        assert_int_equal(s_has(idx, hashes[j], j + 1), live[j]);
    /* Never fuller than 3/4. */
    assert_true(fdy_dedupe_index_bytes(idx) / FDY_DEDUPE_INDEX_SLOT_BYTES * 3 >= count * 4);
    fdy_dedupe_index_destroy(&idx);
    free(hashes);
    free(live);
}

/* Past 2 MiB of slots the table is allocated aligned for huge pages: every
 * entry must still be found after each growth into that size, a prefetch
 * must change nothing, and the slots must start empty (a lookup of a hash
 * never inserted ends at once with 0). */
static void
test_dedupe_index_huge_table_keeps_entries(void **state)
{
    (void) state;
    enum { N = 300000 }; /* grows to 2^19 slots: 8 MiB */
    fdy_dedupe_index_t *idx = fdy_dedupe_index_new();
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (uint64_t seq = 1; seq <= N; seq++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        fdy_dedupe_index_prefetch(idx, x);
        fdy_dedupe_index_insert(idx, x, seq);
    }
    assert_int_equal(fdy_dedupe_index_count(idx), N);
    assert_true(fdy_dedupe_index_bytes(idx) >= (size_t) 8 << 20);
    x = 0x9e3779b97f4a7c15ull;
    for (uint64_t seq = 1; seq <= N; seq++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        assert_true(s_has(idx, x, seq));
        if (seq % 2 == 0)
            assert_true(fdy_dedupe_index_remove(idx, x, seq));
    }
    assert_int_equal(fdy_dedupe_index_count(idx), N / 2);
    x = 0x9e3779b97f4a7c15ull;
    for (uint64_t seq = 1; seq <= N; seq++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        assert_int_equal(s_has(idx, x, seq), seq % 2 == 1);
    }
    /* Hashes never inserted find nothing. */
    for (uint64_t h = 1; h <= 1000; h++) {
        size_t pos = fdy_dedupe_index_start(idx, h * 0xff51afd7ed558ccdull);
        assert_int_equal(fdy_dedupe_index_next(idx, h * 0xff51afd7ed558ccdull, &pos), 0);
    }
    fdy_dedupe_index_destroy(&idx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedupe_index_same_hash_entries_all_found),
        cmocka_unit_test(test_dedupe_index_random_ops_match_model),
        cmocka_unit_test(test_dedupe_index_huge_table_keeps_entries),
    };
    return cmocka_run_group_tests_name("dedupe_index", tests, NULL, NULL);
}
