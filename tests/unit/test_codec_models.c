/*  test_codec_models.c: the model codec (lib/core/codec_models.c): every
 *  message survives a round trip, and the decoders refuse what no reader
 *  may see: hashes, keys and signatures of the wrong length, bad names and
 *  labels, chunk counts that do not match size and chunk size, unknown
 *  operations and states, too many of anything. Bad fields are appended to
 *  valid encodings (a later singular field wins, a repeated one grows), so
 *  each case changes exactly one thing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "codec_models.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK (64u * 1024u)
#define SIZE  (2u * CHUNK + 100u) /* three chunks, the last one short */

static uint8_t s_hashes[3 * FDY_MODEL_HASH_LEN];
static const char *const s_sites[] = {"siheung", "pangyo"};
static const char *const s_labels[] = {"gpu=a100"};
static const char *const s_meta[] = {"framework=onnx", "note=a b=c"};

static fdy_model_manifest_t
s_manifest(void)
{
    for (size_t i = 0; i < sizeof s_hashes; i++)
        s_hashes[i] = (uint8_t) (i * 7 + 1);
    fdy_model_manifest_t m = {.name = "defect-detector",
                              .version = 7,
                              .size = SIZE,
                              .chunk_size = CHUNK,
                              .chunk_hashes = s_hashes,
                              .chunk_count = 3,
                              .sites = s_sites,
                              .site_count = 2,
                              .labels = s_labels,
                              .label_count = 1,
                              .metadata = s_meta,
                              .metadata_count = 2,
                              .created_ms = 1000,
                              .expires_ms = 2000};
    memset(m.artifact_hash, 0xab, sizeof m.artifact_hash);
    return m;
}

/* ---- a small protobuf writer, to append bad fields ----------------------- */

typedef struct {
    uint8_t data[4096];
    size_t len;
} pb_buf_t;

static void
s_varint(pb_buf_t *b, uint64_t v)
{
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        b->data[b->len++] = (uint8_t) (byte | (v ? 0x80 : 0));
    } while (v);
}

static void
s_field_varint(pb_buf_t *b, unsigned field, uint64_t v)
{
    s_varint(b, (uint64_t) field << 3);
    s_varint(b, v);
}

