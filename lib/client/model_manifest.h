/*  model_manifest.h: how libfoundry turns push options into a model
 *  manifest and signs it (model_manifest.c): the options checked and
 *  mapped onto fdy_model_manifest_t, an earlier SignedManifest reused for
 *  a rollback, and the SignedManifest built from the exact encoded
 *  manifest bytes and one signature per key. No I/O but the key files; no
 *  network: model_client.c sends what this builds.
 */
#ifndef FDY_MODEL_MANIFEST_H_INCLUDED
#define FDY_MODEL_MANIFEST_H_INCLUDED

#include "codec_models.h"
#include "foundry.h"
#include "model_sign.h"

#include <stddef.h>
#include <stdint.h>

/* The artifact a manifest describes: from hashing the file, or from a
 * base manifest. chunk_hashes borrowed. */
typedef struct {
    uint8_t id[FDY_MODEL_HASH_LEN];
    uint64_t size;
    uint32_t chunk_size;
    const uint8_t *chunk_hashes;
    size_t chunk_count;
} fdy_model_artifact_t;

/* Checks opts as the broker will (name syntax, version > 0, chunk size,
 * window, 1..FOUNDRY_MODEL_SIGNERS_MAX keys, counts, "key=value" labels
 * and items, rollback fields: rollback needs base_manifest, rollback_of
 * and a release_version above both versions; base_manifest only with
 * rollback, and then no file). FOUNDRY_OK or FOUNDRY_EINVAL with reason
 * naming the option. */
foundry_err fdy_model_opts_check(const foundry_model_push_opts_t *opts, fdy_reason_t *reason);

/* Decodes opts->base_manifest into arena and fills *artifact and *base
 * from it (borrowed from arena). FOUNDRY_OK, or the decoder's error with
 * reason ("base manifest: ..."). */
foundry_err fdy_model_base_decode(const foundry_model_push_opts_t *opts, fdy_arena_t *arena,
                                  fdy_model_manifest_t *base, fdy_model_artifact_t *artifact,
                                  fdy_reason_t *reason);

/* Fills *out from opts (checked) and the artifact; sites, labels and
 * metadata fall back on base's (may be NULL) when opts gives none.
 * created_ms is the caller's wall clock. Pointers in *out borrow from
 * opts, artifact and base. */
void fdy_model_manifest_fill(const foundry_model_push_opts_t *opts,
                             const fdy_model_artifact_t *artifact, const fdy_model_manifest_t *base,
                             uint64_t created_ms, fdy_model_manifest_t *out);

/* Loads every key file of opts. On FOUNDRY_OK *keys_out (caller frees
 * with fdy_model_keys_free) holds sign_key_count keys; a public key given
 * twice is FOUNDRY_EINVAL (it would count once). Otherwise
 * fdy_sign_key_load's error (FOUNDRY_EIO, FOUNDRY_EAUTH for a key others
 * may read, FOUNDRY_EINVAL) with reason naming the file. */
foundry_err fdy_model_keys_load(const foundry_model_push_opts_t *opts, fdy_sign_key_t ***keys_out,
                                fdy_reason_t *reason);
void fdy_model_keys_free(fdy_sign_key_t ***keys_p, size_t count);

/* A SignedManifest being built: owns its buffers. */
typedef struct {
    uint8_t *manifest; /* encoded ModelManifest */
    size_t manifest_len;
    fdy_model_signature_t *signatures; /* one per key */
    size_t signature_count;
} fdy_model_signed_buf_t;

/* Encodes m and signs the encoded bytes with each key. FOUNDRY_OK and
 * *out (free with fdy_model_signed_buf_free), FOUNDRY_EINVAL (the
 * encoder's reason) or FOUNDRY_ENOMEM. */
foundry_err fdy_model_manifest_sign(const fdy_model_manifest_t *m,
                                    const fdy_sign_key_t *const *keys, size_t key_count,
                                    fdy_model_signed_buf_t *out, fdy_reason_t *reason);
void fdy_model_signed_buf_free(fdy_model_signed_buf_t *self);

/* A borrowed view of self, as the request encoder takes it. */
fdy_model_signed_t fdy_model_signed_view(const fdy_model_signed_buf_t *self);

#endif
