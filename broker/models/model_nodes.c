/*  model_nodes.c: what node agents ask of the models service (FETCH a
 *  chunk of a release that targets their site, WATCH for what they must
 *  install, REPORT their state to the rollout engine), LOG for anyone who
 *  may read a model, and the notices the rollouts service sends through
 *  models.h. A node is its key: name and site never come from a field.
 */
#include "models_core.h"

#include "artifact.h"
#include "clock.h"
#include "log.h"
#include "reply.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
fdy_model_targets_site(const fdy_model_manifest_t *m, const char *site)
{
    if (m->site_count == 0)
        return true;
    for (size_t i = 0; i < m->site_count; i++)
        if (strcmp(m->sites[i], site) == 0)
            return true;
    return false;
}

void
fdy_model_node_destroy(fdy_model_node_t **self_p)
{
    fdy_model_node_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy(&self->log_index);
    free(self);
    *self_p = NULL;
}

/* ---- FETCH ------------------------------------------------------------------------ */

foundry_err
fdy_model_fetch(fdy_models_t *self, const fdy_request_t *req, const fdy_model_request_t *mr,
                fdy_reason_t *reason)
{
    const fdy_principal_t *who = req->who;
    if (!mr->name || !fdy_model_name_ok(mr->name))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "FETCH needs a valid model name");
    if (who->role != FDY_ROLE_NODE && !fdy_models_granted(who, mr->name))
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "%s may not fetch model %s", who->name,
                              mr->name);
    fdy_model_accepted_t *a = fdy_models_accepted(self, mr->name, mr->version);
    if (!a)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "model %s has no version %" PRIu64,
                              mr->name, mr->version);
    const fdy_model_manifest_t *m = &a->manifest;
    if (who->role == FDY_ROLE_NODE && !fdy_model_targets_site(m, who->site))
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "model %s version %" PRIu64 " is not released to site %s", mr->name,
                              mr->version, who->site);
    if (mr->index >= m->chunk_count)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "chunk %u of an artifact of %zu chunks",
                              mr->index, m->chunk_count);
    size_t len = fdy_artifact_chunk_len(m->size, m->chunk_size, mr->index);
    /* Not zeroed: the read fills it (zeroing 1 MiB per FETCH cost the
     * broker's loop about 7% of a rollout). */
    uint8_t *buf = fdy_xrealloc(NULL, len ? len : 1);
    size_t got = 0;
    foundry_err err = fdy_blobs_read(self->blobs, m->chunk_hashes + (size_t) mr->index * 32, buf,
                                     len, &got, reason);
    if (err == FOUNDRY_OK && got != len)
        err = fdy_reason_set(reason, FOUNDRY_ECORRUPT, "chunk %u: %zu bytes stored, not %zu",
                             mr->index, got, len);
    if (err != FOUNDRY_OK) {
        free(buf);
        fdy_log_err("MODEL-BLOB-READ", "model %s version %" PRIu64 ": %s", mr->name, mr->version,
                    reason->text);
        return err;
    }
    fdy_model_reply_t reply;
    memset(&reply, 0, sizeof reply);
    reply.index = mr->index;
    /* The node verifies the hash itself: no second hash here. */
    fdy_models_send_reply(self, &req->peer, req->env->request_id, &reply, buf, len);
    fdy_traffic_out(&self->traffic, req->site, 1, len);
    return FOUNDRY_OK;
}

/* ---- notices ---------------------------------------------------------------------- */

static uint64_t
s_node_log_index(const fdy_model_node_t *node, const char *name)
{
    return node ? (uint64_t) (uintptr_t) zhashx_lookup(node->log_index, name) : 0;
}

/* Fills n for a release (entries after log_index up to it, malloc'd in
 * *entries_out). False when the release is unknown. */