static void
s_field_bytes(pb_buf_t *b, unsigned field, const void *data, size_t len)
{
    s_varint(b, (uint64_t) field << 3 | 2);
    s_varint(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void
s_start(pb_buf_t *b, const uint8_t *enc, size_t len)
{
    assert_true(len <= sizeof b->data);
    memcpy(b->data, enc, len);
    b->len = len;
}

static void
s_encode_manifest(const fdy_model_manifest_t *m, pb_buf_t *b)
{
    uint8_t *enc = NULL;
    size_t len = 0;
    assert_int_equal(fdy_codec_model_manifest_encode(m, &enc, &len, NULL), FOUNDRY_OK);
    s_start(b, enc, len);
    free(enc);
}

static foundry_err
s_decode_manifest(const pb_buf_t *b, fdy_reason_t *reason)
{
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(b->len));
    fdy_model_manifest_t out;
    fdy_reason_clear(reason);
    foundry_err err = fdy_codec_model_manifest_decode(b->data, b->len, arena, &out, reason);
    fdy_arena_destroy(&arena);
    return err;
}

/* Appends one field to the valid manifest and expects a refusal naming why. */
static void
s_manifest_refused(void (*append)(pb_buf_t *), foundry_err want, const char *words)
{
    fdy_model_manifest_t m = s_manifest();
    pb_buf_t b;
    s_encode_manifest(&m, &b);
    append(&b);
    fdy_reason_t reason;
    assert_int_equal(s_decode_manifest(&b, &reason), want);
    if (!strstr(reason.text, words))
        fail_msg("reason '%s' does not say '%s'", reason.text, words);
}

/* ---- names and states ---------------------------------------------------- */

static void
test_codec_models_names(void **state)
{
    (void) state;
    char long_name[FDY_MODEL_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name);
    long_name[FDY_MODEL_NAME_MAX] = '\0';
    assert_true(fdy_model_name_ok(long_name));
    long_name[FDY_MODEL_NAME_MAX] = 'a';
    long_name[FDY_MODEL_NAME_MAX + 1] = '\0';
    assert_false(fdy_model_name_ok(long_name));
    assert_true(fdy_model_name_ok("0yolo.v8_x-1"));
    assert_false(fdy_model_name_ok(""));
    assert_false(fdy_model_name_ok(NULL));
    assert_false(fdy_model_name_ok("-lead"));
    assert_false(fdy_model_name_ok(".hidden"));
    assert_false(fdy_model_name_ok("Upper"));
    assert_false(fdy_model_name_ok("a/b"));
    assert_false(fdy_model_name_ok("a b"));
}

static void
test_codec_models_states(void **state)
{
    (void) state;
    for (int i = 0; i < FDY_MODEL_STATE_COUNT; i++) {
        fdy_model_state_t parsed;
        const char *name = fdy_model_state_name((fdy_model_state_t) i);
        assert_non_null(name);
        assert_int_equal(fdy_model_state_parse(name, &parsed), FOUNDRY_OK);
        assert_int_equal(parsed, i);
    }
    assert_string_equal(fdy_model_state_name(FDY_MODEL_STATE_WAITING_INTERLOCK),
                        "waiting-interlock");
    assert_null(fdy_model_state_name(FDY_MODEL_STATE_COUNT));
    fdy_model_state_t parsed;
    assert_int_equal(fdy_model_state_parse("done", &parsed), FOUNDRY_EINVAL);
    assert_int_equal(fdy_model_state_parse(NULL, &parsed), FOUNDRY_EINVAL);
}

/* ---- round trips --------------------------------------------------------- */

static void
test_codec_models_manifest_round_trip(void **state)
{
    (void) state;
    fdy_model_manifest_t m = s_manifest();
    m.rollback = true;
    m.version = 5;
    m.rollback_of = 7;
    m.release_version = 8;
    uint8_t *enc = NULL;
    size_t len = 0;
    assert_int_equal(fdy_codec_model_manifest_encode(&m, &enc, &len, NULL), FOUNDRY_OK);
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(len));
    fdy_model_manifest_t out;
    fdy_reason_t reason;
    assert_int_equal(fdy_codec_model_manifest_decode(enc, len, arena, &out, &reason), FOUNDRY_OK);
    assert_string_equal(out.name, "defect-detector");
    assert_int_equal(out.version, 5);
    assert_memory_equal(out.artifact_hash, m.artifact_hash, FDY_MODEL_HASH_LEN);
    assert_int_equal(out.size, SIZE);
    assert_int_equal(out.chunk_size, CHUNK);
    assert_int_equal(out.chunk_count, 3);
    assert_memory_equal(out.chunk_hashes, s_hashes, sizeof s_hashes);
    assert_int_equal(out.site_count, 2);
    assert_string_equal(out.sites[1], "pangyo");
    assert_string_equal(out.labels[0], "gpu=a100");
    assert_int_equal(out.metadata_count, 2);
    assert_string_equal(out.metadata[1], "note=a b=c");
    assert_int_equal(out.created_ms, 1000);
    assert_int_equal(out.expires_ms, 2000);
    assert_true(out.rollback);
    assert_int_equal(out.rollback_of, 7);
    assert_int_equal(out.release_version, 8);
    /* The encoding is the signed bytes: encoding the decoded view again
     * gives the same bytes. */
    uint8_t *again = NULL;
    size_t again_len = 0;
    assert_int_equal(fdy_codec_model_manifest_encode(&out, &again, &again_len, NULL), FOUNDRY_OK);
    assert_int_equal(again_len, len);
    assert_memory_equal(again, enc, len);
    free(again);
    free(enc);
    fdy_arena_destroy(&arena);
}

static void
test_codec_models_empty_artifact(void **state)
{
    (void) state;
    fdy_model_manifest_t m = s_manifest();
    m.size = 0;
    m.chunk_count = 0;
    m.chunk_hashes = NULL;
    pb_buf_t b;
    s_encode_manifest(&m, &b);
    fdy_reason_t reason;
    assert_int_equal(s_decode_manifest(&b, &reason), FOUNDRY_OK);
}

