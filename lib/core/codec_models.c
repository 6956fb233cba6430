/*  codec_models.c: encoding and validating decoding of proto/models.proto.
 *  The only file that includes models.pb-c.h. The checks of
 *  codec_models_check.c run over the fdy_* view both before encoding and
 *  after decoding, so what we send and what we accept obey the same rules. Whether a manifest
 *  is trusted, current or allowed is model_sign.c's and the services'.
 */
#include "codec_models.h"

#include "codec_internal.h"
#include "codec_models_check.h"
#include "models.pb-c.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* The largest model frame we decode: a manifest of FDY_MODEL_CHUNKS_MAX
 * hashes fits well inside it, and it is the reply limit of the envelope. */
#define MODEL_FRAME_MAX FDY_REPLY_MAX

/* ---- fdy_* -> protobuf (encoding) ---------------------------------------- */

/* Encoding builds the protobuf view in a scratch arena, freed in one call. */
#define ENCODE_BUDGET (SIZE_MAX / 4)

static ProtobufCBinaryData
s_bytes(const uint8_t *data, size_t len)
{
    ProtobufCBinaryData bd = {data ? len : 0, (uint8_t *) data};
    return bd;
}

static ProtobufCBinaryData *
s_hashes_to_pb(fdy_arena_t *a, const uint8_t *hashes, size_t count)
{
    ProtobufCBinaryData *bds = fdy_codec_arena_array(a, count, sizeof *bds);
    for (size_t i = 0; bds && i < count; i++)
        bds[i] = s_bytes(hashes + i * FDY_MODEL_HASH_LEN, FDY_MODEL_HASH_LEN);
    return bds;
}

static Foundry__SignedManifest *
s_signed_to_pb(fdy_arena_t *a, const fdy_model_signed_t *s)
{
    Foundry__SignedManifest *pb = fdy_arena_alloc(a, sizeof *pb);
    if (!pb)
        return NULL;
    foundry__signed_manifest__init(pb);
    pb->manifest = s_bytes(s->manifest, s->manifest_len);
    size_t n = s->signature_count;
    Foundry__ModelSignature *sigs = fdy_codec_arena_array(a, n, sizeof *sigs);
    Foundry__ModelSignature **ptrs = fdy_codec_arena_array(a, n, sizeof *ptrs);
    if (n > 0 && (!sigs || !ptrs))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        foundry__model_signature__init(&sigs[i]);
        sigs[i].key = s_bytes(s->signatures[i].key, FDY_MODEL_KEY_LEN);
        sigs[i].sig = s_bytes(s->signatures[i].sig, FDY_MODEL_SIG_LEN);
        ptrs[i] = &sigs[i];
    }
    pb->n_signatures = n;
    pb->signatures = ptrs;
    return pb;
}

static Foundry__SignedReleaseEntry *
s_signed_entry_to_pb(fdy_arena_t *a, const fdy_model_signed_entry_t *e)
{
    Foundry__SignedReleaseEntry *pb = fdy_arena_alloc(a, sizeof *pb);
    if (!pb)
        return NULL;
    foundry__signed_release_entry__init(pb);
    pb->entry = s_bytes(e->entry, e->entry_len);
    pb->sig = s_bytes(e->sig, FDY_MODEL_SIG_LEN);
    return pb;
}

static Foundry__SignedReleaseEntry **
s_entries_to_pb(fdy_arena_t *a, const fdy_model_signed_entry_t *entries, size_t count)
{
    Foundry__SignedReleaseEntry **ptrs = fdy_codec_arena_array(a, count, sizeof *ptrs);
    for (size_t i = 0; ptrs && i < count; i++)
        if (!(ptrs[i] = s_signed_entry_to_pb(a, &entries[i])))
            return NULL;
    return ptrs;
}

static Foundry__ModelNotice *
s_notice_to_pb(fdy_arena_t *a, const fdy_model_notice_t *n)
{
    Foundry__ModelNotice *pb = fdy_arena_alloc(a, sizeof *pb);
    if (!pb)
        return NULL;
    foundry__model_notice__init(pb);
    pb->rollout_id = n->rollout_id;
    if (n->signed_manifest.manifest && !(pb->signed_ = s_signed_to_pb(a, &n->signed_manifest)))
        return NULL;
    pb->n_entries = n->entry_count;
    pb->entries = s_entries_to_pb(a, n->entries, n->entry_count);
    if (n->entry_count > 0 && !pb->entries)
        return NULL;
    pb->release_key = s_bytes(n->release_key, FDY_MODEL_KEY_LEN);
    pb->cancel = n->cancel;
    return pb;
}

