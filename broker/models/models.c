/*  models.c: the models service (fdy_models_service): MODEL requests from
 *  publishers (upload, publish), node agents (fetch, watch, report) and
 *  readers of the release log, every change written as the models part of
 *  the turn's one commit (after one round of blob fsyncs), and replies
 *  sent only after it. Also what models.h gives the rollouts service.
 *  Identity, role and site always come from the authenticated key.
 */
#include "models_core.h"

#include "artifact.h"
#include "clock.h"
#include "commit.h"
#include "log.h"
#include "peers.h"
#include "release_log.h"
#include "reply.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const fdy_kind_t s_kinds[] = {FDY_KIND_MODEL};

uint64_t
fdy_models_wall_ms(void)
{
    return fdy_clock_wall_ns() / 1000000u;
}

bool
fdy_models_granted(const fdy_principal_t *who, const char *name)
{
    if (who->role == FDY_ROLE_ADMIN)
        return true;
    if (who->role != FDY_ROLE_PARTNER)
        return false;
    for (size_t i = 0; i < who->allow_models_count; i++) {
        if (strcmp(who->allow_models[i], "*") == 0 || !name ||
            strcmp(who->allow_models[i], name) == 0)
            return true;
    }
    return false;
}

fdy_model_t *
fdy_models_model(fdy_models_t *self, const char *name, bool create)
{
    fdy_model_t *model = zhashx_lookup(self->models, name);
    if (model || !create)
        return model;
    model = fdy_xalloc(sizeof *model);
    snprintf(model->name, sizeof model->name, "%s", name);
    zhashx_insert(self->models, model->name, model);
    return model;
}

fdy_model_accepted_t *
fdy_models_accepted(fdy_models_t *self, const char *name, uint64_t version)
{
    fdy_model_t *model = fdy_models_model(self, name, false);
    for (size_t i = model ? model->count : 0; i > 0; i--) {
        fdy_model_accepted_t *a = model->accepted[i - 1];
        if (a && a->manifest.version == version)
            return a;
    }
    return NULL;
}

/* ---- replies --------------------------------------------------------------- */

static void
s_free_frame(void *data, void *hint)
{
    (void) hint;
    free(data);
}

void
fdy_models_send_reply(fdy_models_t *self, const fdy_peer_t *to, uint64_t request_id,
                      const fdy_model_reply_t *reply, uint8_t *frame, size_t frame_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_codec_model_reply_encode(reply, &buf, &len, &why) != FOUNDRY_OK) {
        free(frame);
        fdy_reply_error(self->deps.reply, to, request_id, 0, FOUNDRY_ENOMEM, why.text);
        return;
    }
    fdy_envelope_t env;
    memset(&env, 0, sizeof env);
    env.version = FDY_PROTOCOL_VERSION;
    env.kind = FDY_KIND_MODEL_REPLY;
    env.request_id = request_id;
    /* An all-default reply packs to nothing; a body must still be there. */
    uint8_t empty[2] = {0x10, 0x00}; /* index = 0 */
    env.model = len ? buf : empty;
    env.model_len = len ? len : sizeof empty;
    if (frame)
        fdy_reply_send_frame(self->deps.reply, to, &env, frame, frame_len, s_free_frame, NULL);
    else
        fdy_reply_send(self->deps.reply, to, &env);
    free(buf);
}