static void
test_codec_models_signed_and_entry_round_trip(void **state)
{
    (void) state;
    fdy_model_signature_t sigs[2];
    memset(sigs[0].key, 1, FDY_MODEL_KEY_LEN);
    memset(sigs[0].sig, 2, FDY_MODEL_SIG_LEN);
    memset(sigs[1].key, 3, FDY_MODEL_KEY_LEN);
    memset(sigs[1].sig, 4, FDY_MODEL_SIG_LEN);
    fdy_model_signed_t s = {(const uint8_t *) "manifest-bytes", 14, sigs, 2};
    uint8_t *enc = NULL;
    size_t len = 0;
    assert_int_equal(fdy_codec_model_signed_encode(&s, &enc, &len, NULL), FOUNDRY_OK);
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(len) + 4096);
    fdy_model_signed_t out;
    fdy_reason_t reason;
    assert_int_equal(fdy_codec_model_signed_decode(enc, len, arena, &out, &reason), FOUNDRY_OK);
    assert_int_equal(out.manifest_len, 14);
    assert_memory_equal(out.manifest, "manifest-bytes", 14);
    assert_int_equal(out.signature_count, 2);
    assert_memory_equal(out.signatures[1].key, sigs[1].key, FDY_MODEL_KEY_LEN);
    assert_memory_equal(out.signatures[1].sig, sigs[1].sig, FDY_MODEL_SIG_LEN);
    free(enc);

    fdy_model_entry_t e = {
        .name = "defect-detector", .index = 3, .version = 9, .rollback = true, .time_ms = 1234};
    memset(e.prev_hash, 5, FDY_MODEL_HASH_LEN);
    memset(e.manifest_hash, 6, FDY_MODEL_HASH_LEN);
    assert_int_equal(fdy_codec_model_entry_encode(&e, &enc, &len, NULL), FOUNDRY_OK);
    fdy_model_entry_t eout;
    assert_int_equal(fdy_codec_model_entry_decode(enc, len, arena, &eout, &reason), FOUNDRY_OK);
    assert_string_equal(eout.name, "defect-detector");
    assert_int_equal(eout.index, 3);
    assert_int_equal(eout.version, 9);
    assert_true(eout.rollback);
    assert_int_equal(eout.time_ms, 1234);
    assert_memory_equal(eout.prev_hash, e.prev_hash, FDY_MODEL_HASH_LEN);
    assert_memory_equal(eout.manifest_hash, e.manifest_hash, FDY_MODEL_HASH_LEN);

    fdy_model_signed_entry_t se = {enc, len, {0}};
    memset(se.sig, 7, FDY_MODEL_SIG_LEN);
    uint8_t *senc = NULL;
    size_t slen = 0;
    assert_int_equal(fdy_codec_model_signed_entry_encode(&se, &senc, &slen, NULL), FOUNDRY_OK);
    fdy_model_signed_entry_t seout;
    assert_int_equal(fdy_codec_model_signed_entry_decode(senc, slen, arena, &seout, &reason),
                     FOUNDRY_OK);
    assert_int_equal(seout.entry_len, len);
    assert_memory_equal(seout.entry, enc, len);
    assert_memory_equal(seout.sig, se.sig, FDY_MODEL_SIG_LEN);
    free(senc);
    free(enc);
    fdy_arena_destroy(&arena);
}

static foundry_err
s_request_trip(const fdy_model_request_t *req, fdy_arena_t *arena, fdy_model_request_t *out,
               fdy_reason_t *reason)
{
    uint8_t *enc = NULL;
    size_t len = 0;
    foundry_err err = fdy_codec_model_request_encode(req, &enc, &len, reason);
    if (err == FOUNDRY_OK)
        err = fdy_codec_model_request_decode(enc, len, arena, out, reason);
    free(enc);
    return err;
}

