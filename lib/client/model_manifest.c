/*  model_manifest.c: push options -> a checked, signed model manifest.
 *  The manifest is encoded once and those exact bytes are what every key
 *  signs and what travels (nobody re-encodes a signed manifest). For a
 *  rollback the artifact comes from the earlier SignedManifest instead of
 *  a file. Not for sending (model_client.c) or for verifying signatures
 *  (model_sign.c, on the broker and the agents).
 */
#include "model_manifest.h"

#include <stdlib.h>
#include <string.h>

/* "key=value" with a non-empty key, as labels and metadata items are. */
static foundry_err
s_check_pairs(const char *what, const char *const *items, size_t count, size_t max,
              fdy_reason_t *reason)
{
    if (count && !items)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s: %zu given but no array", what, count);
    if (count > max)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu %s, at most %zu", count, what, max);
    for (size_t i = 0; i < count; i++) {
        const char *eq = items[i] ? strchr(items[i], '=') : NULL;
        if (!eq || eq == items[i])
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s '%s' is not key=value", what,
                                  items[i] ? items[i] : "(null)");
        if (strlen(items[i]) > FDY_MODEL_TEXT_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s '%.32s...' is over %u bytes", what,
                                  items[i], FDY_MODEL_TEXT_MAX);
    }
    return FOUNDRY_OK;
}

static foundry_err
s_check_sites(const foundry_model_push_opts_t *opts, fdy_reason_t *reason)
{
    if (opts->site_count && !opts->sites)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "sites: %zu given but no array",
                              opts->site_count);
    if (opts->site_count > FDY_MODEL_SITES_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu sites, at most %u", opts->site_count,
                              FDY_MODEL_SITES_MAX);
    for (size_t i = 0; i < opts->site_count; i++)
        if (!opts->sites[i] || !*opts->sites[i] || strlen(opts->sites[i]) >= FDY_NAME_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "site %zu is empty or too long", i + 1);
    return FOUNDRY_OK;
}

static foundry_err
s_check_rollback(const foundry_model_push_opts_t *opts, fdy_reason_t *reason)
{
    bool base = opts->base_manifest && opts->base_manifest_len;
    if (!opts->rollback) {
        if (base)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "a base manifest is only for a rollback");
        if (opts->rollback_of || opts->release_version)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "rollback_of and release_version are only for a rollback");
        if (!opts->file || !*opts->file)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "no file to push");
        return FOUNDRY_OK;
    }
    if (!base)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "a rollback needs the base manifest of the version it re-releases");
    if (opts->file)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "a rollback re-releases an uploaded artifact: give no file");
    if (opts->rollback_of <= opts->version)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "a rollback brings back an older version: %llu is not below "
                              "rollback_of %llu (the newest version)",
                              (unsigned long long) opts->version,
                              (unsigned long long) opts->rollback_of);
    if (opts->release_version <= opts->rollback_of || opts->release_version <= opts->version)
        return fdy_reason_set(
            reason, FOUNDRY_EINVAL, "release_version %llu must be above versions %llu and %llu",
            (unsigned long long) opts->release_version, (unsigned long long) opts->version,
            (unsigned long long) opts->rollback_of);
    return FOUNDRY_OK;
}

void
foundry_model_push_opts_init(foundry_model_push_opts_t *opts)
{
    if (opts)
        memset(opts, 0, sizeof *opts);
}

foundry_err
fdy_model_opts_check(const foundry_model_push_opts_t *opts, fdy_reason_t *reason)
{
    if (!opts)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "no push options");
    if (!opts->name || !fdy_model_name_ok(opts->name))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "bad model name '%s': [a-z0-9][a-z0-9._-]*, at most %u",
                              opts->name ? opts->name : "", FDY_MODEL_NAME_MAX);
    if (opts->version == 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "model version must be above 0");
    if (opts->chunk_size &&
        (opts->chunk_size < FDY_MODEL_CHUNK_MIN || opts->chunk_size > FDY_MODEL_CHUNK_MAX))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "chunk size %u is outside %u..%u",
                              opts->chunk_size, FDY_MODEL_CHUNK_MIN, FDY_MODEL_CHUNK_MAX);
    if (opts->window > FOUNDRY_MODEL_WINDOW_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "window %u is above %u", opts->window,
                              FOUNDRY_MODEL_WINDOW_MAX);
    if (opts->sign_key_count == 0 || !opts->sign_key_files)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "no signing key (a NAME.sign file)");
    if (opts->sign_key_count > FOUNDRY_MODEL_SIGNERS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu signing keys, at most %u",
                              opts->sign_key_count, FOUNDRY_MODEL_SIGNERS_MAX);
    foundry_err err = s_check_sites(opts, reason);
    if (err == FOUNDRY_OK)
        err =
            s_check_pairs("labels", opts->labels, opts->label_count, FDY_MODEL_LABELS_MAX, reason);
    if (err == FOUNDRY_OK)
        err = s_check_pairs("metadata items", opts->metadata, opts->metadata_count,
                            FDY_MODEL_META_MAX, reason);
    if (err == FOUNDRY_OK)
        err = s_check_rollback(opts, reason);
    return err;
}

