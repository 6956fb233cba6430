/*  jobs_core.h: the state the jobs service's modules share (private to
 *  broker/jobs/): every job by id, the queue, the delayed retries, the
 *  nodes, and what the turn's commit must write and then send. jobs.c is
 *  the service (requests, commit); job_sched.c offers, expires and retries.
 */
#ifndef FDY_JOBS_CORE_H_INCLUDED
#define FDY_JOBS_CORE_H_INCLUDED

#include "job.h"
#include "job_index.h"
#include "job_keys.h"
#include "job_nodes.h"
#include "job_queue.h"
#include "jobs.h"
#include "jobs_metrics.h"
#include "service.h"
#include "store_job_state.h"
#include "store_jobs.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

/* How one job of a request went, until the commit decides its answer. */
typedef struct {
    uint64_t job_id;
    bool duplicate;
    foundry_err code; /* refused before the commit: nothing of it changed */
    char *error;      /* owned; why it was refused */
    fdy_job_t *created; /* SUBMIT of a new job: rolled back if the commit fails */
} fdy_jobs_item_t;

/* A reply that waits for the turn's commit: one job's, or (items) a
 * batch's outcomes in its order. */
typedef struct {
    uint8_t peer[FDY_JOB_PEER_MAX];
    size_t peer_len;
    uint64_t request_id;
    uint64_t job_id;
    bool duplicate;
    fdy_job_t *created; /* SUBMIT of a new job: rolled back if the commit fails */
    fdy_jobs_item_t *items; /* owned */
    size_t item_count;
} fdy_jobs_parked_t;

/* An offer (or, with cancel, a kill order) that leaves after the commit
 * that stored its lease. */
typedef struct {
    char node[FDY_NAME_MAX];
    uint64_t job_id;
    uint64_t fence;
    bool cancel;
} fdy_jobs_offer_t;

/* An offer's place in the send order (jobs_batch.c). */
typedef struct {
    const char *node; /* borrowed from the offer */
    size_t at;        /* its index in offers */
} fdy_jobs_offer_slot_t;

typedef struct fdy_jobs {
    fdy_service_deps_t deps;
    fdy_job_index_t jobs; /* by id */
    uint64_t next_id;
    fdy_job_keys_t *keys; /* (tenant, key) -> job id, for idempotent submits */
    fdy_job_queue_t *queue;
    fdy_job_t **delayed; /* failed attempts waiting for their back-off */
    size_t delayed_count, delayed_capacity;
    fdy_job_nodes_t *nodes;
    fdy_job_t **dirty; /* written by the next commit */
    size_t dirty_count, dirty_capacity;
    /* The commit in flight: its writes and their buffers. */
    fdy_store_job_write_t *writes;
    uint8_t *records; /* the writes' records, packed one after another */
    size_t records_cap;
    fdy_job_t **written;
    size_t write_count, write_capacity;
    fdy_store_jobs_t part;
    bool added;
    fdy_jobs_parked_t *parked;
    size_t parked_count, parked_capacity, parked_committing;
    fdy_jobs_offer_t *offers;
    size_t offer_count, offer_capacity, offer_committing;
    fdy_jobs_offer_slot_t *offer_order; /* send order of the committed offers (jobs_batch.c) */
    size_t offer_order_capacity;
    uint8_t *offer_body; /* one JOB_OFFERS message's body, reused */
    size_t offer_body_len, offer_body_cap;
    uint64_t sweep_next; /* the id the next lease/expiry sweep starts at */
    int64_t next_tick_ms; /* upkeep runs every TICK_MS, not every loop turn */
    uint64_t lease_ms;
    fdy_arena_t *arena;
    fdy_jobs_metrics_t *metrics; /* labeled counters (jobs_metrics.c) */
    /* counters */
    uint64_t submitted, succeeded, failed_attempts, dead, cancelled, expired, stale_refused,
        offered, nodes_lost;
} fdy_jobs_t;

/* The job with id, or NULL. */
fdy_job_t *fdy_jobs_get(fdy_jobs_t *self, uint64_t id);
/* Marks a job for the next commit. */
void fdy_jobs_touch(fdy_jobs_t *self, fdy_job_t *job);
/* Wall-clock ms: what job times are in, so deadlines survive restarts. */
uint64_t fdy_jobs_wall_ms(void);

/* One SUBMIT's job (spec) into *item: a new job, or the one its key
 * names. A refusal returns its error with reason, and changes nothing. */
foundry_err fdy_jobs_submit_one(fdy_jobs_t *self, const fdy_request_t *req,
                                const fdy_job_spec_t *spec, fdy_jobs_item_t *item,
                                fdy_reason_t *reason);
/* One result of node `node` (may be NULL: not registered) into *item:
 * stored, or (duplicate) a resend of the one stored. A refusal (stale
 * fence, no such job) returns its error with reason. */
