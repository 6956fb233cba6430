/*  codec_jobs.c: encoding and validating decoding of proto/jobs.proto.
 *  The only file that includes jobs.pb-c.h. Policy (who may submit where,
 *  which fence is current) is the broker's; here only shape and syntax.
 */
#include "codec_jobs.h"

#include "codec_internal.h"
#include "codec_jobs_ref.h"
#include "jobs.pb-c.h"
#include "names.h"
#include "subject.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---- checks ------------------------------------------------------------ */

static bool
s_text_ok(const char *s, size_t max)
{
    if (!s)
        return true;
    size_t len = strlen(s);
    return len <= max && fdy_codec_text_ok((const uint8_t *) s, len);
}

/* Types and label keys: [A-Za-z0-9_.-], 1..max. */
static bool
s_name_ok(const char *s, size_t len, size_t max)
{
    return fdy_name_ok(s, len, max, true);
}

bool
fdy_codec_job_label_ok(const char *label)
{
    if (!label)
        return false;
    size_t len = strlen(label);
    const char *eq = strchr(label, '=');
    if (!eq || len > FDY_JOB_LABEL_MAX)
        return false;
    size_t key_len = (size_t) (eq - label);
    const char *value = eq + 1;
    size_t value_len = len - key_len - 1;
    /* Values: printable ASCII without '=', ',' or spaces, so a label list
     * prints and parses unambiguously. */
    if (!s_name_ok(label, key_len, 64) || value_len == 0)
        return false;
    for (size_t i = 0; i < value_len; i++)
        if (value[i] <= ' ' || value[i] > '~' || value[i] == '=' || value[i] == ',')
            return false;
    return true;
}

foundry_err
fdy_codec_job_spec_check(const fdy_job_spec_t *spec, size_t payload_max, fdy_reason_t *reason)
{
    if (!spec->type || !s_name_ok(spec->type, strlen(spec->type), FDY_JOB_TYPE_MAX))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "job type '%.80s' must be 1..%u of [A-Za-z0-9_.-]",
                              spec->type ? spec->type : "", FDY_JOB_TYPE_MAX);
    if (spec->payload_len > payload_max)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "job payload of %zu bytes exceeds %zu",
                              spec->payload_len, payload_max);
    if (spec->site_count > FDY_JOB_SITES_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu target sites exceed %u",
                              spec->site_count, FDY_JOB_SITES_MAX);
    for (size_t i = 0; i < spec->site_count; i++) {
        fdy_reason_t why;
        fdy_reason_clear(&why);
        if (fdy_site_validate(spec->sites[i], &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "target site '%.80s': %s",
                                  spec->sites[i] ? spec->sites[i] : "", why.text);
    }
    if (spec->label_count > FDY_JOB_LABELS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu labels exceed %u", spec->label_count,
                              FDY_JOB_LABELS_MAX);
    for (size_t i = 0; i < spec->label_count; i++)
        if (!fdy_codec_job_label_ok(spec->labels[i]))
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "label selector '%.80s' is not key=value (key of "
                                  "[A-Za-z0-9_.-], value printable without spaces, '=' or ',')",
                                  spec->labels[i] ? spec->labels[i] : "");
    if (!s_text_ok(spec->key, FDY_JOB_KEY_MAX))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "idempotency key longer than %u bytes",
                              FDY_JOB_KEY_MAX);
    if (spec->node && *spec->node && !s_name_ok(spec->node, strlen(spec->node), FDY_NAME_MAX - 1))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "pinned node '%.80s' must be 1..%u of [A-Za-z0-9_.-]", spec->node,
                              FDY_NAME_MAX - 1);
    if (spec->backoff_factor > 100)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "back-off factor %u exceeds 100",
                              spec->backoff_factor);
    return FOUNDRY_OK;
}

foundry_err
fdy_codec_job_result_check(const fdy_job_result_item_t *item, fdy_reason_t *reason)
{
    if (item->result_len > FDY_JOB_RESULT_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "job result of %zu bytes exceeds %u",
                              item->result_len, FDY_JOB_RESULT_MAX);
    if (!s_text_ok(item->error, FDY_JOB_TEXT_MAX) || !s_text_ok(item->log_tail, FDY_JOB_TEXT_MAX))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "a job text field is not UTF-8 or over %u",
                              FDY_JOB_TEXT_MAX);
    return FOUNDRY_OK;
}