fdy_models_parked_t *
fdy_models_park(fdy_models_t *self, const fdy_request_t *req, fdy_models_park_kind_t kind)
{
    self->parked = fdy_xgrow(self->parked, &self->parked_capacity, self->parked_count + 1,
                             sizeof *self->parked);
    fdy_models_parked_t *p = &self->parked[self->parked_count++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->peer_len = req->peer.len <= sizeof p->peer ? req->peer.len : 0;
    memcpy(p->peer, req->peer.id, p->peer_len);
    p->request_id = req->env->request_id;
    return p;
}

/* ---- loading ------------------------------------------------------------------ */

static foundry_err
s_load_trust(const uint8_t *key, size_t key_len, const uint8_t *value, size_t len, void *user,
             fdy_reason_t *reason)
{
    return fdy_models_trust_load(user, key, key_len, value, len, reason);
}

static foundry_err
s_load_entry(const uint8_t *key, size_t key_len, const uint8_t *value, size_t len, void *user,
             fdy_reason_t *reason)
{
    (void) reason;
    fdy_models_t *self = user;
    char name[FDY_MODEL_NAME_MAX + 1];
    uint64_t index;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    fdy_model_log_entry_t entry;
    foundry_err err = fdy_store_model_log_key_parse(key, key_len, name, &index, &why);
    if (err == FOUNDRY_OK)
        err = fdy_model_entry_init(value, len, &entry, &why);
    if (err != FOUNDRY_OK) {
        /* One bad record must not stop the broker: reported, skipped. */
        fdy_log_err("MODEL-RECORD-BAD", "release-log entry not loaded: %s", why.text);
        return FOUNDRY_OK;
    }
    fdy_model_t *model = fdy_models_model(self, name, true);
    if (index != model->count + 1) {
        fdy_log_err("MODEL-RECORD-BAD", "model %s: log entry %" PRIu64 " after %zu: skipped", name,
                    index, model->count);
        free(entry.bytes);
        return FOUNDRY_OK;
    }
    fdy_model_append(model, NULL, &entry);
    return FOUNDRY_OK;
}

static foundry_err
s_load_manifest(const uint8_t *key, size_t key_len, const uint8_t *value, size_t len, void *user,
                fdy_reason_t *reason)
{
    (void) reason;
    fdy_models_t *self = user;
    char name[FDY_MODEL_NAME_MAX + 1];
    uint64_t index;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    fdy_model_accepted_t *accepted = NULL;
    foundry_err err = fdy_store_model_log_key_parse(key, key_len, name, &index, &why);
    if (err == FOUNDRY_OK)
        err = fdy_model_accepted_new(value, len, index, &accepted, &why);
    fdy_model_t *model = err == FOUNDRY_OK ? fdy_models_model(self, name, false) : NULL;
    if (err == FOUNDRY_OK && (!model || index > model->count || model->accepted[index - 1]))
        err =
            fdy_reason_set(&why, FOUNDRY_ECORRUPT,
                           "model %s: manifest %" PRIu64 " has no release-log entry", name, index);
    if (err != FOUNDRY_OK) {
        fdy_log_err("MODEL-RECORD-BAD", "manifest not loaded: %s", why.text);
        fdy_model_accepted_destroy(&accepted);
        return FOUNDRY_OK;
    }
    model->accepted[index - 1] = accepted;
    return FOUNDRY_OK;
}

static foundry_err
s_load_upload(const uint8_t *key, size_t key_len, const uint8_t *value, size_t len, void *user,
              fdy_reason_t *reason)
{
    return fdy_model_upload_load(user, key, key_len, value, len, reason);
}

/* After the scans: a log entry without its manifest ends the usable log
 * there (the rest cannot be served), heads and references are rebuilt. */
static void
s_load_finish(fdy_models_t *self)
{
    for (fdy_model_t *model = zhashx_first(self->models); model;
         model = zhashx_next(self->models)) {
        size_t usable = 0;
        while (usable < model->count && model->accepted[usable])
            usable++;
        if (usable < model->count) {
            fdy_log_err("MODEL-RECORD-BAD",
                        "model %s: entry %zu has no manifest: log served "
                        "up to %zu",
                        model->name, usable + 1, usable);
            while (model->count > usable)
                fdy_model_pop(self, model, false);
        }
        memset(model->head_hash, 0, sizeof model->head_hash);
        if (model->count) {
            const fdy_model_log_entry_t *last = &model->entries[model->count - 1];
            fdy_release_hash(last->entry, last->entry_len, model->head_hash);
        }
        for (size_t i = 0; i < model->count; i++) {
            const fdy_model_manifest_t *m = &model->accepted[i]->manifest;
            if (m->version > model->max_version)
                model->max_version = m->version;
            uint64_t release = m->rollback ? m->release_version : m->version;
            if (release > model->release_version)
                model->release_version = release;
            for (size_t c = 0; c < m->chunk_count; c++)
                fdy_model_chunk_ref(self, m->chunk_hashes + c * FDY_MODEL_HASH_LEN,
                                    fdy_artifact_chunk_len(m->size, m->chunk_size, c), 1);
            self->manifest_count++;
        }
    }
}

static foundry_err
s_load(fdy_models_t *self, fdy_reason_t *reason)
{
    foundry_err err =
        fdy_store_models_scan(self->deps.store, FDY_STORE_MODEL_TRUST, s_load_trust, self, reason);
    if (err == FOUNDRY_OK)
        err = fdy_store_models_scan(self->deps.store, FDY_STORE_MODEL_LOG, s_load_entry, self,
                                    reason);
    if (err == FOUNDRY_OK)
        err = fdy_store_models_scan(self->deps.store, FDY_STORE_MODEL_MANIFESTS, s_load_manifest,
                                    self, reason);
    if (err != FOUNDRY_OK)
        return err;
    s_load_finish(self);
    return fdy_store_models_scan(self->deps.store, FDY_STORE_MODEL_UPLOADS, s_load_upload, self,
                                 reason);
}

/* ---- lifecycle ------------------------------------------------------------------ */

static void
s_destroy(void **self_p)
{
    fdy_models_t *self = *self_p;
    if (!self)
        return;
    /* Every change was committed in its turn: nothing is left to save. */
    zhashx_destroy(&self->trust);
    zhashx_destroy(&self->models);
    zhashx_destroy(&self->uploads);
    zhashx_destroy(&self->chunks);
    zhashx_destroy(&self->nodes);
    for (size_t i = 0; i < self->staged_count; i++)
        free(self->staged[i].value);
    for (size_t i = 0; i < self->buf_count; i++)
        free(self->write_bufs[i]);
    free(self->staged);
    free(self->parked);
    free(self->writes);
    free(self->write_bufs);
    free(self->written);
    fdy_arena_destroy(&self->arena);
    fdy_sign_key_destroy(&self->release_key);
    fdy_blobs_close(&self->blobs);
    free(self);
    *self_p = NULL;
}

static void
s_free_policy(void **item)
{
    free(*item);
    *item = NULL;
}

static void
s_free_model(void **item)
{
    fdy_model_destroy((fdy_model_t **) item);
}

static void
s_free_upload(void **item)
{
    fdy_model_upload_free((fdy_model_upload_t **) item);
}

static void
s_free_node(void **item)
{
    fdy_model_node_destroy((fdy_model_node_t **) item);
}

static zhashx_t *
s_table(zhashx_destructor_fn *destructor)
{
    zhashx_t *table = zhashx_new();
    if (!table) {
        fdy_log_err("MODELS-START", "out of memory");
        abort();
    }
    zhashx_set_destructor(table, destructor);
    return table;
}

static foundry_err
s_create(const fdy_service_deps_t *deps, void **self_out, fdy_reason_t *reason)
{
    fdy_models_t *self = fdy_xalloc(sizeof *self);
    self->deps = *deps;
    fdy_traffic_init(&self->traffic, fdy_traffic_models,
                     deps->peers ? fdy_peers_sites(deps->peers) : NULL);
    self->trust = s_table(s_free_policy);
    self->models = s_table(s_free_model);
    self->uploads = s_table(s_free_upload);
    self->chunks = s_table(s_free_policy);
    self->nodes = s_table(s_free_node);
    self->arena = fdy_arena_new(FDY_DECODE_BUDGET(FDY_ENVELOPE_MAX));
    if (!self->arena) {
        fdy_log_err("MODELS-START", "out of memory");
        abort();
    }
    const fdy_broker_cfg_t *cfg = deps->cfg;
    char path[4096];
    snprintf(path, sizeof path, "%s/blobs", cfg->data_dir);
    foundry_err err = fdy_blobs_open(path, &self->blobs, reason);
    if (err == FOUNDRY_OK) {
        if (cfg->release_key_file && *cfg->release_key_file)
            snprintf(path, sizeof path, "%s", cfg->release_key_file);
        else
            snprintf(path, sizeof path, "%s/release.sign", cfg->data_dir);
        err = fdy_sign_key_load_or_create(path, &self->release_key, reason);
    }
    if (err == FOUNDRY_OK) {
        fdy_sign_key_public(self->release_key, self->release_public);
        err = s_load(self, reason);
    }
    if (err != FOUNDRY_OK) {
        void *p = self;
        s_destroy(&p);
        return err;
    }
    if (zhashx_size(self->models) || zhashx_size(self->uploads))
        fdy_log_info("MODELS-LOADED", "%zu models, %" PRIu64 " manifests, %zu uploads",
                     zhashx_size(self->models), self->manifest_count, zhashx_size(self->uploads));
    *self_out = self;
    return FOUNDRY_OK;
}

/* ---- requests ---------------------------------------------------------------------- */

static foundry_err
s_handle(void *self_, const fdy_request_t *req, fdy_reason_t *reason)
{
    fdy_models_t *self = self_;
    if (req->frame_count < 2)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "MODEL needs a ModelRequest frame");
    /* Room to decode the request and, for PUBLISH, its manifest. */
    fdy_arena_reset(self->arena, 2 * FDY_DECODE_BUDGET(req->frames[1].len));
    fdy_model_request_t mr;
    foundry_err err = fdy_codec_model_request_decode(req->frames[1].data, req->frames[1].len,
                                                     self->arena, &mr, reason);
    if (err != FOUNDRY_OK)
        return err;
    bool chunk = mr.op == FDY_MODEL_UPLOAD_CHUNK || mr.op == FDY_MODEL_STREAM_CHUNK;
    if (req->frame_count != (chunk ? 3u : 2u))
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "MODEL %s takes %s, not %zu frames",
                              mr.op == FDY_MODEL_STREAM_CHUNK ? "STREAM_CHUNK"
                              : chunk                         ? "UPLOAD_CHUNK"
                                                              : "request",
                              chunk ? "a ModelRequest and the chunk" : "one ModelRequest",
                              req->frame_count - 1);
    if (chunk)
        fdy_traffic_in(&self->traffic, req->site, 1, req->frames[2].len);
    bool publisher = mr.op == FDY_MODEL_UPLOAD_BEGIN || mr.op == FDY_MODEL_STREAM_BEGIN || chunk ||
                     mr.op == FDY_MODEL_PUBLISH;
    if (publisher && !fdy_models_granted(req->who, NULL))
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "%s '%s' has no model grant (key add --allow-models NAME...)",
                              fdy_role_name(req->who->role), req->who->name);
    switch (mr.op) {
    case FDY_MODEL_UPLOAD_BEGIN: return fdy_model_upload_begin(self, req, &mr, reason);
    case FDY_MODEL_UPLOAD_CHUNK: return fdy_model_upload_chunk(self, req, &mr, reason);
    case FDY_MODEL_PUBLISH: return fdy_model_publish(self, req, &mr, reason);
    case FDY_MODEL_FETCH: return fdy_model_fetch(self, req, &mr, reason);
    case FDY_MODEL_WATCH: return fdy_model_watch(self, req, &mr, reason);
    case FDY_MODEL_REPORT: return fdy_model_report(self, req, &mr, reason);
    case FDY_MODEL_LOG: return fdy_model_log(self, req, &mr, reason);
    case FDY_MODEL_STREAM_BEGIN: return fdy_model_stream_begin(self, req, &mr, reason);
    case FDY_MODEL_STREAM_CHUNK: return fdy_model_stream_chunk(self, req, &mr, reason);
    }
    return fdy_reason_set(reason, FOUNDRY_EPROTO, "unknown model operation");
}

