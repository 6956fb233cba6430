/*  codec_fields.h: a protobuf wire reader for the hand-written decoders
 *  (codec_jobs_read*.c) that reads exactly what protobuf-c 1.4's unpack
 *  reads: its tag, varint and length rules, the wire types it takes per
 *  field type, a bool from whatever follows its tag, strings cut at a NUL.
 *  Not for use outside lib/core.
 */
#ifndef FDY_CODEC_FIELDS_H_INCLUDED
#define FDY_CODEC_FIELDS_H_INCLUDED

#include "codec_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { FDY_WIRE_VARINT = 0, FDY_WIRE_64 = 1, FDY_WIRE_LEN = 2, FDY_WIRE_32 = 5 };

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
} fdy_field_t;

typedef struct {
    const uint8_t *at;
    const uint8_t *end;
} fdy_field_in_t;

/* The next field of in (which is not empty); false when it is malformed
 * as protobuf-c sees it: a one-byte tag 0, a tag over 5 bytes, a varint
 * over 10, a length over 5 bytes or past the end, a fixed value cut
 * short, wire types 3, 4, 6 and 7 (groups and unknown ones). */
bool fdy_codec_fields_next(fdy_field_in_t *in, fdy_field_t *f);

/* The wire type each known field of a message takes, by field number:
 * 'v' a varint, 'l' length-delimited, 'p' either (a repeated varint,
 * packed or not), 'a' any (a bool); an unknown field takes any. */
static inline bool
fdy_codec_fields_wire_ok(const fdy_field_t *f, const char *table, size_t size)
{
    char want = f->number < size ? table[f->number] : 0;
    switch (want) {
    case 'v': return f->wire == FDY_WIRE_VARINT;
    case 'l': return f->wire == FDY_WIRE_LEN;
    case 'p': return f->wire == FDY_WIRE_VARINT || f->wire == FDY_WIRE_LEN;
    default: return true;
    }
}

/* Varint values, truncated to their field's width as protobuf-c does. */
static inline uint64_t
fdy_codec_fields_u64(const uint8_t *data, size_t len)
{
    if (len == 1)
        return data[0];
    uint64_t value = 0;
    for (size_t i = 0; i < len; i++)
        value |= (uint64_t) (data[i] & 0x7f) << (7 * i);
    return value;
}

static inline bool
fdy_codec_fields_bool(const fdy_field_t *f)
{
    for (size_t i = 0; i < f->raw_len; i++)
        if (f->raw[i] & 0x7f)
            return true;
    return false;
}

/* A uint32, uint64 or enum field: only a varint will do. */
static inline bool
fdy_codec_fields_uint(const fdy_field_t *f, uint64_t *value)
{
    if (f->wire != FDY_WIRE_VARINT)
        return false;
    *value = fdy_codec_fields_u64(f->data, f->len);
    return true;
}

static inline bool
fdy_codec_fields_u32(const fdy_field_t *f, uint32_t *value)
{
    uint64_t v;
    if (!fdy_codec_fields_uint(f, &v))
        return false;
    *value = (uint32_t) v;
    return true;
}

/* A decoding: the arena, and one block of it the copies of texts and
 * bytes are cut from. A copy of n bytes takes n + 1 at most, and its field
 * at least n + 2 on the wire, so a block as big as the message holds all. */
typedef struct {
    fdy_pb_ctx_t pb;
    uint8_t *block;
    size_t left;
} fdy_field_ctx_t;

/* Starts a decoding of len bytes into arena: false (and exhausted) when
 * the block does not fit its budget. */
bool fdy_codec_fields_start(fdy_field_ctx_t *ctx, fdy_arena_t *arena, size_t len);

/* A string field: a C copy, cut at a NUL as protobuf-c's is ("" when
 * empty). A bytes field: a copy, NULL when empty. False for another wire
 * type. */
bool fdy_codec_fields_str(fdy_field_ctx_t *ctx, const fdy_field_t *f, const char **out);
bool fdy_codec_fields_bytes(fdy_field_ctx_t *ctx, const fdy_field_t *f, const uint8_t **out,
                            size_t *len);

/* Room for a repeated field's count items from the arena (NULL for 0);
 * false, and exhausted, when the budget is. */
bool fdy_codec_fields_array(fdy_field_ctx_t *ctx, size_t count, size_t size, void **out);

/* A repeated varint field: the elements it adds (protobuf-c counts the
 * bytes that end a varint), and its values appended at values[*n]. */
size_t fdy_codec_fields_packed_count(const fdy_field_t *f);
bool fdy_codec_fields_packed(const fdy_field_t *f, uint64_t *values, size_t *n);

/* True when every field of data is well formed and the known ones (table
 * of size entries) of their wire type. */
bool fdy_codec_fields_shape(const uint8_t *data, size_t len, const char *table, size_t size);

/* How many fields numbered `number` from `from` on, up to the first
 * malformed one (where the caller's own pass stops too). */
size_t fdy_codec_fields_occurrences(const uint8_t *from, const uint8_t *end, uint32_t number);

#endif