static bool
s_notice(fdy_models_t *self, const fdy_model_node_t *node, uint64_t rollout_id, const char *name,
         uint64_t version, bool cancel, fdy_model_notice_t *n,
         fdy_model_signed_entry_t **entries_out)
{
    *entries_out = NULL;
    memset(n, 0, sizeof *n);
    fdy_model_t *model = fdy_models_model(self, name, false);
    fdy_model_accepted_t *a = fdy_models_accepted(self, name, version);
    if (!model || !a)
        return false;
    uint64_t from = s_node_log_index(node, name) + 1;
    uint64_t to = a->log_index;
    size_t count = to >= from ? (size_t) (to - from + 1) : 0;
    if (count > FDY_MODEL_ENTRIES_MAX) {
        from = to - FDY_MODEL_ENTRIES_MAX + 1; /* the node re-fetches the rest with LOG */
        count = FDY_MODEL_ENTRIES_MAX;
    }
    fdy_model_signed_entry_t *entries = fdy_xalloc((count ? count : 1) * sizeof *entries);
    for (size_t i = 0; i < count; i++) {
        const fdy_model_log_entry_t *e = &model->entries[from - 1 + i];
        entries[i].entry = e->entry;
        entries[i].entry_len = e->entry_len;
        memcpy(entries[i].sig, e->sig, sizeof entries[i].sig);
    }
    n->rollout_id = rollout_id;
    n->signed_manifest = a->signed_manifest;
    n->entries = entries;
    n->entry_count = count;
    n->release_key = self->release_public;
    n->cancel = cancel;
    *entries_out = entries;
    return true;
}

bool
fdy_models_node_connected(const fdy_models_t *self, const char *node)
{
    const fdy_model_node_t *n = zhashx_lookup(self->nodes, node);
    return n && n->connected;
}

bool
fdy_models_notify(fdy_models_t *self, const char *node, uint64_t rollout_id, const char *name,
                  uint64_t version, bool cancel)
{
    fdy_model_node_t *n = zhashx_lookup(self->nodes, node);
    if (!n || !n->connected)
        return false;
    fdy_model_notice_t notice;
    fdy_model_signed_entry_t *entries;
    if (!s_notice(self, n, rollout_id, name, version, cancel, &notice, &entries))
        return false;
    uint8_t *buf = NULL;
    size_t len = 0;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    bool sent = false;
    if (fdy_codec_model_notice_encode(&notice, &buf, &len, &why) == FOUNDRY_OK) {
        fdy_envelope_t env;
        memset(&env, 0, sizeof env);
        env.version = FDY_PROTOCOL_VERSION;
        env.kind = FDY_KIND_MODEL_NOTICE;
        env.model = buf;
        env.model_len = len;
        fdy_peer_t to = {n->peer, n->peer_len};
        fdy_reply_send(self->deps.reply, &to, &env);
        sent = true;
    } else {
        fdy_log_err("MODEL-NOTICE", "node %s, %s version %" PRIu64 ": %s", node, name, version,
                    why.text);
    }
    free(buf);
    free(entries);
    return sent;
}

/* ---- WATCH ------------------------------------------------------------------------ */

static fdy_model_node_t *
s_node(fdy_models_t *self, const fdy_request_t *req)
{
    fdy_model_node_t *n = zhashx_lookup(self->nodes, req->who->name);
    if (!n) {
        n = fdy_xalloc(sizeof *n);
        snprintf(n->name, sizeof n->name, "%s", req->who->name);
        n->log_index = zhashx_new();
        if (!n->log_index) {
            fdy_log_err("OUT-OF-MEMORY", "model node");
            abort();
        }
        zhashx_insert(self->nodes, n->name, n);
    }
    snprintf(n->site, sizeof n->site, "%s", req->who->site);
    /* A reconnected agent speaks from a new ROUTER identity. */
    n->peer_len = req->peer.len <= sizeof n->peer ? req->peer.len : 0;
    memcpy(n->peer, req->peer.id, n->peer_len);
    n->connected = n->peer_len > 0;
    return n;
}

foundry_err
fdy_model_watch(fdy_models_t *self, const fdy_request_t *req, const fdy_model_request_t *mr,
                fdy_reason_t *reason)
{
    if (req->who->role != FDY_ROLE_NODE)
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "only node keys WATCH for models");
    fdy_model_node_t *n = s_node(self, req);
    for (size_t i = 0; i < mr->installed_count; i++) {
        const fdy_model_installed_t *in = &mr->installed[i];
        if (in->name && fdy_model_name_ok(in->name))
            zhashx_update(n->log_index, in->name, (void *) (uintptr_t) in->log_index);
    }
    if (self->hooks.node_seen)
        self->hooks.node_seen(self->hooks.self, n->name, n->site, mr->labels, mr->label_count, true,
                              req->now_ms);
    fdy_models_pending_t pending[FDY_MODEL_NOTICES_MAX];
    size_t count = self->hooks.pending ? self->hooks.pending(self->hooks.self, n->name, pending,
                                                             FDY_MODEL_NOTICES_MAX)
                                       : 0;
    if (count > FDY_MODEL_NOTICES_MAX)
        count = FDY_MODEL_NOTICES_MAX;
    fdy_model_notice_t notices[FDY_MODEL_NOTICES_MAX];
    fdy_model_signed_entry_t *entries[FDY_MODEL_NOTICES_MAX];
    size_t made = 0;
    for (size_t i = 0; i < count; i++) {
        if (s_notice(self, n, pending[i].rollout_id, pending[i].name, pending[i].version,
                     pending[i].cancel, &notices[made], &entries[made]))
            made++;
    }
    fdy_model_reply_t reply;
    memset(&reply, 0, sizeof reply);
    reply.notices = notices;
    reply.notice_count = made;
    fdy_models_send_reply(self, &req->peer, req->env->request_id, &reply, NULL, 0);
    for (size_t i = 0; i < made; i++)
        free(entries[i]);
    return FOUNDRY_OK;
}