/* ---- the turn's commit -------------------------------------------------------------- */

static void
s_add_write(fdy_models_t *self, fdy_store_model_db_t db, const uint8_t *key, size_t key_len,
            uint8_t *value, size_t len)
{
    size_t capacity = self->write_capacity;
    self->writes = fdy_xgrow(self->writes, &capacity, self->write_count + 1, sizeof *self->writes);
    capacity = self->write_capacity;
    self->write_bufs =
        fdy_xgrow(self->write_bufs, &capacity, self->write_count + 1, sizeof *self->write_bufs);
    self->write_capacity = capacity;
    self->writes[self->write_count++] = (fdy_store_model_write_t){db, key, key_len, value, len};
    if (value)
        self->write_bufs[self->buf_count++] = value;
}

/* The chunks of this turn become durable here: one round of fsyncs for
 * every blob written, before the LMDB commit that records them. */
static void
s_hold_chunks(fdy_models_t *self)
{
    self->sync_err = FOUNDRY_OK;
    self->sync_reason[0] = '\0';
    if (self->blobs_unsynced) {
        fdy_reason_t why;
        fdy_reason_clear(&why);
        self->sync_err = fdy_blobs_sync(self->blobs, &why);
        self->blobs_unsynced = false;
        if (self->sync_err != FOUNDRY_OK) {
            snprintf(self->sync_reason, sizeof self->sync_reason, "%s", why.text);
            fdy_log_err("MODEL-BLOB-SYNC", "%s", why.text);
        }
    }
    for (size_t i = 0; i < self->parked_committing; i++) {
        fdy_models_parked_t *p = &self->parked[i];
        if (p->kind != FDY_MODELS_PARK_CHUNK || self->sync_err != FOUNDRY_OK)
            continue;
        fdy_model_upload_t *up = fdy_model_upload_find(self, p->upload);
        if (!up || (up->have[p->index / 8] & (1u << (p->index % 8))))
            continue;
        memcpy(up->hashes + (size_t) p->index * FDY_MODEL_HASH_LEN, p->hash, sizeof p->hash);
        up->have[p->index / 8] |= (uint8_t) (1u << (p->index % 8));
        up->held++;
        up->dirty = true;
        p->newly_held = true;
        fdy_model_chunk_ref(self, up->hashes + (size_t) p->index * FDY_MODEL_HASH_LEN,
                            fdy_artifact_chunk_len(up->size, up->chunk_size, p->index), 1);
    }
}