foundry_err fdy_jobs_result_one(fdy_jobs_t *self, const fdy_request_t *req, fdy_job_node_t *node,
                                const fdy_job_result_item_t *r, fdy_jobs_item_t *item,
                                fdy_reason_t *reason);
/* Parks a request's answer until the commit; items (may be NULL) moves in. */
void fdy_jobs_park(fdy_jobs_t *self, const fdy_request_t *req, const fdy_jobs_item_t *single,
                   fdy_jobs_item_t *items, size_t item_count);
/* The registered node of a node key, refreshed (peer, last seen). */
foundry_err fdy_jobs_node_of(fdy_jobs_t *self, const fdy_request_t *req,
                             fdy_job_node_t **node_out, fdy_reason_t *reason);

/* ---- jobs_node_requests.c: a node agent's requests ---- */
foundry_err fdy_jobs_register(fdy_jobs_t *self, const fdy_request_t *req,
                              const fdy_job_request_t *jr, fdy_reason_t *reason);
foundry_err fdy_jobs_credit(fdy_jobs_t *self, const fdy_request_t *req,
                            const fdy_job_request_t *jr, fdy_reason_t *reason);
foundry_err fdy_jobs_result(fdy_jobs_t *self, const fdy_request_t *req,
                            const fdy_job_request_t *jr, fdy_reason_t *reason);
foundry_err fdy_jobs_progress(fdy_jobs_t *self, const fdy_request_t *req,
                              const fdy_job_request_t *jr, fdy_reason_t *reason);
foundry_err fdy_jobs_heartbeat(fdy_jobs_t *self, const fdy_request_t *req,
                               const fdy_job_request_t *jr, fdy_reason_t *reason);

/* ---- jobs_batch.c ---- */

/* A SUBMIT or RESULT of a batch: each job stored or refused alone. */
foundry_err fdy_jobs_submit_batch(fdy_jobs_t *self, const fdy_request_t *req,
                                  const fdy_job_request_t *jr, fdy_reason_t *reason);
foundry_err fdy_jobs_result_batch(fdy_jobs_t *self, const fdy_request_t *req,
                                  const fdy_job_request_t *jr, fdy_job_node_t *node,
                                  fdy_reason_t *reason);
/* The answer of a parked batch (after its commit succeeded). */
void fdy_jobs_reply_batch(fdy_jobs_t *self, const fdy_jobs_parked_t *p);
/* Sends the first count offers of self->offers: a node that takes
 * JOB_OFFERS gets its consecutive ones in one message. */
void fdy_jobs_send_offers(fdy_jobs_t *self, size_t count);
/* Sends body (an encoded JobReply, len bytes, at least one) as kind to
 * peer. */
void fdy_jobs_send_encoded(fdy_jobs_t *self, const fdy_peer_t *to, fdy_kind_t kind,
                           uint64_t request_id, const uint8_t *body, size_t len);
/* Sends an encoded JobReply as kind (JOB_REPLY, JOB_OFFERS) to peer; the
 * body's bytes, 0 when it could not be encoded. */
size_t fdy_jobs_send_body(fdy_jobs_t *self, const fdy_peer_t *to, fdy_kind_t kind,
                        uint64_t request_id, const fdy_job_reply_t *reply);

/* ---- job_sched.c ---- */

/* Offers queued jobs to nodes with credit; true when it stopped early. */
bool fdy_job_sched_offer(fdy_jobs_t *self, int64_t now_ms);
/* Lease expiry, attempt timeouts, lost nodes, back-offs, deadlines and
 * result expiry, bounded per call. Returns ms until it is next due. */
int64_t fdy_job_sched_tick(fdy_jobs_t *self, int64_t now_ms);
/* The current attempt failed ("failed", "lost", "timeout"): retried after
 * back-off, or dead once max_attempts are used. */
void fdy_job_sched_attempt_failed(fdy_jobs_t *self, fdy_job_t *job, const char *how,
                                  const char *error, uint64_t wall_ms);
/* A queued job goes back to the queue or the delayed list per its
 * not_before time (used at load and by retry). */
void fdy_job_sched_enqueue(fdy_jobs_t *self, fdy_job_t *job);
/* Takes a job out of the queue and the delayed list. */
void fdy_job_sched_dequeue(fdy_jobs_t *self, fdy_job_t *job);
/* Why a queued job is not running, into buf ("" when it should be soon). */
void fdy_job_sched_waiting(fdy_jobs_t *self, const fdy_job_t *job, char *buf, size_t size);
/* Queues a kill order for a running job's node, sent after the commit. */
void fdy_job_sched_cancel_running(fdy_jobs_t *self, fdy_job_t *job);

/* ---- jobs_admin.c ---- */
extern const char *const fdy_jobs_admin_prefixes[];
foundry_err fdy_jobs_admin(void *self, const fdy_admin_call_t *call, fdy_admin_table_t *out,
                           fdy_reason_t *reason);

#endif
