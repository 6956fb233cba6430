/*  codec_jobs_read_reply.c: the JobReply and JobRecord decoders by hand:
 *  every offer a node takes, every batch answer a submitter or a node
 *  reads, and every job the broker loads is one, and protobuf-c's unpack
 *  was a fifth of an agent's work. They read what protobuf-c 1.4's unpack
 *  reads (codec_fields.h) and judge it with the same checks
 *  (fdy_codec_job_record_check); a record's spec sent twice (merged under
 *  protobuf's rules, which no sender of ours does) is left to protobuf-c.
 */
#include "codec_fields.h"
#include "codec_jobs.h"
#include "codec_jobs_ref.h"

#include <assert.h>
#include <string.h>

/* The wire type each known field takes (codec_fields.h). */
static const char s_reply_wire[5] = {[1] = 'v', [2] = 'a', [3] = 'l', [4] = 'l'};
static const char s_attempt_wire[8] = {
    [1] = 'v', [2] = 'v', [3] = 'l', [4] = 'v', [5] = 'v', [6] = 'l', [7] = 'l'};

/* Why a read stopped: malformed or out of budget (ctx says which), or a
 * shape protobuf-c decodes itself. */
typedef enum { S_OK, S_FAILED, S_FALLBACK } s_read_t;

static bool
s_attempt(fdy_field_ctx_t *ctx, const uint8_t *data, size_t len, fdy_job_attempt_t *a)
{
    memset(a, 0, sizeof *a);
    a->node = a->state = a->error = "";
    fdy_field_in_t in = {data, data + len};
    fdy_field_t f;
    bool ok = true;
    while (ok && in.at < in.end) {
        if (!fdy_codec_fields_next(&in, &f))
            return false;
        switch (f.number) {
        case 1: ok = fdy_codec_fields_u32(&f, &a->attempt); break;
        case 2: ok = fdy_codec_fields_uint(&f, &a->fence); break;
        case 3: ok = fdy_codec_fields_str(ctx, &f, &a->node); break;
        case 4: ok = fdy_codec_fields_uint(&f, &a->started_ms); break;
        case 5: ok = fdy_codec_fields_uint(&f, &a->ended_ms); break;
        case 6: ok = fdy_codec_fields_str(ctx, &f, &a->state); break;
        case 7: ok = fdy_codec_fields_str(ctx, &f, &a->error); break;
        default: break; /* unknown: skipped */
        }
    }
    return ok;
}

/* A JobRecord's body into *rec (no spec: a NULL spec.type). The attempts
 * array is sized when the first comes; over the limit they are only read
 * for their shape, counted, and not kept (the checks refuse their number). */
static s_read_t
s_record(fdy_field_ctx_t *ctx, const uint8_t *data, size_t len, fdy_job_record_t *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->tenant = rec->submitter = rec->state = rec->node = rec->error = rec->log_tail =
        rec->progress = rec->waiting = "";
    fdy_field_in_t in = {data, data + len};
    fdy_field_t f;
    fdy_job_attempt_t *attempts = NULL;
    bool ok = true, sized = false, too_many = false;
    while (ok && in.at < in.end) {
        const uint8_t *field_at = in.at;
        if (!fdy_codec_fields_next(&in, &f))
            return S_FAILED;
        switch (f.number) {
        case 1: ok = fdy_codec_fields_uint(&f, &rec->id); break;
        case 2: ok = fdy_codec_fields_str(ctx, &f, &rec->tenant); break;
        case 3: ok = fdy_codec_fields_str(ctx, &f, &rec->submitter); break;
        case 4:
            if (rec->spec.type)
                return S_FALLBACK;
            ok = f.wire == FDY_WIRE_LEN && fdy_codec_job_spec_read(ctx, f.data, f.len, &rec->spec);
            break;
        case 5: ok = fdy_codec_fields_str(ctx, &f, &rec->state); break;
        case 6: ok = fdy_codec_fields_u32(&f, &rec->attempt); break;
        case 7: ok = fdy_codec_fields_uint(&f, &rec->fence); break;
        case 8: ok = fdy_codec_fields_uint(&f, &rec->created_ms); break;
        case 9: ok = fdy_codec_fields_uint(&f, &rec->updated_ms); break;
        case 10: ok = fdy_codec_fields_uint(&f, &rec->not_before_ms); break;
        case 11: ok = fdy_codec_fields_uint(&f, &rec->lease_until_ms); break;
        case 12: ok = fdy_codec_fields_str(ctx, &f, &rec->node); break;
        case 13: ok = fdy_codec_fields_bytes(ctx, &f, &rec->result, &rec->result_len); break;
        case 14: ok = fdy_codec_fields_str(ctx, &f, &rec->error); break;
        case 15: ok = fdy_codec_fields_str(ctx, &f, &rec->log_tail); break;
        case 16:
            if (!sized) {
                sized = true;
                size_t n = fdy_codec_fields_occurrences(field_at, in.end, 16);
                too_many = n > FDY_JOB_ATTEMPTS_MAX;
                if (!too_many) {
                    ok = fdy_codec_fields_array(ctx, n, sizeof *attempts, (void **) &attempts);
                    rec->attempts = attempts;
                }
            }
            if (!ok || f.wire != FDY_WIRE_LEN)
                ok = false;
            else if (too_many)
                ok = fdy_codec_fields_shape(f.data, f.len, s_attempt_wire, sizeof s_attempt_wire);
            else
                ok = s_attempt(ctx, f.data, f.len, &attempts[rec->attempt_count]);
            rec->attempt_count++;
            break;
        case 17: ok = fdy_codec_fields_str(ctx, &f, &rec->progress); break;
        case 18: ok = fdy_codec_fields_str(ctx, &f, &rec->waiting); break;
        default: break; /* unknown: skipped */
        }
    }
    return ok ? S_OK : S_FAILED;
}

