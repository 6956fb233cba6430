/*  model_verify.c: a notice's checks before any download (model_verify.h).
 *  The order is the contract's; the first failing check is the reason
 *  reported. The notice's own release key is only compared with ours: the
 *  key an agent trusts comes from its config, never from the broker.
 */
#include "model_verify.h"

#include "model_blobs.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

bool
fdy_model_verify_has_label(const char *const *labels, size_t count, const char *label)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(labels[i], label) == 0)
            return true;
    return false;
}

static foundry_err
s_targets(const fdy_model_verify_ctx_t *ctx, const fdy_model_manifest_t *m, fdy_reason_t *reason)
{
    bool site_ok = m->site_count == 0;
    for (size_t i = 0; i < m->site_count && !site_ok; i++)
        site_ok = strcmp(m->sites[i], ctx->site) == 0;
    if (!site_ok)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "model %s %" PRIu64 " does not target site %s (it targets %s%s)",
                              m->name, m->version, ctx->site, m->sites[0],
                              m->site_count > 1 ? " and others" : "");
    for (size_t i = 0; i < m->label_count; i++)
        if (!fdy_model_verify_has_label(ctx->labels, ctx->label_count, m->labels[i]))
            return fdy_reason_set(reason, FOUNDRY_EDENIED,
                                  "model %s %" PRIu64 " needs label %s, which this node does "
                                  "not carry (job_labels)",
                                  m->name, m->version, m->labels[i]);
    return FOUNDRY_OK;
}

static foundry_err
s_trusted(const fdy_model_verify_ctx_t *ctx, const fdy_model_manifest_t *m,
          const fdy_model_signed_t *s, fdy_reason_t *reason)
{
    if (!ctx->trust)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "no model_trust_file configured: this node refuses every model "
                              "update");
    const fdy_trust_policy_t *policy = fdy_trust_set_find(ctx->trust, m->name);
    if (!policy)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "no trust policy for model %s in model_trust_file", m->name);
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_trust_check(policy, s, NULL, &why) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "model %s %" PRIu64 " not trusted: %s",
                              m->name, m->version, why.text);
    return FOUNDRY_OK;
}

static foundry_err
s_unexpired(const fdy_model_verify_ctx_t *ctx, const fdy_model_manifest_t *m, fdy_reason_t *reason)
{
    if (m->expires_ms == 0 || m->expires_ms > ctx->now_ms)
        return FOUNDRY_OK;
    time_t t = (time_t) (m->expires_ms / 1000u);
    struct tm tm;
    char when[32] = "?";
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return fdy_reason_set(reason, FOUNDRY_EDENIED, "manifest of model %s %" PRIu64 " expired at %s",
                          m->name, m->version, when);
}

static void
s_hex8(const uint8_t *key, char out[9])
{
    char hex[2 * FDY_MODEL_HASH_LEN + 1];
    fdy_blobs_hex(key, hex);
    memcpy(out, hex, 8);
    out[8] = '\0';
}

/* The broker sends the log after the index of the node's last WATCH, so
 * after an install the first entries may be ones the node verified
 * already. Those are skipped; the one at the held index must be the very
 * entry held (a rewritten log differs there), and the rest must extend it. */
