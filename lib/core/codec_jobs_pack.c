/*  codec_jobs_pack.c: the job messages written once or more per job,
 *  packed by hand (codec_jobs.h): the broker's stored JobRecord, its
 *  JobReply bodies (JOB_REPLY, JOB_OFFERS), every JobRequest (libfoundry's
 *  SUBMIT batches, a node's RESULT batches).
 *  The bytes are those protobuf-c packs (fields in number order, proto3
 *  zeros left out, a present submessage always written), so every decoder
 *  reads them; only its per-field descriptor walk and allocations are gone.
 */
#include "codec_internal.h"
#include "codec_jobs.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A packing cursor: with at NULL it only counts, so one function gives a
 * message's size first and then its bytes. */
typedef struct {
    uint8_t *at;
    size_t n;
} s_pack_t;

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

/* The field writers below are forced inline: a record is some forty
 * fields, each a call or two, and called they were half its cost. */

static inline __attribute__((always_inline)) void
s_raw(s_pack_t *p, const void *data, size_t len)
{
    if (p->at && len)
        memcpy(p->at + p->n, data, len);
    p->n += len;
}

/* Here, not codec_wire.c's, so that it inlines too. */
static inline __attribute__((always_inline)) void
s_varint(s_pack_t *p, uint64_t value)
{
    if (!p->at) {
        size_t n = 1;
        while (value >= 0x80) {
            value >>= 7;
            n++;
        }
        p->n += n;
        return;
    }
    uint8_t *out = p->at + p->n;
    while (value >= 0x80) {
        *out++ = (uint8_t) (value | 0x80);
        value >>= 7;
    }
    *out++ = (uint8_t) value;
    p->n = (size_t) (out - p->at);
}

static inline __attribute__((always_inline)) void
s_tag(s_pack_t *p, uint32_t field, uint32_t wire)
{
    s_varint(p, ((uint64_t) field << 3) | wire);
}

static inline __attribute__((always_inline)) void
s_uint(s_pack_t *p, uint32_t field, uint64_t value)
{
    if (!value)
        return;
    s_tag(p, field, WIRE_VARINT);
    s_varint(p, value);
}

/* A bytes or string field; an element of a repeated one (always) is
 * written even when empty. */
static inline __attribute__((always_inline)) void
s_bytes(s_pack_t *p, uint32_t field, const void *data, size_t len, bool always)
{
    if (!len && !always)
        return;
    s_tag(p, field, WIRE_LEN);
    s_varint(p, len);
    s_raw(p, data, len);
}

static inline __attribute__((always_inline)) void
s_str(s_pack_t *p, uint32_t field, const char *text)
{
    s_bytes(p, field, text, text ? strlen(text) : 0, false);
}

static void
s_spec(s_pack_t *p, const fdy_job_spec_t *spec)
{
    s_str(p, 1, spec->type);
    s_bytes(p, 2, spec->payload, spec->payload ? spec->payload_len : 0, false);
    for (size_t i = 0; i < spec->site_count; i++)
        s_bytes(p, 3, spec->sites[i], strlen(spec->sites[i]), true);
    for (size_t i = 0; i < spec->label_count; i++)
        s_bytes(p, 4, spec->labels[i], strlen(spec->labels[i]), true);
    s_uint(p, 5, spec->priority);
    s_uint(p, 6, spec->timeout_ms);
    s_uint(p, 7, spec->max_attempts);
    s_uint(p, 8, spec->backoff_initial_ms);
    s_uint(p, 9, spec->backoff_factor);
    s_uint(p, 10, spec->backoff_max_ms);
    s_str(p, 11, spec->key);
    s_uint(p, 12, spec->deadline_ms);
    s_uint(p, 13, spec->result_ttl_ms);
    s_str(p, 14, spec->node);
}

