/*  codec_jobs.h: the jobs family of the wire format (proto/jobs.proto):
 *  job requests (frame 1 of a JOB), replies (JOB_REPLY), offers and stored
 *  job records. codec_jobs.c is the only file that includes jobs.pb-c.h.
 *  Decoding checks sizes and syntax (type, sites, label selectors), so the
 *  broker and the node see only well-formed jobs.
 */
#ifndef FDY_CODEC_JOBS_H_INCLUDED
#define FDY_CODEC_JOBS_H_INCLUDED

#include "arena.h"
#include "codec.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDY_JOB_TYPE_MAX      64u
#define FDY_JOB_SITES_MAX     16u
#define FDY_JOB_LABELS_MAX    16u
#define FDY_JOB_LABEL_MAX     128u   /* one "key=value" */
#define FDY_JOB_KEY_MAX       128u   /* idempotency key */
#define FDY_JOB_TEXT_MAX      4096u  /* error, log tail, progress */
#define FDY_JOB_RESULT_MAX    (1024u * 1024u)
#define FDY_JOB_PAYLOAD_MAX   (16u * 1024u * 1024u) /* hard cap; max_job_payload is lower */
#define FDY_JOB_ATTEMPTS_MAX  64u    /* attempt history kept per job */
#define FDY_JOB_IDS_MAX       1024u  /* heartbeat: jobs named */
#define FDY_JOB_LIST_MAX      1000u  /* JOB_LIST: jobs per reply */
#define FDY_JOB_BATCH_MAX     1024u  /* jobs of one SUBMIT or RESULT batch */
/* Decoding budget for an n-byte job body: a batch's items cost their
 * structs beyond their bytes, which for small items is more than 8x. */
#define FDY_JOB_DECODE_BUDGET(n) (FDY_DECODE_BUDGET(n) + FDY_JOB_BATCH_MAX * 512u)
/* A JOB request's body frame: a payload plus a bounded spec. */
#define FDY_JOB_FRAME_MAX     (FDY_JOB_PAYLOAD_MAX + 64u * 1024u)

typedef enum {
    FDY_JOB_SUBMIT = 1,
    FDY_JOB_STATUS = 2,
    FDY_JOB_CANCEL = 3,
    FDY_JOB_LIST = 4,
    FDY_JOB_REGISTER = 5,
    FDY_JOB_CREDIT = 6,
    FDY_JOB_RESULT = 7,
    FDY_JOB_HEARTBEAT = 8,
    FDY_JOB_PROGRESS = 9,
    FDY_JOB_RETRY = 10,
} fdy_job_op_t;

/* What a submitter asks for. Pointers borrowed (arena when decoded). */
typedef struct {
    const char *type;
    const uint8_t *payload;
    size_t payload_len;
    const char *const *sites; /* none: any site */
    size_t site_count;
    const char *const *labels; /* "key=value", all must match */
    size_t label_count;
    uint32_t priority;
    uint32_t timeout_ms;
    uint32_t max_attempts;
    uint32_t backoff_initial_ms;
    uint32_t backoff_factor;
    uint32_t backoff_max_ms;
    const char *key; /* idempotency key, "" or NULL: none */
    uint64_t deadline_ms;
    uint32_t result_ttl_ms;
    const char *node; /* pinned to this node key name; "" or NULL: any node */
} fdy_job_spec_t;

/* One result of a RESULT batch. Not checked by the decoder: the broker
 * refuses a bad one alone (fdy_codec_job_result_check). */
typedef struct {
    uint64_t job_id;
    uint64_t fence;
    bool ok;
    const uint8_t *result;
    size_t result_len;
    const char *error;
    const char *log_tail;
    uint32_t credit;
} fdy_job_result_item_t;

/* How one job of a batch went (JobOutcome). */
typedef struct {
    uint64_t job_id;
    bool duplicate;
    foundry_err code; /* FOUNDRY_OK: stored */
    const char *error;
} fdy_job_outcome_t;

typedef struct {
    fdy_job_op_t op;
    fdy_job_spec_t spec;  /* SUBMIT */
    uint64_t job_id;      /* STATUS CANCEL RESULT PROGRESS RETRY */
    uint64_t fence;       /* RESULT PROGRESS */
    bool ok;              /* RESULT */
    const uint8_t *result;
    size_t result_len;
    const char *error;    /* RESULT */
    const char *log_tail; /* RESULT */
    uint32_t credit;      /* REGISTER CREDIT */
    const char *name;     /* REGISTER: the node's name */
    const char *const *labels; /* REGISTER */
    size_t label_count;
    const char *const *types; /* REGISTER: job types it runs */
    size_t type_count;
    const char *state;    /* LIST: only this state ("" all) */
    const char *progress; /* PROGRESS */
    const uint64_t *job_ids; /* HEARTBEAT: the jobs it runs, with their fences */
    const uint64_t *fences;
    size_t id_count;
    /* SUBMIT of a batch: the specs, not checked by the decoder (the broker
     * refuses a bad one alone, fdy_codec_job_spec_check). */
    const fdy_job_spec_t *specs;
    size_t spec_count;
    const fdy_job_result_item_t *results; /* RESULT of a batch */
    size_t result_count;
    bool offer_batches; /* REGISTER: the node takes JOB_OFFERS */
} fdy_job_request_t;

