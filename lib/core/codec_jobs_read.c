/*  codec_jobs_read.c: the JobRequest decoder (frame 1 of every JOB), by
 *  hand: SUBMIT and RESULT batches arrive once per job, and protobuf-c's
 *  descriptor walk and per-field allocations were most of their cost. It
 *  reads exactly what protobuf-c 1.4's unpack reads (its varint, length
 *  and tag rules, wire types, last value wins, unknown fields skipped),
 *  then judges it with the same checks (fdy_codec_job_request_check).
 *  Policy is the broker's; the other job messages stay in codec_jobs.c.
 */
#include "codec_internal.h"
#include "codec_jobs.h"
#include "codec_jobs_ref.h"

#include <assert.h>
#include <string.h>

enum { WIRE_VARINT = 0, WIRE_64 = 1, WIRE_LEN = 2, WIRE_32 = 5 };

/* One field as protobuf-c scans it: after the tag, `raw` for raw_len
 * bytes (what a bool reads, whatever its wire type); a varint's or fixed
 * value's bytes, or a length-delimited field's body at data for len. */
typedef struct {
    uint32_t number;
    unsigned wire;
    const uint8_t *raw;
    size_t raw_len;
    const uint8_t *data;
    size_t len;
} s_field_t;

typedef struct {
    const uint8_t *at;
    const uint8_t *end;
} s_in_t;

/* The next field of in (which is not empty); false when it is malformed
 * as protobuf-c sees it: a tag over 5 bytes, a varint over 10, a length
 * over 5 bytes or past the end, a fixed value cut short, wire types 3, 4,
 * 6 and 7 (groups and unknown ones). */
static bool
s_next(s_in_t *in, s_field_t *f)
{
    const uint8_t *at = in->at;
    size_t rem = (size_t) (in->end - at);
    if ((at[0] & 0xf8) == 0)
        return false; /* protobuf-c refuses a one-byte tag 0, not a longer one */
    uint32_t tag = (uint32_t) (at[0] & 0x7f) >> 3;
    size_t used = 1;
    f->wire = at[0] & 7;
    if (at[0] & 0x80) {
        size_t max = rem < 5 ? rem : 5;
        unsigned shift = 4;
        for (used = 1; used < max && (at[used] & 0x80); used++, shift += 7)
            tag |= (uint32_t) (at[used] & 0x7f) << shift;
        if (used == max)
            return false;
        tag |= (uint32_t) at[used] << shift;
        used++;
    }
    f->number = tag;
    at += used;
    rem -= used;
    f->raw = f->data = at;
    switch (f->wire) {
    case WIRE_VARINT: {
        size_t vmax = rem < 10 ? rem : 10, i = 0;
        while (i < vmax && (at[i] & 0x80))
            i++;
        if (i == vmax)
            return false;
        f->len = f->raw_len = i + 1;
        break;
    }
    case WIRE_64:
    case WIRE_32:
        f->len = f->raw_len = f->wire == WIRE_64 ? 8 : 4;
        if (rem < f->len)
            return false;
        break;
    case WIRE_LEN: {
        /* The usual lengths, in one or two bytes, first. */
        if (rem && at[0] < 0x80) {
            if (at[0] > rem - 1)
                return false;
            f->data = at + 1;
            f->len = at[0];
            f->raw_len = 1 + f->len;
            break;
        }
        if (rem >= 2 && at[1] < 0x80) {
            size_t value = (size_t) (at[0] & 0x7f) | (size_t) at[1] << 7;
            if (value > rem - 2)
                return false;
            f->data = at + 2;
            f->len = value;
            f->raw_len = 2 + value;
            break;
        }
        /* protobuf-c keeps the low 32 bits of a 5-byte length. */
        size_t hmax = rem < 5 ? rem : 5, i = 0;
        uint32_t value = 0;
        for (; i < hmax; i++) {
            value |= (uint32_t) (at[i] & 0x7f) << (7 * i);
            if (!(at[i] & 0x80))
                break;
        }
        if (i == hmax || (uint64_t) value > rem - (i + 1))
            return false;
        f->data = at + i + 1;
        f->len = value;
        f->raw_len = i + 1 + value;
        break;
    }
    default: return false;
    }
    in->at = at + f->raw_len;
    return true;
}

/* The wire type each known field takes (by field number): 'v' a varint,
 * 'l' length-delimited, 'p' either (a repeated varint, packed or not),
 * 'a' any (protobuf-c reads a bool from whatever follows its tag); an
 * unknown field takes any. Anything else fails protobuf-c's unpack. */