/* ---- encoding ------------------------------------------------------------ */

static void
s_spec_to_pb(const fdy_job_spec_t *spec, Foundry__JobSpec *pb)
{
    Foundry__JobSpec init = FOUNDRY__JOB_SPEC__INIT;
    *pb = init;
    pb->type = (char *) (spec->type ? spec->type : "");
    pb->payload.data = (uint8_t *) spec->payload;
    pb->payload.len = spec->payload ? spec->payload_len : 0;
    pb->n_sites = spec->site_count;
    pb->sites = (char **) spec->sites;
    pb->n_labels = spec->label_count;
    pb->labels = (char **) spec->labels;
    pb->priority = spec->priority;
    pb->timeout_ms = spec->timeout_ms;
    pb->max_attempts = spec->max_attempts;
    pb->backoff_initial_ms = spec->backoff_initial_ms;
    pb->backoff_factor = spec->backoff_factor;
    pb->backoff_max_ms = spec->backoff_max_ms;
    pb->idempotency_key = (char *) (spec->key ? spec->key : "");
    pb->deadline_ms = spec->deadline_ms;
    pb->result_ttl_ms = spec->result_ttl_ms;
    pb->node = (char *) (spec->node ? spec->node : "");
}

/* The protobuf view of one record; what it allocates is in *attempts and
 * *attempt_ptrs (free both). */
static foundry_err
s_record_to_pb(const fdy_job_record_t *rec, Foundry__JobRecord *pb, Foundry__JobSpec *spec,
               Foundry__JobAttempt **attempts, Foundry__JobAttempt ***attempt_ptrs)
{
    Foundry__JobRecord init = FOUNDRY__JOB_RECORD__INIT;
    *pb = init;
    *attempts = NULL;
    *attempt_ptrs = NULL;
    s_spec_to_pb(&rec->spec, spec);
    pb->id = rec->id;
    pb->tenant = fdy_codec_str(rec->tenant);
    pb->submitter = fdy_codec_str(rec->submitter);
    pb->spec = spec;
    pb->state = fdy_codec_str(rec->state);
    pb->attempt = rec->attempt;
    pb->fence = rec->fence;
    pb->created_ms = rec->created_ms;
    pb->updated_ms = rec->updated_ms;
    pb->not_before_ms = rec->not_before_ms;
    pb->lease_until_ms = rec->lease_until_ms;
    pb->node = fdy_codec_str(rec->node);
    pb->result.data = (uint8_t *) rec->result;
    pb->result.len = rec->result ? rec->result_len : 0;
    pb->error = fdy_codec_str(rec->error);
    pb->log_tail = fdy_codec_str(rec->log_tail);
    pb->progress = fdy_codec_str(rec->progress);
    pb->waiting = fdy_codec_str(rec->waiting);
    if (rec->attempt_count == 0)
        return FOUNDRY_OK;
    *attempts = calloc(rec->attempt_count, sizeof **attempts);
    *attempt_ptrs = calloc(rec->attempt_count, sizeof **attempt_ptrs);
    if (!*attempts || !*attempt_ptrs)
        return FOUNDRY_ENOMEM;
    for (size_t i = 0; i < rec->attempt_count; i++) {
        const fdy_job_attempt_t *a = &rec->attempts[i];
        Foundry__JobAttempt ainit = FOUNDRY__JOB_ATTEMPT__INIT;
        Foundry__JobAttempt *p = &(*attempts)[i];
        *p = ainit;
        p->attempt = a->attempt;
        p->fence = a->fence;
        p->node = fdy_codec_str(a->node);
        p->started_ms = a->started_ms;
        p->ended_ms = a->ended_ms;
        p->state = fdy_codec_str(a->state);
        p->error = fdy_codec_str(a->error);
        (*attempt_ptrs)[i] = p;
    }
    pb->n_attempts = rec->attempt_count;
    pb->attempts = *attempt_ptrs;
    return FOUNDRY_OK;
}