static void
s_collect(void *self_, fdy_commit_t *commit, int64_t now_ms)
{
    (void) now_ms;
    fdy_models_t *self = self_;
    self->added = false;
    self->write_count = 0;
    self->buf_count = 0;
    self->written_count = 0;
    self->parked_committing = self->parked_count;
    s_hold_chunks(self);
    for (size_t i = 0; i < self->staged_count; i++) {
        fdy_models_staged_t *s = &self->staged[i];
        s_add_write(self, s->db, s->key, s->key_len, s->value, s->len);
        s->value = NULL; /* now in write_bufs */
    }
    self->staged_count = 0;
    size_t dirty = 0;
    for (fdy_model_upload_t *up = zhashx_first(self->uploads); up; up = zhashx_next(self->uploads))
        dirty += up->dirty;
    self->written =
        fdy_xgrow(self->written, &(size_t){0}, dirty ? dirty : 1, sizeof *self->written);
    for (fdy_model_upload_t *up = zhashx_first(self->uploads); up;
         up = zhashx_next(self->uploads)) {
        if (!up->dirty)
            continue;
        up->dirty = false;
        uint8_t *buf = NULL;
        size_t len = 0;
        if (!up->removed) {
            fdy_store_model_upload_t rec = {up->size,       up->chunk_size,  up->created_ms,
                                            up->touched_ms, up->chunk_count, up->hashes,
                                            up->have,       up->stream};
            fdy_reason_t why;
            if (fdy_store_model_upload_encode(&rec, &buf, &len, &why) != FOUNDRY_OK) {
                fdy_log_err("MODELS-ENCODE", "%s", why.text);
                abort();
            }
        }
        s_add_write(self, FDY_STORE_MODEL_UPLOADS, up->id, sizeof up->id, buf, len);
        self->written[self->written_count++] = up;
    }
    if (self->write_count == 0)
        return;
    self->part = (fdy_store_models_t){self->writes, self->write_count};
    fdy_commit_add(commit, &fdy_store_models_part, &self->part);
    self->added = true;
}

