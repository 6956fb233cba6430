/*  codec_fields.c: the protobuf wire reader of the hand-written decoders
 *  (codec_fields.h), what protobuf-c 1.4's unpack does field by field.
 */
#include "codec_fields.h"

#include <assert.h>
#include <string.h>

bool
fdy_codec_fields_next(fdy_field_in_t *in, fdy_field_t *f)
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
    case FDY_WIRE_VARINT: {
        size_t vmax = rem < 10 ? rem : 10, i = 0;
        while (i < vmax && (at[i] & 0x80))
            i++;
        if (i == vmax)
            return false;
        f->len = f->raw_len = i + 1;
        break;
    }
    case FDY_WIRE_64:
    case FDY_WIRE_32:
        f->len = f->raw_len = f->wire == FDY_WIRE_64 ? 8 : 4;
        if (rem < f->len)
            return false;
        break;
    case FDY_WIRE_LEN: {
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

static void *
s_cut(fdy_field_ctx_t *ctx, size_t size)
{
    assert(size <= ctx->left);
    void *at = ctx->block;
    ctx->block += size;
    ctx->left -= size;
    return at;
}

/* A string: a C copy, cut at a NUL as protobuf-c's is. */
bool
fdy_codec_fields_str(fdy_field_ctx_t *ctx, const fdy_field_t *f, const char **out)
{
    if (f->wire != FDY_WIRE_LEN)
        return false;
    char *s = s_cut(ctx, f->len + 1);
    memcpy(s, f->data, f->len);
    s[f->len] = '\0';
    *out = s;
    return true;
}

bool
fdy_codec_fields_bytes(fdy_field_ctx_t *ctx, const fdy_field_t *f, const uint8_t **out, size_t *len)
{
    if (f->wire != FDY_WIRE_LEN)
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
bool
fdy_codec_fields_array(fdy_field_ctx_t *ctx, size_t count, size_t size, void **out)
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
size_t
fdy_codec_fields_packed_count(const fdy_field_t *f)
{
    if (f->wire != FDY_WIRE_LEN)
        return 1;
    size_t n = 0;
    for (size_t i = 0; i < f->len; i++)
        n += !(f->data[i] & 0x80);
    return n;
}

/* Appends a repeated uint64 field's values (one varint, or packed ones)
 * at values[*n]. */
bool
fdy_codec_fields_packed(const fdy_field_t *f, uint64_t *values, size_t *n)
{
    if (f->wire == FDY_WIRE_VARINT) {
        values[(*n)++] = fdy_codec_fields_u64(f->data, f->len);
        return true;
    }
    if (f->wire != FDY_WIRE_LEN)
        return false;
    const uint8_t *at = f->data, *end = f->data + f->len;
    while (at < end) {
        size_t rem = (size_t) (end - at), vmax = rem < 10 ? rem : 10, i = 0;
        while (i < vmax && (at[i] & 0x80))
            i++;
        if (i == vmax)
            return false;
        values[(*n)++] = fdy_codec_fields_u64(at, i + 1);
        at += i + 1;
    }
    return true;
}

/* The shape of a message: every field well formed, known ones of their
 * wire type. */
bool
fdy_codec_fields_shape(const uint8_t *data, size_t len, const char *table, size_t size)
{
    fdy_field_in_t in = {data, data + len};
    fdy_field_t f;
    while (in.at < in.end)
        if (!fdy_codec_fields_next(&in, &f) || !fdy_codec_fields_wire_ok(&f, table, size))
            return false;
    return true;
}

/* How many fields numbered `number` from `from` on, up to the first
 * malformed one (where the caller's own pass stops too). */
size_t
fdy_codec_fields_occurrences(const uint8_t *from, const uint8_t *end, uint32_t number)
{
    fdy_field_in_t in = {from, end};
    fdy_field_t f;
    size_t n = 0;
    while (in.at < in.end && fdy_codec_fields_next(&in, &f))
        n += f.number == number;
    return n;
}

bool
fdy_codec_fields_start(fdy_field_ctx_t *ctx, fdy_arena_t *arena, size_t len)
{
    ctx->pb = (fdy_pb_ctx_t){arena, false};
    ctx->left = len;
    ctx->block = len ? fdy_arena_alloc(arena, len) : NULL;
    ctx->pb.exhausted = len && !ctx->block;
    return !ctx->pb.exhausted;
}