/* The batch parts of a request; what it allocates is in *parts (s_batch_free). */
typedef struct {
    Foundry__JobSpec *specs;
    Foundry__JobSpec **spec_ptrs;
    Foundry__JobResult *results;
    Foundry__JobResult **result_ptrs;
} s_batch_pb_t;

static void
s_batch_free(s_batch_pb_t *parts)
{
    free(parts->specs);
    free(parts->spec_ptrs);
    free(parts->results);
    free(parts->result_ptrs);
}

static foundry_err
s_batch_to_pb(const fdy_job_request_t *req, Foundry__JobRequest *pb, s_batch_pb_t *parts)
{
    memset(parts, 0, sizeof *parts);
    if (req->spec_count) {
        parts->specs = calloc(req->spec_count, sizeof *parts->specs);
        parts->spec_ptrs = calloc(req->spec_count, sizeof *parts->spec_ptrs);
        if (!parts->specs || !parts->spec_ptrs)
            return FOUNDRY_ENOMEM;
        for (size_t i = 0; i < req->spec_count; i++) {
            s_spec_to_pb(&req->specs[i], &parts->specs[i]);
            parts->spec_ptrs[i] = &parts->specs[i];
        }
        pb->n_specs = req->spec_count;
        pb->specs = parts->spec_ptrs;
    }
    if (req->result_count) {
        parts->results = calloc(req->result_count, sizeof *parts->results);
        parts->result_ptrs = calloc(req->result_count, sizeof *parts->result_ptrs);
        if (!parts->results || !parts->result_ptrs)
            return FOUNDRY_ENOMEM;
        for (size_t i = 0; i < req->result_count; i++) {
            const fdy_job_result_item_t *r = &req->results[i];
            Foundry__JobResult init = FOUNDRY__JOB_RESULT__INIT;
            Foundry__JobResult *p = &parts->results[i];
            *p = init;
            p->job_id = r->job_id;
            p->fence = r->fence;
            p->ok = r->ok;
            p->result.data = (uint8_t *) r->result;
            p->result.len = r->result ? r->result_len : 0;
            p->error = fdy_codec_str(r->error);
            p->log_tail = fdy_codec_str(r->log_tail);
            p->credit = r->credit;
            parts->result_ptrs[i] = p;
        }
        pb->n_results = req->result_count;
        pb->results = parts->result_ptrs;
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_codec_job_request_encode_pb(const fdy_job_request_t *req, uint8_t **buf_out, size_t *len_out)
{
    assert(req && buf_out && len_out);
    *buf_out = NULL;
    *len_out = 0;
    if (req->op < FDY_JOB_SUBMIT || req->op > FDY_JOB_RETRY || req->id_count > FDY_JOB_IDS_MAX ||
        req->spec_count > FDY_JOB_BATCH_MAX || req->result_count > FDY_JOB_BATCH_MAX)
        return FOUNDRY_EINVAL;
    Foundry__JobRequest pb = FOUNDRY__JOB_REQUEST__INIT;
    Foundry__JobSpec spec;
    pb.op = (Foundry__JobOp) req->op;
    if (req->op == FDY_JOB_SUBMIT && req->spec_count == 0) {
        s_spec_to_pb(&req->spec, &spec);
        pb.spec = &spec;
    }
    pb.job_id = req->job_id;
    pb.fence = req->fence;
    pb.ok = req->ok;
    pb.result.data = (uint8_t *) req->result;
    pb.result.len = req->result ? req->result_len : 0;
    pb.error = fdy_codec_str(req->error);
    pb.log_tail = fdy_codec_str(req->log_tail);
    pb.credit = req->credit;
    pb.name = fdy_codec_str(req->name);
    pb.n_labels = req->label_count;
    pb.labels = (char **) req->labels;
    pb.n_types = req->type_count;
    pb.types = (char **) req->types;
    pb.state = fdy_codec_str(req->state);
    pb.progress = fdy_codec_str(req->progress);
    pb.n_job_ids = req->id_count;
    pb.job_ids = (uint64_t *) req->job_ids;
    pb.n_fences = req->id_count;
    pb.fences = (uint64_t *) req->fences;
    pb.offer_batches = req->offer_batches;
    s_batch_pb_t parts;
    foundry_err err = s_batch_to_pb(req, &pb, &parts);
    if (err == FOUNDRY_OK)
        err = fdy_codec_pack(&pb.base, buf_out, len_out);
    s_batch_free(&parts);
    return err;
}

foundry_err
fdy_codec_job_record_encode(const fdy_job_record_t *rec, uint8_t **buf_out, size_t *len_out)
{
    assert(rec && buf_out && len_out);
    *buf_out = NULL;
    *len_out = 0;
    Foundry__JobRecord pb;
    Foundry__JobSpec spec;
    Foundry__JobAttempt *attempts, **ptrs;
    foundry_err err = s_record_to_pb(rec, &pb, &spec, &attempts, &ptrs);
    if (err == FOUNDRY_OK)
        err = fdy_codec_pack(&pb.base, buf_out, len_out);
    free(attempts);
    free(ptrs);
    return err;
}

foundry_err
fdy_codec_job_reply_encode_pb(const fdy_job_reply_t *reply, uint8_t **buf_out, size_t *len_out)
{
    assert(reply && buf_out && len_out);
    *buf_out = NULL;
    *len_out = 0;
    Foundry__JobReply pb = FOUNDRY__JOB_REPLY__INIT;
    pb.job_id = reply->job_id;
    pb.duplicate = reply->duplicate;
    size_t n = reply->job_count;
    Foundry__JobRecord *recs = n ? calloc(n, sizeof *recs) : NULL;
    Foundry__JobRecord **rec_ptrs = n ? calloc(n, sizeof *rec_ptrs) : NULL;
    Foundry__JobSpec *specs = n ? calloc(n, sizeof *specs) : NULL;
    Foundry__JobAttempt **attempts = n ? calloc(n, sizeof *attempts) : NULL;
    Foundry__JobAttempt ***attempt_ptrs = n ? calloc(n, sizeof *attempt_ptrs) : NULL;
    foundry_err err = FOUNDRY_OK;
    if (n && (!recs || !rec_ptrs || !specs || !attempts || !attempt_ptrs))
        err = FOUNDRY_ENOMEM;
    for (size_t i = 0; i < n && err == FOUNDRY_OK; i++) {
        err = s_record_to_pb(&reply->jobs[i], &recs[i], &specs[i], &attempts[i], &attempt_ptrs[i]);
        rec_ptrs[i] = &recs[i];
    }
    pb.n_jobs = n;
    pb.jobs = rec_ptrs;
    size_t m = reply->outcome_count;
    Foundry__JobOutcome *outs = m ? calloc(m, sizeof *outs) : NULL;
    Foundry__JobOutcome **out_ptrs = m ? calloc(m, sizeof *out_ptrs) : NULL;
    if (m && (!outs || !out_ptrs))
        err = FOUNDRY_ENOMEM;
    for (size_t i = 0; i < m && err == FOUNDRY_OK; i++) {
        const fdy_job_outcome_t *o = &reply->outcomes[i];
        Foundry__JobOutcome init = FOUNDRY__JOB_OUTCOME__INIT;
        outs[i] = init;
        outs[i].job_id = o->job_id;
        outs[i].duplicate = o->duplicate;
        outs[i].error_code = (int32_t) o->code;
        outs[i].error = fdy_codec_str(o->error);
        out_ptrs[i] = &outs[i];
    }
    pb.n_outcomes = m;
    pb.outcomes = out_ptrs;
    if (err == FOUNDRY_OK)
        err = fdy_codec_pack(&pb.base, buf_out, len_out);
    free(outs);
    free(out_ptrs);
    for (size_t i = 0; i < n && attempts && attempt_ptrs; i++) {
        free(attempts[i]);
        free(attempt_ptrs[i]);
    }
    free(recs);
    free(rec_ptrs);
    free(specs);
    free(attempts);
    free(attempt_ptrs);
    return err;
}

/* ---- decoding ------------------------------------------------------------ */

static void
s_spec_from_pb(const Foundry__JobSpec *pb, fdy_job_spec_t *spec)
{
    memset(spec, 0, sizeof *spec);
    if (!pb)
        return;
    spec->type = pb->type;
    spec->payload = pb->payload.len ? pb->payload.data : NULL;
    spec->payload_len = pb->payload.len;
    spec->sites = (const char *const *) pb->sites;
    spec->site_count = pb->n_sites;
    spec->labels = (const char *const *) pb->labels;
    spec->label_count = pb->n_labels;
    spec->priority = pb->priority;
    spec->timeout_ms = pb->timeout_ms;
    spec->max_attempts = pb->max_attempts;
    spec->backoff_initial_ms = pb->backoff_initial_ms;
    spec->backoff_factor = pb->backoff_factor;
    spec->backoff_max_ms = pb->backoff_max_ms;
    spec->key = pb->idempotency_key;
    spec->deadline_ms = pb->deadline_ms;
    spec->result_ttl_ms = pb->result_ttl_ms;
    spec->node = pb->node;
}

static bool
s_texts_ok(const char *const *texts, size_t count, size_t max)
{
    for (size_t i = 0; i < count; i++)
        if (!s_text_ok(texts[i], max))
            return false;
    return true;
}

/* pb's view as the checks take it. Batch items are copied only when the
 * checks can accept their number, as before; a batch that does not fit
 * the budget is refused by the checks, in their order. */
static void
s_request_from_pb(const Foundry__JobRequest *pb, fdy_arena_t *arena, fdy_job_request_raw_t *raw)
{
    memset(raw, 0, sizeof *raw);
    raw->op = (int32_t) pb->op;
    raw->has_spec = pb->spec != NULL;
    fdy_job_request_t *req = &raw->req;
    if (pb->spec)
        s_spec_from_pb(pb->spec, &req->spec);
    if (pb->n_specs && pb->n_specs <= FDY_JOB_BATCH_MAX) {
        fdy_job_spec_t *specs = fdy_codec_arena_array(arena, pb->n_specs, sizeof *specs);
        for (size_t i = 0; specs && i < pb->n_specs; i++)
            s_spec_from_pb(pb->specs[i], &specs[i]);
        req->specs = specs;
        raw->batch_no_memory = !specs;
    }
    req->spec_count = pb->n_specs;
    if (pb->n_results && pb->n_results <= FDY_JOB_BATCH_MAX) {
        fdy_job_result_item_t *items = fdy_codec_arena_array(arena, pb->n_results, sizeof *items);
        for (size_t i = 0; items && i < pb->n_results; i++) {
            const Foundry__JobResult *r = pb->results[i];
            items[i] = (fdy_job_result_item_t){
                r->job_id,     r->fence, r->ok,       r->result.len ? r->result.data : NULL,
                r->result.len, r->error, r->log_tail, r->credit};
        }
        req->results = items;
        raw->batch_no_memory = raw->batch_no_memory || !items;
    }
    req->result_count = pb->n_results;
    req->job_id = pb->job_id;
    req->fence = pb->fence;
    req->ok = pb->ok;
    req->result = pb->result.len ? pb->result.data : NULL;
    req->result_len = pb->result.len;
    req->error = pb->error;
    req->log_tail = pb->log_tail;
    req->credit = pb->credit;
    req->name = pb->name;
    req->labels = (const char *const *) pb->labels;
    req->label_count = pb->n_labels;
    req->types = (const char *const *) pb->types;
    req->type_count = pb->n_types;
    req->state = pb->state;
    req->progress = pb->progress;
    req->job_ids = pb->job_ids;
    req->id_count = pb->n_job_ids;
    req->fences = pb->fences;
    raw->fence_count = pb->n_fences;
    req->offer_batches = pb->offer_batches;
}

foundry_err
fdy_codec_job_request_check(const fdy_job_request_raw_t *raw, fdy_job_request_t *out,
                            fdy_reason_t *reason)
{
    const fdy_job_request_t *req = &raw->req;
    memset(out, 0, sizeof *out);
    if (raw->op < FDY_JOB_SUBMIT || raw->op > FDY_JOB_RETRY)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "unknown job operation %d", (int) raw->op);
    fdy_job_op_t op = (fdy_job_op_t) raw->op;
    /* The batch of a SUBMIT (specs) or RESULT (results): shape only; each
     * item is checked by the broker, so one bad job is refused alone. */
    if (req->spec_count > FDY_JOB_BATCH_MAX || req->result_count > FDY_JOB_BATCH_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "a job batch of more than %u jobs",
                              FDY_JOB_BATCH_MAX);
    if (req->spec_count && (op != FDY_JOB_SUBMIT || raw->has_spec))
        return fdy_reason_set(reason, FOUNDRY_EPROTO,
                              "a batch of specs needs a SUBMIT without a single spec");
    if (req->result_count && (op != FDY_JOB_RESULT || req->job_id))
        return fdy_reason_set(reason, FOUNDRY_EPROTO,
                              "a batch of results needs a RESULT without a single job_id");
    if (raw->batch_no_memory)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "job batch: decoding budget");
    if (op == FDY_JOB_SUBMIT && req->spec_count == 0) {
        if (!raw->has_spec)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "job submit without its spec");
        foundry_err err = fdy_codec_job_spec_check(&req->spec, FDY_JOB_PAYLOAD_MAX, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    if (req->result_len > FDY_JOB_RESULT_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "job result of %zu bytes exceeds %u",
                              req->result_len, FDY_JOB_RESULT_MAX);
    const char *texts[] = {req->error, req->log_tail, req->name, req->state, req->progress};
    if (!s_texts_ok(texts, sizeof texts / sizeof texts[0], FDY_JOB_TEXT_MAX))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "a job text field is not UTF-8 or over %u",
                              FDY_JOB_TEXT_MAX);
    if (req->label_count > FDY_JOB_LABELS_MAX || req->type_count > FDY_JOB_LABELS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "more than %u labels or types",
                              FDY_JOB_LABELS_MAX);
    for (size_t i = 0; i < req->label_count; i++)
        if (!fdy_codec_job_label_ok(req->labels[i]))
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "node label '%.80s' is not key=value",
                                  req->labels[i]);
    for (size_t i = 0; i < req->type_count; i++)
        if (!s_name_ok(req->types[i], strlen(req->types[i]), FDY_JOB_TYPE_MAX))
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "job type '%.80s' is invalid",
                                  req->types[i]);
    if (req->id_count != raw->fence_count || req->id_count > FDY_JOB_IDS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "heartbeat with %zu ids and %zu fences",
                              req->id_count, raw->fence_count);
    *out = *req;
    out->op = op;
    /* Only a single SUBMIT carries the single spec. */
    if (op != FDY_JOB_SUBMIT || req->spec_count)
        memset(&out->spec, 0, sizeof out->spec);
    return FOUNDRY_OK;
}

