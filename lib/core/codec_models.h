/*  codec_models.h: the model-update family of the wire format
 *  (proto/models.proto): manifests and their signatures, release-log
 *  entries, MODEL requests (frame 1 of a MODEL), replies (MODEL_REPLY) and
 *  notices (MODEL_NOTICE). codec_models.c is the only file that includes
 *  models.pb-c.h. Decoding checks sizes and syntax (names, labels, hash
 *  lengths, chunk counts against size), so every reader sees only
 *  well-formed values; whether a manifest is TRUSTED is model_trust.h's.
 */
#ifndef FDY_CODEC_MODELS_H_INCLUDED
#define FDY_CODEC_MODELS_H_INCLUDED

#include "arena.h"
#include "codec.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDY_MODEL_HASH_LEN       32u   /* BLAKE2b-256 */
#define FDY_MODEL_KEY_LEN        32u   /* Ed25519 public key */
#define FDY_MODEL_SIG_LEN        64u   /* Ed25519 detached signature */
#define FDY_MODEL_NAME_MAX       64u   /* [a-z0-9][a-z0-9._-]* */
#define FDY_MODEL_SITES_MAX      16u
#define FDY_MODEL_LABELS_MAX     16u
#define FDY_MODEL_META_MAX       32u   /* metadata items */
#define FDY_MODEL_TEXT_MAX       1024u /* one label, metadata item, reason, state */
#define FDY_MODEL_SIGS_MAX       16u
#define FDY_MODEL_CHUNK_MIN      (64u * 1024u)
#define FDY_MODEL_CHUNK_DEFAULT  (1024u * 1024u)
#define FDY_MODEL_CHUNK_MAX      (16u * 1024u * 1024u)
#define FDY_MODEL_CHUNKS_MAX     (1u << 20) /* so a manifest stays under 40 MiB */
#define FDY_MODEL_ENTRIES_MAX    1024u /* release-log entries per reply */
#define FDY_MODEL_NOTICES_MAX    64u
#define FDY_MODEL_INSTALLED_MAX  256u

typedef enum {
    FDY_MODEL_UPLOAD_BEGIN = 1,
    FDY_MODEL_UPLOAD_CHUNK = 2,
    FDY_MODEL_PUBLISH = 3,
    FDY_MODEL_FETCH = 4,
    FDY_MODEL_WATCH = 5,
    FDY_MODEL_REPORT = 6,
    FDY_MODEL_LOG = 7,
    FDY_MODEL_STREAM_BEGIN = 8, /* a push that sends chunks while it hashes them */
    FDY_MODEL_STREAM_CHUNK = 9,
} fdy_model_op_t;

/* A node's states during a rollout, in the order they normally pass. */
typedef enum {
    FDY_MODEL_STATE_PENDING = 0,
    FDY_MODEL_STATE_DOWNLOADING,
    FDY_MODEL_STATE_VERIFIED,
    FDY_MODEL_STATE_WAITING_INTERLOCK,
    FDY_MODEL_STATE_INSTALLED,
    FDY_MODEL_STATE_HEALTHY,
    FDY_MODEL_STATE_FAILED,
    FDY_MODEL_STATE_COUNT,
} fdy_model_state_t;

/* "pending", "downloading", "verified", "waiting-interlock", "installed",
 * "healthy", "failed"; NULL past the end. */
const char *fdy_model_state_name(fdy_model_state_t state);
/* FOUNDRY_OK and *out, or FOUNDRY_EINVAL for an unknown name. */
foundry_err fdy_model_state_parse(const char *name, fdy_model_state_t *out);

/* True when name is a valid model name. */
bool fdy_model_name_ok(const char *name);

/* The signed content (ModelManifest). Pointers borrowed (arena when
 * decoded). chunk_hashes is chunk_count * 32 bytes, back to back. */
typedef struct {
    const char *name;
    uint64_t version;
    uint8_t artifact_hash[FDY_MODEL_HASH_LEN];
    uint64_t size;
    uint32_t chunk_size;
    const uint8_t *chunk_hashes;
    size_t chunk_count;
    const char *const *sites;
    size_t site_count;
    const char *const *labels;
    size_t label_count;
    const char *const *metadata;
    size_t metadata_count;
    uint64_t created_ms;
    uint64_t expires_ms;
    bool rollback;
    uint64_t rollback_of;
    uint64_t release_version;
} fdy_model_manifest_t;

typedef struct {
    uint8_t key[FDY_MODEL_KEY_LEN];
    uint8_t sig[FDY_MODEL_SIG_LEN];
} fdy_model_signature_t;

/* A SignedManifest: the manifest's exact encoded bytes plus signatures. */
typedef struct {
    const uint8_t *manifest;
    size_t manifest_len;
    const fdy_model_signature_t *signatures;
    size_t signature_count;
} fdy_model_signed_t;

typedef struct {
    const char *name;
    uint64_t index;
    uint8_t prev_hash[FDY_MODEL_HASH_LEN];
    uint64_t version;
    uint8_t manifest_hash[FDY_MODEL_HASH_LEN];
    bool rollback;
    uint64_t time_ms;
} fdy_model_entry_t;

