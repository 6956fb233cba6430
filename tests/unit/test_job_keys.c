/*  test_job_keys.c: the idempotency-key table (broker/jobs/job_keys.c):
 *  the first job keeps its key, a key is per tenant, removal only by the
 *  holder's id, and through growth and thousands of removals in scrambled
 *  order every remaining key is still found and no removed one is.
 */
#include "job_keys.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void
test_job_keys_first_job_keeps_its_key(void **state)
{
    (void) state;
    fdy_job_keys_t *keys = fdy_job_keys_new();
    assert_int_equal(fdy_job_keys_get(keys, "acme", "order-17"), 0);
    fdy_job_keys_put(keys, "acme", "order-17", 7);
    fdy_job_keys_put(keys, "acme", "order-17", 8); /* a second job: the first keeps it */
    assert_int_equal(fdy_job_keys_get(keys, "acme", "order-17"), 7);
    /* Per tenant, and the separator keeps "a"+"bc" apart from "ab"+"c". */
    assert_int_equal(fdy_job_keys_get(keys, "beta", "order-17"), 0);
    fdy_job_keys_put(keys, "a", "bc", 1);
    fdy_job_keys_put(keys, "ab", "c", 2);
    assert_int_equal(fdy_job_keys_get(keys, "a", "bc"), 1);
    assert_int_equal(fdy_job_keys_get(keys, "ab", "c"), 2);
    /* Only the holder's id removes it. */
    fdy_job_keys_remove(keys, "acme", "order-17", 8);
    assert_int_equal(fdy_job_keys_get(keys, "acme", "order-17"), 7);
    fdy_job_keys_remove(keys, "acme", "order-17", 7);
    assert_int_equal(fdy_job_keys_get(keys, "acme", "order-17"), 0);
    assert_int_equal(fdy_job_keys_count(keys), 2);
    fdy_job_keys_destroy(&keys);
    assert_null(keys);
    fdy_job_keys_destroy(&keys); /* idempotent */
}

#define N 20000

static void
test_job_keys_growth_and_scrambled_removals(void **state)
{
    (void) state;
    static char names[N][24];
    static bool gone[N];
    fdy_job_keys_t *keys = fdy_job_keys_new();
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "k-%zu", i);
        fdy_job_keys_put(keys, i % 3 ? "acme" : "beta", names[i], i + 1);
    }
    assert_int_equal(fdy_job_keys_count(keys), N);
    /* Remove two in three in a scrambled order (7919 is prime to N). */
    size_t removed = 0;
    for (size_t n = 0; n < N; n++) {
        size_t i = (n * 7919) % N;
        if (i % 3 == 2)
            continue;
        fdy_job_keys_remove(keys, i % 3 ? "acme" : "beta", names[i], i + 1);
        gone[i] = true;
        removed++;
        if (n % 997 == 0) /* every remaining one still found, midway */
            for (size_t j = 0; j < N; j++)
                assert_int_equal(fdy_job_keys_get(keys, j % 3 ? "acme" : "beta", names[j]),
                                 gone[j] ? 0 : j + 1);
    }
    assert_int_equal(fdy_job_keys_count(keys), N - removed);
    for (size_t j = 0; j < N; j++)
        assert_int_equal(fdy_job_keys_get(keys, j % 3 ? "acme" : "beta", names[j]),
                         gone[j] ? 0 : j + 1);
    /* Put back after removal: found again. */
    fdy_job_keys_put(keys, "acme", names[1], 99);
    assert_int_equal(fdy_job_keys_get(keys, "acme", names[1]), 99);
    fdy_job_keys_destroy(&keys);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_keys_first_job_keeps_its_key),
        cmocka_unit_test(test_job_keys_growth_and_scrambled_removals),
    };
    return cmocka_run_group_tests_name("job_keys", tests, NULL, NULL);
}
