/*  store_jobs.h: the jobs table. A job is stored as its whole record (the
 *  jobs service encodes it, lib/core/codec_jobs.h), written once, under
 *  its id, and, once it changed after that, a small state record
 *  (store_job_state.h) next to it, rewritten at each transition, so the
 *  spec and payload are not written again. The store only remembers them
 *  and hands them back at start-up, with the next job id. Writes travel
 *  as the fdy_store_jobs_part of the turn's commit (commit.h).
 */
#ifndef FDY_STORE_JOBS_H_INCLUDED
#define FDY_STORE_JOBS_H_INCLUDED

#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One write: the job's whole record, its state record (state), or (len
 * 0) its removal, of both. */
typedef struct {
    uint64_t id;
    const uint8_t *record; /* borrowed until the commit is done with */
    size_t len;
    bool state;
} fdy_store_job_write_t;

/* data of fdy_store_jobs_part (commit.h). Not droppable. */
typedef struct {
    const fdy_store_job_write_t *items;
    size_t count;
} fdy_store_jobs_t;

/* One stored job, borrowed for the call only: its whole record and its
 * state record (NULL, 0 when it has none: it did not change since, or it
 * was written by a build before state records). Return non-OK to stop. */
typedef foundry_err(fdy_store_job_fn)(uint64_t id, const uint8_t *record, size_t len,
                                      const uint8_t *state, size_t state_len, void *user,
                                      fdy_reason_t *reason);

/* Calls fn for every stored job in id order (a state record without its
 * job comes with record NULL, len 0), in one read transaction, and
 * sets *next_id_out (may be NULL) to the first id never given: past every
 * stored job and past the high-water mark commits keep, so ids of removed
 * jobs are not given again. Returns FOUNDRY_OK, FOUNDRY_ESTORE or what fn
 * returned, with reason. */
foundry_err fdy_store_jobs_scan(fdy_store_t *store, fdy_store_job_fn *fn, void *user,
                                uint64_t *next_id_out, fdy_reason_t *reason);

#endif
