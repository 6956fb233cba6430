/*  fuzz_models.c: every decoder of the model codec (lib/core/codec_models.c)
 *  on untrusted bytes: manifest, signed manifest, release entry, signed
 *  entry, request (frame 1 of MODEL), notice and reply. Every refusal names
 *  its reason; what decodes re-encodes (the encoder applies the same
 *  checks) and decodes again to the same values.
 */
#include "codec_models.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fresh arena per decode, with the budget the services give. */
static fdy_arena_t *
s_arena(size_t size)
{
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(size));
    if (!arena)
        abort();
    return arena;
}

static void
s_refusal_named(foundry_err err, const fdy_reason_t *reason)
{
    if (err != FOUNDRY_OK && reason->text[0] == '\0')
        abort();
}

static void
s_manifest(const uint8_t *data, size_t size)
{
    fdy_arena_t *arena = s_arena(size), *arena2 = NULL;
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    fdy_model_manifest_t m, again;
    foundry_err err = fdy_codec_model_manifest_decode(data, size, arena, &m, &reason);
    s_refusal_named(err, &reason);
    if (err == FOUNDRY_OK) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (fdy_codec_model_manifest_encode(&m, &buf, &len, &reason) != FOUNDRY_OK)
            abort(); /* the decoder is at least as strict as the encoder */
        arena2 = s_arena(len);
        if (fdy_codec_model_manifest_decode(buf, len, arena2, &again, &reason) != FOUNDRY_OK)
            abort();
        if (strcmp(m.name, again.name) != 0 || m.version != again.version || m.size != again.size ||
            m.chunk_size != again.chunk_size || m.chunk_count != again.chunk_count ||
            m.rollback != again.rollback ||
            memcmp(m.artifact_hash, again.artifact_hash, FDY_MODEL_HASH_LEN) != 0 ||
            (m.chunk_count &&
             memcmp(m.chunk_hashes, again.chunk_hashes, m.chunk_count * FDY_MODEL_HASH_LEN) != 0))
            abort();
        free(buf);
    }
    fdy_arena_destroy(&arena);
    fdy_arena_destroy(&arena2);
}

static void
s_request(const uint8_t *data, size_t size)
{
    fdy_arena_t *arena = s_arena(size), *arena2 = NULL;
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    fdy_model_request_t req, again;
    foundry_err err = fdy_codec_model_request_decode(data, size, arena, &req, &reason);
    s_refusal_named(err, &reason);
    if (err == FOUNDRY_OK) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (fdy_codec_model_request_encode(&req, &buf, &len, &reason) != FOUNDRY_OK)
            abort();
        arena2 = s_arena(len);
        if (fdy_codec_model_request_decode(buf, len, arena2, &again, &reason) != FOUNDRY_OK)
            abort();
        if (req.op != again.op || req.chunk_count != again.chunk_count ||
            req.installed_count != again.installed_count || req.label_count != again.label_count ||
            req.signed_manifest.signature_count != again.signed_manifest.signature_count ||
            req.signed_manifest.manifest_len != again.signed_manifest.manifest_len)
            abort();
        free(buf);
    }
    fdy_arena_destroy(&arena);
    fdy_arena_destroy(&arena2);
}

static void
s_others(const uint8_t *data, size_t size)
{
    fdy_arena_t *arena = s_arena(size);
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    fdy_model_signed_t s;
    s_refusal_named(fdy_codec_model_signed_decode(data, size, arena, &s, &reason), &reason);
    fdy_arena_reset(arena, FDY_DECODE_BUDGET(size));
    fdy_reason_clear(&reason);
    fdy_model_entry_t e;
    s_refusal_named(fdy_codec_model_entry_decode(data, size, arena, &e, &reason), &reason);
    fdy_arena_reset(arena, FDY_DECODE_BUDGET(size));
    fdy_reason_clear(&reason);
    fdy_model_signed_entry_t se;
    s_refusal_named(fdy_codec_model_signed_entry_decode(data, size, arena, &se, &reason), &reason);
    fdy_arena_reset(arena, FDY_DECODE_BUDGET(size));
    fdy_reason_clear(&reason);
    fdy_model_notice_t n;
    s_refusal_named(fdy_codec_model_notice_decode(data, size, arena, &n, &reason), &reason);
    fdy_arena_reset(arena, FDY_DECODE_BUDGET(size));
    fdy_reason_clear(&reason);
    fdy_model_reply_t r;
    foundry_err err = fdy_codec_model_reply_decode(data, size, arena, &r, &reason);
    s_refusal_named(err, &reason);
    if (err == FOUNDRY_OK) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (fdy_codec_model_reply_encode(&r, &buf, &len, &reason) != FOUNDRY_OK)
            abort();
        free(buf);
    }
    fdy_arena_destroy(&arena);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_manifest(data, size);
    s_request(data, size);
    s_others(data, size);
    return 0;
}