/* Every encoder: check, build in a scratch arena, pack. A failed check is
 * the caller's bad value, so it is EINVAL whatever the decoder would say. */
typedef const ProtobufCMessage *(builder_fn) (fdy_arena_t *a, const void *in);

static foundry_err
s_encode(foundry_err check, builder_fn *build, const void *in, uint8_t **buf_out, size_t *len_out)
{
    *buf_out = NULL;
    *len_out = 0;
    if (check != FOUNDRY_OK)
        return check == FOUNDRY_ENOMEM ? check : FOUNDRY_EINVAL;
    fdy_arena_t *a = fdy_arena_new(ENCODE_BUDGET);
    if (!a)
        return FOUNDRY_ENOMEM;
    const ProtobufCMessage *msg = build(a, in);
    foundry_err err = msg ? fdy_codec_pack(msg, buf_out, len_out) : FOUNDRY_ENOMEM;
    fdy_arena_destroy(&a);
    return err;
}

static const ProtobufCMessage *
s_build_manifest(fdy_arena_t *a, const void *in)
{
    const fdy_model_manifest_t *m = in;
    Foundry__ModelManifest *pb = fdy_arena_alloc(a, sizeof *pb);
    if (!pb)
        return NULL;
    foundry__model_manifest__init(pb);
    pb->name = fdy_codec_str(m->name);
    pb->version = m->version;
    pb->artifact_hash = s_bytes(m->artifact_hash, FDY_MODEL_HASH_LEN);
    pb->size = m->size;
    pb->chunk_size = m->chunk_size;
    pb->n_chunk_hashes = m->chunk_count;
    pb->chunk_hashes = s_hashes_to_pb(a, m->chunk_hashes, m->chunk_count);
    if (m->chunk_count > 0 && !pb->chunk_hashes)
        return NULL;
    pb->n_sites = m->site_count;
    pb->sites = (char **) m->sites;
    pb->n_labels = m->label_count;
    pb->labels = (char **) m->labels;
    pb->n_metadata = m->metadata_count;
    pb->metadata = (char **) m->metadata;
    pb->created_ms = m->created_ms;
    pb->expires_ms = m->expires_ms;
    pb->rollback = m->rollback;
    pb->rollback_of = m->rollback_of;
    pb->release_version = m->release_version;
    return &pb->base;
}

static const ProtobufCMessage *
s_build_signed(fdy_arena_t *a, const void *in)
{
    Foundry__SignedManifest *pb = s_signed_to_pb(a, in);
    return pb ? &pb->base : NULL;
}

static const ProtobufCMessage *
s_build_entry(fdy_arena_t *a, const void *in)
{
    const fdy_model_entry_t *e = in;
    Foundry__ReleaseEntry *pb = fdy_arena_alloc(a, sizeof *pb);
    if (!pb)
        return NULL;
    foundry__release_entry__init(pb);
    pb->name = fdy_codec_str(e->name);
    pb->index = e->index;
    pb->prev_hash = s_bytes(e->prev_hash, FDY_MODEL_HASH_LEN);
    pb->version = e->version;
    pb->manifest_hash = s_bytes(e->manifest_hash, FDY_MODEL_HASH_LEN);
    pb->rollback = e->rollback;
    pb->time_ms = e->time_ms;
    return &pb->base;
}

static const ProtobufCMessage *
s_build_signed_entry(fdy_arena_t *a, const void *in)
{
    Foundry__SignedReleaseEntry *pb = s_signed_entry_to_pb(a, in);
    return pb ? &pb->base : NULL;
}