static void
test_codec_models_request_round_trip(void **state)
{
    (void) state;
    fdy_arena_t *arena = fdy_arena_new(1u << 20);
    fdy_reason_t reason;
    uint8_t artifact[FDY_MODEL_HASH_LEN];
    memset(artifact, 9, sizeof artifact);
    s_manifest(); /* fills s_hashes */
    fdy_model_request_t begin = {.op = FDY_MODEL_UPLOAD_BEGIN,
                                 .artifact_hash = artifact,
                                 .size = SIZE,
                                 .chunk_size = CHUNK,
                                 .chunk_hashes = s_hashes,
                                 .chunk_count = 3};
    fdy_model_request_t out;
    assert_int_equal(s_request_trip(&begin, arena, &out, &reason), FOUNDRY_OK);
    assert_int_equal(out.op, FDY_MODEL_UPLOAD_BEGIN);
    assert_memory_equal(out.artifact_hash, artifact, sizeof artifact);
    assert_int_equal(out.chunk_count, 3);
    assert_memory_equal(out.chunk_hashes, s_hashes, sizeof s_hashes);

    fdy_model_signature_t sig;
    memset(&sig, 1, sizeof sig);
    fdy_model_request_t publish = {.op = FDY_MODEL_PUBLISH,
                                   .signed_manifest = {(const uint8_t *) "m", 1, &sig, 1}};
    assert_int_equal(s_request_trip(&publish, arena, &out, &reason), FOUNDRY_OK);
    assert_int_equal(out.signed_manifest.manifest_len, 1);
    assert_int_equal(out.signed_manifest.signature_count, 1);
    assert_null(out.artifact_hash);

    fdy_model_installed_t installed[2] = {{"defect-detector", 3, 4}, {"ocr", 0, 0}};
    const char *labels[] = {"gpu=a100", "line=3"};
    fdy_model_request_t watch = {.op = FDY_MODEL_WATCH,
                                 .installed = installed,
                                 .installed_count = 2,
                                 .labels = labels,
                                 .label_count = 2};
    assert_int_equal(s_request_trip(&watch, arena, &out, &reason), FOUNDRY_OK);
    assert_int_equal(out.installed_count, 2);
    assert_string_equal(out.installed[0].name, "defect-detector");
    assert_int_equal(out.installed[0].version, 3);
    assert_int_equal(out.installed[0].log_index, 4);
    assert_string_equal(out.labels[1], "line=3");

    fdy_model_request_t report = {.op = FDY_MODEL_REPORT,
                                  .rollout_id = 12,
                                  .name = "defect-detector",
                                  .version = 7,
                                  .state = "downloading",
                                  .done_bytes = 65536,
                                  .reason = "2 of 3 chunks"};
    assert_int_equal(s_request_trip(&report, arena, &out, &reason), FOUNDRY_OK);
    assert_int_equal(out.rollout_id, 12);
    assert_string_equal(out.state, "downloading");
    assert_int_equal(out.done_bytes, 65536);
    assert_string_equal(out.reason, "2 of 3 chunks");

    fdy_model_request_t fetch = {.op = FDY_MODEL_FETCH, .name = "ocr", .version = 2, .index = 5};
    assert_int_equal(s_request_trip(&fetch, arena, &out, &reason), FOUNDRY_OK);
    assert_int_equal(out.index, 5);
    fdy_model_request_t log = {.op = FDY_MODEL_LOG, .name = "ocr", .from_index = 3};
    assert_int_equal(s_request_trip(&log, arena, &out, &reason), FOUNDRY_OK);
    assert_int_equal(out.from_index, 3);
    fdy_arena_destroy(&arena);
}

