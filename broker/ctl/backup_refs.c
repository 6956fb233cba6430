/*  backup_refs.c: the set of blobs a store references, from its models
 *  table (broker/store/store_models.h): manifests' chunks and the chunks
 *  uploads in progress hold. A set of hex names in a zhashx; each entry
 *  remembers whether a manifest needs it, and which, for the message when
 *  one is missing.
 */
#include "backup_refs.h"

#include "arena.h"
#include "codec.h"
#include "codec_models.h"
#include "store.h"
#include "store_models.h"

#include <czmq.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HEX_LEN (2 * FDY_BLOB_HASH_LEN)

typedef struct {
    bool required;
    char owner[FDY_MODEL_NAME_MAX + 24]; /* "NAME vVERSION" or "an upload" */
} ref_t;

struct fdy_backup_refs {
    zhashx_t *refs; /* hex name -> ref_t */
    uint64_t required;
    uint64_t manifests;
    fdy_arena_t *arena;
};

static void
s_ref_free(void **item)
{
    free(*item);
    *item = NULL;
}

static void
s_add(fdy_backup_refs_t *self, const uint8_t *hash, bool required, const char *owner)
{
    char hex[HEX_LEN + 1];
    fdy_blobs_hex(hash, hex);
    ref_t *ref = zhashx_lookup(self->refs, hex);
    if (!ref) {
        ref = calloc(1, sizeof *ref);
        if (!ref)
            return; /* out of memory: the blob is left out, and counted missing if needed */
        snprintf(ref->owner, sizeof ref->owner, "%s", owner);
        zhashx_insert(self->refs, hex, ref);
    }
    if (required && !ref->required) {
        ref->required = true;
        snprintf(ref->owner, sizeof ref->owner, "%s", owner);
        self->required++;
    }
}

static foundry_err
s_manifest(const uint8_t *key, size_t key_len, const uint8_t *value, size_t len, void *user,
           fdy_reason_t *reason)
{
    fdy_backup_refs_t *self = user;
    fdy_arena_reset(self->arena, FDY_DECODE_BUDGET(len));
    fdy_model_signed_t signed_manifest;
    fdy_model_manifest_t manifest;
    foundry_err err =
        fdy_codec_model_signed_decode(value, len, self->arena, &signed_manifest, reason);
    if (err == FOUNDRY_OK)
        err = fdy_codec_model_manifest_decode(
            signed_manifest.manifest, signed_manifest.manifest_len, self->arena, &manifest, reason);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "a stored manifest (key of %zu bytes) "
                              "does not decode: %s",
                              key_len, reason->text);
    char owner[FDY_MODEL_NAME_MAX + 24];
    snprintf(owner, sizeof owner, "model %s v%llu", manifest.name,
             (unsigned long long) manifest.version);
    for (size_t c = 0; c < manifest.chunk_count; c++)
        s_add(self, manifest.chunk_hashes + c * FDY_BLOB_HASH_LEN, true, owner);
    self->manifests++;
    return FOUNDRY_OK;
}

static foundry_err
s_upload(const uint8_t *key, size_t key_len, const uint8_t *value, size_t len, void *user,
         fdy_reason_t *reason)
{
    fdy_backup_refs_t *self = user;
    fdy_store_model_upload_t up;
    foundry_err err = fdy_store_model_upload_decode(value, len, &up, reason);
    if (err != FOUNDRY_OK)
        return err;
    for (size_t c = 0; c < up.chunk_count; c++)
        if (up.have[c / 8] & (1u << (c % 8)))
            s_add(self, up.chunk_hashes + c * FDY_BLOB_HASH_LEN, false, "an upload in progress");
    return FOUNDRY_OK;
}

foundry_err
fdy_backup_refs_load(const char *dir, fdy_backup_refs_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    fdy_backup_refs_t *self = calloc(1, sizeof *self);
    if (!self)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    self->refs = zhashx_new();
    self->arena = fdy_arena_new(FDY_DECODE_BUDGET(FDY_ENVELOPE_MAX));
    if (!self->refs || !self->arena) {
        fdy_backup_refs_destroy(&self);
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    }
    zhashx_set_destructor(self->refs, s_ref_free);
    fdy_store_opts_t opts = {.dir = dir, .read_only = true};
    fdy_store_t *store = NULL;
    foundry_err err = fdy_store_open(&opts, &store, reason);
    if (err == FOUNDRY_OK)
        err = fdy_store_models_scan(store, FDY_STORE_MODEL_MANIFESTS, s_manifest, self, reason);
    if (err == FOUNDRY_OK)
        err = fdy_store_models_scan(store, FDY_STORE_MODEL_UPLOADS, s_upload, self, reason);
    fdy_store_close(&store);
    if (err != FOUNDRY_OK) {
        fdy_backup_refs_destroy(&self);
        return err;
    }
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_backup_refs_destroy(fdy_backup_refs_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fdy_backup_refs_t *self = *self_p;
    zhashx_destroy(&self->refs);
    fdy_arena_destroy(&self->arena);
    free(self);
    *self_p = NULL;
}

uint64_t
fdy_backup_refs_count(const fdy_backup_refs_t *self)
{
    return zhashx_size(self->refs);
}

uint64_t
fdy_backup_refs_required(const fdy_backup_refs_t *self)
{
    return self->required;
}

uint64_t
fdy_backup_refs_manifests(const fdy_backup_refs_t *self)
{
    return self->manifests;
}

bool
fdy_backup_refs_want(const uint8_t hash[FDY_BLOB_HASH_LEN], void *user)
{
    fdy_backup_refs_t *self = user;
    char hex[HEX_LEN + 1];
    fdy_blobs_hex(hash, hex);
    return zhashx_lookup(self->refs, hex) != NULL;
}

uint64_t
fdy_backup_refs_missing(const fdy_backup_refs_t *self, const char *blobs_dir, FILE *report)
{
    uint64_t missing = 0;
    for (ref_t *ref = zhashx_first(self->refs); ref; ref = zhashx_next(self->refs)) {
        if (!ref->required)
            continue;
        const char *hex = zhashx_cursor(self->refs);
        char path[PATH_MAX];
        struct stat st;
        int n = snprintf(path, sizeof path, "%s/%.2s/%s", blobs_dir, hex, hex);
        if (n > 0 && n < (int) sizeof path && stat(path, &st) == 0)
            continue;
        missing++;
        if (report)
            fprintf(report, "backup: blob %s of %s is missing\n", hex, ref->owner);
    }
    return missing;
}
