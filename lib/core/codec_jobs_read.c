/*  codec_jobs_read.c: the JobRequest decoder (frame 1 of every JOB), by
 *  hand: SUBMIT and RESULT batches arrive once per job, and protobuf-c's
 *  descriptor walk and per-field allocations were most of their cost. It
 *  reads what protobuf-c 1.4's unpack reads (codec_fields.h: its varint,
 *  length and tag rules, wire types, last value wins, unknown fields
 *  skipped), then judges it with the same checks
 *  (fdy_codec_job_request_check). Policy is the broker's.
 */
#include "codec_fields.h"
#include "codec_jobs.h"
#include "codec_jobs_ref.h"

#include <assert.h>
#include <string.h>

/* The wire type each known field takes (codec_fields.h). */
static const char s_request_wire[20] = {
    [1] = 'v',  [2] = 'l',  [3] = 'v',  [4] = 'v',  [5] = 'a',  [6] = 'l',  [7] = 'l',
    [8] = 'l',  [9] = 'v',  [10] = 'l', [11] = 'l', [12] = 'l', [13] = 'l', [14] = 'l',
    [15] = 'p', [16] = 'p', [17] = 'l', [18] = 'l', [19] = 'a'};
static const char s_spec_wire[15] = {
    [1] = 'l', [2] = 'l', [3] = 'l',  [4] = 'l',  [5] = 'v',  [6] = 'v',  [7] = 'v',
    [8] = 'v', [9] = 'v', [10] = 'v', [11] = 'l', [12] = 'v', [13] = 'v', [14] = 'l'};
static const char s_result_wire[8] = {
    [1] = 'v', [2] = 'v', [3] = 'a', [4] = 'l', [5] = 'l', [6] = 'l', [7] = 'v'};

/* The sites and labels arrays are sized when the first of each comes (so
 * never overrun: this pass stops where the count did). */
bool
fdy_codec_job_spec_read(fdy_field_ctx_t *ctx, const uint8_t *data, size_t len, fdy_job_spec_t *spec)
{
    if (!spec)
        return fdy_codec_fields_shape(data, len, s_spec_wire, sizeof s_spec_wire);
    memset(spec, 0, sizeof *spec);
    spec->type = spec->key = spec->node = "";
    const char **sites = NULL, **labels = NULL;
    fdy_field_in_t in = {data, data + len};
    fdy_field_t f;
    bool ok = true;
    while (ok && in.at < in.end) {
        const uint8_t *field_at = in.at;
        if (!fdy_codec_fields_next(&in, &f))
            return false;
        uint64_t v = 0;
        switch (f.number) {
        case 1: ok = fdy_codec_fields_str(ctx, &f, &spec->type); break;
        case 2: ok = fdy_codec_fields_bytes(ctx, &f, &spec->payload, &spec->payload_len); break;
        case 3:
            if (!sites) {
                ok = fdy_codec_fields_array(ctx, fdy_codec_fields_occurrences(field_at, in.end, 3),
                                            sizeof *sites, (void **) &sites);
                spec->sites = sites;
            }
            ok = ok && fdy_codec_fields_str(ctx, &f, &sites[spec->site_count++]);
            break;
        case 4:
            if (!labels) {
                ok = fdy_codec_fields_array(ctx, fdy_codec_fields_occurrences(field_at, in.end, 4),
                                            sizeof *labels, (void **) &labels);
                spec->labels = labels;
            }
            ok = ok && fdy_codec_fields_str(ctx, &f, &labels[spec->label_count++]);
            break;
        case 5: ok = fdy_codec_fields_u32(&f, &spec->priority); break;
        case 6: ok = fdy_codec_fields_u32(&f, &spec->timeout_ms); break;
        case 7: ok = fdy_codec_fields_u32(&f, &spec->max_attempts); break;
        case 8: ok = fdy_codec_fields_u32(&f, &spec->backoff_initial_ms); break;
        case 9: ok = fdy_codec_fields_u32(&f, &spec->backoff_factor); break;
        case 10: ok = fdy_codec_fields_u32(&f, &spec->backoff_max_ms); break;
        case 11: ok = fdy_codec_fields_str(ctx, &f, &spec->key); break;
        case 12:
            ok = fdy_codec_fields_uint(&f, &v);
            spec->deadline_ms = v;
            break;
        case 13: ok = fdy_codec_fields_u32(&f, &spec->result_ttl_ms); break;
        case 14: ok = fdy_codec_fields_str(ctx, &f, &spec->node); break;
        default: break; /* unknown: skipped */
        }
    }
    return ok;
}