static void
test_codec_models_notice_and_reply_round_trip(void **state)
{
    (void) state;
    uint8_t key[FDY_MODEL_KEY_LEN];
    memset(key, 0x42, sizeof key);
    fdy_model_signed_entry_t entries[2] = {{(const uint8_t *) "e1", 2, {1}},
                                           {(const uint8_t *) "e22", 3, {2}}};
    fdy_model_notice_t notice = {.rollout_id = 5,
                                 .signed_manifest = {(const uint8_t *) "mf", 2, NULL, 0},
                                 .entries = entries,
                                 .entry_count = 2,
                                 .release_key = key};
    uint8_t *enc = NULL;
    size_t len = 0;
    assert_int_equal(fdy_codec_model_notice_encode(&notice, &enc, &len, NULL), FOUNDRY_OK);
    fdy_arena_t *arena = fdy_arena_new(1u << 20);
    fdy_model_notice_t nout;
    fdy_reason_t reason;
    assert_int_equal(fdy_codec_model_notice_decode(enc, len, arena, &nout, &reason), FOUNDRY_OK);
    assert_int_equal(nout.rollout_id, 5);
    assert_false(nout.cancel);
    assert_int_equal(nout.entry_count, 2);
    assert_int_equal(nout.entries[1].entry_len, 3);
    assert_int_equal(nout.entries[1].sig[0], 2);
    assert_memory_equal(nout.release_key, key, sizeof key);
    free(enc);

    uint8_t have[1] = {0x05};
    fdy_model_reply_t reply = {.have = have,
                               .have_len = 1,
                               .index = 3,
                               .entry = &entries[0],
                               .notices = &notice,
                               .notice_count = 1,
                               .entries = entries,
                               .entry_count = 2,
                               .release_key = key,
                               .version = 7};
    assert_int_equal(fdy_codec_model_reply_encode(&reply, &enc, &len, NULL), FOUNDRY_OK);
    fdy_model_reply_t rout;
    assert_int_equal(fdy_codec_model_reply_decode(enc, len, arena, &rout, &reason), FOUNDRY_OK);
    assert_int_equal(rout.have_len, 1);
    assert_int_equal(rout.have[0], 0x05);
    assert_int_equal(rout.index, 3);
    assert_non_null(rout.entry);
    assert_int_equal(rout.entry->entry_len, 2);
    assert_int_equal(rout.notice_count, 1);
    assert_int_equal(rout.notices[0].entry_count, 2);
    assert_int_equal(rout.entry_count, 2);
    assert_int_equal(rout.version, 7);
    free(enc);

    /* A cancel names only its rollout. */
    fdy_model_notice_t cancel = {.rollout_id = 6, .cancel = true};
    assert_int_equal(fdy_codec_model_notice_encode(&cancel, &enc, &len, NULL), FOUNDRY_OK);
    assert_int_equal(fdy_codec_model_notice_decode(enc, len, arena, &nout, &reason), FOUNDRY_OK);
    assert_true(nout.cancel);
    assert_null(nout.release_key);
    free(enc);
    fdy_arena_destroy(&arena);
}

/* ---- refusals: the manifest ---------------------------------------------- */

static void
s_short_artifact_hash(pb_buf_t *b)
{
    s_field_bytes(b, 3, "0123456789012345678901234567890", 31);
}

static void
s_short_chunk_hash(pb_buf_t *b)
{
    s_field_bytes(b, 6, "0123456789012345678901234567890", 31);
}

static void
s_extra_chunk_hash(pb_buf_t *b)
{
    s_field_bytes(b, 6, "01234567890123456789012345678901", 32);
}

static void
s_bad_name(pb_buf_t *b)
{
    s_field_bytes(b, 1, "Defect/Detector", 15);
}

static void
s_chunk_size_small(pb_buf_t *b)
{
    s_field_varint(b, 5, 4096);
}

static void
s_size_grows(pb_buf_t *b)
{
    s_field_varint(b, 4, 3u * CHUNK + 1); /* four chunks now, three hashes */
}

static void
s_too_many_labels(pb_buf_t *b)
{
    for (int i = 0; i < (int) FDY_MODEL_LABELS_MAX; i++)
        s_field_bytes(b, 8, "k=v", 3);
}

static void
s_bad_label(pb_buf_t *b)
{
    s_field_bytes(b, 8, "novalue", 7);
}

static void
s_bad_site(pb_buf_t *b)
{
    s_field_bytes(b, 7, "bad site", 8);
}

static void
s_bad_metadata(pb_buf_t *b)
{
    s_field_bytes(b, 9, "=x", 2);
}

static void
s_version_zero(pb_buf_t *b)
{
    s_field_varint(b, 2, 0);
}

static void
s_rollback_up(pb_buf_t *b)
{
    s_field_varint(b, 12, 1); /* rollback of version 7 ... */
    s_field_varint(b, 13, 5); /* ... "replacing" version 5 */
    s_field_varint(b, 14, 9);
}

static void
s_rollback_replayable(pb_buf_t *b)
{
    s_field_varint(b, 2, 3);
    s_field_varint(b, 12, 1);
    s_field_varint(b, 13, 7);
    s_field_varint(b, 14, 7); /* not above what it replaces */
}

static void
s_rollback_of_without_rollback(pb_buf_t *b)
{
    s_field_varint(b, 13, 3);
}

static void
s_garbage(pb_buf_t *b)
{
    b->data[b->len++] = 0xff; /* a tag with no end */
}

