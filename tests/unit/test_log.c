/*  test_log.c: the log sink and the per-id rate limiter, alone and with
 *  several threads logging at once (libfoundry's clients on different
 *  threads share the limiter). The limiter's clock is replaced at link time
 *  (-Wl,--wrap=fdy_clock_mono_ms), so which second a line falls in is set by
 *  the test and every count below is exact, whatever the scheduling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* ---- the clock the limiter sees ---------------------------------------- */

int64_t __wrap_fdy_clock_mono_ms(void);

static _Atomic int64_t s_now_ms;

int64_t
__wrap_fdy_clock_mono_ms(void)
{
    return atomic_load(&s_now_ms);
}

/* Moves the clock to the start of a second no earlier test has used. */
static void
s_next_second(void)
{
    atomic_store(&s_now_ms, (atomic_load(&s_now_ms) / 1000 + 1) * 1000);
}

/* ---- a sink that counts ------------------------------------------------- */

/* Ids 16 bytes apart: the limiter keys its slots by the id pointer, and
 * these land in distinct slots, so each id has its own budget. */
#define IDS 4
static const char s_ids[IDS][16] = {"TEST-A", "TEST-B", "TEST-C", "TEST-D"};

/* Written by the sink from many threads at once, hence atomic. */
static struct {
    atomic_uint passed[IDS];     /* lines that went through */
    atomic_uint suppressed[IDS]; /* sum of the "(N similar lines suppressed)" counts */
    atomic_uint reports[IDS];    /* how many such lines */
    atomic_uint foreign;         /* lines for another id, level or user */
} s_seen;

/* Runs on the logging threads, where cmocka's asserts must not be used:
 * anything unexpected is counted as foreign and checked on the main thread. */
static void
s_sink(int level, const char *id, const char *line, void *user)
{
    for (int k = 0; k < IDS && level == FDY_LOG_WARN && user == &s_seen; k++) {
        if (id != s_ids[k])
            continue;
        unsigned count;
        if (sscanf(line, "(%u similar lines suppressed)", &count) == 1) {
            atomic_fetch_add(&s_seen.suppressed[k], count);
            atomic_fetch_add(&s_seen.reports[k], 1);
        } else {
            atomic_fetch_add(&s_seen.passed[k], 1);
        }
        return;
    }
    atomic_fetch_add(&s_seen.foreign, 1);
}

static void
s_seen_clear(void)
{
    for (int k = 0; k < IDS; k++) {
        atomic_store(&s_seen.passed[k], 0);
        atomic_store(&s_seen.suppressed[k], 0);
        atomic_store(&s_seen.reports[k], 0);
    }
    atomic_store(&s_seen.foreign, 0);
}

/* Ends a test with every slot holding no dropped count, so the next test
 * starts from a clean limiter: one line per id in a fresh second. */
static void
s_flush(void)
{
    s_next_second();
    for (int k = 0; k < IDS; k++)
        fdy_log_limited(FDY_LOG_WARN, s_ids[k], "flush");
}

static int
setup(void **state)
{
    (void) state;
    fdy_log_set_sink(s_sink, FDY_LOG_DEBUG, &s_seen);
    s_flush();
    s_seen_clear();
    s_next_second();
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    s_flush();
    fdy_log_set_sink(NULL, 0, NULL);
    return 0;
}

/* ---- one thread ---------------------------------------------------------- */

static void
test_log_limited_passes_the_limit_then_reports_the_rest(void **state)
{
    (void) state;
    for (int i = 0; i < 25; i++)
        fdy_log_limited(FDY_LOG_WARN, s_ids[0], "line %d", i);
    assert_int_equal(s_seen.passed[0], FDY_LOG_LIMIT_PER_SECOND);
    assert_int_equal(s_seen.reports[0], 0);

    /* Still the same second: nothing more passes, nothing is reported. */
    atomic_fetch_add(&s_now_ms, 999);
    fdy_log_limited(FDY_LOG_WARN, s_ids[0], "late");
    assert_int_equal(s_seen.passed[0], FDY_LOG_LIMIT_PER_SECOND);

    /* The next second reports what was dropped, once, then passes again. */
    s_next_second();
    fdy_log_limited(FDY_LOG_WARN, s_ids[0], "next");
    assert_int_equal(s_seen.reports[0], 1);
    assert_int_equal(s_seen.suppressed[0], 25 + 1 - FDY_LOG_LIMIT_PER_SECOND);
    assert_int_equal(s_seen.passed[0], FDY_LOG_LIMIT_PER_SECOND + 1);

    /* Other ids were never touched. */
    for (int k = 1; k < IDS; k++)
        assert_int_equal(s_seen.passed[k] + s_seen.reports[k], 0);
    assert_int_equal(s_seen.foreign, 0);
}