void
fdy_model_nodes_gone(fdy_models_t *self, const fdy_peer_t *peer)
{
    for (fdy_model_node_t *n = zhashx_first(self->nodes); n; n = zhashx_next(self->nodes)) {
        if (!n->connected || n->peer_len != peer->len || memcmp(n->peer, peer->id, peer->len))
            continue;
        n->connected = false;
        if (self->hooks.node_seen)
            self->hooks.node_seen(self->hooks.self, n->name, n->site, NULL, 0, false,
                                  fdy_clock_mono_ms());
    }
}

/* ---- REPORT ------------------------------------------------------------------------ */

foundry_err
fdy_model_report(fdy_models_t *self, const fdy_request_t *req, const fdy_model_request_t *mr,
                 fdy_reason_t *reason)
{
    if (req->who->role != FDY_ROLE_NODE)
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "only node keys report model state");
    fdy_model_state_t state;
    if (!mr->state || fdy_model_state_parse(mr->state, &state) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "unknown model state '%.40s'",
                              mr->state ? mr->state : "");
    /* An empty name is allowed: the report of a manifest that did not
     * decode at the agent. */
    if (mr->name && *mr->name && !fdy_model_name_ok(mr->name))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "REPORT names no valid model");
    if (self->hooks.report)
        self->hooks.report(self->hooks.self, req->who->name, req->who->site, mr, req->now_ms);
    return FOUNDRY_OK; /* no reply: reports are fire-and-forget */
}

/* ---- LOG ---------------------------------------------------------------------------- */

foundry_err
fdy_model_log(fdy_models_t *self, const fdy_request_t *req, const fdy_model_request_t *mr,
              fdy_reason_t *reason)
{
    const fdy_principal_t *who = req->who;
    if (!mr->name || !fdy_model_name_ok(mr->name))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "LOG needs a valid model name");
    if (who->role != FDY_ROLE_NODE && !fdy_models_granted(who, mr->name))
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "%s may not read model %s", who->name,
                              mr->name);
    fdy_model_t *model = fdy_models_model(self, mr->name, false);
    bool visible = model && model->count > 0;
    if (visible && who->role == FDY_ROLE_NODE) {
        /* A node reads the log of a model released to its site. */
        visible = false;
        for (size_t i = 0; i < model->count && !visible; i++)
            visible = fdy_model_targets_site(&model->accepted[i]->manifest, who->site);
    }
    if (!visible)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no model %s", mr->name);
    uint64_t from = mr->from_index ? mr->from_index : 1;
    size_t count = from <= model->count ? (size_t) (model->count - from + 1) : 0;
    if (count > FDY_MODEL_ENTRIES_MAX)
        count = FDY_MODEL_ENTRIES_MAX;
    fdy_model_signed_entry_t *entries = fdy_xalloc((count ? count : 1) * sizeof *entries);
    for (size_t i = 0; i < count; i++) {
        const fdy_model_log_entry_t *e = &model->entries[from - 1 + i];
        entries[i].entry = e->entry;
        entries[i].entry_len = e->entry_len;
        memcpy(entries[i].sig, e->sig, sizeof entries[i].sig);
    }
    fdy_model_reply_t reply;
    memset(&reply, 0, sizeof reply);
    reply.entries = entries;
    reply.entry_count = count;
    reply.release_key = self->release_public;
    fdy_models_send_reply(self, &req->peer, req->env->request_id, &reply, NULL, 0);
    free(entries);
    return FOUNDRY_OK;
}