static const ProtobufCMessage *
s_build_request(fdy_arena_t *a, const void *in)
{
    const fdy_model_request_t *r = in;
    Foundry__ModelRequest *pb = fdy_arena_alloc(a, sizeof *pb);
    if (!pb)
        return NULL;
    foundry__model_request__init(pb);
    pb->op = (Foundry__ModelOp) r->op;
    pb->artifact_hash = s_bytes(r->artifact_hash, FDY_MODEL_HASH_LEN);
    pb->size = r->size;
    pb->chunk_size = r->chunk_size;
    pb->n_chunk_hashes = r->chunk_count;
    pb->chunk_hashes = s_hashes_to_pb(a, r->chunk_hashes, r->chunk_count);
    if (r->chunk_count > 0 && !pb->chunk_hashes)
        return NULL;
    pb->index = r->index;
    if (r->signed_manifest.manifest && !(pb->signed_ = s_signed_to_pb(a, &r->signed_manifest)))
        return NULL;
    pb->name = fdy_codec_str(r->name);
    pb->version = r->version;
    size_t n = r->installed_count;
    Foundry__ModelInstalled *inst = fdy_codec_arena_array(a, n, sizeof *inst);
    Foundry__ModelInstalled **ptrs = fdy_codec_arena_array(a, n, sizeof *ptrs);
    if (n > 0 && (!inst || !ptrs))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        foundry__model_installed__init(&inst[i]);
        inst[i].name = fdy_codec_str(r->installed[i].name);
        inst[i].version = r->installed[i].version;
        inst[i].log_index = r->installed[i].log_index;
        ptrs[i] = &inst[i];
    }
    pb->n_installed = n;
    pb->installed = ptrs;
    pb->rollout_id = r->rollout_id;
    pb->state = fdy_codec_str(r->state);
    pb->done_bytes = r->done_bytes;
    pb->reason = fdy_codec_str(r->reason);
    pb->from_index = r->from_index;
    pb->n_labels = r->label_count;
    pb->labels = (char **) r->labels;
    return &pb->base;
}

static const ProtobufCMessage *
s_build_notice(fdy_arena_t *a, const void *in)
{
    Foundry__ModelNotice *pb = s_notice_to_pb(a, in);
    return pb ? &pb->base : NULL;
}

static const ProtobufCMessage *
s_build_reply(fdy_arena_t *a, const void *in)
{
    const fdy_model_reply_t *r = in;
    Foundry__ModelReply *pb = fdy_arena_alloc(a, sizeof *pb);
    if (!pb)
        return NULL;
    foundry__model_reply__init(pb);
    pb->have = s_bytes(r->have, r->have_len);
    pb->index = r->index;
    if (r->entry && !(pb->entry = s_signed_entry_to_pb(a, r->entry)))
        return NULL;
    size_t n = r->notice_count;
    Foundry__ModelNotice **notices = fdy_codec_arena_array(a, n, sizeof *notices);
    if (n > 0 && !notices)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(notices[i] = s_notice_to_pb(a, &r->notices[i])))
            return NULL;
    pb->n_notices = n;
    pb->notices = notices;
    pb->n_entries = r->entry_count;
    pb->entries = s_entries_to_pb(a, r->entries, r->entry_count);
    if (r->entry_count > 0 && !pb->entries)
        return NULL;
    pb->release_key = s_bytes(r->release_key, FDY_MODEL_KEY_LEN);
    pb->version = r->version;
    pb->first_known = r->first_known;
    return &pb->base;
}

foundry_err
fdy_codec_model_manifest_encode(const fdy_model_manifest_t *m, uint8_t **buf_out, size_t *len_out,
                                fdy_reason_t *reason)
{
    assert(m && buf_out && len_out);
    return s_encode(fdy_codec_models_check_manifest(m, reason), s_build_manifest, m, buf_out,
                    len_out);
}

foundry_err
fdy_codec_model_signed_encode(const fdy_model_signed_t *s, uint8_t **buf_out, size_t *len_out,
                              fdy_reason_t *reason)
{
    assert(s && buf_out && len_out);
    return s_encode(fdy_codec_models_check_signed(s, reason), s_build_signed, s, buf_out, len_out);
}

foundry_err
fdy_codec_model_entry_encode(const fdy_model_entry_t *e, uint8_t **buf_out, size_t *len_out,
                             fdy_reason_t *reason)
{
    assert(e && buf_out && len_out);
    return s_encode(fdy_codec_models_check_entry(e, reason), s_build_entry, e, buf_out, len_out);
}

