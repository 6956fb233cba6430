/*  codec_models_check.c: the rules every model message obeys (names,
 *  labels, sites, counts, chunk arithmetic, rollback numbering), over the
 *  fdy_* view, so codec_models.c applies the same ones before encoding and
 *  after decoding. Shape only: trust and policy are other modules'.
 */
#include "codec_models_check.h"

#include "codec_internal.h"
#include "codec_jobs.h"
#include "subject.h"

#include <inttypes.h>
#include <string.h>

/* ---- names and states ---------------------------------------------------- */

static const char *const s_state_names[FDY_MODEL_STATE_COUNT] = {
    "pending", "downloading", "verified", "waiting-interlock", "installed", "healthy", "failed",
};

const char *
fdy_model_state_name(fdy_model_state_t state)
{
    if ((int) state < 0 || state >= FDY_MODEL_STATE_COUNT)
        return NULL;
    return s_state_names[state];
}

foundry_err
fdy_model_state_parse(const char *name, fdy_model_state_t *out)
{
    for (int i = 0; name && i < FDY_MODEL_STATE_COUNT; i++)
        if (strcmp(name, s_state_names[i]) == 0) {
            *out = (fdy_model_state_t) i;
            return FOUNDRY_OK;
        }
    return FOUNDRY_EINVAL;
}

bool
fdy_model_name_ok(const char *name)
{
    if (!name || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9')))
        return false;
    size_t len = strlen(name);
    if (len > FDY_MODEL_NAME_MAX)
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* ---- checks over the fdy_* view ------------------------------------------ */

static foundry_err
s_name_check(const char *what, const char *name, fdy_reason_t *reason)
{
    if (fdy_model_name_ok(name))
        return FOUNDRY_OK;
    return fdy_reason_set(reason, FOUNDRY_EINVAL,
                          "%s '%.80s' is not a model name (1..%u of [a-z0-9._-], starting with "
                          "a letter or digit)",
                          what, name ? name : "", FDY_MODEL_NAME_MAX);
}

static foundry_err
s_text_check(const char *what, const char *s, fdy_reason_t *reason)
{
    if (!s)
        return FOUNDRY_OK;
    size_t len = strlen(s);
    if (len > FDY_MODEL_TEXT_MAX || !fdy_codec_text_ok((const uint8_t *) s, len))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s is not UTF-8 text of at most %u bytes",
                              what, FDY_MODEL_TEXT_MAX);
    return FOUNDRY_OK;
}

/* The same arithmetic as fdy_artifact_chunk_count() (lib/daemon): the codec
 * lives in lib/core and may not call up into the daemon library. */
static uint64_t
s_chunk_count(uint64_t size, uint32_t chunk_size)
{
    return size == 0 ? 0 : (size - 1) / chunk_size + 1;
}

static foundry_err
s_chunks_check(uint64_t size, uint32_t chunk_size, const uint8_t *hashes, size_t count,
               fdy_reason_t *reason)
{
    if (chunk_size < FDY_MODEL_CHUNK_MIN || chunk_size > FDY_MODEL_CHUNK_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "chunk size %" PRIu32 " is outside %u..%u",
                              chunk_size, FDY_MODEL_CHUNK_MIN, FDY_MODEL_CHUNK_MAX);
    uint64_t expected = s_chunk_count(size, chunk_size);
    if (expected > FDY_MODEL_CHUNKS_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG,
                              "%" PRIu64 " bytes in chunks of %" PRIu32 " make %" PRIu64
                              " chunks, more than %u",
                              size, chunk_size, expected, FDY_MODEL_CHUNKS_MAX);
    if (count != expected)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "%zu chunk hashes, but %" PRIu64 " bytes in chunks of %" PRIu32
                              " make %" PRIu64,
                              count, size, chunk_size, expected);
    if (count > 0 && !hashes)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "chunk count without chunk hashes");
    return FOUNDRY_OK;
}

static foundry_err
s_labels_check(const char *what, const char *const *labels, size_t count, fdy_reason_t *reason)
{
    if (count > FDY_MODEL_LABELS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu %s exceed %u", count, what,
                              FDY_MODEL_LABELS_MAX);
    for (size_t i = 0; i < count; i++)
        if (!fdy_codec_job_label_ok(labels[i]))
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "%s '%.80s' is not key=value (key of [A-Za-z0-9_.-], value "
                                  "printable without spaces, '=' or ',')",
                                  what, labels[i] ? labels[i] : "");
    return FOUNDRY_OK;
}