/* A JobResult's body into *item, in one pass; with item NULL only its
 * shape is read. */
static bool
s_result(fdy_field_ctx_t *ctx, const uint8_t *data, size_t len, fdy_job_result_item_t *item)
{
    if (!item)
        return fdy_codec_fields_shape(data, len, s_result_wire, sizeof s_result_wire);
    memset(item, 0, sizeof *item);
    item->error = item->log_tail = "";
    fdy_field_in_t in = {data, data + len};
    fdy_field_t f;
    bool ok = true;
    while (ok && in.at < in.end) {
        if (!fdy_codec_fields_next(&in, &f))
            return false;
        switch (f.number) {
        case 1: ok = fdy_codec_fields_uint(&f, &item->job_id); break;
        case 2: ok = fdy_codec_fields_uint(&f, &item->fence); break;
        case 3: item->ok = fdy_codec_fields_bool(&f); break;
        case 4: ok = fdy_codec_fields_bytes(ctx, &f, &item->result, &item->result_len); break;
        case 5: ok = fdy_codec_fields_str(ctx, &f, &item->error); break;
        case 6: ok = fdy_codec_fields_str(ctx, &f, &item->log_tail); break;
        case 7: ok = fdy_codec_fields_u32(&f, &item->credit); break;
        default: break;
        }
    }
    return ok;
}

/* What the first pass over a JobRequest counts. */
typedef struct {
    size_t specs_sent; /* the single spec, field 2 */
    size_t labels, types, ids, fences, specs, results;
} s_counts_t;

static bool
s_count(const uint8_t *buf, size_t len, s_counts_t *n)
{
    memset(n, 0, sizeof *n);
    fdy_field_in_t in = {buf, buf + len};
    fdy_field_t f;
    while (in.at < in.end) {
        if (!fdy_codec_fields_next(&in, &f) ||
            !fdy_codec_fields_wire_ok(&f, s_request_wire, sizeof s_request_wire))
            return false;
        switch (f.number) {
        case 2: n->specs_sent++; break;
        case 11: n->labels++; break;
        case 12: n->types++; break;
        case 15: n->ids += fdy_codec_fields_packed_count(&f); break;
        case 16: n->fences += fdy_codec_fields_packed_count(&f); break;
        case 17: n->specs++; break;
        case 18: n->results++; break;
        default: break;
        }
    }
    return true;
}

