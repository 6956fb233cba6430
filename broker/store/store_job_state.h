/*  store_job_state.h: a job's state record, the small value each
 *  transition writes (store_jobs.h): what changes after the submit
 *  (state, attempt, fence, times, lease holder, result, texts, attempt
 *  history), never the spec or payload, which the job's first record
 *  keeps. Its own binary layout, not protobuf: it is written two or three
 *  times per job, so its cost counts.
 */
#ifndef FDY_STORE_JOB_STATE_H_INCLUDED
#define FDY_STORE_JOB_STATE_H_INCLUDED

#include "arena.h"
#include "codec_jobs.h"
#include "reason.h"

#include <stddef.h>
#include <stdint.h>

/* The layout's version, its first byte. */
#define FDY_STORE_JOB_STATE_VERSION 1u

/* Appends the state fields of rec (state, attempt, fence, updated_ms,
 * not_before_ms, lease_until_ms, node, result, error, log_tail, progress,
 * attempts) at *buf + *len (capacity *cap, grown as needed; the caller
 * frees *buf and may reuse it; out of memory aborts, as in the daemons).
 * FOUNDRY_OK or FOUNDRY_EINVAL (a text over FDY_JOB_TEXT_MAX, a result
 * over FDY_JOB_RESULT_MAX, more than FDY_JOB_ATTEMPTS_MAX attempts), with
 * *len unchanged. */
foundry_err fdy_store_job_state_append(const fdy_job_record_t *rec, uint8_t **buf, size_t *len,
                                       size_t *cap);

/* Decodes a state record (untrusted bytes) over the state fields of *rec,
 * leaving its id, tenant, submitter, spec and created_ms as they are.
 * Texts and the result borrow from buf, the attempts from arena (valid
 * while both are). FOUNDRY_OK or FOUNDRY_EPROTO (truncated, unknown
 * version, a text without its NUL, out of bounds) with reason, or
 * FOUNDRY_ENOMEM (arena budget). */
foundry_err fdy_store_job_state_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                       fdy_job_record_t *rec, fdy_reason_t *reason);

#endif