foundry_err
fdy_codec_models_check_manifest(const fdy_model_manifest_t *m, fdy_reason_t *reason)
{
    foundry_err err = s_name_check("model name", m->name, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (m->version == 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "model %s: version 0 (versions start at 1)",
                              m->name);
    err = s_chunks_check(m->size, m->chunk_size, m->chunk_hashes, m->chunk_count, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (m->site_count > FDY_MODEL_SITES_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu target sites exceed %u", m->site_count,
                              FDY_MODEL_SITES_MAX);
    for (size_t i = 0; i < m->site_count; i++) {
        fdy_reason_t why;
        fdy_reason_clear(&why);
        if (fdy_site_validate(m->sites[i], &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "target site '%.80s': %s",
                                  m->sites[i] ? m->sites[i] : "", why.text);
    }
    err = s_labels_check("target labels", m->labels, m->label_count, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (m->metadata_count > FDY_MODEL_META_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu metadata items exceed %u",
                              m->metadata_count, FDY_MODEL_META_MAX);
    for (size_t i = 0; i < m->metadata_count; i++) {
        const char *item = m->metadata[i];
        err = s_text_check("a metadata item", item, reason);
        if (err != FOUNDRY_OK)
            return err;
        if (!item || item[0] == '=' || !strchr(item, '='))
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "metadata item '%.80s' is not key=value",
                                  item ? item : "");
    }
    if (m->rollback) {
        /* A rollback goes down from the version it replaces, under a fresh
         * release number above it (so a replay of it is refused). */
        if (m->rollback_of <= m->version)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "rollback to version %" PRIu64 " must replace a newer version, "
                                  "not %" PRIu64,
                                  m->version, m->rollback_of);
        if (m->release_version <= m->rollback_of)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "rollback release version %" PRIu64
                                  " must be above the version it replaces (%" PRIu64 ")",
                                  m->release_version, m->rollback_of);
    } else if (m->rollback_of != 0) {
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "rollback_of %" PRIu64 " on a manifest that is not a rollback",
                              m->rollback_of);
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_codec_models_check_signed(const fdy_model_signed_t *s, fdy_reason_t *reason)
{
    if (!s->manifest || s->manifest_len == 0)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "signed manifest without its manifest");
    if (s->signature_count > FDY_MODEL_SIGS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu signatures exceed %u",
                              s->signature_count, FDY_MODEL_SIGS_MAX);
    if (s->signature_count > 0 && !s->signatures)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "signature count without signatures");
    return FOUNDRY_OK;
}

foundry_err
fdy_codec_models_check_entry(const fdy_model_entry_t *e, fdy_reason_t *reason)
{
    foundry_err err = s_name_check("release entry name", e->name, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (e->index == 0 || e->version == 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "release entry of %s: index %" PRIu64 ", version %" PRIu64
                              " (both start at 1)",
                              e->name, e->index, e->version);
    return FOUNDRY_OK;
}

foundry_err
fdy_codec_models_check_signed_entry(const fdy_model_signed_entry_t *e, fdy_reason_t *reason)
{
    if (!e->entry || e->entry_len == 0)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "signed release entry without its entry");
    return FOUNDRY_OK;
}

