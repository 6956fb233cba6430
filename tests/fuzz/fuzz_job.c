/*  fuzz_job.c: the job messages' decoders (lib/core/codec_jobs_read*.c) on
 *  untrusted bytes: a stored JobRecord (also a JOB_OFFER body), a JobReply
 *  and a JobRequest (frame 1 of JOB). What decodes passes the spec check
 *  and survives a re-encode and a second decode unchanged; the hand-written
 *  decoders (request, record, reply) give what protobuf-c's unpack with the
 *  same checks gives (code, reason, shape), unless protobuf-c ran out of
 *  its budget.
 */
#include "codec_jobs.h"
#include "codec_jobs_ref.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_same_spec(const fdy_job_spec_t *a, const fdy_job_spec_t *b)
{
    if (strcmp(a->type, b->type) != 0 || a->payload_len != b->payload_len ||
        (a->payload_len && memcmp(a->payload, b->payload, a->payload_len) != 0) ||
        a->site_count != b->site_count || a->label_count != b->label_count ||
        a->priority != b->priority || a->deadline_ms != b->deadline_ms)
        abort();
    for (size_t i = 0; i < a->site_count; i++)
        if (strcmp(a->sites[i], b->sites[i]) != 0)
            abort();
    for (size_t i = 0; i < a->label_count; i++)
        if (strcmp(a->labels[i], b->labels[i]) != 0)
            abort();
}

/* The hand decoder and protobuf-c's with the same checks give the same
 * code and reason, unless protobuf-c ran out of its budget first. */
static void
s_same_answer(foundry_err err, const fdy_reason_t *reason, foundry_err ref_err,
              const fdy_reason_t *ref_reason)
{
    if (ref_err != FOUNDRY_ENOMEM &&
        (err != ref_err || strcmp(reason->text, ref_reason->text) != 0))
        abort();
}

static void
s_record(const uint8_t *data, size_t size)
{
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(size));
    fdy_arena_t *arena2 = fdy_arena_new(FDY_DECODE_BUDGET(size) * 2);
    if (!arena || !arena2)
        abort();
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    fdy_job_record_t rec, ref;
    fdy_reason_t ref_reason;
    fdy_reason_clear(&ref_reason);
    foundry_err err = fdy_codec_job_record_decode(data, size, arena, &rec, &reason);
    foundry_err ref_err = fdy_codec_job_record_decode_pb(data, size, arena2, &ref, &ref_reason);
    s_same_answer(err, &reason, ref_err, &ref_reason);
    if (err == FOUNDRY_OK && ref_err == FOUNDRY_OK &&
        (rec.id != ref.id || rec.fence != ref.fence || rec.attempt_count != ref.attempt_count ||
         rec.result_len != ref.result_len || strcmp(rec.state, ref.state) != 0))
        abort();
    if (err == FOUNDRY_OK && ref_err == FOUNDRY_OK)
        s_same_spec(&rec.spec, &ref.spec);
    fdy_arena_reset(arena2, FDY_DECODE_BUDGET(size) * 2);
    if (err == FOUNDRY_OK) {
        if (fdy_codec_job_spec_check(&rec.spec, FDY_JOB_PAYLOAD_MAX, &reason) != FOUNDRY_OK)
            abort(); /* decode is at least as strict as the check */
        uint8_t *buf = NULL;
        size_t len = 0;
        fdy_job_record_t again;
        if (fdy_codec_job_record_encode(&rec, &buf, &len) != FOUNDRY_OK ||
            fdy_codec_job_record_decode(buf, len, arena2, &again, &reason) != FOUNDRY_OK)
            abort();
        s_same_spec(&rec.spec, &again.spec);
        if (rec.id != again.id || rec.fence != again.fence ||
            rec.attempt_count != again.attempt_count || rec.result_len != again.result_len)
            abort();
        free(buf);
    } else if (reason.text[0] == '\0') {
        abort(); /* every refusal names its reason */
    }
    fdy_arena_destroy(&arena);
    fdy_arena_destroy(&arena2);
}

static void
s_request(const uint8_t *data, size_t size)
{
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(size));
    if (!arena)
        abort();
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    fdy_job_request_t req;
    foundry_err err = fdy_codec_job_request_decode(data, size, arena, &req, &reason);
    if (err != FOUNDRY_OK && reason.text[0] == '\0')
        abort();
    if (err == FOUNDRY_OK && req.op == FDY_JOB_SUBMIT && req.spec_count == 0 &&
        fdy_codec_job_spec_check(&req.spec, FDY_JOB_PAYLOAD_MAX, &reason) != FOUNDRY_OK)
        abort();
    fdy_arena_t *ref_arena = fdy_arena_new(FDY_DECODE_BUDGET(size));
    if (!ref_arena)
        abort();
    fdy_reason_t ref_reason;
    fdy_reason_clear(&ref_reason);
    fdy_job_request_t ref;
    foundry_err ref_err = fdy_codec_job_request_decode_pb(data, size, ref_arena, &ref, &ref_reason);
    s_same_answer(err, &reason, ref_err, &ref_reason);
    if (err == FOUNDRY_OK && ref_err == FOUNDRY_OK &&
        (req.op != ref.op || req.spec_count != ref.spec_count ||
         req.result_count != ref.result_count || req.id_count != ref.id_count ||
         req.job_id != ref.job_id || req.fence != ref.fence || req.ok != ref.ok ||
         req.result_len != ref.result_len || strcmp(req.error, ref.error) != 0))
        abort();
    for (size_t i = 0; err == FOUNDRY_OK && ref_err == FOUNDRY_OK && i < req.spec_count; i++)
        s_same_spec(&req.specs[i], &ref.specs[i]);
    for (size_t i = 0; err == FOUNDRY_OK && ref_err == FOUNDRY_OK && i < req.id_count; i++)
        if (req.job_ids[i] != ref.job_ids[i] || req.fences[i] != ref.fences[i])
            abort();
    fdy_arena_reset(ref_arena, FDY_DECODE_BUDGET(size));
    fdy_arena_reset(arena, FDY_DECODE_BUDGET(size));
    fdy_reason_clear(&reason);
    fdy_reason_clear(&ref_reason);
    fdy_job_reply_t reply, ref_reply;
    err = fdy_codec_job_reply_decode(data, size, arena, &reply, &reason);
    ref_err = fdy_codec_job_reply_decode_pb(data, size, ref_arena, &ref_reply, &ref_reason);
    s_same_answer(err, &reason, ref_err, &ref_reason);
    if (err == FOUNDRY_OK && ref_err == FOUNDRY_OK &&
        (reply.job_count != ref_reply.job_count || reply.outcome_count != ref_reply.outcome_count ||
         reply.job_id != ref_reply.job_id))
        abort();
    for (size_t i = 0; err == FOUNDRY_OK && ref_err == FOUNDRY_OK && i < reply.outcome_count; i++)
        if (reply.outcomes[i].code != ref_reply.outcomes[i].code ||
            strcmp(reply.outcomes[i].error, ref_reply.outcomes[i].error) != 0)
            abort();
    fdy_arena_destroy(&ref_arena);
    fdy_arena_destroy(&arena);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_record(data, size);
    s_request(data, size);
    return 0;
}