static void
test_codec_models_manifest_refusals(void **state)
{
    (void) state;
    s_manifest_refused(s_short_artifact_hash, FOUNDRY_EINVAL, "artifact hash is 31 bytes");
    s_manifest_refused(s_short_chunk_hash, FOUNDRY_EINVAL, "chunk hash 3 is 31 bytes");
    s_manifest_refused(s_extra_chunk_hash, FOUNDRY_EINVAL, "4 chunk hashes");
    s_manifest_refused(s_bad_name, FOUNDRY_EINVAL, "not a model name");
    s_manifest_refused(s_chunk_size_small, FOUNDRY_EINVAL, "chunk size 4096 is outside");
    s_manifest_refused(s_size_grows, FOUNDRY_EINVAL, "make 4");
    s_manifest_refused(s_too_many_labels, FOUNDRY_EINVAL, "17 target labels exceed 16");
    s_manifest_refused(s_bad_label, FOUNDRY_EINVAL, "'novalue' is not key=value");
    s_manifest_refused(s_bad_site, FOUNDRY_EINVAL, "target site 'bad site'");
    s_manifest_refused(s_bad_metadata, FOUNDRY_EINVAL, "metadata item '=x'");
    s_manifest_refused(s_version_zero, FOUNDRY_EINVAL, "version 0");
    s_manifest_refused(s_rollback_up, FOUNDRY_EINVAL, "must replace a newer version");
    s_manifest_refused(s_rollback_replayable, FOUNDRY_EINVAL, "must be above the version");
    s_manifest_refused(s_rollback_of_without_rollback, FOUNDRY_EINVAL, "not a rollback");
    s_manifest_refused(s_garbage, FOUNDRY_EPROTO, "model manifest");
}

static void
test_codec_models_manifest_too_many_chunks(void **state)
{
    (void) state;
    /* 2^20 chunks is the limit: one byte more at the smallest chunk size
     * is refused before a single hash is looked at. */
    fdy_model_manifest_t m = s_manifest();
    m.chunk_size = FDY_MODEL_CHUNK_MIN;
    m.size = (uint64_t) FDY_MODEL_CHUNKS_MAX * FDY_MODEL_CHUNK_MIN + 1;
    fdy_reason_t reason;
    uint8_t *enc = NULL;
    size_t len = 0;
    assert_int_equal(fdy_codec_model_manifest_encode(&m, &enc, &len, &reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, "more than 1048576"));
    assert_null(enc);
}

static void
test_codec_models_encoder_refuses(void **state)
{
    (void) state;
    fdy_reason_t reason;
    uint8_t *enc = NULL;
    size_t len = 0;
    fdy_model_manifest_t m = s_manifest();
    m.name = "Bad Name";
    assert_int_equal(fdy_codec_model_manifest_encode(&m, &enc, &len, &reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, "'Bad Name' is not a model name"));
    m = s_manifest();
    m.chunk_count = 2;
    assert_int_equal(fdy_codec_model_manifest_encode(&m, &enc, &len, &reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, "2 chunk hashes"));
    fdy_model_request_t req = {.op = (fdy_model_op_t) 99};
    assert_int_equal(fdy_codec_model_request_encode(&req, &enc, &len, &reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, "unknown model operation 99"));
    fdy_model_entry_t e = {.name = "ocr", .index = 0, .version = 1};
    assert_int_equal(fdy_codec_model_entry_encode(&e, &enc, &len, &reason), FOUNDRY_EINVAL);
    assert_null(enc);
}

/* ---- refusals: requests, signatures, entries, notices -------------------- */

static foundry_err
s_decode_request(const pb_buf_t *b, fdy_reason_t *reason)
{
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(b->len));
    fdy_model_request_t out;
    fdy_reason_clear(reason);
    foundry_err err = fdy_codec_model_request_decode(b->data, b->len, arena, &out, reason);
    fdy_arena_destroy(&arena);
    return err;
}

static void
s_expect(foundry_err got, foundry_err want, const fdy_reason_t *reason, const char *words)
{
    assert_int_equal(got, want);
    if (!strstr(reason->text, words))
        fail_msg("reason '%s' does not say '%s'", reason->text, words);
}

