/*  test_job_queue.c: the queued jobs' offer order (broker/jobs/job_queue.c):
 *  highest priority first, then oldest; a retried job goes back to its
 *  place by id; removal from any position; the eligibility filter and its
 *  scan bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "job_queue.h"

#include <stdlib.h>

static fdy_job_t *
s_job(uint64_t id, uint32_t priority)
{
    fdy_job_spec_t spec = {.type = "t", .priority = priority};
    return fdy_job_new(id, "acme", "acme", &spec, 0);
}

static bool
s_any(const fdy_job_t *job, void *user)
{
    (void) job;
    (void) user;
    return true;
}

static bool
s_even(const fdy_job_t *job, void *user)
{
    (void) user;
    return job->id % 2 == 0;
}

static void
test_job_queue_orders_by_priority_then_age(void **state)
{
    (void) state;
    fdy_job_queue_t *q = fdy_job_queue_new();
    fdy_job_t *jobs[6] = {s_job(1, 0), s_job(2, 5), s_job(3, 0), s_job(4, 5), s_job(5, 9),
                          s_job(6, 0)};
    for (size_t i = 0; i < 6; i++)
        fdy_job_queue_add(q, jobs[i]);
    assert_int_equal(fdy_job_queue_size(q), 6);
    const uint64_t want[] = {5, 2, 4, 1, 3, 6};
    for (size_t i = 0; i < 6; i++) {
        fdy_job_t *first = fdy_job_queue_first(q, s_any, NULL, 100);
        assert_non_null(first);
        assert_int_equal(first->id, want[i]);
        fdy_job_queue_remove(q, first);
    }
    assert_null(fdy_job_queue_first(q, s_any, NULL, 100));
    /* A retried job (old id) goes before newer ones of its priority. */
    fdy_job_queue_add(q, jobs[5]);
    fdy_job_queue_add(q, jobs[0]);
    assert_int_equal(fdy_job_queue_first(q, s_any, NULL, 100)->id, 1);
    /* Eligibility and the scan bound. */
    fdy_job_queue_add(q, jobs[2]);
    fdy_job_queue_add(q, jobs[3]);
    assert_int_equal(fdy_job_queue_first(q, s_even, NULL, 100)->id, 4);
    fdy_job_queue_remove(q, jobs[3]);
    assert_int_equal(fdy_job_queue_first(q, s_even, NULL, 100)->id, 6);
    assert_null(fdy_job_queue_first(q, s_even, NULL, 2)); /* 1 and 3 come first */
    fdy_job_queue_remove(q, jobs[3]); /* not queued: a no-op */
    assert_int_equal(fdy_job_queue_size(q), 3);
    fdy_job_queue_destroy(&q);
    for (size_t i = 0; i < 6; i++)
        fdy_job_destroy(&jobs[i]);
}

static void
test_job_backoff_grows_and_caps(void **state)
{
    (void) state;
    fdy_job_spec_t spec = {.type = "t", .backoff_initial_ms = 100, .backoff_factor = 3,
                           .backoff_max_ms = 1000, .max_attempts = 9};
    fdy_job_t *job = fdy_job_new(1, "acme", "acme", &spec, 0);
    const uint64_t want[] = {100, 300, 900, 1000, 1000};
    for (size_t i = 0; i < 5; i++) {
        fdy_job_lease(job, "node", 1000 * i, 500);
        assert_int_equal(job->fence, i + 1);
        assert_int_equal(fdy_job_backoff_ms(job), want[i]);
        fdy_job_end_attempt(job, "failed", "boom", 1000 * i + 1);
    }
    assert_int_equal(job->try_count, 5);
    assert_string_equal(job->tries[4].state, "failed");
    fdy_job_destroy(&job);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_queue_orders_by_priority_then_age),
        cmocka_unit_test(test_job_backoff_grows_and_caps),
    };
    return cmocka_run_group_tests_name("job_queue", tests, NULL, NULL);
}