static const char s_request_wire[20] = {
    [1] = 'v',  [2] = 'l',  [3] = 'v',  [4] = 'v',  [5] = 'a',  [6] = 'l',  [7] = 'l',
    [8] = 'l',  [9] = 'v',  [10] = 'l', [11] = 'l', [12] = 'l', [13] = 'l', [14] = 'l',
    [15] = 'p', [16] = 'p', [17] = 'l', [18] = 'l', [19] = 'a'};
static const char s_spec_wire[15] = {
    [1] = 'l', [2] = 'l', [3] = 'l',  [4] = 'l',  [5] = 'v',  [6] = 'v',  [7] = 'v',
    [8] = 'v', [9] = 'v', [10] = 'v', [11] = 'l', [12] = 'v', [13] = 'v', [14] = 'l'};
static const char s_result_wire[8] = {
    [1] = 'v', [2] = 'v', [3] = 'a', [4] = 'l', [5] = 'l', [6] = 'l', [7] = 'v'};

static bool
s_wire_ok(const s_field_t *f, const char *table, size_t size)
{
    char want = f->number < size ? table[f->number] : 0;
    switch (want) {
    case 'v': return f->wire == WIRE_VARINT;
    case 'l': return f->wire == WIRE_LEN;
    case 'p': return f->wire == WIRE_VARINT || f->wire == WIRE_LEN;
    default: return true;
    }
}

/* Varint values, truncated to their field's width as protobuf-c does. */
static uint64_t
s_u64(const uint8_t *data, size_t len)
{
    if (len == 1)
        return data[0];
    uint64_t value = 0;
    for (size_t i = 0; i < len; i++)
        value |= (uint64_t) (data[i] & 0x7f) << (7 * i);
    return value;
}

static bool
s_bool(const s_field_t *f)
{
    for (size_t i = 0; i < f->raw_len; i++)
        if (f->raw[i] & 0x7f)
            return true;
    return false;
}

/* A uint32, uint64 or enum field: only a varint will do. */
static bool
s_uint(const s_field_t *f, uint64_t *value)
{
    if (f->wire != WIRE_VARINT)
        return false;
    *value = s_u64(f->data, f->len);
    return true;
}

static bool
s_u32(const s_field_t *f, uint32_t *value)
{
    uint64_t v;
    if (!s_uint(f, &v))
        return false;
    *value = (uint32_t) v;
    return true;
}

/* A decoding: the arena, and one block of it the copies of texts and
 * bytes are cut from. A copy of n bytes takes n + 1 at most, and its field
 * at least n + 2 on the wire, so a block as big as the request holds all. */
typedef struct {
    fdy_pb_ctx_t pb;
    uint8_t *block;
    size_t left;
} s_ctx_t;

static void *
s_cut(s_ctx_t *ctx, size_t size)
{
    assert(size <= ctx->left);
    void *at = ctx->block;
    ctx->block += size;
    ctx->left -= size;
    return at;
}

/* A string: a C copy, cut at a NUL as protobuf-c's is. */
static bool
s_str(s_ctx_t *ctx, const s_field_t *f, const char **out)
{
    if (f->wire != WIRE_LEN)
        return false;
    char *s = s_cut(ctx, f->len + 1);
    memcpy(s, f->data, f->len);
    s[f->len] = '\0';
    *out = s;
    return true;
}

static bool
s_bytes(s_ctx_t *ctx, const s_field_t *f, const uint8_t **out, size_t *len)
{
    if (f->wire != WIRE_LEN)
        return false;
    *out = NULL;
    *len = f->len;
    if (!f->len)
        return true;
    uint8_t *copy = s_cut(ctx, f->len);
    memcpy(copy, f->data, f->len);
    *out = copy;
    return true;
}

/* Room for a repeated field's count items, none for zero. */
static bool
s_array(s_ctx_t *ctx, size_t count, size_t size, void **out)
{
    *out = NULL;
    if (!count)
        return true;
    *out = fdy_codec_arena_array(ctx->pb.arena, count, size);
    if (!*out)
        ctx->pb.exhausted = true;
    return *out != NULL;
}

/* Elements a packed repeated varint field adds: protobuf-c counts the
 * bytes that end a varint. */
static size_t
s_packed_count(const s_field_t *f)
{
    if (f->wire != WIRE_LEN)
        return 1;
    size_t n = 0;
    for (size_t i = 0; i < f->len; i++)
        n += !(f->data[i] & 0x80);
    return n;
}

/* Appends a repeated uint64 field's values (one varint, or packed ones)
 * at values[*n]. */
