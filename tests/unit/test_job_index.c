/*  test_job_index.c: the jobs by id (broker/jobs/job_index.c): lookups in
 *  and out of the window, the window sliding as the oldest jobs leave so
 *  its memory follows the jobs held and not the ids ever given, a hole in
 *  the middle, an older id put late, and the array given back after a
 *  burst.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "job_index.h"

#include <string.h>

/* The index reads only a job's id: plain structs stand in for jobs. */
static fdy_job_t *
s_jobs(size_t count)
{
    fdy_job_t *jobs = test_calloc(count, sizeof *jobs);
    return jobs;
}

static void
test_job_index_get_put_take(void **state)
{
    (void) state;
    fdy_job_index_t index;
    fdy_job_index_init(&index);
    assert_null(fdy_job_index_get(&index, 0));
    assert_null(fdy_job_index_get(&index, 1));
    assert_int_equal(fdy_job_index_first(&index), 0);
    assert_int_equal(fdy_job_index_end(&index), 0);

    fdy_job_t *jobs = s_jobs(5);
    for (size_t i = 0; i < 5; i++) {
        jobs[i].id = 10 + i;
        fdy_job_index_put(&index, &jobs[i]);
    }
    assert_int_equal(fdy_job_index_count(&index), 5);
    assert_int_equal(fdy_job_index_first(&index), 10);
    assert_int_equal(fdy_job_index_end(&index), 15);
    for (size_t i = 0; i < 5; i++)
        assert_ptr_equal(fdy_job_index_get(&index, 10 + i), &jobs[i]);
    assert_null(fdy_job_index_get(&index, 9));
    assert_null(fdy_job_index_get(&index, 15));
    assert_null(fdy_job_index_get(&index, UINT64_MAX));

    /* A hole in the middle leaves the window as it is. */
    assert_ptr_equal(fdy_job_index_take(&index, 12), &jobs[2]);
    assert_null(fdy_job_index_take(&index, 12));
    assert_null(fdy_job_index_get(&index, 12));
    assert_int_equal(fdy_job_index_first(&index), 10);
    assert_int_equal(fdy_job_index_end(&index), 15);
    /* The ends shrink past holes. */
    assert_ptr_equal(fdy_job_index_take(&index, 10), &jobs[0]);
    assert_ptr_equal(fdy_job_index_take(&index, 11), &jobs[1]);
    assert_int_equal(fdy_job_index_first(&index), 13);
    assert_ptr_equal(fdy_job_index_take(&index, 14), &jobs[4]);
    assert_int_equal(fdy_job_index_end(&index), 14);
    assert_ptr_equal(fdy_job_index_get(&index, 13), &jobs[3]);
    assert_int_equal(fdy_job_index_count(&index), 1);

    /* An id older than every job held widens the window to the left. */
    fdy_job_t older = {.id = 3};
    fdy_job_index_put(&index, &older);
    assert_int_equal(fdy_job_index_first(&index), 3);
    assert_int_equal(fdy_job_index_end(&index), 14);
    assert_ptr_equal(fdy_job_index_get(&index, 3), &older);
    assert_ptr_equal(fdy_job_index_get(&index, 13), &jobs[3]);
    for (uint64_t id = 4; id < 13; id++)
        assert_null(fdy_job_index_get(&index, id));

    assert_ptr_equal(fdy_job_index_take(&index, 3), &older);
    assert_ptr_equal(fdy_job_index_take(&index, 13), &jobs[3]);
    assert_int_equal(fdy_job_index_count(&index), 0);
    assert_int_equal(fdy_job_index_first(&index), 0);
    assert_int_equal(fdy_job_index_end(&index), 0);
    fdy_job_index_fini(&index);
    test_free(jobs);
}

/* A million ids go through while at most 100 jobs are held (each leaves
 * 100 ids after it came): the array stays small, every lookup is right. */
static void
test_job_index_memory_follows_the_jobs_held(void **state)
{
    (void) state;
    enum { HELD = 100, IDS = 1000000 };
    fdy_job_index_t index;
    fdy_job_index_init(&index);
    fdy_job_t *ring = s_jobs(HELD);
    for (uint64_t id = 1; id <= IDS; id++) {
        fdy_job_t *job = &ring[id % HELD];
        if (id > HELD) {
            assert_ptr_equal(fdy_job_index_take(&index, id - HELD), job);
            assert_int_equal(fdy_job_index_first(&index), id - HELD + 1);
        }
        job->id = id;
        fdy_job_index_put(&index, job);
        assert_ptr_equal(fdy_job_index_get(&index, id), job);
    }
    assert_int_equal(fdy_job_index_count(&index), HELD);
    assert_int_equal(fdy_job_index_first(&index), IDS - HELD + 1);
    assert_int_equal(fdy_job_index_end(&index), IDS + 1);
    assert_true(index.capacity <= 4 * HELD);
    fdy_job_index_fini(&index);
    test_free(ring);
}

/* A burst of 100,000 jobs, then all but the newest leave: the array is
 * given back. */
static void
test_job_index_gives_memory_back_after_a_burst(void **state)
{
    (void) state;
    enum { BURST = 100000 };
    fdy_job_index_t index;
    fdy_job_index_init(&index);
    fdy_job_t *jobs = s_jobs(BURST);
    for (size_t i = 0; i < BURST; i++) {
        jobs[i].id = i + 1;
        fdy_job_index_put(&index, &jobs[i]);
    }
    assert_true(index.capacity >= BURST);
    for (size_t i = 0; i + 1 < BURST; i++)
        assert_ptr_equal(fdy_job_index_take(&index, i + 1), &jobs[i]);
    assert_int_equal(fdy_job_index_count(&index), 1);
    assert_true(index.capacity < 1024);
    assert_ptr_equal(fdy_job_index_get(&index, BURST), &jobs[BURST - 1]);
    fdy_job_index_fini(&index);
    test_free(jobs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_index_get_put_take),
        cmocka_unit_test(test_job_index_memory_follows_the_jobs_held),
        cmocka_unit_test(test_job_index_gives_memory_back_after_a_burst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