static foundry_err
s_skip_held(const fdy_model_notice_t *notice, const fdy_release_head_t *head, fdy_arena_t *arena,
            size_t *skip_out, fdy_reason_t *reason)
{
    *skip_out = 0;
    for (size_t i = 0; i < notice->entry_count && head->index > 0; i++) {
        const fdy_model_signed_entry_t *e = &notice->entries[i];
        fdy_model_entry_t entry;
        fdy_reason_t why;
        fdy_reason_clear(&why);
        if (fdy_codec_model_entry_decode(e->entry, e->entry_len, arena, &entry, &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EDENIED, "release-log entry does not decode: %s",
                                  why.text);
        if (entry.index > head->index)
            break;
        if (entry.index == head->index) {
            uint8_t hash[FDY_MODEL_HASH_LEN];
            fdy_release_hash(e->entry, e->entry_len, hash);
            if (memcmp(hash, head->hash, sizeof hash) != 0)
                return fdy_reason_set(reason, FOUNDRY_EDENIED,
                                      "release log: entry %" PRIu64 " is not the one this node "
                                      "verified (rewritten?)",
                                      entry.index);
        }
        *skip_out = i + 1;
    }
    return FOUNDRY_OK;
}

/* The entries extend what is held, and the last one is this release. */
static foundry_err
s_logged(const fdy_model_verify_ctx_t *ctx, const fdy_model_notice_t *notice,
         const fdy_model_manifest_t *m, const uint8_t hash[FDY_MODEL_HASH_LEN],
         fdy_release_head_t *head, fdy_arena_t *arena, fdy_reason_t *reason)
{
    if (!ctx->release_key)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "no model_release_key configured: this node cannot check the "
                              "release log (foundryctl model release-key prints it)");
    if (notice->release_key &&
        memcmp(notice->release_key, ctx->release_key, FDY_MODEL_KEY_LEN) != 0) {
        char theirs[9], ours[9];
        s_hex8(notice->release_key, theirs);
        s_hex8(ctx->release_key, ours);
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "the broker's release key %s is not model_release_key %s", theirs,
                              ours);
    }
    size_t skip = 0;
    foundry_err err = s_skip_held(notice, head, arena, &skip, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (notice->entry_count == skip)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "no release-log entry after index %" PRIu64 " names model %s %" PRIu64
                              " (replayed notice?)",
                              head->index, m->name, m->version);
    fdy_model_entry_t last;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    fdy_release_head_t next = *head;
    err = fdy_release_verify(ctx->release_key, m->name, notice->entries + skip,
                             notice->entry_count - skip, &next, arena, &last, &why);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "release log of %s: %s", m->name, why.text);
    if (memcmp(last.manifest_hash, hash, FDY_MODEL_HASH_LEN) != 0)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "release-log entry %" PRIu64 " names another manifest than the "
                              "one sent for %s %" PRIu64,
                              last.index, m->name, m->version);
    if (last.version != m->version || last.rollback != m->rollback)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "release-log entry %" PRIu64 " is for version %" PRIu64
                              "%s, the manifest is version %" PRIu64 "%s",
                              last.index, last.version, last.rollback ? " (rollback)" : "",
                              m->version, m->rollback ? " (rollback)" : "");
    *head = next;
    return FOUNDRY_OK;
}

static foundry_err
s_not_older(const fdy_model_manifest_t *m, const fdy_model_held_t *held, fdy_reason_t *reason)
{
    uint64_t installed = held ? held->version : 0;
    uint64_t seen = held ? held->head.release_version : 0;
    if (held && held->version > seen)
        seen = held->version;
    if (!m->rollback) {
        if (m->version <= installed)
            return fdy_reason_set(reason, FOUNDRY_EDENIED,
                                  "model %s version %" PRIu64 " is not above the installed "
                                  "version %" PRIu64 " (going back needs a signed rollback)",
                                  m->name, m->version, installed);
        return FOUNDRY_OK;
    }
    if (m->rollback_of != installed)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "rollback of %s replaces version %" PRIu64 ", but version %" PRIu64
                              " is installed",
                              m->name, m->rollback_of, installed);
    if (m->release_version <= seen)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "rollback of %s has release_version %" PRIu64 ", not above %" PRIu64
                              ", the highest this node has seen (replayed rollback?)",
                              m->name, m->release_version, seen);
    return FOUNDRY_OK;
}

foundry_err
fdy_model_verify_notice(const fdy_model_verify_ctx_t *ctx, const fdy_model_notice_t *notice,
                        fdy_model_lookup_fn *held_fn, void *user, fdy_arena_t *arena,
                        fdy_model_verified_t *out, fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    const fdy_model_signed_t *s = &notice->signed_manifest;
    fdy_model_manifest_t *m = &out->manifest;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_codec_model_manifest_decode(s->manifest, s->manifest_len, arena, m, &why) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "manifest does not decode: %s", why.text);
    fdy_release_hash(s->manifest, s->manifest_len, out->manifest_hash);
    foundry_err err = s_targets(ctx, m, reason);
    if (err == FOUNDRY_OK)
        err = s_trusted(ctx, m, s, reason);
    if (err == FOUNDRY_OK)
        err = s_unexpired(ctx, m, reason);
    if (err != FOUNDRY_OK)
        return err;
    const fdy_model_held_t *held = held_fn ? held_fn(m->name, user) : NULL;
    if (held)
        out->head = held->head;
    if (held && held->version == m->version &&
        memcmp(held->manifest_hash, out->manifest_hash, FDY_MODEL_HASH_LEN) == 0) {
        out->installed_already = true;
        return FOUNDRY_OK;
    }
    err = s_logged(ctx, notice, m, out->manifest_hash, &out->head, arena, reason);
    if (err == FOUNDRY_OK)
        err = s_not_older(m, held, reason);
    if (err != FOUNDRY_OK)
        return err;
    /* What a later rollback must exceed: this version, or this rollback's
     * own release_version. */
    uint64_t release = m->rollback ? m->release_version : m->version;
    if (held && held->head.release_version > release)
        release = held->head.release_version;
    if (out->head.release_version < release)
        out->head.release_version = release;
    return FOUNDRY_OK;
}