static bool
s_packed(const s_field_t *f, uint64_t *values, size_t *n)
{
    if (f->wire == WIRE_VARINT) {
        values[(*n)++] = s_u64(f->data, f->len);
        return true;
    }
    if (f->wire != WIRE_LEN)
        return false;
    const uint8_t *at = f->data, *end = f->data + f->len;
    while (at < end) {
        size_t rem = (size_t) (end - at), vmax = rem < 10 ? rem : 10, i = 0;
        while (i < vmax && (at[i] & 0x80))
            i++;
        if (i == vmax)
            return false;
        values[(*n)++] = s_u64(at, i + 1);
        at += i + 1;
    }
    return true;
}

/* The shape of a message: every field well formed, known ones of their
 * wire type. */
static bool
s_shape(const uint8_t *data, size_t len, const char *table, size_t size)
{
    s_in_t in = {data, data + len};
    s_field_t f;
    while (in.at < in.end)
        if (!s_next(&in, &f) || !s_wire_ok(&f, table, size))
            return false;
    return true;
}

/* How many fields numbered `number` from `from` on, up to the first
 * malformed one (where the caller's own pass stops too). */
static size_t
s_occurrences(const uint8_t *from, const uint8_t *end, uint32_t number)
{
    s_in_t in = {from, end};
    s_field_t f;
    size_t n = 0;
    while (in.at < in.end && s_next(&in, &f))
        n += f.number == number;
    return n;
}

/* A JobSpec's body into *spec, in one pass: the sites and labels arrays
 * are sized when the first of each comes (so never overrun: this pass
 * stops where the count did). With spec NULL only its shape is read. */
static bool
s_spec(s_ctx_t *ctx, const uint8_t *data, size_t len, fdy_job_spec_t *spec)
{
    if (!spec)
        return s_shape(data, len, s_spec_wire, sizeof s_spec_wire);
    memset(spec, 0, sizeof *spec);
    spec->type = spec->key = spec->node = "";
    const char **sites = NULL, **labels = NULL;
    s_in_t in = {data, data + len};
    s_field_t f;
    bool ok = true;
    while (ok && in.at < in.end) {
        const uint8_t *field_at = in.at;
        if (!s_next(&in, &f))
            return false;
        uint64_t v = 0;
        switch (f.number) {
        case 1: ok = s_str(ctx, &f, &spec->type); break;
        case 2: ok = s_bytes(ctx, &f, &spec->payload, &spec->payload_len); break;
        case 3:
            if (!sites) {
                ok = s_array(ctx, s_occurrences(field_at, in.end, 3), sizeof *sites,
                             (void **) &sites);
                spec->sites = sites;
            }
            ok = ok && s_str(ctx, &f, &sites[spec->site_count++]);
            break;
        case 4:
            if (!labels) {
                ok = s_array(ctx, s_occurrences(field_at, in.end, 4), sizeof *labels,
                             (void **) &labels);
                spec->labels = labels;
            }
            ok = ok && s_str(ctx, &f, &labels[spec->label_count++]);
            break;
        case 5: ok = s_u32(&f, &spec->priority); break;
        case 6: ok = s_u32(&f, &spec->timeout_ms); break;
        case 7: ok = s_u32(&f, &spec->max_attempts); break;
        case 8: ok = s_u32(&f, &spec->backoff_initial_ms); break;
        case 9: ok = s_u32(&f, &spec->backoff_factor); break;
        case 10: ok = s_u32(&f, &spec->backoff_max_ms); break;
        case 11: ok = s_str(ctx, &f, &spec->key); break;
        case 12:
            ok = s_uint(&f, &v);
            spec->deadline_ms = v;
            break;
        case 13: ok = s_u32(&f, &spec->result_ttl_ms); break;
        case 14: ok = s_str(ctx, &f, &spec->node); break;
        default: break; /* unknown: skipped */
        }
    }
    return ok;
}

/* A JobResult's body into *item, in one pass; with item NULL only its
 * shape is read. */