foundry_err
fdy_codec_job_request_decode_pb(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                fdy_job_request_t *out, fdy_reason_t *reason)
{
    assert(arena && out);
    memset(out, 0, sizeof *out);
    if (len > FDY_JOB_FRAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "job request of %zu bytes exceeds %u", len,
                              FDY_JOB_FRAME_MAX);
    fdy_pb_ctx_t ctx = {arena, false};
    ProtobufCAllocator allocator = fdy_codec_pb_allocator(&ctx);
    Foundry__JobRequest *pb = foundry__job_request__unpack(&allocator, len, buf);
    if (!pb)
        return fdy_codec_unpack_failed(&ctx, "job request", len, reason);
    fdy_job_request_raw_t raw;
    s_request_from_pb(pb, arena, &raw);
    return fdy_codec_job_request_check(&raw, out, reason);
}

/* pb's record as the checks take it (fdy_codec_job_record_check): no spec
 * is a NULL type; the attempts are copied only when the checks can accept
 * their number. */
static void
s_record_from_pb(const Foundry__JobRecord *pb, fdy_arena_t *arena, fdy_job_record_t *out)
{
    memset(out, 0, sizeof *out);
    s_spec_from_pb(pb->spec, &out->spec);
    out->id = pb->id;
    out->tenant = pb->tenant;
    out->submitter = pb->submitter;
    out->state = pb->state;
    out->attempt = pb->attempt;
    out->fence = pb->fence;
    out->created_ms = pb->created_ms;
    out->updated_ms = pb->updated_ms;
    out->not_before_ms = pb->not_before_ms;
    out->lease_until_ms = pb->lease_until_ms;
    out->node = pb->node;
    out->result = pb->result.len ? pb->result.data : NULL;
    out->result_len = pb->result.len;
    out->error = pb->error;
    out->log_tail = pb->log_tail;
    out->progress = pb->progress;
    out->waiting = pb->waiting;
    out->attempt_count = pb->n_attempts;
    if (pb->n_attempts && pb->n_attempts <= FDY_JOB_ATTEMPTS_MAX) {
        fdy_job_attempt_t *attempts =
            fdy_codec_arena_array(arena, pb->n_attempts, sizeof *attempts);
        for (size_t i = 0; attempts && i < pb->n_attempts; i++) {
            const Foundry__JobAttempt *a = pb->attempts[i];
            attempts[i] = (fdy_job_attempt_t){a->attempt,  a->fence, a->node, a->started_ms,
                                              a->ended_ms, a->state, a->error};
        }
        out->attempts = attempts;
    }
}