foundry_err
fdy_codec_model_signed_entry_encode(const fdy_model_signed_entry_t *e, uint8_t **buf_out,
                                    size_t *len_out, fdy_reason_t *reason)
{
    assert(e && buf_out && len_out);
    return s_encode(fdy_codec_models_check_signed_entry(e, reason), s_build_signed_entry, e,
                    buf_out, len_out);
}

foundry_err
fdy_codec_model_request_encode(const fdy_model_request_t *req, uint8_t **buf_out, size_t *len_out,
                               fdy_reason_t *reason)
{
    assert(req && buf_out && len_out);
    return s_encode(fdy_codec_models_check_request(req, reason), s_build_request, req, buf_out,
                    len_out);
}

foundry_err
fdy_codec_model_notice_encode(const fdy_model_notice_t *n, uint8_t **buf_out, size_t *len_out,
                              fdy_reason_t *reason)
{
    assert(n && buf_out && len_out);
    return s_encode(fdy_codec_models_check_notice(n, reason), s_build_notice, n, buf_out, len_out);
}

foundry_err
fdy_codec_model_reply_encode(const fdy_model_reply_t *reply, uint8_t **buf_out, size_t *len_out,
                             fdy_reason_t *reason)
{
    assert(reply && buf_out && len_out);
    return s_encode(fdy_codec_models_check_reply(reply, reason), s_build_reply, reply, buf_out,
                    len_out);
}

/* ---- protobuf -> fdy_* (decoding) ---------------------------------------- */

static foundry_err
s_nomem(fdy_reason_t *reason, const char *what)
{
    return fdy_reason_set(reason, FOUNDRY_ENOMEM, "%s exceed the decoding memory budget", what);
}

static foundry_err
s_fixed_from_pb(const ProtobufCBinaryData *bd, uint8_t *out, size_t want, const char *what,
                fdy_reason_t *reason)
{
    if (bd->len != want)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s is %zu bytes, not %zu", what, bd->len,
                              want);
    memcpy(out, bd->data, want);
    return FOUNDRY_OK;
}

/* A fixed-length field that may be absent: NULL when empty. protobuf-c
 * copied its bytes into the arena, so the pointer borrows from there. */
static foundry_err
s_optional_from_pb(const ProtobufCBinaryData *bd, size_t want, const char *what,
                   const uint8_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    if (bd->len == 0)
        return FOUNDRY_OK;
    if (bd->len != want)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s is %zu bytes, not %zu", what, bd->len,
                              want);
    *out = bd->data;
    return FOUNDRY_OK;
}

static foundry_err
s_hashes_from_pb(fdy_arena_t *arena, const ProtobufCBinaryData *bds, size_t count,
                 const uint8_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    if (count == 0)
        return FOUNDRY_OK;
    if (count > FDY_MODEL_CHUNKS_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "%zu chunk hashes exceed %u", count,
                              FDY_MODEL_CHUNKS_MAX);
    uint8_t *hashes = fdy_codec_arena_array(arena, count, FDY_MODEL_HASH_LEN);
    if (!hashes)
        return s_nomem(reason, "chunk hashes");
    for (size_t i = 0; i < count; i++) {
        if (bds[i].len != FDY_MODEL_HASH_LEN)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "chunk hash %zu is %zu bytes, not %u", i,
                                  bds[i].len, FDY_MODEL_HASH_LEN);
        memcpy(hashes + i * FDY_MODEL_HASH_LEN, bds[i].data, FDY_MODEL_HASH_LEN);
    }
    *out = hashes;
    return FOUNDRY_OK;
}