static void
test_codec_models_request_refusals(void **state)
{
    (void) state;
    fdy_reason_t reason;
    pb_buf_t b = {.len = 0};
    s_field_varint(&b, 1, 99);
    s_expect(s_decode_request(&b, &reason), FOUNDRY_EPROTO, &reason, "unknown model operation 99");

    b.len = 0; /* an empty request has op 0: unknown */
    s_expect(s_decode_request(&b, &reason), FOUNDRY_EPROTO, &reason, "unknown model operation 0");

    /* UPLOAD_BEGIN whose chunk hashes do not add up to its size. */
    uint8_t hash[FDY_MODEL_HASH_LEN] = {0};
    b.len = 0;
    s_field_varint(&b, 1, FDY_MODEL_UPLOAD_BEGIN);
    s_field_bytes(&b, 2, hash, sizeof hash);
    s_field_varint(&b, 3, 2u * CHUNK);
    s_field_varint(&b, 4, CHUNK);
    s_field_bytes(&b, 5, hash, sizeof hash);
    s_expect(s_decode_request(&b, &reason), FOUNDRY_EINVAL, &reason, "1 chunk hashes");
    s_field_bytes(&b, 5, hash, sizeof hash);
    s_expect(s_decode_request(&b, &reason), FOUNDRY_OK, &reason, "");
    s_field_bytes(&b, 2, hash, 16); /* the artifact hash, now too short */
    s_expect(s_decode_request(&b, &reason), FOUNDRY_EINVAL, &reason, "artifact hash is 16 bytes");

    /* STREAM requests carry their stream id and exactly one chunk hash. */
    b.len = 0;
    s_field_varint(&b, 1, FDY_MODEL_STREAM_CHUNK);
    s_field_bytes(&b, 2, hash, sizeof hash);
    s_expect(s_decode_request(&b, &reason), FOUNDRY_EINVAL, &reason, "one chunk hash, not 0");
    s_field_bytes(&b, 5, hash, sizeof hash);
    s_expect(s_decode_request(&b, &reason), FOUNDRY_OK, &reason, "");
    s_field_bytes(&b, 5, hash, sizeof hash);
    s_expect(s_decode_request(&b, &reason), FOUNDRY_EINVAL, &reason, "one chunk hash, not 2");
    b.len = 0;
    s_field_varint(&b, 1, FDY_MODEL_STREAM_BEGIN);
    s_field_bytes(&b, 5, hash, sizeof hash);
    s_expect(s_decode_request(&b, &reason), FOUNDRY_EPROTO, &reason, "without its stream id");

    b.len = 0; /* UPLOAD_BEGIN without an artifact hash */
    s_field_varint(&b, 1, FDY_MODEL_UPLOAD_BEGIN);
    s_field_varint(&b, 4, CHUNK);
    s_expect(s_decode_request(&b, &reason), FOUNDRY_EPROTO, &reason, "artifact hash");

    b.len = 0;
    s_field_varint(&b, 1, FDY_MODEL_REPORT);
    s_field_bytes(&b, 8, "ocr", 3);
    s_field_bytes(&b, 12, "done", 4);
    s_expect(s_decode_request(&b, &reason), FOUNDRY_EINVAL, &reason, "unknown model state 'done'");

    b.len = 0;
    s_field_varint(&b, 1, FDY_MODEL_FETCH);
    s_field_bytes(&b, 8, "../etc", 6);
    s_field_varint(&b, 9, 1);
    s_expect(s_decode_request(&b, &reason), FOUNDRY_EINVAL, &reason, "not a model name");

    b.len = 0;
    s_field_varint(&b, 1, FDY_MODEL_PUBLISH);
    s_expect(s_decode_request(&b, &reason), FOUNDRY_EPROTO, &reason, "without its manifest");

    /* A publish whose one signature has a 31-byte key. */
    pb_buf_t sig = {.len = 0};
    s_field_bytes(&sig, 1, hash, 31);
    uint8_t sig_bytes[FDY_MODEL_SIG_LEN] = {0};
    s_field_bytes(&sig, 2, sig_bytes, sizeof sig_bytes);
    pb_buf_t signed_manifest = {.len = 0};
    s_field_bytes(&signed_manifest, 1, "m", 1);
    s_field_bytes(&signed_manifest, 2, sig.data, sig.len);
    b.len = 0;
    s_field_varint(&b, 1, FDY_MODEL_PUBLISH);
    s_field_bytes(&b, 7, signed_manifest.data, signed_manifest.len);
    s_expect(s_decode_request(&b, &reason), FOUNDRY_EINVAL, &reason, "key of 31 bytes");

    b.len = 0; /* WATCH with a bad node label */
    s_field_varint(&b, 1, FDY_MODEL_WATCH);
    s_field_bytes(&b, 16, "gpu", 3);
    s_expect(s_decode_request(&b, &reason), FOUNDRY_EINVAL, &reason, "node labels 'gpu'");
}

