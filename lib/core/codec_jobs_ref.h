/*  codec_jobs_ref.h: what the jobs codec's hand-written parts share with
 *  its protobuf-c parts (codec_jobs.c): the checks of a decoded JobRequest,
 *  and the protobuf-c encoder and decoder the hand-written ones replaced,
 *  kept as the reference the unit tests and the fuzz target hold them to
 *  (and for the one shape the hand decoder leaves to protobuf-c). Not for
 *  use outside lib/core and the tests.
 */
#ifndef FDY_CODEC_JOBS_REF_H_INCLUDED
#define FDY_CODEC_JOBS_REF_H_INCLUDED

#include "codec_fields.h"
#include "codec_jobs.h"

/* A JobRequest as it came off the wire, before any check: what a decoder
 * fills and fdy_codec_job_request_check() judges. Pointers borrow from
 * the decoder's arena. */
typedef struct {
    int32_t op;            /* as sent, maybe no known operation */
    bool has_spec;         /* the single spec (field 2) was sent */
    size_t fence_count;    /* fences sent (req.id_count: ids sent) */
    bool batch_no_memory;  /* the batch's items did not fit the budget */
    fdy_job_request_t req; /* the rest; req.op unused */
} fdy_job_request_raw_t;

/* Judges raw exactly as the broker always has (same order, codes and
 * reasons) and on success fills *out from it. FOUNDRY_OK, FOUNDRY_EPROTO,
 * FOUNDRY_EINVAL, FOUNDRY_ETOOBIG or FOUNDRY_ENOMEM with reason. */
foundry_err fdy_codec_job_request_check(const fdy_job_request_raw_t *raw, fdy_job_request_t *out,
                                        fdy_reason_t *reason);

/* fdy_codec_job_request_decode() through protobuf-c's unpack, with the
 * same checks; the same contract. */
foundry_err fdy_codec_job_request_decode_pb(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                            fdy_job_request_t *out, fdy_reason_t *reason);

/* The hand decoders' JobSpec reader (codec_jobs_read.c): the body of a
 * spec (len bytes at data) into *spec, texts and bytes from ctx; with spec
 * NULL only its shape is read. False when protobuf-c would not unpack it
 * or the budget ran out (ctx's exhausted). */
bool fdy_codec_job_spec_read(fdy_field_ctx_t *ctx, const uint8_t *data, size_t len,
                             fdy_job_spec_t *spec);

/* Judges a decoded record as the broker and nodes always have: no spec
 * is a NULL spec.type; attempt_count is the attempts sent, attempts NULL
 * when they did not fit the budget. FOUNDRY_OK, FOUNDRY_EPROTO,
 * FOUNDRY_EINVAL, FOUNDRY_ETOOBIG or FOUNDRY_ENOMEM with reason. */
foundry_err fdy_codec_job_record_check(const fdy_job_record_t *rec, fdy_reason_t *reason);

/* An outcome's error_code as this side takes it: one it does not know
 * still means refused. */
static inline foundry_err
fdy_codec_job_outcome_code(int32_t code)
{
    return code < 0 || code > FOUNDRY_ENOSPC ? FOUNDRY_EPROTO : (foundry_err) code;
}

/* fdy_codec_job_record_decode() and fdy_codec_job_reply_decode() through
 * protobuf-c's unpack, with the same checks; the same contracts. */
foundry_err fdy_codec_job_record_decode_pb(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                           fdy_job_record_t *out, fdy_reason_t *reason);
foundry_err fdy_codec_job_reply_decode_pb(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                          fdy_job_reply_t *out, fdy_reason_t *reason);

/* fdy_codec_job_reply_encode() and fdy_codec_job_request_encode() through
 * protobuf-c's packer; the same contracts and the same bytes. */
foundry_err fdy_codec_job_request_encode_pb(const fdy_job_request_t *req, uint8_t **buf_out,
                                            size_t *len_out);
foundry_err fdy_codec_job_reply_encode_pb(const fdy_job_reply_t *reply, uint8_t **buf_out,
                                          size_t *len_out);

#endif
