/*  job_process.h: one worker-mode handler process: started once per job
 *  type, kept running between jobs (a model stays loaded), fed jobs on its
 *  stdin and answering on its stdout in a length-prefixed framing
 *  (docs/jobs.md, "worker mode"). Restarted by the node when it dies; the
 *  jobs it held then fail. Non-blocking, driven by the agent's loop.
 *
 *  Framing, every integer big-endian:
 *    record  = length (u32, of what follows) | body
 *    to it   = 'J' | job id (u64) | fence (u64) | attempt (u32) | payload
 *              'C' | job id (u64) | fence (u64)           (cancel: drop it)
 *    from it = 'S' | job id (u64) | fence (u64) | result  (succeeded)
 *              'F' | job id (u64) | fence (u64) | error text (failed)
 *              'P' | job id (u64) | fence (u64) | progress line
 */
#ifndef FDY_JOB_PROCESS_H_INCLUDED
#define FDY_JOB_PROCESS_H_INCLUDED

#include "job_config.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDY_JOB_FRAME_BODY_MAX (17u * 1024u * 1024u)

typedef struct fdy_job_process fdy_job_process_t;

/* One message from the worker, borrowed until the next call. */
typedef struct {
    char status; /* 'S', 'F' or 'P' */
    uint64_t job_id;
    uint64_t fence;
    const uint8_t *data;
    size_t len;
} fdy_job_process_msg_t;

/* A process for handler h (borrowed, outlives it), not started yet. */
fdy_job_process_t *fdy_job_process_new(const fdy_job_handler_t *h);
/* Kills and reaps the process. Accepts NULL. */
void fdy_job_process_destroy(fdy_job_process_t **self_p);

/* Starts it if it is not running. Returns FOUNDRY_OK or FOUNDRY_EIO (not
 * executable, fork or pipe) with reason. */
foundry_err fdy_job_process_ensure(fdy_job_process_t *self, fdy_reason_t *reason);
/* Queues a job (or a cancel) for its stdin. */
void fdy_job_process_send(fdy_job_process_t *self, char kind, uint64_t job_id, uint64_t fence,
                          uint32_t attempt, const void *payload, size_t len);
/* Moves bytes, reaps a dead process. Returns true while it runs. */
bool fdy_job_process_service(fdy_job_process_t *self);
/* The next complete message it sent, if any. */
bool fdy_job_process_next(fdy_job_process_t *self, fdy_job_process_msg_t *out);
/* Increments each time the process ended (died or was killed): the jobs
 * sent before then are lost. */
uint64_t fdy_job_process_generation(const fdy_job_process_t *self);
/* The descriptor its answers arrive on (-1 when it does not run), for the
 * agent's poll: a node wakes for an answer instead of its next tick. */
int fdy_job_process_answer_fd(const fdy_job_process_t *self);
/* Why it last ended ("exit status 1", "killed by signal 9", "bad frame"). */
const char *fdy_job_process_last_exit(const fdy_job_process_t *self);
/* The tail of its stderr. */
const char *fdy_job_process_log_tail(const fdy_job_process_t *self);
/* Kills its process group (a stuck job); it is restarted on next use. */
void fdy_job_process_kill(fdy_job_process_t *self, const char *why);

#endif
