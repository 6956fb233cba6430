/*  test_dedupe_index.c: the dedupe hash table against a plain array model:
 *  entries sharing a hash are all found, removal (backward shift) never
 *  loses a neighbour, growth keeps every entry, replace names the new seq,
 *  large tables (with prefetches between the changes) behave the same, and
 *  growing is spread: entries still in the old table are found, replaced
 *  and removed, and the move ends within a bounded number of changes.
 */
#include "dedupe_index.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The next of a xorshift64 sequence: reproducible, spread hashes. */
static uint64_t
s_next(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

/* Whether (hash, seq) is found by walking the entries with hash. */
static bool
s_has(const fdy_dedupe_index_t *idx, uint64_t hash, uint64_t seq)
{
    fdy_dedupe_walk_t pos = fdy_dedupe_index_start(idx, hash);
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
    fdy_dedupe_walk_t pos = fdy_dedupe_index_start(idx, h);
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
        s_next(&x);
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

/* Tables of megabytes, grown through several doublings: every entry must
 * still be found, a prefetch must change nothing, and the slots must start
 * empty (a lookup of a hash never inserted ends at once with 0). */
static void
test_dedupe_index_huge_table_keeps_entries(void **state)
{
    (void) state;
    enum { N = 300000 }; /* grows to 2^19 slots: 8 MiB */
    fdy_dedupe_index_t *idx = fdy_dedupe_index_new();
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (uint64_t seq = 1; seq <= N; seq++) {
        s_next(&x);
        fdy_dedupe_index_prefetch(idx, x);
        fdy_dedupe_index_insert(idx, x, seq);
    }
    assert_int_equal(fdy_dedupe_index_count(idx), N);
    assert_true(fdy_dedupe_index_bytes(idx) >= (size_t) 8 << 20);
    x = 0x9e3779b97f4a7c15ull;
    for (uint64_t seq = 1; seq <= N; seq++) {
        s_next(&x);
        assert_true(s_has(idx, x, seq));
        if (seq % 2 == 0)
            assert_true(fdy_dedupe_index_remove(idx, x, seq));
    }
    assert_int_equal(fdy_dedupe_index_count(idx), N / 2);
    x = 0x9e3779b97f4a7c15ull;
    for (uint64_t seq = 1; seq <= N; seq++) {
        s_next(&x);
        assert_int_equal(s_has(idx, x, seq), seq % 2 == 1);
    }
    /* Hashes never inserted find nothing. */
    for (uint64_t h = 1; h <= 1000; h++) {
        fdy_dedupe_walk_t pos = fdy_dedupe_index_start(idx, h * 0xff51afd7ed558ccdull);
        assert_int_equal(fdy_dedupe_index_next(idx, h * 0xff51afd7ed558ccdull, &pos), 0);
    }
    fdy_dedupe_index_destroy(&idx);
}

/* One doubling watched change by change: while the entries move, those
 * still in the old table are found, replaced and removed (the model says
 * which are live), and the move is over within old slots / 16 changes. */
static void
test_dedupe_index_growth_is_spread(void **state)
{
    (void) state;
    enum { N = 12000 };
    uint64_t *hashes = calloc(N, sizeof *hashes);
    uint64_t *seqs = calloc(N, sizeof *seqs); /* 0: removed */
    assert_non_null(hashes);
    assert_non_null(seqs);
    fdy_dedupe_index_t *idx = fdy_dedupe_index_new();
    uint64_t x = 0x2545f4914f6cdd1dull;
    size_t n = 0;
    /* Fill until a doubling starts. */
    while (!fdy_dedupe_index_growing(idx)) {
        assert_true(n < N);
        s_next(&x);
        hashes[n] = x;
        seqs[n] = n + 1;
        fdy_dedupe_index_insert(idx, hashes[n], seqs[n]);
        n++;
    }
    size_t old_slots = (n - 1) * 4 / 3; /* it grew on passing 3/4 of them */
    size_t changes = 0;
    while (fdy_dedupe_index_growing(idx)) {
        assert_true(changes <= old_slots / 16 + 1);
        /* Each change also checks the old entries against the model. */
        size_t k = changes % n;
        if (changes % 3 == 0 && seqs[k]) {
            assert_true(fdy_dedupe_index_remove(idx, hashes[k], seqs[k]));
            seqs[k] = 0;
        } else if (changes % 3 == 1 && seqs[k]) {
            assert_true(fdy_dedupe_index_replace(idx, hashes[k], seqs[k], seqs[k] + 100000));
            seqs[k] += 100000;
        } else {
            assert_true(n < N);
            s_next(&x);
            hashes[n] = x;
            seqs[n] = n + 1;
            fdy_dedupe_index_insert(idx, hashes[n], seqs[n]);
            n++;
        }
        changes++;
        for (size_t j = 0; j < n; j += 7)
            if (seqs[j])
                assert_true(s_has(idx, hashes[j], seqs[j]));
    }
    size_t live = 0;
    for (size_t j = 0; j < n; j++) {
        if (seqs[j]) {
            live++;
            assert_true(s_has(idx, hashes[j], seqs[j]));
        }
        else {
            size_t pos_seq = j + 1;
            assert_false(s_has(idx, hashes[j], pos_seq));
            assert_false(s_has(idx, hashes[j], pos_seq + 100000));
        }
    }
    assert_int_equal(fdy_dedupe_index_count(idx), live);
    fdy_dedupe_index_destroy(&idx);
    free(hashes);
    free(seqs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedupe_index_same_hash_entries_all_found),
        cmocka_unit_test(test_dedupe_index_random_ops_match_model),
        cmocka_unit_test(test_dedupe_index_huge_table_keeps_entries),
        cmocka_unit_test(test_dedupe_index_growth_is_spread),
    };
    return cmocka_run_group_tests_name("dedupe_index", tests, NULL, NULL);
}