static bool
s_result(s_ctx_t *ctx, const uint8_t *data, size_t len, fdy_job_result_item_t *item)
{
    if (!item)
        return s_shape(data, len, s_result_wire, sizeof s_result_wire);
    memset(item, 0, sizeof *item);
    item->error = item->log_tail = "";
    s_in_t in = {data, data + len};
    s_field_t f;
    bool ok = true;
    while (ok && in.at < in.end) {
        if (!s_next(&in, &f))
            return false;
        switch (f.number) {
        case 1: ok = s_uint(&f, &item->job_id); break;
        case 2: ok = s_uint(&f, &item->fence); break;
        case 3: item->ok = s_bool(&f); break;
        case 4: ok = s_bytes(ctx, &f, &item->result, &item->result_len); break;
        case 5: ok = s_str(ctx, &f, &item->error); break;
        case 6: ok = s_str(ctx, &f, &item->log_tail); break;
        case 7: ok = s_u32(&f, &item->credit); break;
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
    s_in_t in = {buf, buf + len};
    s_field_t f;
    while (in.at < in.end) {
        if (!s_next(&in, &f) || !s_wire_ok(&f, s_request_wire, sizeof s_request_wire))
            return false;
        switch (f.number) {
        case 2: n->specs_sent++; break;
        case 11: n->labels++; break;
        case 12: n->types++; break;
        case 15: n->ids += s_packed_count(&f); break;
        case 16: n->fences += s_packed_count(&f); break;
        case 17: n->specs++; break;
        case 18: n->results++; break;
        default: break;
        }
    }
    return true;
}

/* The second pass: every field of the request into raw. */
static bool
s_fill(s_ctx_t *ctx, const uint8_t *buf, size_t len, const s_counts_t *n,
       fdy_job_request_raw_t *raw)
{
    fdy_job_request_t *req = &raw->req;
    req->error = req->log_tail = req->name = req->state = req->progress = "";
    const char **labels, **types;
    uint64_t *ids, *fences;
    if (!s_array(ctx, n->labels, sizeof *labels, (void **) &labels) ||
        !s_array(ctx, n->types, sizeof *types, (void **) &types) ||
        !s_array(ctx, n->ids, sizeof *ids, (void **) &ids) ||
        !s_array(ctx, n->fences, sizeof *fences, (void **) &fences))
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
    s_in_t in = {buf, buf + len};
    s_field_t f;
    size_t spec_i = 0, result_i = 0, fence_n = 0;
    bool ok = true;
    while (ok && in.at < in.end) {
        (void) s_next(&in, &f); /* its shape was read by s_count */
        uint64_t v = 0;
        switch (f.number) {
        case 1:
            ok = s_uint(&f, &v);
            raw->op = (int32_t) (uint32_t) v;
            break;
        case 2:
            ok = f.wire == WIRE_LEN && s_spec(ctx, f.data, f.len, &req->spec);
            raw->has_spec = true;
            break;
        case 3: ok = s_uint(&f, &req->job_id); break;
        case 4: ok = s_uint(&f, &req->fence); break;
        case 5: req->ok = s_bool(&f); break;
        case 6: ok = s_bytes(ctx, &f, &req->result, &req->result_len); break;
        case 7: ok = s_str(ctx, &f, &req->error); break;
        case 8: ok = s_str(ctx, &f, &req->log_tail); break;
        case 9: ok = s_u32(&f, &req->credit); break;
        case 10: ok = s_str(ctx, &f, &req->name); break;
        case 11: ok = s_str(ctx, &f, &labels[req->label_count++]); break;
        case 12: ok = s_str(ctx, &f, &types[req->type_count++]); break;
        case 13: ok = s_str(ctx, &f, &req->state); break;
        case 14: ok = s_str(ctx, &f, &req->progress); break;
        case 15: ok = s_packed(&f, ids, &req->id_count); break;
        case 16: ok = s_packed(&f, fences, &fence_n); break;
        case 17:
            ok = f.wire == WIRE_LEN && s_spec(ctx, f.data, f.len, specs ? &specs[spec_i] : NULL);
            spec_i++;
            break;
        case 18:
            ok = f.wire == WIRE_LEN &&
                 s_result(ctx, f.data, f.len, results ? &results[result_i] : NULL);
            result_i++;
            break;
        case 19: req->offer_batches = s_bool(&f); break;
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
    s_ctx_t ctx = {{arena, false}, NULL, 0};
    s_counts_t n;
    if (!s_count(buf, len, &n))
        return fdy_codec_unpack_failed(&ctx.pb, "job request", len, reason);
    /* A spec sent twice is merged field by field under protobuf's rules,
     * which no sender of ours does: protobuf-c itself decodes that. */
    if (n.specs_sent > 1)
        return fdy_codec_job_request_decode_pb(buf, len, arena, out, reason);
    ctx.left = len;
    ctx.block = len ? fdy_arena_alloc(arena, len) : NULL;
    ctx.pb.exhausted = len && !ctx.block;
    fdy_job_request_raw_t raw;
    memset(&raw, 0, sizeof raw);
    if (ctx.pb.exhausted || !s_fill(&ctx, buf, len, &n, &raw))
        return fdy_codec_unpack_failed(&ctx.pb, "job request", len, reason);
    return fdy_codec_job_request_check(&raw, out, reason);
}