/* The second pass: every field of the request into raw. */
static bool
s_fill(fdy_field_ctx_t *ctx, const uint8_t *buf, size_t len, const s_counts_t *n,
       fdy_job_request_raw_t *raw)
{
    fdy_job_request_t *req = &raw->req;
    req->error = req->log_tail = req->name = req->state = req->progress = "";
    const char **labels, **types;
    uint64_t *ids, *fences;
    if (!fdy_codec_fields_array(ctx, n->labels, sizeof *labels, (void **) &labels) ||
        !fdy_codec_fields_array(ctx, n->types, sizeof *types, (void **) &types) ||
        !fdy_codec_fields_array(ctx, n->ids, sizeof *ids, (void **) &ids) ||
        !fdy_codec_fields_array(ctx, n->fences, sizeof *fences, (void **) &fences))
        return false;
    /* Batch items are kept only when the checks can accept their number;
     * a batch the budget cannot hold is refused by the checks. */
    fdy_job_spec_t *specs = NULL;
    fdy_job_result_item_t *results = NULL;
    if (n->specs && n->specs <= FDY_JOB_BATCH_MAX) {
        specs = fdy_codec_arena_array(ctx->pb.arena, n->specs, sizeof *specs);
        raw->batch_no_memory = !specs;
    }
    if (n->results && n->results <= FDY_JOB_BATCH_MAX) {
        results = fdy_codec_arena_array(ctx->pb.arena, n->results, sizeof *results);
        raw->batch_no_memory = raw->batch_no_memory || !results;
    }
    req->labels = labels;
    req->types = types;
    req->job_ids = ids;
    req->fences = fences;
    req->specs = specs;
    req->results = results;
    fdy_field_in_t in = {buf, buf + len};
    fdy_field_t f;
    size_t spec_i = 0, result_i = 0, fence_n = 0;
    bool ok = true;
    while (ok && in.at < in.end) {
        (void) fdy_codec_fields_next(&in, &f); /* its shape was read by s_count */
        uint64_t v = 0;
        switch (f.number) {
        case 1:
            ok = fdy_codec_fields_uint(&f, &v);
            raw->op = (int32_t) (uint32_t) v;
            break;
        case 2:
            ok = f.wire == FDY_WIRE_LEN && fdy_codec_job_spec_read(ctx, f.data, f.len, &req->spec);
            raw->has_spec = true;
            break;
        case 3: ok = fdy_codec_fields_uint(&f, &req->job_id); break;
        case 4: ok = fdy_codec_fields_uint(&f, &req->fence); break;
        case 5: req->ok = fdy_codec_fields_bool(&f); break;
        case 6: ok = fdy_codec_fields_bytes(ctx, &f, &req->result, &req->result_len); break;
        case 7: ok = fdy_codec_fields_str(ctx, &f, &req->error); break;
        case 8: ok = fdy_codec_fields_str(ctx, &f, &req->log_tail); break;
        case 9: ok = fdy_codec_fields_u32(&f, &req->credit); break;
        case 10: ok = fdy_codec_fields_str(ctx, &f, &req->name); break;
        case 11: ok = fdy_codec_fields_str(ctx, &f, &labels[req->label_count++]); break;
        case 12: ok = fdy_codec_fields_str(ctx, &f, &types[req->type_count++]); break;
        case 13: ok = fdy_codec_fields_str(ctx, &f, &req->state); break;
        case 14: ok = fdy_codec_fields_str(ctx, &f, &req->progress); break;
        case 15: ok = fdy_codec_fields_packed(&f, ids, &req->id_count); break;
        case 16: ok = fdy_codec_fields_packed(&f, fences, &fence_n); break;
        case 17:
            ok = f.wire == FDY_WIRE_LEN &&
                 fdy_codec_job_spec_read(ctx, f.data, f.len, specs ? &specs[spec_i] : NULL);
            spec_i++;
            break;
        case 18:
            ok = f.wire == FDY_WIRE_LEN &&
                 s_result(ctx, f.data, f.len, results ? &results[result_i] : NULL);
            result_i++;
            break;
        case 19: req->offer_batches = fdy_codec_fields_bool(&f); break;
        default: break; /* unknown: skipped */
        }
    }
    req->spec_count = n->specs;
    req->result_count = n->results;
    raw->fence_count = fence_n;
    return ok;
}

foundry_err
fdy_codec_job_request_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                             fdy_job_request_t *out, fdy_reason_t *reason)
{
    assert(arena && out);
    memset(out, 0, sizeof *out);
    if (len > FDY_JOB_FRAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "job request of %zu bytes exceeds %u", len,
                              FDY_JOB_FRAME_MAX);
    fdy_field_ctx_t ctx = {{arena, false}, NULL, 0};
    s_counts_t n;
    if (!s_count(buf, len, &n))
        return fdy_codec_unpack_failed(&ctx.pb, "job request", len, reason);
    /* A spec sent twice is merged field by field under protobuf's rules,
     * which no sender of ours does: protobuf-c itself decodes that. */
    if (n.specs_sent > 1)
        return fdy_codec_job_request_decode_pb(buf, len, arena, out, reason);
    fdy_job_request_raw_t raw;
    memset(&raw, 0, sizeof raw);
    if (!fdy_codec_fields_start(&ctx, arena, len) || !s_fill(&ctx, buf, len, &n, &raw))
        return fdy_codec_unpack_failed(&ctx.pb, "job request", len, reason);
    return fdy_codec_job_request_check(&raw, out, reason);
}
