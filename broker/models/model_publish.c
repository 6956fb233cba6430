/*  model_publish.c: PUBLISH, the checks a signed manifest passes before it
 *  is a release (in the order docs/models.md gives, each with its
 *  reason), and each model's hash-chained release log, signed with the
 *  broker's release key. A publish changes memory at once (so a second
 *  publish in the same turn sees the first) and is undone if the turn's
 *  commit fails.
 */
#include "models_core.h"

#include "artifact.h"
#include "log.h"
#include "release_log.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- records ------------------------------------------------------------------ */

void
fdy_model_accepted_destroy(fdy_model_accepted_t **self_p)
{
    fdy_model_accepted_t *self = *self_p;
    if (!self)
        return;
    fdy_arena_destroy(&self->arena);
    free(self->signed_bytes);
    free(self);
    *self_p = NULL;
}

foundry_err
fdy_model_accepted_new(const uint8_t *signed_bytes, size_t len, uint64_t log_index,
                       fdy_model_accepted_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    fdy_model_accepted_t *a = fdy_xalloc(sizeof *a);
    a->signed_bytes = fdy_xalloc(len ? len : 1);
    memcpy(a->signed_bytes, signed_bytes, len);
    a->signed_len = len;
    a->log_index = log_index;
    a->arena = fdy_arena_new(FDY_DECODE_BUDGET(len));
    if (!a->arena) {
        fdy_log_err("OUT-OF-MEMORY", "manifest arena");
        abort();
    }
    foundry_err err =
        fdy_codec_model_signed_decode(a->signed_bytes, len, a->arena, &a->signed_manifest, reason);
    if (err == FOUNDRY_OK)
        err = fdy_codec_model_manifest_decode(a->signed_manifest.manifest,
                                              a->signed_manifest.manifest_len, a->arena,
                                              &a->manifest, reason);
    if (err != FOUNDRY_OK) {
        fdy_model_accepted_destroy(&a);
        return err;
    }
    *out = a;
    return FOUNDRY_OK;
}

foundry_err
fdy_model_entry_init(const uint8_t *bytes, size_t len, fdy_model_log_entry_t *out,
                     fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(len));
    if (!arena) {
        fdy_log_err("OUT-OF-MEMORY", "entry arena");
        abort();
    }
    fdy_model_signed_entry_t s;
    fdy_model_entry_t e;
    foundry_err err = fdy_codec_model_signed_entry_decode(bytes, len, arena, &s, reason);
    if (err == FOUNDRY_OK)
        err = fdy_codec_model_entry_decode(s.entry, s.entry_len, arena, &e, reason);
    if (err == FOUNDRY_OK) {
        out->bytes = fdy_xalloc(len);
        memcpy(out->bytes, bytes, len);
        out->len = len;
        out->entry = fdy_xalloc(s.entry_len ? s.entry_len : 1);
        memcpy(out->entry, s.entry, s.entry_len);
        out->entry_len = s.entry_len;
        memcpy(out->sig, s.sig, sizeof out->sig);
        out->version = e.version;
        out->rollback = e.rollback;
        out->time_ms = e.time_ms;
        memcpy(out->manifest_hash, e.manifest_hash, sizeof out->manifest_hash);
    }
    fdy_arena_destroy(&arena);
    return err;
}

void
fdy_model_destroy(fdy_model_t **self_p)
{
    fdy_model_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++) {
        free(self->entries[i].bytes);
        free(self->entries[i].entry);
        fdy_model_accepted_destroy(&self->accepted[i]);
    }
    free(self->entries);
    free(self->accepted);
    free(self);
    *self_p = NULL;
}