/* The have bitmap of a BEGIN reply: what the upload holds durably. */
static void
s_reply_begin(fdy_models_t *self, const fdy_peer_t *to, const fdy_models_parked_t *p)
{
    fdy_model_upload_t *up = fdy_model_upload_find(self, p->upload);
    fdy_model_reply_t reply;
    memset(&reply, 0, sizeof reply);
    uint8_t none = 0;
    reply.have = up ? up->have : &none;
    reply.have_len = up ? up->have_len : 0;
    reply.first_known = p->first_known && up && up->held == 0;
    fdy_models_send_reply(self, to, p->request_id, &reply, NULL, 0);
}

static void
s_reply_publish(fdy_models_t *self, const fdy_peer_t *to, const fdy_models_parked_t *p)
{
    fdy_model_t *model = p->model;
    const fdy_model_log_entry_t *e = &model->entries[p->index - 1];
    fdy_model_signed_entry_t entry = {e->entry, e->entry_len, {0}};
    memcpy(entry.sig, e->sig, sizeof entry.sig);
    fdy_model_reply_t reply;
    memset(&reply, 0, sizeof reply);
    reply.entry = &entry;
    reply.version = p->version;
    fdy_models_send_reply(self, to, p->request_id, &reply, NULL, 0);
}

/* A failed commit: everything the turn changed in memory is undone, so
 * the next attempt (the client resends) starts from what is stored. */
