/*  job_runner.h: one exec-mode attempt: the handler's argv run without a
 *  shell in a process group of its own, the payload on its stdin, its
 *  stdout (bounded) as the result, the tail of its stderr as the log, and
 *  progress lines on fd 3 (FOUNDRY_PROGRESS_FD). Non-blocking: the agent
 *  calls fdy_job_run_service() every turn. A timeout or a cancel kills the
 *  whole process group.
 */
#ifndef FDY_JOB_RUNNER_H_INCLUDED
#define FDY_JOB_RUNNER_H_INCLUDED

#include "foundry.h"
#include "job_config.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDY_JOB_LOG_TAIL 2048
#define FDY_JOB_PROGRESS_MAX 256

typedef struct fdy_job_run fdy_job_run_t;

/* Starts the attempt `offer` (borrowed for the call) with handler h.
 * timeout_ms: the smaller of the handler's and the job's (0 = the
 * handler's). Returns FOUNDRY_OK and *out (caller owns;
 * fdy_job_run_destroy()), or FOUNDRY_EIO (the handler is not executable,
 * fork or pipe failed) with reason: the attempt failed before it ran. */
foundry_err fdy_job_run_start(const fdy_job_handler_t *h, const foundry_job_offer_t *offer,
                              fdy_job_run_t **out, fdy_reason_t *reason);

/* Moves bytes, reaps the process, enforces the deadline. Returns true once
 * the attempt is over (exited or killed, pipes drained). */
bool fdy_job_run_service(fdy_job_run_t *self, int64_t now_ms);

/* Kills the process group (cancel). The attempt then ends as cancelled. */
void fdy_job_run_cancel(fdy_job_run_t *self);

/* After service() returned true: success, the result bytes, the error text
 * ("exit status 3", "timed out after 500 ms: process group killed", ...),
 * the stderr tail. Borrowed until destroy. */
bool fdy_job_run_ok(const fdy_job_run_t *self);
bool fdy_job_run_cancelled(const fdy_job_run_t *self);
const uint8_t *fdy_job_run_output(const fdy_job_run_t *self, size_t *len_out);
const char *fdy_job_run_error(const fdy_job_run_t *self);
const char *fdy_job_run_log_tail(const fdy_job_run_t *self);
/* A new progress line since the last call, or NULL. Borrowed. */
const char *fdy_job_run_progress(fdy_job_run_t *self);

uint64_t fdy_job_run_id(const fdy_job_run_t *self);
uint64_t fdy_job_run_fence(const fdy_job_run_t *self);
const char *fdy_job_run_type(const fdy_job_run_t *self);

/* Kills what still runs, reaps it, frees. Accepts NULL. */
void fdy_job_run_destroy(fdy_job_run_t **self_p);

#endif