/* A thread that read the clock just before the second turned, and takes
 * the limiter after one that read it just after, counts in the newer
 * second: it neither resets that second's budget nor reports twice. */
static void
test_log_limited_late_reading_counts_in_the_current_second(void **state)
{
    (void) state;
    int64_t start = atomic_load(&s_now_ms);
    atomic_store(&s_now_ms, start + 1000);
    for (int i = 0; i < FDY_LOG_LIMIT_PER_SECOND; i++)
        fdy_log_limited(FDY_LOG_WARN, s_ids[1], "current %d", i);
    atomic_store(&s_now_ms, start + 999);
    fdy_log_limited(FDY_LOG_WARN, s_ids[1], "late reader");
    atomic_store(&s_now_ms, start + 1500);
    fdy_log_limited(FDY_LOG_WARN, s_ids[1], "current again");
    assert_int_equal(s_seen.passed[1], FDY_LOG_LIMIT_PER_SECOND);
    assert_int_equal(s_seen.reports[1], 0);

    atomic_store(&s_now_ms, start + 2000);
    fdy_log_limited(FDY_LOG_WARN, s_ids[1], "next");
    assert_int_equal(s_seen.reports[1], 1);
    assert_int_equal(s_seen.suppressed[1], 2);
}

/* ---- many threads --------------------------------------------------------- */

#define THREADS 8
#define CALLS   4000 /* per thread per second, spread over the ids */
#define SECONDS 4

typedef struct {
    pthread_barrier_t *start;
    int thread;
} s_worker_t;

static void *
s_worker(void *arg)
{
    s_worker_t *worker = arg;
    /* All threads begin together, so they contend for the same slots. */
    pthread_barrier_wait(worker->start);
    for (int i = 0; i < CALLS; i++)
        fdy_log_limited(FDY_LOG_WARN, s_ids[(i + worker->thread) % IDS], "thread %d call %d",
                        worker->thread, i);
    return NULL;
}

/* Per id and second: exactly the limit passes, and the next second reports
 * exactly the rest, once. A lost update in the limiter shows as more lines
 * passing, a count that does not add up, or a report missing or doubled. */
static void
test_log_limited_is_exact_across_threads(void **state)
{
    (void) state;
    const unsigned per_id = THREADS * CALLS / IDS;
    for (int second = 0; second < SECONDS; second++) {
        unsigned passed_before[IDS], suppressed_before[IDS], reports_before[IDS];
        for (int k = 0; k < IDS; k++) {
            passed_before[k] = s_seen.passed[k];
            suppressed_before[k] = s_seen.suppressed[k];
            reports_before[k] = s_seen.reports[k];
        }
        pthread_barrier_t start;
        assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
        pthread_t threads[THREADS];
        s_worker_t workers[THREADS];
        for (int t = 0; t < THREADS; t++) {
            workers[t] = (s_worker_t){.start = &start, .thread = t};
            assert_int_equal(pthread_create(&threads[t], NULL, s_worker, &workers[t]), 0);
        }
        for (int t = 0; t < THREADS; t++)
            assert_int_equal(pthread_join(threads[t], NULL), 0);
        pthread_barrier_destroy(&start);

        for (int k = 0; k < IDS; k++) {
            unsigned passed = s_seen.passed[k] - passed_before[k];
            unsigned reports = s_seen.reports[k] - reports_before[k];
            unsigned suppressed = s_seen.suppressed[k] - suppressed_before[k];
            unsigned want_reports = second == 0 ? 0 : 1;
            unsigned want_suppressed = second == 0 ? 0 : per_id - FDY_LOG_LIMIT_PER_SECOND;
            if (passed != FDY_LOG_LIMIT_PER_SECOND || reports != want_reports ||
                suppressed != want_suppressed)
                fail_msg("second %d, %s: %u lines passed (want %d), %u reports of %u "
                         "suppressed lines (want %u of %u)",
                         second, s_ids[k], passed, FDY_LOG_LIMIT_PER_SECOND, reports, suppressed,
                         want_reports, want_suppressed);
        }
        s_next_second();
    }
    /* The last second's drops are reported by the next line of each id. */
    for (int k = 0; k < IDS; k++)
        fdy_log_limited(FDY_LOG_WARN, s_ids[k], "last");
    for (int k = 0; k < IDS; k++) {
        unsigned calls = SECONDS * per_id + 1;
        assert_int_equal(s_seen.passed[k] + s_seen.suppressed[k], calls);
        assert_int_equal(s_seen.reports[k], SECONDS);
    }
    assert_int_equal(s_seen.foreign, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_log_limited_passes_the_limit_then_reports_the_rest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_limited_late_reading_counts_in_the_current_second,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_limited_is_exact_across_threads, setup, teardown),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