static void
s_attempt(s_pack_t *p, const fdy_job_attempt_t *a)
{
    s_uint(p, 1, a->attempt);
    s_uint(p, 2, a->fence);
    s_str(p, 3, a->node);
    s_uint(p, 4, a->started_ms);
    s_uint(p, 5, a->ended_ms);
    s_str(p, 6, a->state);
    s_str(p, 7, a->error);
}

/* *spec_len is the packed spec's size, or SIZE_MAX until this counts it:
 * the counting pass and the writing pass share it, so the spec (with its
 * payload) is gone over twice, not four times. */
static void
s_record(s_pack_t *p, const fdy_job_record_t *rec, size_t *spec_len)
{
    s_uint(p, 1, rec->id);
    s_str(p, 2, rec->tenant);
    s_str(p, 3, rec->submitter);
    if (*spec_len == SIZE_MAX) {
        s_pack_t count = {NULL, 0};
        s_spec(&count, &rec->spec);
        *spec_len = count.n;
    }
    s_tag(p, 4, WIRE_LEN); /* the spec, present even when empty */
    s_varint(p, *spec_len);
    s_spec(p, &rec->spec);
    s_str(p, 5, rec->state);
    s_uint(p, 6, rec->attempt);
    s_uint(p, 7, rec->fence);
    s_uint(p, 8, rec->created_ms);
    s_uint(p, 9, rec->updated_ms);
    s_uint(p, 10, rec->not_before_ms);
    s_uint(p, 11, rec->lease_until_ms);
    s_str(p, 12, rec->node);
    s_bytes(p, 13, rec->result, rec->result ? rec->result_len : 0, false);
    s_str(p, 14, rec->error);
    s_str(p, 15, rec->log_tail);
    for (size_t i = 0; i < rec->attempt_count; i++) {
        s_pack_t count = {NULL, 0};
        s_attempt(&count, &rec->attempts[i]);
        s_tag(p, 16, WIRE_LEN);
        s_varint(p, count.n);
        s_attempt(p, &rec->attempts[i]);
    }
    s_str(p, 17, rec->progress);
    s_str(p, 18, rec->waiting);
}

/* A JobOutcome: error_code is an int32, so a negative one would take ten
 * bytes, sign-extended, as protobuf-c writes it. */
static void
s_outcome(s_pack_t *p, const fdy_job_outcome_t *o)
{
    s_uint(p, 1, o->job_id);
    s_uint(p, 2, o->duplicate ? 1 : 0);
    s_uint(p, 3, (uint64_t) (int64_t) (int32_t) o->code);
    s_str(p, 4, o->error);
}

static void
s_reply(s_pack_t *p, const fdy_job_reply_t *reply)
{
    s_uint(p, 1, reply->job_id);
    s_uint(p, 2, reply->duplicate ? 1 : 0);
    for (size_t i = 0; i < reply->job_count; i++) {
        s_pack_t count = {NULL, 0};
        size_t spec_len = SIZE_MAX;
        s_record(&count, &reply->jobs[i], &spec_len);
        s_tag(p, 3, WIRE_LEN);
        s_varint(p, count.n);
        s_record(p, &reply->jobs[i], &spec_len);
    }
    for (size_t i = 0; i < reply->outcome_count; i++) {
        s_pack_t count = {NULL, 0};
        s_outcome(&count, &reply->outcomes[i]);
        s_tag(p, 4, WIRE_LEN);
        s_varint(p, count.n);
        s_outcome(p, &reply->outcomes[i]);
    }
}

foundry_err
fdy_codec_job_reply_encode(const fdy_job_reply_t *reply, uint8_t **buf_out, size_t *len_out)
{
    assert(reply && buf_out && len_out);
    *buf_out = NULL;
    *len_out = 0;
    s_pack_t count = {NULL, 0};
    s_reply(&count, reply);
    uint8_t *buf = malloc(count.n ? count.n : 1); /* never NULL on success */
    if (!buf)
        return FOUNDRY_ENOMEM;
    s_pack_t out = {buf, 0};
    s_reply(&out, reply);
    assert(out.n == count.n);
    *buf_out = buf;
    *len_out = out.n;
    return FOUNDRY_OK;
}

