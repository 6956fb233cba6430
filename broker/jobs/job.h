/*  job.h: one job as the jobs service holds it in memory: its immutable
 *  spec (one packed allocation), its state machine fields and its attempt
 *  history, plus the conversions to and from the stored JobRecord. No
 *  scheduling here (job_queue.c), no wire handling (jobs.c).
 */
#ifndef FDY_JOB_H_INCLUDED
#define FDY_JOB_H_INCLUDED

#include "codec.h"
#include "codec_jobs.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    FDY_JOB_QUEUED = 0,
    FDY_JOB_LEASED,
    FDY_JOB_RUNNING,
    FDY_JOB_SUCCEEDED,
    FDY_JOB_FAILED, /* an attempt failed; waiting for its retry (back-off) */
    FDY_JOB_DEAD,
    FDY_JOB_CANCELLED,
    FDY_JOB_EXPIRED,
} fdy_job_state_t;

/* One finished or running attempt. Strings owned. */
typedef struct {
    uint32_t attempt;
    uint64_t fence;
    char *node;
    uint64_t started_ms;
    uint64_t ended_ms;
    char *state; /* "running" until it ends */
    char *error;
} fdy_job_try_t;

typedef struct fdy_job fdy_job_t;
struct fdy_job {
    uint64_t id;
    char tenant[FDY_NAME_MAX];
    char submitter[FDY_NAME_MAX];
    fdy_job_spec_t *spec; /* owned, packed with its strings and payload */
    fdy_job_state_t state;
    uint32_t attempt;
    uint64_t fence;
    uint64_t created_ms; /* wall clock ms: deadlines survive a restart */
    uint64_t updated_ms;
    uint64_t not_before_ms;
    uint64_t lease_until_ms;
    uint64_t attempt_deadline_ms; /* started + timeout: not renewed by heartbeats */
    char *node;                   /* owned; the lease holder's principal name */
    uint8_t *result;
    size_t result_len;
    char *error;
    char *log_tail;
    char *progress;
    fdy_job_try_t *tries;
    size_t try_count;
    /* Scheduling links (job_queue.c) and the dirty mark (jobs.c). */
    fdy_job_t *prev, *next;
    uint32_t bucket;
    bool queued;
    bool dirty;
    bool stored;  /* its whole record is committed: changes write its state record */
    bool removed; /* result expired: deleted at the next commit */
};

/* The state's name as in proto/jobs.proto and docs/jobs.md. */
const char *fdy_job_state_name(fdy_job_state_t state);
/* Parses a state name; false when unknown. */
bool fdy_job_state_parse(const char *name, fdy_job_state_t *out);
/* True for succeeded, dead, cancelled, expired: nothing more happens. */
bool fdy_job_state_final(fdy_job_state_t state);

/* A new job in state queued with a copy of spec. Aborts on OOM. Caller
 * owns; fdy_job_destroy(). */
fdy_job_t *fdy_job_new(uint64_t id, const char *tenant, const char *submitter,
                       const fdy_job_spec_t *spec, uint64_t now_ms);
void fdy_job_destroy(fdy_job_t **self_p);

/* Rebuilds a job from its stored record (decoded). Caller owns. */
fdy_job_t *fdy_job_from_record(const fdy_job_record_t *rec);

/* The record view of self: borrowed pointers into self (valid while self
 * is unchanged); attempts in *tries_out (caller frees the array). With
 * payload false the payload and result are left out (lists). */
void fdy_job_to_record(const fdy_job_t *self, bool payload, fdy_job_record_t *rec,
                       fdy_job_attempt_t **tries_out);

/* As fdy_job_to_record, with the attempts in tries (room for
 * FDY_JOB_ATTEMPTS_MAX): no allocation. */
void fdy_job_to_record_in(const fdy_job_t *self, bool payload, fdy_job_record_t *rec,
                          fdy_job_attempt_t *tries);

/* Replaces an owned string (NULL or "" clears it), cut to FDY_JOB_TEXT_MAX. */
void fdy_job_set_text(char **field, const char *value);

/* Starts attempt self->attempt + 1 on node with a new fence. */
void fdy_job_lease(fdy_job_t *self, const char *node, uint64_t now_ms, uint64_t lease_ms);
/* Ends the current attempt as `how` ("succeeded", "failed", "lost",
 * "timeout", "cancelled") with error (may be NULL). */
void fdy_job_end_attempt(fdy_job_t *self, const char *how, const char *error, uint64_t now_ms);
/* The back-off before the next attempt, per the spec. */
uint64_t fdy_job_backoff_ms(const fdy_job_t *self);

#endif