foundry_err
fdy_codec_job_record_check(const fdy_job_record_t *rec, fdy_reason_t *reason)
{
    if (rec->id == 0 || !rec->spec.type)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "job record without id or spec");
    foundry_err err = fdy_codec_job_spec_check(&rec->spec, FDY_JOB_PAYLOAD_MAX, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (rec->result_len > FDY_JOB_RESULT_MAX || rec->attempt_count > FDY_JOB_ATTEMPTS_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "job record result or history too big");
    if (rec->attempt_count && !rec->attempts)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "job record: decoding budget");
    return FOUNDRY_OK;
}

foundry_err
fdy_codec_job_record_decode_pb(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                               fdy_job_record_t *out, fdy_reason_t *reason)
{
    assert(arena && out);
    memset(out, 0, sizeof *out);
    if (len > FDY_JOB_FRAME_MAX + FDY_JOB_RESULT_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "job record of %zu bytes is too big", len);
    fdy_pb_ctx_t ctx = {arena, false};
    ProtobufCAllocator allocator = fdy_codec_pb_allocator(&ctx);
    Foundry__JobRecord *pb = foundry__job_record__unpack(&allocator, len, buf);
    if (!pb)
        return fdy_codec_unpack_failed(&ctx, "job record", len, reason);
    s_record_from_pb(pb, arena, out);
    return fdy_codec_job_record_check(out, reason);
}