foundry_err
fdy_model_base_decode(const foundry_model_push_opts_t *opts, fdy_arena_t *arena,
                      fdy_model_manifest_t *base, fdy_model_artifact_t *artifact,
                      fdy_reason_t *reason)
{
    fdy_model_signed_t signed_manifest;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err = fdy_codec_model_signed_decode(opts->base_manifest, opts->base_manifest_len,
                                                    arena, &signed_manifest, &why);
    if (err == FOUNDRY_OK)
        err = fdy_codec_model_manifest_decode(signed_manifest.manifest,
                                              signed_manifest.manifest_len, arena, base, &why);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, err, "base manifest: %s",
                              why.text[0] ? why.text : foundry_strerror(err));
    if (strcmp(base->name, opts->name) != 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "base manifest is of model %s, not %s",
                              base->name, opts->name);
    if (base->version != opts->version)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "base manifest is of version %llu, not %llu",
                              (unsigned long long) base->version,
                              (unsigned long long) opts->version);
    memcpy(artifact->id, base->artifact_hash, FDY_MODEL_HASH_LEN);
    artifact->size = base->size;
    artifact->chunk_size = base->chunk_size;
    artifact->chunk_hashes = base->chunk_hashes;
    artifact->chunk_count = base->chunk_count;
    return FOUNDRY_OK;
}

void
fdy_model_manifest_fill(const foundry_model_push_opts_t *opts, const fdy_model_artifact_t *artifact,
                        const fdy_model_manifest_t *base, uint64_t created_ms,
                        fdy_model_manifest_t *out)
{
    memset(out, 0, sizeof *out);
    out->name = opts->name;
    out->version = opts->version;
    memcpy(out->artifact_hash, artifact->id, FDY_MODEL_HASH_LEN);
    out->size = artifact->size;
    out->chunk_size = artifact->chunk_size;
    out->chunk_hashes = artifact->chunk_hashes;
    out->chunk_count = artifact->chunk_count;
    bool own_sites = opts->site_count > 0 || !base;
    out->sites = own_sites ? opts->sites : base->sites;
    out->site_count = own_sites ? opts->site_count : base->site_count;
    bool own_labels = opts->label_count > 0 || !base;
    out->labels = own_labels ? opts->labels : base->labels;
    out->label_count = own_labels ? opts->label_count : base->label_count;
    bool own_meta = opts->metadata_count > 0 || !base;
    out->metadata = own_meta ? opts->metadata : base->metadata;
    out->metadata_count = own_meta ? opts->metadata_count : base->metadata_count;
    out->created_ms = created_ms;
    /* A rollback is a new release: its expiry is the caller's, not the
     * (possibly past) one of the manifest it reuses. */
    out->expires_ms = opts->expires_ms;
    out->rollback = opts->rollback != 0;
    out->rollback_of = opts->rollback_of;
    out->release_version = opts->release_version;
}

void
fdy_model_keys_free(fdy_sign_key_t ***keys_p, size_t count)
{
    fdy_sign_key_t **keys = *keys_p;
    if (!keys)
        return;
    for (size_t i = 0; i < count; i++)
        fdy_sign_key_destroy(&keys[i]);
    free(keys);
    *keys_p = NULL;
}

foundry_err
fdy_model_keys_load(const foundry_model_push_opts_t *opts, fdy_sign_key_t ***keys_out,
                    fdy_reason_t *reason)
{
    *keys_out = NULL;
    size_t count = opts->sign_key_count;
    fdy_sign_key_t **keys = calloc(count, sizeof *keys);
    if (!keys)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    foundry_err err = FOUNDRY_OK;
    for (size_t i = 0; i < count && err == FOUNDRY_OK; i++) {
        const char *path = opts->sign_key_files[i];
        if (!path) {
            err = fdy_reason_set(reason, FOUNDRY_EINVAL, "signing key %zu has no file", i + 1);
            break;
        }
        err = fdy_sign_key_load(path, &keys[i], reason);
        if (err != FOUNDRY_OK && !reason->text[0])
            fdy_reason_set(reason, err, "signing key %s: %s", path, foundry_strerror(err));
        for (size_t j = 0; j < i && err == FOUNDRY_OK; j++) {
            uint8_t a[FDY_MODEL_KEY_LEN], b[FDY_MODEL_KEY_LEN];
            fdy_sign_key_public(keys[i], a);
            fdy_sign_key_public(keys[j], b);
            if (memcmp(a, b, sizeof a) == 0)
                err = fdy_reason_set(reason, FOUNDRY_EINVAL,
                                     "signing key %s is the same key as %s (it would count once)",
                                     path, opts->sign_key_files[j]);
        }
    }
    if (err != FOUNDRY_OK) {
        fdy_model_keys_free(&keys, count);
        return err;
    }
    *keys_out = keys;
    return FOUNDRY_OK;
}

foundry_err
fdy_model_manifest_sign(const fdy_model_manifest_t *m, const fdy_sign_key_t *const *keys,
                        size_t key_count, fdy_model_signed_buf_t *out, fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    foundry_err err =
        fdy_codec_model_manifest_encode(m, &out->manifest, &out->manifest_len, reason);
    if (err != FOUNDRY_OK)
        return err;
    out->signatures = calloc(key_count ? key_count : 1, sizeof *out->signatures);
    if (!out->signatures) {
        fdy_model_signed_buf_free(out);
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < key_count; i++) {
        fdy_sign_key_public(keys[i], out->signatures[i].key);
        fdy_sign(keys[i], out->manifest, out->manifest_len, out->signatures[i].sig);
    }
    out->signature_count = key_count;
    return FOUNDRY_OK;
}

void
fdy_model_signed_buf_free(fdy_model_signed_buf_t *self)
{
    free(self->manifest);
    free(self->signatures);
    memset(self, 0, sizeof *self);
}

fdy_model_signed_t
fdy_model_signed_view(const fdy_model_signed_buf_t *self)
{
    fdy_model_signed_t view = {self->manifest, self->manifest_len, self->signatures,
                               self->signature_count};
    return view;
}