static foundry_err
s_signed_from_pb(fdy_arena_t *arena, const Foundry__SignedManifest *pb, fdy_model_signed_t *out,
                 fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    if (!pb)
        return FOUNDRY_OK;
    out->manifest = pb->manifest.len ? pb->manifest.data : NULL;
    out->manifest_len = pb->manifest.len;
    if (pb->n_signatures > FDY_MODEL_SIGS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu signatures exceed %u", pb->n_signatures,
                              FDY_MODEL_SIGS_MAX);
    if (pb->n_signatures == 0)
        return FOUNDRY_OK;
    fdy_model_signature_t *sigs = fdy_codec_arena_array(arena, pb->n_signatures, sizeof *sigs);
    if (!sigs)
        return s_nomem(reason, "signatures");
    for (size_t i = 0; i < pb->n_signatures; i++) {
        const Foundry__ModelSignature *s = pb->signatures[i];
        if (s->key.len != FDY_MODEL_KEY_LEN || s->sig.len != FDY_MODEL_SIG_LEN)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "signature %zu: key of %zu bytes and signature of %zu bytes "
                                  "(want %u and %u)",
                                  i, s->key.len, s->sig.len, FDY_MODEL_KEY_LEN, FDY_MODEL_SIG_LEN);
        memcpy(sigs[i].key, s->key.data, FDY_MODEL_KEY_LEN);
        memcpy(sigs[i].sig, s->sig.data, FDY_MODEL_SIG_LEN);
    }
    out->signatures = sigs;
    out->signature_count = pb->n_signatures;
    return FOUNDRY_OK;
}

static foundry_err
s_signed_entry_from_pb(const Foundry__SignedReleaseEntry *pb, fdy_model_signed_entry_t *out,
                       fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    out->entry = pb->entry.len ? pb->entry.data : NULL;
    out->entry_len = pb->entry.len;
    return s_fixed_from_pb(&pb->sig, out->sig, FDY_MODEL_SIG_LEN, "release entry signature",
                           reason);
}

static foundry_err
s_entries_from_pb(fdy_arena_t *arena, Foundry__SignedReleaseEntry *const *pbs, size_t count,
                  const fdy_model_signed_entry_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    if (count == 0)
        return FOUNDRY_OK;
    if (count > FDY_MODEL_ENTRIES_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu release entries exceed %u", count,
                              FDY_MODEL_ENTRIES_MAX);
    fdy_model_signed_entry_t *entries = fdy_codec_arena_array(arena, count, sizeof *entries);
    if (!entries)
        return s_nomem(reason, "release entries");
    for (size_t i = 0; i < count; i++) {
        foundry_err err = s_signed_entry_from_pb(pbs[i], &entries[i], reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    *out = entries;
    return FOUNDRY_OK;
}

static foundry_err
s_notice_from_pb(fdy_arena_t *arena, const Foundry__ModelNotice *pb, fdy_model_notice_t *out,
                 fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    out->rollout_id = pb->rollout_id;
    out->cancel = pb->cancel;
    out->entry_count = pb->n_entries;
    foundry_err err = s_signed_from_pb(arena, pb->signed_, &out->signed_manifest, reason);
    if (err == FOUNDRY_OK)
        err = s_entries_from_pb(arena, pb->entries, pb->n_entries, &out->entries, reason);
    if (err == FOUNDRY_OK)
        err = s_optional_from_pb(&pb->release_key, FDY_MODEL_KEY_LEN, "release key",
                                 &out->release_key, reason);
    if (err == FOUNDRY_OK)
        err = fdy_codec_models_check_notice(out, reason);
    return err;
}

/* Common start of every decoder: bound the length, unpack into the arena. */
static void *
s_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len, fdy_arena_t *arena,
         const char *what, foundry_err *err, fdy_reason_t *reason)
{
    if (len > MODEL_FRAME_MAX) {
        *err = fdy_reason_set(reason, FOUNDRY_ETOOBIG, "%s of %zu bytes exceeds %u", what, len,
                              MODEL_FRAME_MAX);
        return NULL;
    }
    fdy_pb_ctx_t ctx = {arena, false};
    ProtobufCAllocator allocator = fdy_codec_pb_allocator(&ctx);
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, &allocator, len, buf);
    if (!msg)
        *err = fdy_codec_unpack_failed(&ctx, what, len, reason);
    return msg;
}