foundry_err
fdy_codec_job_record_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                            fdy_job_record_t *out, fdy_reason_t *reason)
{
    assert(arena && out);
    memset(out, 0, sizeof *out);
    if (len > FDY_JOB_FRAME_MAX + FDY_JOB_RESULT_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "job record of %zu bytes is too big", len);
    fdy_field_ctx_t ctx;
    s_read_t read = S_FAILED;
    if (fdy_codec_fields_start(&ctx, arena, len))
        read = s_record(&ctx, buf, len, out);
    if (read == S_FALLBACK)
        return fdy_codec_job_record_decode_pb(buf, len, arena, out, reason);
    if (read == S_FAILED)
        return fdy_codec_unpack_failed(&ctx.pb, "job record", len, reason);
    return fdy_codec_job_record_check(out, reason);
}

static bool
s_outcome(fdy_field_ctx_t *ctx, const uint8_t *data, size_t len, fdy_job_outcome_t *o)
{
    memset(o, 0, sizeof *o);
    o->error = "";
    fdy_field_in_t in = {data, data + len};
    fdy_field_t f;
    bool ok = true;
    uint32_t code = 0;
    while (ok && in.at < in.end) {
        if (!fdy_codec_fields_next(&in, &f))
            return false;
        switch (f.number) {
        case 1: ok = fdy_codec_fields_uint(&f, &o->job_id); break;
        case 2: o->duplicate = fdy_codec_fields_bool(&f); break;
        case 3: ok = fdy_codec_fields_u32(&f, &code); break; /* an int32: the low 32 bits */
        case 4: ok = fdy_codec_fields_str(ctx, &f, &o->error); break;
        default: break;
        }
    }
    o->code = fdy_codec_job_outcome_code((int32_t) code);
    return ok;
}

foundry_err
fdy_codec_job_reply_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena, fdy_job_reply_t *out,
                           fdy_reason_t *reason)
{
    assert(arena && out);
    memset(out, 0, sizeof *out);
    fdy_field_in_t in = {buf, buf + len};
    fdy_field_t f;
    size_t jobs_n = 0, outcomes_n = 0;
    while (in.at < in.end) {
        if (!fdy_codec_fields_next(&in, &f) ||
            !fdy_codec_fields_wire_ok(&f, s_reply_wire, sizeof s_reply_wire))
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "job reply of %zu bytes does not unpack",
                                  len);
        jobs_n += f.number == 3;
        outcomes_n += f.number == 4;
    }
    fdy_field_ctx_t ctx;
    fdy_job_record_t *jobs = NULL;
    fdy_job_outcome_t *outs = NULL;
    if (!fdy_codec_fields_start(&ctx, arena, len) ||
        !fdy_codec_fields_array(&ctx, jobs_n, sizeof *jobs, (void **) &jobs) ||
        !fdy_codec_fields_array(&ctx, outcomes_n, sizeof *outs, (void **) &outs))
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "job reply: decoding budget");
    in.at = buf;
    size_t job_i = 0, outcome_i = 0;
    s_read_t read = S_OK;
    while (read == S_OK && in.at < in.end) {
        (void) fdy_codec_fields_next(&in, &f); /* its shape was read above */
        switch (f.number) {
        case 1:
            if (!fdy_codec_fields_uint(&f, &out->job_id))
                read = S_FAILED;
            break;
        case 2: out->duplicate = fdy_codec_fields_bool(&f); break;
        case 3: read = s_record(&ctx, f.data, f.len, &jobs[job_i++]); break;
        case 4:
            if (!s_outcome(&ctx, f.data, f.len, &outs[outcome_i++]))
                read = S_FAILED;
            break;
        default: break;
        }
    }
    if (read == S_FALLBACK) {
        memset(out, 0, sizeof *out);
        return fdy_codec_job_reply_decode_pb(buf, len, arena, out, reason);
    }
    if (read == S_FAILED)
        return fdy_codec_unpack_failed(&ctx.pb, "job reply", len, reason);
    out->outcomes = outs;
    out->outcome_count = outcomes_n;
    for (size_t i = 0; i < jobs_n; i++) {
        foundry_err err = fdy_codec_job_record_check(&jobs[i], reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    out->jobs = jobs;
    out->job_count = jobs_n;
    return FOUNDRY_OK;
}