typedef struct {
    uint32_t attempt;
    uint64_t fence;
    const char *node;
    uint64_t started_ms;
    uint64_t ended_ms;
    const char *state;
    const char *error;
} fdy_job_attempt_t;

typedef struct {
    uint64_t id;
    const char *tenant;
    const char *submitter;
    fdy_job_spec_t spec;
    const char *state;
    uint32_t attempt;
    uint64_t fence;
    uint64_t created_ms;
    uint64_t updated_ms;
    uint64_t not_before_ms;
    uint64_t lease_until_ms;
    const char *node;
    const uint8_t *result;
    size_t result_len;
    const char *error;
    const char *log_tail;
    const fdy_job_attempt_t *attempts;
    size_t attempt_count;
    const char *progress;
    const char *waiting;
} fdy_job_record_t;

typedef struct {
    uint64_t job_id;
    bool duplicate;
    const fdy_job_record_t *jobs;
    size_t job_count;
    const fdy_job_outcome_t *outcomes; /* a batch's, in its order */
    size_t outcome_count;
} fdy_job_reply_t;

/* Checks a spec (type syntax, sites, "key=value" labels, sizes up to
 * payload_max). Returns FOUNDRY_OK, FOUNDRY_EINVAL or FOUNDRY_ETOOBIG with
 * reason. */
foundry_err fdy_codec_job_spec_check(const fdy_job_spec_t *spec, size_t payload_max,
                                     fdy_reason_t *reason);

/* Checks one result of a RESULT batch (size, texts), as the decoder
 * checks a single RESULT. FOUNDRY_OK, FOUNDRY_EINVAL or FOUNDRY_ETOOBIG
 * with reason. */
foundry_err fdy_codec_job_result_check(const fdy_job_result_item_t *item, fdy_reason_t *reason);

/* True when a "key=value" label or selector item is well formed. */
bool fdy_codec_job_label_ok(const char *label);

/* Encoders: caller owns *buf_out (free()). FOUNDRY_OK, FOUNDRY_EINVAL (a
 * field out of bounds) or FOUNDRY_ENOMEM. */
foundry_err fdy_codec_job_request_encode(const fdy_job_request_t *req, uint8_t **buf_out,
                                         size_t *len_out);
foundry_err fdy_codec_job_record_encode(const fdy_job_record_t *rec, uint8_t **buf_out,
                                        size_t *len_out);
foundry_err fdy_codec_job_reply_encode(const fdy_job_reply_t *reply, uint8_t **buf_out,
                                       size_t *len_out);

/* Appends rec, packed, at *buf + *len (capacity *cap, grown as needed;
 * the caller frees *buf and may reuse it): many records in one buffer,
 * with no allocation per record. FOUNDRY_OK, FOUNDRY_EINVAL (more than
 * FDY_JOB_ATTEMPTS_MAX attempts) or FOUNDRY_ENOMEM. */
foundry_err fdy_codec_job_record_append(const fdy_job_record_t *rec, uint8_t **buf, size_t *len,
                                        size_t *cap);

/* A JOB_OFFERS body (a JobReply) built one offer at a time: appends rec
 * to its jobs in *buf (len *len, capacity *cap; all zero to start; the
 * caller frees *buf and may reuse it). Only the fields an offer carries
 * are written: id, spec type, payload and timeout_ms, state, attempt,
 * fence; the bytes are those fdy_codec_job_reply_encode gives for the
 * same records. FOUNDRY_OK or FOUNDRY_ENOMEM. */
foundry_err fdy_codec_job_offer_append(uint8_t **buf, size_t *len, size_t *cap,
                                       const fdy_job_record_t *rec);

/* A SUBMIT batch built one job at a time (the caller's spec need not
 * outlive the call): appends spec to the JobRequest in *buf (len *len,
 * capacity *cap; all zero to start a batch, the first append also sets
 * the op). Caller frees *buf. FOUNDRY_OK or FOUNDRY_ENOMEM. */
foundry_err fdy_codec_job_batch_append(uint8_t **buf, size_t *len, size_t *cap,
                                       const fdy_job_spec_t *spec);

/* Decoders of untrusted bytes into arena (budget FDY_DECODE_BUDGET(len)).
 * Pointers in *out borrow from the arena. FOUNDRY_OK, FOUNDRY_EPROTO (does
 * not unpack, unknown op, missing field), FOUNDRY_EINVAL (bad syntax),
 * FOUNDRY_ETOOBIG or FOUNDRY_ENOMEM, with reason. */
foundry_err fdy_codec_job_request_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                         fdy_job_request_t *out, fdy_reason_t *reason);
foundry_err fdy_codec_job_record_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                        fdy_job_record_t *out, fdy_reason_t *reason);
foundry_err fdy_codec_job_reply_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                       fdy_job_reply_t *out, fdy_reason_t *reason);

#endif