static foundry_err
s_entries_check(const fdy_model_signed_entry_t *entries, size_t count, fdy_reason_t *reason)
{
    if (count > FDY_MODEL_ENTRIES_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu release entries exceed %u", count,
                              FDY_MODEL_ENTRIES_MAX);
    if (count > 0 && !entries)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "entry count without entries");
    for (size_t i = 0; i < count; i++) {
        foundry_err err = fdy_codec_models_check_signed_entry(&entries[i], reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_codec_models_check_request(const fdy_model_request_t *r, fdy_reason_t *reason)
{
    if (r->op < FDY_MODEL_UPLOAD_BEGIN || r->op > FDY_MODEL_STREAM_CHUNK)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "unknown model operation %d", (int) r->op);
    foundry_err err = FOUNDRY_OK;
    const char *texts[][2] = {{"report state", r->state}, {"report reason", r->reason}};
    for (size_t i = 0; i < 2 && err == FOUNDRY_OK; i++)
        err = s_text_check(texts[i][0], texts[i][1], reason);
    if (err == FOUNDRY_OK)
        err = s_labels_check("node labels", r->labels, r->label_count, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (r->chunk_count > FDY_MODEL_CHUNKS_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "%zu chunk hashes exceed %u", r->chunk_count,
                              FDY_MODEL_CHUNKS_MAX);
    switch (r->op) {
    case FDY_MODEL_UPLOAD_BEGIN:
        if (!r->artifact_hash)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "upload without its artifact hash");
        return s_chunks_check(r->size, r->chunk_size, r->chunk_hashes, r->chunk_count, reason);
    case FDY_MODEL_UPLOAD_CHUNK:
        if (!r->artifact_hash)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "chunk without its artifact hash");
        return FOUNDRY_OK;
    case FDY_MODEL_PUBLISH: return fdy_codec_models_check_signed(&r->signed_manifest, reason);
    case FDY_MODEL_FETCH:
        err = s_name_check("fetched model", r->name, reason);
        if (err == FOUNDRY_OK && r->version == 0)
            err = fdy_reason_set(reason, FOUNDRY_EINVAL, "fetch of %s version 0", r->name);
        return err;
    case FDY_MODEL_WATCH:
        if (r->installed_count > FDY_MODEL_INSTALLED_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu installed models exceed %u",
                                  r->installed_count, FDY_MODEL_INSTALLED_MAX);
        if (r->installed_count > 0 && !r->installed)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "installed count without models");
        for (size_t i = 0; i < r->installed_count && err == FOUNDRY_OK; i++)
            err = s_name_check("installed model", r->installed[i].name, reason);
        return err;
    case FDY_MODEL_REPORT: {
        /* The name may be empty: a node reports failed for a manifest that
         * did not even decode, and the rollout id says which one it was. */
        if (r->name && r->name[0] != '\0')
            err = s_name_check("reported model", r->name, reason);
        fdy_model_state_t state;
        if (err == FOUNDRY_OK && fdy_model_state_parse(r->state, &state) != FOUNDRY_OK)
            err = fdy_reason_set(reason, FOUNDRY_EINVAL, "unknown model state '%.40s'",
                                 r->state ? r->state : "");
        return err;
    }
    case FDY_MODEL_LOG: return s_name_check("model", r->name, reason);
    case FDY_MODEL_STREAM_BEGIN:
    case FDY_MODEL_STREAM_CHUNK:
        /* The stream id and the one chunk hash; size and chunk size are
         * the broker's to judge against its limits. */
        if (!r->artifact_hash)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "stream without its stream id");
        if (r->chunk_count != 1)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "a stream request carries one chunk hash, not %zu",
                                  r->chunk_count);
        return FOUNDRY_OK;
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_codec_models_check_notice(const fdy_model_notice_t *n, fdy_reason_t *reason)
{
    /* A cancel only names the rollout; an install carries what the node
     * needs to verify it on its own. */
    if (!n->cancel) {
        if (!n->release_key)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "model notice without a release key");
        foundry_err err = fdy_codec_models_check_signed(&n->signed_manifest, reason);
        if (err != FOUNDRY_OK)
            return err;
    } else if (n->signed_manifest.manifest) {
        foundry_err err = fdy_codec_models_check_signed(&n->signed_manifest, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    return s_entries_check(n->entries, n->entry_count, reason);
}

foundry_err
fdy_codec_models_check_reply(const fdy_model_reply_t *r, fdy_reason_t *reason)
{
    if (r->have_len > (FDY_MODEL_CHUNKS_MAX + 7) / 8)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "chunk bitmap of %zu bytes", r->have_len);
    if (r->have_len > 0 && !r->have)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "bitmap length without bitmap");
    foundry_err err = FOUNDRY_OK;
    if (r->entry)
        err = fdy_codec_models_check_signed_entry(r->entry, reason);
    if (err == FOUNDRY_OK)
        err = s_entries_check(r->entries, r->entry_count, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (r->notice_count > FDY_MODEL_NOTICES_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu notices exceed %u", r->notice_count,
                              FDY_MODEL_NOTICES_MAX);
    if (r->notice_count > 0 && !r->notices)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "notice count without notices");
    for (size_t i = 0; i < r->notice_count && err == FOUNDRY_OK; i++)
        err = fdy_codec_models_check_notice(&r->notices[i], reason);
    return err;
}