foundry_err
fdy_codec_model_manifest_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                fdy_model_manifest_t *out, fdy_reason_t *reason)
{
    assert(arena && out);
    memset(out, 0, sizeof *out);
    foundry_err err = FOUNDRY_OK;
    Foundry__ModelManifest *pb = s_unpack(&foundry__model_manifest__descriptor, buf, len, arena,
                                          "model manifest", &err, reason);
    if (!pb)
        return err;
    err = s_fixed_from_pb(&pb->artifact_hash, out->artifact_hash, FDY_MODEL_HASH_LEN,
                          "artifact hash", reason);
    if (err == FOUNDRY_OK)
        err = s_hashes_from_pb(arena, pb->chunk_hashes, pb->n_chunk_hashes, &out->chunk_hashes,
                               reason);
    if (err != FOUNDRY_OK)
        return err;
    out->name = pb->name;
    out->version = pb->version;
    out->size = pb->size;
    out->chunk_size = pb->chunk_size;
    out->chunk_count = pb->n_chunk_hashes;
    out->sites = (const char *const *) pb->sites;
    out->site_count = pb->n_sites;
    out->labels = (const char *const *) pb->labels;
    out->label_count = pb->n_labels;
    out->metadata = (const char *const *) pb->metadata;
    out->metadata_count = pb->n_metadata;
    out->created_ms = pb->created_ms;
    out->expires_ms = pb->expires_ms;
    out->rollback = pb->rollback;
    out->rollback_of = pb->rollback_of;
    out->release_version = pb->release_version;
    return fdy_codec_models_check_manifest(out, reason);
}

foundry_err
fdy_codec_model_signed_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                              fdy_model_signed_t *out, fdy_reason_t *reason)
{
    assert(arena && out);
    memset(out, 0, sizeof *out);
    foundry_err err = FOUNDRY_OK;
    Foundry__SignedManifest *pb = s_unpack(&foundry__signed_manifest__descriptor, buf, len, arena,
                                           "signed manifest", &err, reason);
    if (!pb)
        return err;
    err = s_signed_from_pb(arena, pb, out, reason);
    return err == FOUNDRY_OK ? fdy_codec_models_check_signed(out, reason) : err;
}

foundry_err
fdy_codec_model_entry_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                             fdy_model_entry_t *out, fdy_reason_t *reason)
{
    assert(arena && out);
    memset(out, 0, sizeof *out);
    foundry_err err = FOUNDRY_OK;
    Foundry__ReleaseEntry *pb = s_unpack(&foundry__release_entry__descriptor, buf, len, arena,
                                         "release entry", &err, reason);
    if (!pb)
        return err;
    err = s_fixed_from_pb(&pb->prev_hash, out->prev_hash, FDY_MODEL_HASH_LEN,
                          "release entry's previous hash", reason);
    if (err == FOUNDRY_OK)
        err = s_fixed_from_pb(&pb->manifest_hash, out->manifest_hash, FDY_MODEL_HASH_LEN,
                              "release entry's manifest hash", reason);
    if (err != FOUNDRY_OK)
        return err;
    out->name = pb->name;
    out->index = pb->index;
    out->version = pb->version;
    out->rollback = pb->rollback;
    out->time_ms = pb->time_ms;
    return fdy_codec_models_check_entry(out, reason);
}

foundry_err
fdy_codec_model_signed_entry_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                    fdy_model_signed_entry_t *out, fdy_reason_t *reason)
{
    assert(arena && out);
    memset(out, 0, sizeof *out);
    foundry_err err = FOUNDRY_OK;
    Foundry__SignedReleaseEntry *pb = s_unpack(&foundry__signed_release_entry__descriptor, buf, len,
                                               arena, "signed release entry", &err, reason);
    if (!pb)
        return err;
    err = s_signed_entry_from_pb(pb, out, reason);
    return err == FOUNDRY_OK ? fdy_codec_models_check_signed_entry(out, reason) : err;
}