/* Head hash and the version bounds, from what the log holds. */
static void
s_recount(fdy_model_t *model)
{
    memset(model->head_hash, 0, sizeof model->head_hash);
    model->max_version = 0;
    model->release_version = 0;
    if (model->count) {
        const fdy_model_log_entry_t *last = &model->entries[model->count - 1];
        fdy_release_hash(last->entry, last->entry_len, model->head_hash);
    }
    for (size_t i = 0; i < model->count; i++) {
        const fdy_model_accepted_t *a = model->accepted[i];
        if (!a)
            continue;
        if (a->manifest.version > model->max_version)
            model->max_version = a->manifest.version;
        uint64_t release = a->manifest.rollback ? a->manifest.release_version : a->manifest.version;
        if (release > model->release_version)
            model->release_version = release;
    }
}

void
fdy_model_append(fdy_model_t *model, fdy_model_accepted_t *accepted, fdy_model_log_entry_t *entry)
{
    if (model->count == model->capacity) {
        size_t capacity = model->capacity;
        model->entries =
            fdy_xgrow(model->entries, &capacity, model->count + 1, sizeof *model->entries);
        capacity = model->capacity;
        model->accepted =
            fdy_xgrow(model->accepted, &capacity, model->count + 1, sizeof *model->accepted);
        model->capacity = capacity;
    }
    model->entries[model->count] = *entry;
    model->accepted[model->count] = accepted;
    model->count++;
    s_recount(model);
}

void
fdy_model_pop(fdy_models_t *self, fdy_model_t *model, bool counted)
{
    if (model->count == 0)
        return;
    size_t last = --model->count;
    fdy_model_accepted_t *a = model->accepted[last];
    if (a && counted) {
        const fdy_model_manifest_t *m = &a->manifest;
        for (size_t c = 0; c < m->chunk_count; c++)
            fdy_model_chunk_ref(self, m->chunk_hashes + c * FDY_MODEL_HASH_LEN, 0, -1);
        self->manifest_count--;
    }
    fdy_model_accepted_destroy(&model->accepted[last]);
    free(model->entries[last].bytes);
    free(model->entries[last].entry);
    memset(&model->entries[last], 0, sizeof model->entries[last]);
    s_recount(model);
}

/* ---- the checks ------------------------------------------------------------------- */

static void
s_time_text(uint64_t ms, char *buf, size_t size)
{
    time_t seconds = (time_t) (ms / 1000);
    struct tm tm;
    if (gmtime_r(&seconds, &tm))
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    else
        snprintf(buf, size, "%" PRIu64 " ms", ms);
}

static foundry_err
s_check_version(const fdy_model_t *model, const fdy_model_manifest_t *m, fdy_reason_t *reason)
{
    uint64_t current = model && model->count ? model->entries[model->count - 1].version : 0;
    uint64_t newest = model ? model->max_version : 0;
    if (!m->rollback) {
        if (m->version <= newest)
            return fdy_reason_set(reason, FOUNDRY_EDENIED,
                                  "model %s version %" PRIu64 " is not above the newest accepted "
                                  "version %" PRIu64 " (an old manifest replayed?)",
                                  m->name, m->version, newest);
        return FOUNDRY_OK;
    }
    if (!model || model->count == 0 || m->rollback_of != current)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "rollback of model %s names version %" PRIu64
                              ", but the current version is %" PRIu64,
                              m->name, m->rollback_of, current);
    bool earlier = false;
    for (size_t i = 0; i < model->count && !earlier; i++)
        earlier = model->accepted[i] && model->accepted[i]->manifest.version == m->version &&
                  m->version != current;
    if (!earlier)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "rollback of model %s to version %" PRIu64
                              ": not an earlier accepted version",
                              m->name, m->version);
    if (m->release_version <= model->release_version)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "rollback of model %s: release_version %" PRIu64
                              " is not above %" PRIu64 " (a replayed rollback?)",
                              m->name, m->release_version, model->release_version);
    return FOUNDRY_OK;
}

/* Every chunk stored durably (by an upload or an earlier release), and the
 * manifest's artifact id is that of its chunks. */