static void
s_undo(fdy_models_t *self)
{
    for (size_t i = self->parked_committing; i > 0; i--) {
        fdy_models_parked_t *p = &self->parked[i - 1];
        fdy_model_upload_t *up = fdy_model_upload_find(self, p->upload);
        if (p->kind == FDY_MODELS_PARK_PUBLISH && p->created) {
            fdy_model_pop(self, p->model, true);
            self->publishes--;
            if (up)
                up->removed = false;
        } else if (p->kind == FDY_MODELS_PARK_CHUNK && p->newly_held && up) {
            up->have[p->index / 8] &= (uint8_t) ~(1u << (p->index % 8));
            up->held--;
            fdy_model_chunk_ref(self, up->hashes + (size_t) p->index * FDY_MODEL_HASH_LEN, 0, -1);
        }
    }
    for (size_t i = 0; i < self->parked_committing; i++) {
        fdy_models_parked_t *p = &self->parked[i];
        fdy_model_upload_t *up = fdy_model_upload_find(self, p->upload);
        if (p->kind == FDY_MODELS_PARK_BEGIN && p->created && up && !up->durable) {
            char hex[2 * FDY_MODEL_HASH_LEN + 1];
            fdy_blobs_hex(up->id, hex);
            for (size_t c = 0; c < up->chunk_count; c++)
                if (up->have[c / 8] & (1u << (c % 8)))
                    fdy_model_chunk_ref(self, up->hashes + c * FDY_MODEL_HASH_LEN, 0, -1);
            zhashx_delete(self->uploads, hex);
        }
    }
    for (size_t i = 0; i < self->written_count; i++)
        self->written[i] = NULL;
    for (fdy_model_upload_t *up = zhashx_first(self->uploads); up; up = zhashx_next(self->uploads))
        up->dirty = true; /* written again next turn: the record is what memory says */
}