static void
test_codec_models_signed_entry_refusals(void **state)
{
    (void) state;
    fdy_arena_t *arena = fdy_arena_new(1u << 16);
    fdy_reason_t reason;
    pb_buf_t b = {.len = 0};
    s_field_bytes(&b, 1, "entry", 5);
    s_field_bytes(&b, 2, "short-signature", 15);
    fdy_model_signed_entry_t se;
    s_expect(fdy_codec_model_signed_entry_decode(b.data, b.len, arena, &se, &reason),
             FOUNDRY_EINVAL, &reason, "signature is 15 bytes, not 64");

    /* Seventeen signatures on one manifest. */
    pb_buf_t sig = {.len = 0};
    uint8_t key[FDY_MODEL_KEY_LEN] = {0}, bytes[FDY_MODEL_SIG_LEN] = {0};
    s_field_bytes(&sig, 1, key, sizeof key);
    s_field_bytes(&sig, 2, bytes, sizeof bytes);
    b.len = 0;
    s_field_bytes(&b, 1, "m", 1);
    for (unsigned i = 0; i <= FDY_MODEL_SIGS_MAX; i++)
        s_field_bytes(&b, 2, sig.data, sig.len);
    fdy_model_signed_t s;
    s_expect(fdy_codec_model_signed_decode(b.data, b.len, arena, &s, &reason), FOUNDRY_EINVAL,
             &reason, "17 signatures exceed 16");

    /* A release entry whose previous hash is short. */
    b.len = 0;
    s_field_bytes(&b, 1, "ocr", 3);
    s_field_varint(&b, 2, 1);
    s_field_bytes(&b, 3, key, 20);
    s_field_varint(&b, 4, 1);
    s_field_bytes(&b, 5, key, sizeof key);
    fdy_model_entry_t e;
    s_expect(fdy_codec_model_entry_decode(b.data, b.len, arena, &e, &reason), FOUNDRY_EINVAL,
             &reason, "previous hash is 20 bytes");

    /* A notice to install without the release key to check it with. */
    b.len = 0;
    s_field_varint(&b, 1, 4);
    s_field_bytes(&b, 2, "\x0a\x01m", 3); /* SignedManifest{manifest: "m"} */
    fdy_model_notice_t n;
    s_expect(fdy_codec_model_notice_decode(b.data, b.len, arena, &n, &reason), FOUNDRY_EPROTO,
             &reason, "without a release key");
    s_field_bytes(&b, 4, key, 31);
    s_expect(fdy_codec_model_notice_decode(b.data, b.len, arena, &n, &reason), FOUNDRY_EINVAL,
             &reason, "release key is 31 bytes");
    fdy_arena_destroy(&arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_models_names),
        cmocka_unit_test(test_codec_models_states),
        cmocka_unit_test(test_codec_models_manifest_round_trip),
        cmocka_unit_test(test_codec_models_empty_artifact),
        cmocka_unit_test(test_codec_models_signed_and_entry_round_trip),
        cmocka_unit_test(test_codec_models_request_round_trip),
        cmocka_unit_test(test_codec_models_notice_and_reply_round_trip),
        cmocka_unit_test(test_codec_models_manifest_refusals),
        cmocka_unit_test(test_codec_models_manifest_too_many_chunks),
        cmocka_unit_test(test_codec_models_encoder_refuses),
        cmocka_unit_test(test_codec_models_request_refusals),
        cmocka_unit_test(test_codec_models_signed_entry_refusals),
    };
    return cmocka_run_group_tests_name("codec_models", tests, NULL, NULL);
}