foundry_err
fdy_codec_job_reply_decode_pb(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                              fdy_job_reply_t *out, fdy_reason_t *reason)
{
    assert(arena && out);
    memset(out, 0, sizeof *out);
    fdy_pb_ctx_t ctx = {arena, false};
    ProtobufCAllocator allocator = fdy_codec_pb_allocator(&ctx);
    Foundry__JobReply *pb = foundry__job_reply__unpack(&allocator, len, buf);
    if (!pb)
        return fdy_codec_unpack_failed(&ctx, "job reply", len, reason);
    out->job_id = pb->job_id;
    out->duplicate = pb->duplicate;
    if (pb->n_outcomes) {
        fdy_job_outcome_t *outs = fdy_codec_arena_array(arena, pb->n_outcomes, sizeof *outs);
        if (!outs)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "job reply: decoding budget");
        for (size_t i = 0; i < pb->n_outcomes; i++) {
            const Foundry__JobOutcome *o = pb->outcomes[i];
            outs[i] = (fdy_job_outcome_t){o->job_id, o->duplicate,
                                          fdy_codec_job_outcome_code(o->error_code), o->error};
        }
        out->outcomes = outs;
        out->outcome_count = pb->n_outcomes;
    }
    if (pb->n_jobs == 0)
        return FOUNDRY_OK;
    fdy_job_record_t *jobs = fdy_codec_arena_array(arena, pb->n_jobs, sizeof *jobs);
    if (!jobs)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "job reply: decoding budget");
    for (size_t i = 0; i < pb->n_jobs; i++) {
        s_record_from_pb(pb->jobs[i], arena, &jobs[i]);
        foundry_err err = fdy_codec_job_record_check(&jobs[i], reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    out->jobs = jobs;
    out->job_count = pb->n_jobs;
    return FOUNDRY_OK;
}