/* Room for need bytes in *buf (capacity *cap, doubled from 64 KiB): false
 * when out of memory, *buf then unchanged. */
static bool
s_reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t grown = *cap ? *cap : 65536;
    while (grown < need)
        grown *= 2;
    uint8_t *bigger = realloc(*buf, grown);
    if (!bigger)
        return false;
    *buf = bigger;
    *cap = grown;
    return true;
}

foundry_err
fdy_codec_job_record_append(const fdy_job_record_t *rec, uint8_t **buf, size_t *len, size_t *cap)
{
    assert(rec && buf && len && cap);
    if (rec->attempt_count > FDY_JOB_ATTEMPTS_MAX)
        return FOUNDRY_EINVAL;
    s_pack_t count = {NULL, 0};
    size_t spec_len = SIZE_MAX;
    s_record(&count, rec, &spec_len);
    if (!s_reserve(buf, cap, *len + count.n))
        return FOUNDRY_ENOMEM;
    s_pack_t out = {*buf + *len, 0};
    s_record(&out, rec, &spec_len);
    assert(out.n == count.n);
    *len += out.n;
    return FOUNDRY_OK;
}

/* The JobRecord of an offer: only what a node acts on (id, spec type,
 * payload and timeout, state, attempt, fence). */
static void
s_offer(s_pack_t *p, const fdy_job_record_t *rec, size_t *spec_len)
{
    fdy_job_record_t offer = {
        .id = rec->id, .state = rec->state, .attempt = rec->attempt, .fence = rec->fence};
    offer.spec.type = rec->spec.type;
    offer.spec.payload = rec->spec.payload;
    offer.spec.payload_len = rec->spec.payload_len;
    offer.spec.timeout_ms = rec->spec.timeout_ms;
    s_record(p, &offer, spec_len);
}

foundry_err
fdy_codec_job_offer_append(uint8_t **buf, size_t *len, size_t *cap, const fdy_job_record_t *rec)
{
    assert(rec && buf && len && cap);
    /* JobReply.jobs (field 3), one record at a time. */
    s_pack_t count = {NULL, 0};
    size_t spec_len = SIZE_MAX;
    s_offer(&count, rec, &spec_len);
    size_t need = *len + 1 + fdy_codec_varint_size(count.n) + count.n;
    if (!s_reserve(buf, cap, need))
        return FOUNDRY_ENOMEM;
    s_pack_t out = {*buf + *len, 0};
    s_tag(&out, 3, WIRE_LEN);
    s_varint(&out, count.n);
    s_offer(&out, rec, &spec_len);
    assert(*len + out.n == need);
    *len = need;
    return FOUNDRY_OK;
}

/* A packed repeated uint64 (proto3's default for repeated scalars). */
static void
s_packed(s_pack_t *p, uint32_t field, const uint64_t *values, size_t count)
{
    if (!count)
        return;
    size_t body = 0;
    for (size_t i = 0; i < count; i++) {
        s_pack_t one = {NULL, 0};
        s_varint(&one, values[i]);
        body += one.n;
    }
    s_tag(p, field, WIRE_LEN);
    s_varint(p, body);
    for (size_t i = 0; i < count; i++)
        s_varint(p, values[i]);
}

static void
s_result(s_pack_t *p, const fdy_job_result_item_t *r)
{
    s_uint(p, 1, r->job_id);
    s_uint(p, 2, r->fence);
    s_uint(p, 3, r->ok ? 1 : 0);
    s_bytes(p, 4, r->result, r->result ? r->result_len : 0, false);
    s_str(p, 5, r->error);
    s_str(p, 6, r->log_tail);
    s_uint(p, 7, r->credit);
}