/* A SignedReleaseEntry: the entry's exact encoded bytes and the broker's
 * signature over them. */
typedef struct {
    const uint8_t *entry;
    size_t entry_len;
    uint8_t sig[FDY_MODEL_SIG_LEN];
} fdy_model_signed_entry_t;

typedef struct {
    const char *name;
    uint64_t version;
    uint64_t log_index;
} fdy_model_installed_t;

typedef struct {
    fdy_model_op_t op;
    const uint8_t *artifact_hash; /* 32 bytes, or NULL */
    uint64_t size;
    uint32_t chunk_size;
    const uint8_t *chunk_hashes;  /* chunk_count * 32 */
    size_t chunk_count;
    uint32_t index;
    fdy_model_signed_t signed_manifest; /* PUBLISH */
    const char *name;
    uint64_t version;
    const fdy_model_installed_t *installed; /* WATCH */
    size_t installed_count;
    uint64_t rollout_id;
    const char *state;            /* REPORT: a fdy_model_state_name() */
    uint64_t done_bytes;
    const char *reason;
    uint64_t from_index;
    const char *const *labels;    /* WATCH */
    size_t label_count;
} fdy_model_request_t;

typedef struct {
    uint64_t rollout_id;
    fdy_model_signed_t signed_manifest;
    const fdy_model_signed_entry_t *entries;
    size_t entry_count;
    const uint8_t *release_key;   /* 32 bytes, or NULL */
    bool cancel;
} fdy_model_notice_t;

typedef struct {
    const uint8_t *have;          /* bitmap, have_len bytes */
    size_t have_len;
    uint32_t index;
    const fdy_model_signed_entry_t *entry; /* PUBLISH, or NULL */
    const fdy_model_notice_t *notices;
    size_t notice_count;
    const fdy_model_signed_entry_t *entries;
    size_t entry_count;
    const uint8_t *release_key;   /* 32 bytes, or NULL */
    uint64_t version;
    bool first_known;             /* STREAM_BEGIN: chunk 0 is held for another artifact */
} fdy_model_reply_t;

/* Encoders: caller owns *buf_out (free()). FOUNDRY_OK, FOUNDRY_EINVAL (a
 * field out of bounds: reason says which) or FOUNDRY_ENOMEM. The manifest
 * and entry encoders produce the bytes that are signed. */
foundry_err fdy_codec_model_manifest_encode(const fdy_model_manifest_t *m, uint8_t **buf_out,
                                            size_t *len_out, fdy_reason_t *reason);
foundry_err fdy_codec_model_signed_encode(const fdy_model_signed_t *s, uint8_t **buf_out,
                                          size_t *len_out, fdy_reason_t *reason);
foundry_err fdy_codec_model_entry_encode(const fdy_model_entry_t *e, uint8_t **buf_out,
                                         size_t *len_out, fdy_reason_t *reason);
foundry_err fdy_codec_model_signed_entry_encode(const fdy_model_signed_entry_t *e,
                                                uint8_t **buf_out, size_t *len_out,
                                                fdy_reason_t *reason);
foundry_err fdy_codec_model_request_encode(const fdy_model_request_t *req, uint8_t **buf_out,
                                           size_t *len_out, fdy_reason_t *reason);
foundry_err fdy_codec_model_notice_encode(const fdy_model_notice_t *n, uint8_t **buf_out,
                                          size_t *len_out, fdy_reason_t *reason);
foundry_err fdy_codec_model_reply_encode(const fdy_model_reply_t *reply, uint8_t **buf_out,
                                         size_t *len_out, fdy_reason_t *reason);

/* Decoders of untrusted bytes into arena. Pointers in *out borrow from the
 * arena (and may borrow from buf: keep it alive as long as *out).
 * FOUNDRY_OK, FOUNDRY_EPROTO (does not unpack, unknown op, missing field),
 * FOUNDRY_EINVAL (bad syntax: name, label, hash length, chunk count not
 * matching size / chunk_size), FOUNDRY_ETOOBIG or FOUNDRY_ENOMEM, with
 * reason. A manifest also obeys the rollback rules: rollback_of is 0 unless
 * rollback, and a rollback has version < rollback_of < release_version.
 * REPORT may carry an empty name (a manifest that did not decode); a
 * notice without cancel must carry its signed manifest and release key. */
foundry_err fdy_codec_model_manifest_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                            fdy_model_manifest_t *out, fdy_reason_t *reason);
foundry_err fdy_codec_model_signed_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                          fdy_model_signed_t *out, fdy_reason_t *reason);
foundry_err fdy_codec_model_entry_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                         fdy_model_entry_t *out, fdy_reason_t *reason);
foundry_err fdy_codec_model_signed_entry_decode(const uint8_t *buf, size_t len,
                                                fdy_arena_t *arena,
                                                fdy_model_signed_entry_t *out,
                                                fdy_reason_t *reason);
foundry_err fdy_codec_model_request_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                           fdy_model_request_t *out, fdy_reason_t *reason);
foundry_err fdy_codec_model_notice_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                          fdy_model_notice_t *out, fdy_reason_t *reason);
foundry_err fdy_codec_model_reply_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                         fdy_model_reply_t *out, fdy_reason_t *reason);

#endif