static foundry_err
s_check_artifact(fdy_models_t *self, const fdy_model_manifest_t *m, fdy_reason_t *reason)
{
    uint8_t id[FDY_MODEL_HASH_LEN];
    fdy_artifact_id(m->size, m->chunk_size, m->chunk_hashes, m->chunk_count, id);
    if (memcmp(id, m->artifact_hash, sizeof id) != 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "manifest's artifact_hash is not the id of its chunks");
    for (size_t c = 0; c < m->chunk_count; c++) {
        char hex[2 * FDY_MODEL_HASH_LEN + 1];
        fdy_blobs_hex(m->chunk_hashes + c * FDY_MODEL_HASH_LEN, hex);
        if (!zhashx_lookup(self->chunks, hex))
            return fdy_reason_set(reason, FOUNDRY_ENOTFOUND,
                                  "artifact not uploaded: chunk %zu of %zu missing", c,
                                  m->chunk_count);
    }
    return FOUNDRY_OK;
}

/* After the manifest decoded: grant, trust, expiry, version, artifact. */
static foundry_err
s_checks(fdy_models_t *self, const fdy_request_t *req, const fdy_model_request_t *mr,
         const fdy_model_manifest_t *m, fdy_reason_t *reason)
{
    const fdy_model_signed_t *s = &mr->signed_manifest;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (!fdy_models_granted(req->who, m->name))
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "%s may not publish model %s",
                              req->who->name, m->name);
    const fdy_trust_policy_t *policy = fdy_models_trust_find(self, m->name);
    if (!policy)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "no trust policy for model %s: foundryctl model trust %s --key "
                              "... --threshold K",
                              m->name, m->name);
    foundry_err err = fdy_trust_check(policy, s, NULL, &why);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "model %s: %s", m->name, why.text);
    if (m->expires_ms && m->expires_ms < fdy_models_wall_ms()) {
        char when[40];
        s_time_text(m->expires_ms, when, sizeof when);
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "manifest expired at %s", when);
    }
    err = s_check_version(fdy_models_model(self, m->name, false), m, reason);
    if (err == FOUNDRY_OK)
        err = s_check_artifact(self, m, reason);
    return err;
}

/* ---- PUBLISH ---------------------------------------------------------------------- */

static void
s_stage(fdy_models_t *self, fdy_store_model_db_t db, const char *name, uint64_t index,
        const uint8_t *value, size_t len)
{
    self->staged = fdy_xgrow(self->staged, &self->staged_capacity, self->staged_count + 1,
                             sizeof *self->staged);
    fdy_models_staged_t *s = &self->staged[self->staged_count++];
    s->db = db;
    s->key_len = fdy_store_model_log_key(name, index, s->key);
    s->value = fdy_xalloc(len);
    memcpy(s->value, value, len);
    s->len = len;
}

/* The exact manifest already released last (a resend whose answer was
 * lost): answered with its entry, nothing new. */
static bool
s_resent(fdy_model_t *model, const fdy_model_signed_t *s)
{
    if (!model || model->count == 0)
        return false;
    const fdy_model_accepted_t *last = model->accepted[model->count - 1];
    return last && last->signed_manifest.manifest_len == s->manifest_len &&
           memcmp(last->signed_manifest.manifest, s->manifest, s->manifest_len) == 0;
}

