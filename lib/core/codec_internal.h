/*  codec_internal.h: helpers shared by the codecs: codec.c (protobuf-c
 *  encoding and envelope decoding), codec_wire.c (hand-written record
 *  parsing), codec_jobs.c and codec_models.c (the jobs and models services'
 *  messages) and telemetry.c (the telemetry schema). Not for use outside them.
 */
#ifndef FDY_CODEC_INTERNAL_H_INCLUDED
#define FDY_CODEC_INTERNAL_H_INCLUDED

#include "codec.h"

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

/* True when s[0..len) is UTF-8 text without NUL (fdy_utf8_valid with
 * FDY_UTF8_NO_NUL): the rule for every proto3 string field. */
bool fdy_codec_text_ok(const uint8_t *s, size_t len);

/* Reads a protobuf varint at *pos (advanced). False when truncated or over
 * 64 bits. */
bool fdy_codec_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *value);

/* Hand-written proto3 (codec_wire.c's deliveries, codec_jobs.c's
 * offers): a varint's size and bytes, and a field's (tag, then a varint
 * or length and bytes; nothing for a zero value or an empty field, as
 * proto3 leaves them out). The writers return the byte after what they
 * wrote; the caller made room. */
size_t fdy_codec_varint_size(uint64_t value);
uint8_t *fdy_codec_put_varint(uint8_t *out, uint64_t value);
size_t fdy_codec_bytes_field_size(size_t len);
size_t fdy_codec_uint_field_size(uint64_t value);
uint8_t *fdy_codec_put_bytes_field(uint8_t *out, uint8_t tag, const void *data, size_t len);
uint8_t *fdy_codec_put_uint_field(uint8_t *out, uint8_t tag, uint64_t value);

/* count * size bytes from the arena, NULL for count 0, an overflowing
 * product, or an exhausted budget. */
void *fdy_codec_arena_array(fdy_arena_t *arena, size_t count, size_t size);

/* Packs msg into a new malloc'd buffer (*buf_out: caller frees; never NULL
 * on FOUNDRY_OK, also for an empty message). FOUNDRY_ENOMEM otherwise. */
foundry_err fdy_codec_pack(const ProtobufCMessage *msg, uint8_t **buf_out, size_t *len_out);

/* A C string for a proto3 string field: NULL becomes "" (protobuf-c needs a
 * string; the field is not written when empty). */
static inline char *
fdy_codec_str(const char *s)
{
    return (char *) (s ? s : "");
}

/* protobuf-c allocates through this, so every byte an untrusted frame makes
 * us allocate is counted against the arena budget. `exhausted` tells a NULL
 * unpack caused by the budget (FOUNDRY_ENOMEM) from a malformed one. */
typedef struct {
    fdy_arena_t *arena;
    bool exhausted;
} fdy_pb_ctx_t;

/* An allocator over ctx (borrowed: must outlive the unpack). Frees are
 * no-ops: the arena releases everything at its reset. */
ProtobufCAllocator fdy_codec_pb_allocator(fdy_pb_ctx_t *ctx);

/* The error for a NULL unpack of `what` (len bytes): FOUNDRY_ENOMEM when
 * ctx's budget ran out, FOUNDRY_EPROTO otherwise, with reason. */
foundry_err fdy_codec_unpack_failed(const fdy_pb_ctx_t *ctx, const char *what, size_t len,
                                    fdy_reason_t *reason);

#endif
