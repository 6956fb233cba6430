/*  store_job_state.c: the job state record's layout (store_job_state.h).
 *  Integers little-endian:
 *    u8 version | u32 attempt | u64 fence | u64 updated_ms
 *    | u64 not_before_ms | u64 lease_until_ms | text state | text node
 *    | blob result | text error | text log_tail | text progress
 *    | u8 attempt count | per attempt: u32 attempt | u64 fence
 *      | u64 started_ms | u64 ended_ms | text node | text state | text error
 *  text = u16 n | n bytes ending in NUL (n 0: none), so a decoded text
 *  borrows the stored bytes; blob = u32 n | n bytes.
 */
#include "store_job_state.h"

#include "bytes.h"
#include "xalloc.h"

#include <string.h>

#define FIXED_HEAD (1u + 4u + 8u * 4u)
#define FIXED_TRY  (4u + 8u * 3u)

static size_t
s_text_size(const char *text)
{
    return 2u + (text && *text ? strlen(text) + 1u : 0u);
}

static bool
s_text_fits(const char *text)
{
    return !text || strlen(text) <= FDY_JOB_TEXT_MAX;
}

static uint8_t *
s_put_text(uint8_t *at, const char *text)
{
    size_t n = text && *text ? strlen(text) + 1u : 0u;
    fdy_bytes_put_le16(at, (uint16_t) n);
    memcpy(at + 2, text ? text : "", n);
    return at + 2 + n;
}

static uint8_t *
s_put_u64(uint8_t *at, uint64_t v)
{
    fdy_bytes_put_le64(at, v);
    return at + 8;
}

foundry_err
fdy_store_job_state_append(const fdy_job_record_t *rec, uint8_t **buf, size_t *len, size_t *cap)
{
    const char *texts[] = {rec->state, rec->node, rec->error, rec->log_tail, rec->progress};
    if (rec->attempt_count > FDY_JOB_ATTEMPTS_MAX || rec->result_len > FDY_JOB_RESULT_MAX)
        return FOUNDRY_EINVAL;
    size_t size = FIXED_HEAD + 4u + rec->result_len + 1u;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        if (!s_text_fits(texts[i]))
            return FOUNDRY_EINVAL;
        size += s_text_size(texts[i]);
    }
    for (size_t i = 0; i < rec->attempt_count; i++) {
        const fdy_job_attempt_t *a = &rec->attempts[i];
        if (!s_text_fits(a->node) || !s_text_fits(a->state) || !s_text_fits(a->error))
            return FOUNDRY_EINVAL;
        size += FIXED_TRY + s_text_size(a->node) + s_text_size(a->state) + s_text_size(a->error);
    }
    *buf = fdy_xgrow(*buf, cap, *len + size, 1);
    uint8_t *at = *buf + *len;
    *at++ = FDY_STORE_JOB_STATE_VERSION;
    fdy_bytes_put_le32(at, rec->attempt);
    at = s_put_u64(at + 4, rec->fence);
    at = s_put_u64(at, rec->updated_ms);
    at = s_put_u64(at, rec->not_before_ms);
    at = s_put_u64(at, rec->lease_until_ms);
    at = s_put_text(at, rec->state);
    at = s_put_text(at, rec->node);
    fdy_bytes_put_le32(at, (uint32_t) rec->result_len);
    if (rec->result_len)
        memcpy(at + 4, rec->result, rec->result_len);
    at += 4 + rec->result_len;
    at = s_put_text(at, rec->error);
    at = s_put_text(at, rec->log_tail);
    at = s_put_text(at, rec->progress);
    *at++ = (uint8_t) rec->attempt_count;
    for (size_t i = 0; i < rec->attempt_count; i++) {
        const fdy_job_attempt_t *a = &rec->attempts[i];
        fdy_bytes_put_le32(at, a->attempt);
        at = s_put_u64(at + 4, a->fence);
        at = s_put_u64(at, a->started_ms);
        at = s_put_u64(at, a->ended_ms);
        at = s_put_text(at, a->node);
        at = s_put_text(at, a->state);
        at = s_put_text(at, a->error);
    }
    *len += size;
    return FOUNDRY_OK;
}

/* ---- decoding ------------------------------------------------------------- */

/* A text: NULL when absent, or bytes that end in their only NUL. */
static const char *
s_text(fdy_bytes_in_t *r)
{
    size_t n = fdy_bytes_take_le16(r);
    if (n == 0)
        return NULL;
    const uint8_t *text = n <= FDY_JOB_TEXT_MAX + 1u ? fdy_bytes_take(r, n) : NULL;
    if (!text || memchr(text, '\0', n) != text + n - 1) {
        r->bad = true;
        return NULL;
    }
    return (const char *) text;
}

foundry_err
fdy_store_job_state_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                           fdy_job_record_t *rec, fdy_reason_t *reason)
{
    fdy_bytes_in_t r = {buf, len, false};
    const uint8_t *version = fdy_bytes_take(&r, 1);
    if (!version || *version != FDY_STORE_JOB_STATE_VERSION)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "job state record of %zu bytes: %s", len,
                              version ? "unknown version" : "empty");
    fdy_job_record_t out = *rec;
    out.attempt = fdy_bytes_take_le32(&r);
    out.fence = fdy_bytes_take_le64(&r);
    out.updated_ms = fdy_bytes_take_le64(&r);
    out.not_before_ms = fdy_bytes_take_le64(&r);
    out.lease_until_ms = fdy_bytes_take_le64(&r);
    out.state = s_text(&r);
    out.node = s_text(&r);
    out.result_len = fdy_bytes_take_le32(&r);
    out.result = out.result_len <= FDY_JOB_RESULT_MAX ? fdy_bytes_take(&r, out.result_len) : NULL;
    if (!out.result_len || !out.result)
        out.result = NULL;
    if (out.result_len > FDY_JOB_RESULT_MAX)
        r.bad = true;
    out.error = s_text(&r);
    out.log_tail = s_text(&r);
    out.progress = s_text(&r);
    out.attempt_count = fdy_bytes_take_u8(&r);
    out.attempts = NULL;
    if (out.attempt_count > FDY_JOB_ATTEMPTS_MAX)
        r.bad = true;
    fdy_job_attempt_t *tries = NULL;
    if (!r.bad && out.attempt_count) {
        tries = fdy_arena_alloc(arena, out.attempt_count * sizeof *tries);
        if (!tries)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "job state record: decoding budget");
    }
    for (size_t i = 0; !r.bad && i < out.attempt_count; i++) {
        fdy_job_attempt_t *a = &tries[i];
        a->attempt = fdy_bytes_take_le32(&r);
        a->fence = fdy_bytes_take_le64(&r);
        a->started_ms = fdy_bytes_take_le64(&r);
        a->ended_ms = fdy_bytes_take_le64(&r);
        a->node = s_text(&r);
        a->state = s_text(&r);
        a->error = s_text(&r);
    }
    if (r.bad || r.left)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "job state record of %zu bytes: %s", len,
                              r.bad ? "truncated or out of bounds" : "bytes after its end");
    out.attempts = tries;
    *rec = out;
    return FOUNDRY_OK;
}
