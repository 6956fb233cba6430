/*  test_job_results.c: the node's job result outbox (node/job_results.c)
 *  on a real LMDB environment: results stored in any order, several
 *  fences of one job among them, come back in key order with their
 *  fields; one transaction stores new ones and removes answered ones
 *  (also absent ones) given in any order; the outbox survives a reopen.
 */
#include "job_results.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define N 300

typedef struct {
    uint64_t ids[2 * N], fences[2 * N];
    bool ok[2 * N];
    size_t count;
    bool texts_match;
} s_seen_t;

static void
s_each(const fdy_job_result_t *r, void *user)
{
    s_seen_t *seen = user;
    char want[32];
    snprintf(want, sizeof want, "out-%llu-%llu", (unsigned long long) r->job_id,
             (unsigned long long) r->fence);
    if (r->result_len != strlen(want) || memcmp(r->result, want, r->result_len) != 0 ||
        strcmp(r->type, "echo") != 0)
        seen->texts_match = false;
    seen->ids[seen->count] = r->job_id;
    seen->fences[seen->count] = r->fence;
    seen->ok[seen->count++] = r->ok;
}

static s_seen_t *
s_read(fdy_job_results_t *results)
{
    s_seen_t *seen = calloc(1, sizeof *seen);
    assert_non_null(seen);
    seen->texts_match = true;
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_job_results_each(results, s_each, seen, &reason), FOUNDRY_OK);
    assert_true(seen->texts_match);
    return seen;
}

static void
s_rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(dir);
}

static void
test_job_results_any_order_in_key_order_out(void **state)
{
    (void) state;
    char dir[] = "/tmp/foundry-job-results-XXXXXX";
    assert_non_null(mkdtemp(dir));
    fdy_job_results_t *results = NULL;
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_job_results_open(dir, &results, &reason), FOUNDRY_OK);

    /* Jobs N..1 (newest first), each with fences 2 then 1. */
    static fdy_job_result_t items[2 * N];
    static char texts[2 * N][32];
    size_t n = 0;
    for (uint64_t id = N; id >= 1; id--)
        for (uint64_t fence = 2; fence >= 1; fence--) {
            snprintf(texts[n], sizeof texts[n], "out-%llu-%llu", (unsigned long long) id,
                     (unsigned long long) fence);
            items[n] = (fdy_job_result_t){
                id, fence,  fence == 2, (const uint8_t *) texts[n], strlen(texts[n]),
                "", "tail", "echo"};
            n++;
        }
    assert_int_equal(fdy_job_results_put(results, items, N, &reason), FOUNDRY_OK);
    /* The rest with the removal of every odd job's fence 2 (given newest
     * first, and one that was never stored). */
    uint64_t ids[N / 2 + 1], fences[N / 2 + 1];
    size_t m = 0;
    for (uint64_t id = N; id >= 1; id--)
        if (id % 2 == 1 && id > N / 2) {
            ids[m] = id;
            fences[m++] = 2;
        }
    ids[m] = 7777;
    fences[m++] = 1;
    assert_int_equal(fdy_job_results_update(results, items + N, N, ids, fences, m, &reason),
                     FOUNDRY_OK);
    s_seen_t *seen = s_read(results);
    size_t removed = m - 1;
    assert_int_equal(seen->count, 2 * N - removed);
    for (size_t i = 1; i < seen->count; i++)
        assert_true(seen->ids[i - 1] < seen->ids[i] ||
                    (seen->ids[i - 1] == seen->ids[i] && seen->fences[i - 1] < seen->fences[i]));
    free(seen);
    fdy_job_results_close(&results);

    /* After a reopen: the same, then the rest removed in any order. */
    assert_int_equal(fdy_job_results_open(dir, &results, &reason), FOUNDRY_OK);
    assert_int_equal(fdy_job_results_count(results), 2 * N - removed);
    static uint64_t all_ids[2 * N], all_fences[2 * N];
    for (size_t i = 0; i < 2 * N; i++) {
        all_ids[i] = items[(i * 7) % (2 * N)].job_id;
        all_fences[i] = items[(i * 7) % (2 * N)].fence;
    }
    assert_int_equal(fdy_job_results_remove(results, all_ids, all_fences, 2 * N, &reason),
                     FOUNDRY_OK);
    assert_int_equal(fdy_job_results_count(results), 0);
    fdy_job_results_close(&results);
    s_rm_dir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_results_any_order_in_key_order_out),
    };
    return cmocka_run_group_tests_name("job_results", tests, NULL, NULL);
}