static foundry_err
s_release(fdy_models_t *self, const fdy_model_signed_t *s, const fdy_model_manifest_t *m,
          fdy_model_t **model_out, fdy_reason_t *reason)
{
    uint8_t *signed_bytes = NULL;
    size_t signed_len = 0;
    foundry_err err = fdy_codec_model_signed_encode(s, &signed_bytes, &signed_len, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_model_t *model = fdy_models_model(self, m->name, true);
    fdy_model_signed_entry_t appended;
    memset(&appended, 0, sizeof appended);
    err = fdy_release_append(self->release_key, m->name, model->count, model->head_hash, m->version,
                             s->manifest, s->manifest_len, m->rollback, fdy_models_wall_ms(),
                             &appended, reason);
    uint8_t *entry_bytes = NULL;
    size_t entry_len = 0;
    if (err == FOUNDRY_OK)
        err = fdy_codec_model_signed_entry_encode(&appended, &entry_bytes, &entry_len, reason);
    free((void *) appended.entry);
    fdy_model_accepted_t *accepted = NULL;
    fdy_model_log_entry_t entry;
    uint64_t index = model->count + 1;
    if (err == FOUNDRY_OK)
        err = fdy_model_accepted_new(signed_bytes, signed_len, index, &accepted, reason);
    if (err == FOUNDRY_OK)
        err = fdy_model_entry_init(entry_bytes, entry_len, &entry, reason);
    if (err == FOUNDRY_OK) {
        fdy_model_append(model, accepted, &entry);
        s_stage(self, FDY_STORE_MODEL_MANIFESTS, m->name, index, signed_bytes, signed_len);
        s_stage(self, FDY_STORE_MODEL_LOG, m->name, index, entry_bytes, entry_len);
        const fdy_model_manifest_t *kept = &accepted->manifest;
        for (size_t c = 0; c < kept->chunk_count; c++)
            fdy_model_chunk_ref(self, kept->chunk_hashes + c * FDY_MODEL_HASH_LEN,
                                fdy_artifact_chunk_len(kept->size, kept->chunk_size, c), 1);
        self->manifest_count++;
    } else {
        fdy_model_accepted_destroy(&accepted);
    }
    free(signed_bytes);
    free(entry_bytes);
    *model_out = model;
    return err;
}

foundry_err
fdy_model_publish(fdy_models_t *self, const fdy_request_t *req, const fdy_model_request_t *mr,
                  fdy_reason_t *reason)
{
    fdy_model_manifest_t m;
    memset(&m, 0, sizeof m);
    fdy_model_t *model = NULL;
    bool resent = false;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    const fdy_model_signed_t *s = &mr->signed_manifest;
    foundry_err err = FOUNDRY_OK;
    if (!s->manifest || s->manifest_len == 0)
        err = fdy_reason_set(reason, FOUNDRY_EINVAL, "PUBLISH needs a signed manifest");
    else if (fdy_codec_model_manifest_decode(s->manifest, s->manifest_len, self->arena, &m, &why) !=
             FOUNDRY_OK)
        err = fdy_reason_set(reason, FOUNDRY_EINVAL, "manifest does not decode: %s", why.text);
    else if (fdy_models_granted(req->who, m.name))
        resent = s_resent(fdy_models_model(self, m.name, false), s);
    if (resent)
        model = fdy_models_model(self, m.name, false);
    if (err == FOUNDRY_OK && !resent) {
        err = s_checks(self, req, mr, &m, reason);
        if (err == FOUNDRY_OK)
            err = s_release(self, &mr->signed_manifest, &m, &model, reason);
    }
    if (err != FOUNDRY_OK) {
        self->publishes_refused++;
        fdy_log_limited(FDY_LOG_NOTICE, "MODEL-PUBLISH-REFUSED", "%s: %s", req->who->name,
                        reason->text);
        return err;
    }
    fdy_models_parked_t *p = fdy_models_park(self, req, FDY_MODELS_PARK_PUBLISH);
    p->model = model;
    p->index = (uint32_t) model->count;
    p->version = m.version;
    p->created = !resent;
    memcpy(p->upload, m.artifact_hash, sizeof p->upload);
    if (resent)
        return FOUNDRY_OK;
    /* The upload has done its job: its chunks now belong to the release. */
    fdy_model_upload_t *up = fdy_model_upload_find(self, m.artifact_hash);
    if (up && !up->removed) {
        up->removed = true;
        up->dirty = true;
    }
    self->publishes++;
    fdy_log_notice("MODEL-PUBLISHED", "%s published %s version %" PRIu64 "%s (log entry %zu)",
                   req->who->name, m.name, m.version, m.rollback ? " (rollback)" : "",
                   model->count);
    return FOUNDRY_OK;
}