static void
s_committed(void *self_, const fdy_commit_t *commit, int64_t now_ms)
{
    (void) now_ms;
    fdy_models_t *self = self_;
    foundry_err err = self->added ? fdy_commit_result(commit, &self->part) : FOUNDRY_OK;
    const char *why = self->added ? fdy_commit_reason(commit, &self->part) : "";
    for (size_t i = 0; i < self->buf_count; i++)
        free(self->write_bufs[i]);
    self->buf_count = 0;
    if (err != FOUNDRY_OK) {
        s_undo(self);
    } else {
        for (size_t i = 0; i < self->written_count; i++) {
            fdy_model_upload_t *up = self->written[i];
            up->durable = true;
            if (!up->removed)
                continue;
            for (size_t c = 0; c < up->chunk_count; c++)
                if (up->have[c / 8] & (1u << (c % 8)))
                    fdy_model_chunk_ref(self, up->hashes + c * FDY_MODEL_HASH_LEN, 0, -1);
            char hex[2 * FDY_MODEL_HASH_LEN + 1];
            fdy_blobs_hex(up->id, hex);
            zhashx_delete(self->uploads, hex);
        }
    }
    self->written_count = 0;
    for (size_t i = 0; i < self->parked_committing; i++) {
        fdy_models_parked_t *p = &self->parked[i];
        fdy_peer_t to = {p->peer, p->peer_len};
        if (p->kind == FDY_MODELS_PARK_CHUNK && self->sync_err != FOUNDRY_OK) {
            fdy_reply_error(self->deps.reply, &to, p->request_id, 0, self->sync_err,
                            self->sync_reason);
            continue;
        }
        if (err != FOUNDRY_OK) {
            fdy_reply_error(self->deps.reply, &to, p->request_id, 0, err, why);
            continue;
        }
        if (p->kind == FDY_MODELS_PARK_BEGIN) {
            s_reply_begin(self, &to, p);
        } else if (p->kind == FDY_MODELS_PARK_CHUNK) {
            fdy_model_reply_t reply;
            memset(&reply, 0, sizeof reply);
            reply.index = p->index;
            fdy_models_send_reply(self, &to, p->request_id, &reply, NULL, 0);
        } else {
            s_reply_publish(self, &to, p);
        }
    }
    if (self->parked_committing && self->parked_count > self->parked_committing)
        memmove(self->parked, self->parked + self->parked_committing,
                (self->parked_count - self->parked_committing) * sizeof *self->parked);
    self->parked_count -= self->parked_committing;
    self->parked_committing = 0;
    self->added = false;
}

static int64_t
s_tick(void *self_, int64_t now_ms)
{
    return fdy_model_upload_tick(self_, now_ms);
}

static void
s_peer_gone(void *self_, const fdy_peer_t *peer)
{
    fdy_model_nodes_gone(self_, peer);
}

static void
s_stats(const void *self_, fdy_stats_t *out)
{
    const fdy_models_t *self = self_;
    uint64_t bytes = 0;
    zhashx_t *chunks = self->chunks;
    for (fdy_model_chunk_ref_t *ref = zhashx_first(chunks); ref; ref = zhashx_next(chunks))
        bytes += ref->len;
    fdy_stats_add(out, "model_uploads", zhashx_size(self->uploads));
    fdy_stats_add(out, "model_chunks_stored", zhashx_size(self->chunks));
    fdy_stats_add(out, "model_bytes_stored", bytes);
    fdy_stats_add(out, "model_manifests", self->manifest_count);
    fdy_stats_add(out, "model_publishes", self->publishes);
    fdy_stats_add(out, "model_publishes_refused", self->publishes_refused);
    fdy_stats_add_table(out, &self->traffic);
}

const fdy_service_ops_t fdy_models_service = {
    .name = "models",
    .kinds = s_kinds,
    .kind_count = sizeof s_kinds / sizeof s_kinds[0],
    .admin_prefixes = fdy_models_admin_prefixes,
    .holds_frames = false,
    .create = s_create,
    .destroy = s_destroy,
    .handle = s_handle,
    .collect = s_collect,
    .committed = s_committed,
    .tick = s_tick,
    .peer_gone = s_peer_gone,
    .admin = fdy_models_admin,
    .stats = s_stats,
};

/* ---- models.h: what the rollouts service uses -------------------------------------- */

fdy_models_t *
fdy_models_find(const fdy_service_deps_t *deps)
{
    for (size_t i = 0; i < deps->service_count; i++)
        if (deps->services[i].ops == &fdy_models_service)
            return deps->services[i].self;
    return NULL;
}

foundry_err
fdy_models_release(fdy_models_t *self, const char *name, uint64_t version,
                   fdy_models_release_t *out, fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    fdy_model_accepted_t *a = fdy_models_accepted(self, name, version);
    if (!a)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "model %.64s has no version %" PRIu64,
                              name, version);
    out->manifest = &a->manifest;
    out->signed_bytes = a->signed_bytes;
    out->signed_len = a->signed_len;
    out->log_index = a->log_index;
    return FOUNDRY_OK;
}

void
fdy_models_set_hooks(fdy_models_t *self, const fdy_models_hooks_t *hooks)
{
    self->hooks = *hooks;
}