static void
s_request(s_pack_t *p, const fdy_job_request_t *req)
{
    s_uint(p, 1, (uint64_t) req->op);
    if (req->op == FDY_JOB_SUBMIT && req->spec_count == 0) {
        s_pack_t count = {NULL, 0};
        s_spec(&count, &req->spec);
        s_tag(p, 2, WIRE_LEN);
        s_varint(p, count.n);
        s_spec(p, &req->spec);
    }
    s_uint(p, 3, req->job_id);
    s_uint(p, 4, req->fence);
    s_uint(p, 5, req->ok ? 1 : 0);
    s_bytes(p, 6, req->result, req->result ? req->result_len : 0, false);
    s_str(p, 7, req->error);
    s_str(p, 8, req->log_tail);
    s_uint(p, 9, req->credit);
    s_str(p, 10, req->name);
    for (size_t i = 0; i < req->label_count; i++)
        s_bytes(p, 11, req->labels[i], strlen(req->labels[i]), true);
    for (size_t i = 0; i < req->type_count; i++)
        s_bytes(p, 12, req->types[i], strlen(req->types[i]), true);
    s_str(p, 13, req->state);
    s_str(p, 14, req->progress);
    s_packed(p, 15, req->job_ids, req->id_count);
    s_packed(p, 16, req->fences, req->id_count);
    for (size_t i = 0; i < req->spec_count; i++) {
        s_pack_t count = {NULL, 0};
        s_spec(&count, &req->specs[i]);
        s_tag(p, 17, WIRE_LEN);
        s_varint(p, count.n);
        s_spec(p, &req->specs[i]);
    }
    for (size_t i = 0; i < req->result_count; i++) {
        s_pack_t count = {NULL, 0};
        s_result(&count, &req->results[i]);
        s_tag(p, 18, WIRE_LEN);
        s_varint(p, count.n);
        s_result(p, &req->results[i]);
    }
    s_uint(p, 19, req->offer_batches ? 1 : 0);
}

foundry_err
fdy_codec_job_request_encode(const fdy_job_request_t *req, uint8_t **buf_out, size_t *len_out)
{
    assert(req && buf_out && len_out);
    *buf_out = NULL;
    *len_out = 0;
    if (req->op < FDY_JOB_SUBMIT || req->op > FDY_JOB_RETRY || req->id_count > FDY_JOB_IDS_MAX ||
        req->spec_count > FDY_JOB_BATCH_MAX || req->result_count > FDY_JOB_BATCH_MAX)
        return FOUNDRY_EINVAL;
    s_pack_t count = {NULL, 0};
    s_request(&count, req);
    uint8_t *buf = malloc(count.n ? count.n : 1); /* never NULL on success */
    if (!buf)
        return FOUNDRY_ENOMEM;
    s_pack_t out = {buf, 0};
    s_request(&out, req);
    assert(out.n == count.n);
    *buf_out = buf;
    *len_out = out.n;
    return FOUNDRY_OK;
}

foundry_err
fdy_codec_job_batch_append(uint8_t **buf, size_t *len, size_t *cap, const fdy_job_spec_t *spec)
{
    assert(buf && len && cap && spec);
    /* JobRequest: op (field 1) once, then specs (field 17) one by one:
     * fields may come in any order on the wire. */
    s_pack_t count = {NULL, 0};
    s_spec(&count, spec);
    size_t need = *len + 2 + 2 + fdy_codec_varint_size(count.n) + count.n;
    if (!s_reserve(buf, cap, need))
        return FOUNDRY_ENOMEM;
    s_pack_t out = {*buf + *len, 0};
    if (*len == 0)
        s_uint(&out, 1, FDY_JOB_SUBMIT);
    s_tag(&out, 17, WIRE_LEN);
    s_varint(&out, count.n);
    s_spec(&out, spec);
    *len += out.n;
    return FOUNDRY_OK;
}