foundry_err
fdy_codec_model_request_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                               fdy_model_request_t *out, fdy_reason_t *reason)
{
    assert(arena && out);
    memset(out, 0, sizeof *out);
    foundry_err err = FOUNDRY_OK;
    Foundry__ModelRequest *pb = s_unpack(&foundry__model_request__descriptor, buf, len, arena,
                                         "model request", &err, reason);
    if (!pb)
        return err;
    if (pb->op < FOUNDRY__MODEL_OP__MODEL_UPLOAD_BEGIN ||
        pb->op > FOUNDRY__MODEL_OP__MODEL_STREAM_CHUNK)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "unknown model operation %d", (int) pb->op);
    out->op = (fdy_model_op_t) pb->op;
    err = s_optional_from_pb(&pb->artifact_hash, FDY_MODEL_HASH_LEN, "artifact hash",
                             &out->artifact_hash, reason);
    if (err == FOUNDRY_OK)
        err = s_hashes_from_pb(arena, pb->chunk_hashes, pb->n_chunk_hashes, &out->chunk_hashes,
                               reason);
    if (err == FOUNDRY_OK)
        err = s_signed_from_pb(arena, pb->signed_, &out->signed_manifest, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (pb->n_installed > FDY_MODEL_INSTALLED_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu installed models exceed %u",
                              pb->n_installed, FDY_MODEL_INSTALLED_MAX);
    if (pb->n_installed > 0) {
        fdy_model_installed_t *inst = fdy_codec_arena_array(arena, pb->n_installed, sizeof *inst);
        if (!inst)
            return s_nomem(reason, "installed models");
        for (size_t i = 0; i < pb->n_installed; i++)
            inst[i] = (fdy_model_installed_t){pb->installed[i]->name, pb->installed[i]->version,
                                              pb->installed[i]->log_index};
        out->installed = inst;
        out->installed_count = pb->n_installed;
    }
    out->size = pb->size;
    out->chunk_size = pb->chunk_size;
    out->chunk_count = pb->n_chunk_hashes;
    out->index = pb->index;
    out->name = pb->name;
    out->version = pb->version;
    out->rollout_id = pb->rollout_id;
    out->state = pb->state;
    out->done_bytes = pb->done_bytes;
    out->reason = pb->reason;
    out->from_index = pb->from_index;
    out->labels = (const char *const *) pb->labels;
    out->label_count = pb->n_labels;
    return fdy_codec_models_check_request(out, reason);
}

foundry_err
fdy_codec_model_notice_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                              fdy_model_notice_t *out, fdy_reason_t *reason)
{
    assert(arena && out);
    memset(out, 0, sizeof *out);
    foundry_err err = FOUNDRY_OK;
    Foundry__ModelNotice *pb =
        s_unpack(&foundry__model_notice__descriptor, buf, len, arena, "model notice", &err, reason);
    if (!pb)
        return err;
    return s_notice_from_pb(arena, pb, out, reason);
}

foundry_err
fdy_codec_model_reply_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                             fdy_model_reply_t *out, fdy_reason_t *reason)
{
    assert(arena && out);
    memset(out, 0, sizeof *out);
    foundry_err err = FOUNDRY_OK;
    Foundry__ModelReply *pb =
        s_unpack(&foundry__model_reply__descriptor, buf, len, arena, "model reply", &err, reason);
    if (!pb)
        return err;
    out->have = pb->have.len ? pb->have.data : NULL;
    out->have_len = pb->have.len;
    out->index = pb->index;
    out->version = pb->version;
    out->first_known = pb->first_known;
    if (pb->entry) {
        fdy_model_signed_entry_t *entry = fdy_arena_alloc(arena, sizeof *entry);
        if (!entry)
            return s_nomem(reason, "the reply's entry");
        err = s_signed_entry_from_pb(pb->entry, entry, reason);
        out->entry = entry;
    }
    if (err == FOUNDRY_OK)
        err = s_entries_from_pb(arena, pb->entries, pb->n_entries, &out->entries, reason);
    out->entry_count = out->entries ? pb->n_entries : 0;
    if (err == FOUNDRY_OK)
        err = s_optional_from_pb(&pb->release_key, FDY_MODEL_KEY_LEN, "release key",
                                 &out->release_key, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (pb->n_notices > FDY_MODEL_NOTICES_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu notices exceed %u", pb->n_notices,
                              FDY_MODEL_NOTICES_MAX);
    if (pb->n_notices > 0) {
        fdy_model_notice_t *notices = fdy_codec_arena_array(arena, pb->n_notices, sizeof *notices);
        if (!notices)
            return s_nomem(reason, "notices");
        for (size_t i = 0; i < pb->n_notices && err == FOUNDRY_OK; i++)
            err = s_notice_from_pb(arena, pb->notices[i], &notices[i], reason);
        if (err != FOUNDRY_OK)
            return err;
        out->notices = notices;
        out->notice_count = pb->n_notices;
    }
    return fdy_codec_models_check_reply(out, reason);
}
