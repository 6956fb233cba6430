/*  job_results.h: the node's job result outbox, an LMDB environment of
 *  its own (<data_dir>/results). A finished attempt's outcome is stored
 *  (fsync) before it is reported, and removed only once the broker
 *  answered it, stored or refused: a broker outage or an agent restart
 *  loses no result, and each carries its fencing token, so a stale one is
 *  refused by the broker rather than lost silently.
 */
#ifndef FDY_JOB_RESULTS_H_INCLUDED
#define FDY_JOB_RESULTS_H_INCLUDED

#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fdy_job_results fdy_job_results_t;

typedef struct {
    uint64_t job_id;
    uint64_t fence;
    bool ok;
    const uint8_t *result;
    size_t result_len;
    const char *error;
    const char *log_tail;
    const char *type;
} fdy_job_result_t;

/* Opens (creating) the outbox in dir. Caller owns; fdy_job_results_close(). */
foundry_err fdy_job_results_open(const char *dir, fdy_job_results_t **out, fdy_reason_t *reason);
void fdy_job_results_close(fdy_job_results_t **self_p);

/* Stores the count results (one transaction, one fsync for all). */
foundry_err fdy_job_results_put(fdy_job_results_t *self, const fdy_job_result_t *items,
                                size_t count, fdy_reason_t *reason);
/* Removes the results of (job_ids[i], fences[i]) in one transaction;
 * absent ones are fine. */
foundry_err fdy_job_results_remove(fdy_job_results_t *self, const uint64_t *job_ids,
                                   const uint64_t *fences, size_t count, fdy_reason_t *reason);

/* Both in one transaction (one fsync): stores the count results and
 * removes those of (job_ids[i], fences[i]) the broker answered. */
foundry_err fdy_job_results_update(fdy_job_results_t *self, const fdy_job_result_t *items,
                                   size_t count, const uint64_t *job_ids, const uint64_t *fences,
                                   size_t id_count, fdy_reason_t *reason);

/* Calls fn for each stored result (borrowed for the call), in key order. */
typedef void(fdy_job_result_fn)(const fdy_job_result_t *r, void *user);
foundry_err fdy_job_results_each(fdy_job_results_t *self, fdy_job_result_fn *fn, void *user,
                                 fdy_reason_t *reason);
size_t fdy_job_results_count(fdy_job_results_t *self);

#endif
