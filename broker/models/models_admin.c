/*  models_admin.c: the model.* admin commands: trust policies (set by
 *  admins only, stored in a transaction of their own before the reply),
 *  the release key, and read-only views of releases, manifests and the
 *  release log. Authorisation and the audit entry of every command are
 *  admin.c's; argument checks the dispatcher's. Arguments are key=value
 *  (docs/models.md).
 */
#include "models_core.h"

#include "admin_table.h"
#include "log.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEX_LEN          (2 * FDY_MODEL_HASH_LEN + 1)
#define ARG_COUNT(specs) (sizeof specs / sizeof specs[0])

/* ---- trust policies -------------------------------------------------------------- */

const fdy_trust_policy_t *
fdy_models_trust_find(fdy_models_t *self, const char *name)
{
    const fdy_trust_policy_t *policy = zhashx_lookup(self->trust, name);
    return policy ? policy : zhashx_lookup(self->trust, "*");
}

static void
s_trust_put(fdy_models_t *self, const fdy_trust_policy_t *policy)
{
    fdy_trust_policy_t *copy = fdy_xalloc(sizeof *copy);
    *copy = *policy;
    zhashx_update(self->trust, copy->name, copy);
}

foundry_err
fdy_models_trust_load(fdy_models_t *self, const uint8_t *key, size_t key_len, const uint8_t *value,
                      size_t len, fdy_reason_t *reason)
{
    (void) reason;
    char name[FDY_MODEL_NAME_MAX + 1];
    fdy_trust_policy_t policy;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err = FOUNDRY_ECORRUPT;
    if (key_len > 0 && key_len <= FDY_MODEL_NAME_MAX) {
        memcpy(name, key, key_len);
        name[key_len] = '\0';
        err = fdy_store_model_trust_decode(name, value, len, &policy, &why);
    }
    if (err != FOUNDRY_OK) {
        fdy_log_err("MODEL-RECORD-BAD", "trust policy not loaded: %s",
                    why.text[0] ? why.text : "bad key");
        return FOUNDRY_OK;
    }
    s_trust_put(self, &policy);
    return FOUNDRY_OK;
}

static bool
s_policy_row(fdy_admin_table_t *out, const fdy_trust_policy_t *policy)
{
    char hex[FDY_TRUST_KEYS_MAX][HEX_LEN];
    const char *keys[FDY_TRUST_KEYS_MAX];
    for (size_t i = 0; i < policy->key_count; i++) {
        fdy_blobs_hex(policy->keys[i], hex[i]);
        keys[i] = hex[i];
    }
    fdy_slice_t *row = fdy_admin_row_add(out);
    return row && fdy_admin_cell_text(out, &row[0], policy->name) &&
           fdy_admin_cell_int(out, &row[1], policy->threshold) &&
           fdy_admin_cell_join(out, &row[2], keys, policy->key_count);
}

static const char *const s_trust_columns[] = {"name", "threshold", "keys"};
static const fdy_col_type_t s_trust_types[] = {FDY_COL_TEXT, FDY_COL_INT, FDY_COL_TEXT};

static foundry_err
s_trust(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    fdy_models_t *self = self_;
    fdy_trust_policy_t policy;
    memset(&policy, 0, sizeof policy);
    const char *name = fdy_admin_arg(call, "name");
    if (strcmp(name, "*") != 0 && !fdy_model_name_ok(name))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "arg 'name': '%.64s' is not a model name ([a-z0-9][a-z0-9._-]*, "
                              "at most 64) or *",
                              name);
    snprintf(policy.name, sizeof policy.name, "%s", name);
    for (size_t i = 0; i < call->arg_count; i++) {
        if (strncmp(call->args[i], "key=", 4) != 0)
            continue;
        if (policy.key_count == FDY_TRUST_KEYS_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'key': more than %u keys",
                                  FDY_TRUST_KEYS_MAX);
        const char *hex = call->args[i] + 4;
        uint8_t *key = policy.keys[policy.key_count];
        if (strlen(hex) != 2 * FDY_MODEL_KEY_LEN || fdy_blobs_parse_hex(hex, key) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "arg 'key': '%.70s' is not a 64-hex Ed25519 public key", hex);
        for (size_t k = 0; k < policy.key_count; k++)
            if (memcmp(policy.keys[k], key, FDY_MODEL_KEY_LEN) == 0)
                return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'key': %.16s... listed twice",
                                      hex);
        policy.key_count++;
    }
    uint64_t threshold = 0;
    foundry_err err = fdy_admin_arg_uint(call, "threshold", 0, &threshold, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (threshold == 0 || threshold > policy.key_count)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "arg 'threshold': %" PRIu64 " of %zu keys (1..%zu)", threshold,
                              policy.key_count, policy.key_count);
    policy.threshold = (uint32_t) threshold;
    uint8_t *buf = NULL;
    size_t len = 0;
    err = fdy_store_model_trust_encode(&policy, &buf, &len, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_store_model_write_t w = {FDY_STORE_MODEL_TRUST, (const uint8_t *) policy.name,
                                 strlen(policy.name), buf, len};
    fdy_store_models_t writes = {&w, 1};
    err = fdy_store_models_write(self->deps.store, &writes, reason);
    free(buf);
    if (err != FOUNDRY_OK)
        return err;
    s_trust_put(self, &policy);
    fdy_log_notice("MODEL-TRUST", "%s set the trust policy of %s: %u of %zu keys",
                   call->caller->name, policy.name, policy.threshold, policy.key_count);
    err = fdy_admin_table_begin(out, call->arena, s_trust_columns, s_trust_types, 3, 1, reason);
    if (err == FOUNDRY_OK && !s_policy_row(out, &policy))
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    return err;
}

static int
s_compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The keys of table, sorted (malloc'd array of borrowed names). */
static const char **
s_sorted_keys(zhashx_t *table, size_t *count_out)
{
    size_t count = zhashx_size(table);
    const char **names = fdy_xalloc((count ? count : 1) * sizeof *names);
    size_t n = 0;
    for (void *item = zhashx_first(table); item && n < count; item = zhashx_next(table))
        names[n++] = zhashx_cursor(table);
    qsort(names, n, sizeof *names, s_compare_names);
    *count_out = n;
    return names;
}

static foundry_err
s_trust_ls(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    fdy_models_t *self = self_;
    size_t count;
    const char **names = s_sorted_keys(self->trust, &count);
    foundry_err err =
        fdy_admin_table_begin(out, call->arena, s_trust_columns, s_trust_types, 3, count, reason);
    for (size_t i = 0; err == FOUNDRY_OK && i < count; i++)
        if (!s_policy_row(out, zhashx_lookup(self->trust, names[i])))
            err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    free(names);
    return err;
}

static foundry_err
s_release_key(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out,
              fdy_reason_t *reason)
{
    fdy_models_t *self = self_;
    static const char *const columns[] = {"key"};
    static const fdy_col_type_t types[] = {FDY_COL_TEXT};
    char hex[HEX_LEN];
    fdy_blobs_hex(self->release_public, hex);
    foundry_err err = fdy_admin_table_begin(out, call->arena, columns, types, 1, 1, reason);
    fdy_slice_t *row = err == FOUNDRY_OK ? fdy_admin_row_add(out) : NULL;
    if (err == FOUNDRY_OK && !(row && fdy_admin_cell_text(out, &row[0], hex)))
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    return err;
}

/* ---- releases ------------------------------------------------------------------------ */

static const char *const s_release_columns[] = {
    "name",    "version",  "size",      "chunks",   "signatures", "sites",    "labels",  "created",
    "expires", "rollback", "log_index", "artifact", "chunk_size", "metadata", "signers",
};
static const fdy_col_type_t s_release_types[] = {
    FDY_COL_TEXT, FDY_COL_INT,  FDY_COL_INT, FDY_COL_INT,  FDY_COL_INT,
    FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_INT, FDY_COL_INT,  FDY_COL_INT,
    FDY_COL_INT,  FDY_COL_TEXT, FDY_COL_INT, FDY_COL_TEXT, FDY_COL_TEXT,
};
#define LS_COLUMNS   11u /* model.ls: the first eleven */
#define SHOW_COLUMNS (sizeof s_release_columns / sizeof s_release_columns[0])

static bool
s_release_row(fdy_admin_table_t *out, const fdy_model_accepted_t *a, bool show)
{
    const fdy_model_manifest_t *m = &a->manifest;
    fdy_slice_t *row = fdy_admin_row_add(out);
    bool ok = row && fdy_admin_cell_text(out, &row[0], m->name) &&
              fdy_admin_cell_int(out, &row[1], m->version) &&
              fdy_admin_cell_int(out, &row[2], m->size) &&
              fdy_admin_cell_int(out, &row[3], m->chunk_count) &&
              fdy_admin_cell_int(out, &row[4], a->signed_manifest.signature_count) &&
              fdy_admin_cell_join(out, &row[5], m->sites, m->site_count) &&
              fdy_admin_cell_join(out, &row[6], m->labels, m->label_count) &&
              fdy_admin_cell_int(out, &row[7], m->created_ms) &&
              fdy_admin_cell_int(out, &row[8], m->expires_ms) &&
              fdy_admin_cell_int(out, &row[9], m->rollback ? 1 : 0) &&
              fdy_admin_cell_int(out, &row[10], a->log_index);
    if (!ok || !show)
        return ok;
    char artifact[HEX_LEN];
    fdy_blobs_hex(m->artifact_hash, artifact);
    char signer_hex[FDY_MODEL_SIGS_MAX][HEX_LEN];
    const char *signers[FDY_MODEL_SIGS_MAX];
    size_t signer_count = 0;
    for (size_t i = 0; i < a->signed_manifest.signature_count && i < FDY_MODEL_SIGS_MAX; i++) {
        fdy_blobs_hex(a->signed_manifest.signatures[i].key, signer_hex[i]);
        signers[signer_count++] = signer_hex[i];
    }
    return fdy_admin_cell_text(out, &row[11], artifact) &&
           fdy_admin_cell_int(out, &row[12], m->chunk_size) &&
           fdy_admin_cell_join(out, &row[13], m->metadata, m->metadata_count) &&
           fdy_admin_cell_join(out, &row[14], signers, signer_count);
}

static foundry_err
s_ls(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    fdy_models_t *self = self_;
    size_t count;
    const char **names = s_sorted_keys(self->models, &count);
    foundry_err err = fdy_admin_table_begin(out, call->arena, s_release_columns, s_release_types,
                                            LS_COLUMNS, count, reason);
    for (size_t i = 0; err == FOUNDRY_OK && i < count; i++) {
        const fdy_model_t *model = zhashx_lookup(self->models, names[i]);
        if (model->count && !s_release_row(out, model->accepted[model->count - 1], false))
            err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    }
    free(names);
    return err;
}

/* name= and version= (default: the current release). */
static foundry_err
s_find(fdy_models_t *self, const fdy_admin_call_t *call, fdy_model_accepted_t **out,
       fdy_reason_t *reason)
{
    const char *name = fdy_admin_arg(call, "name");
    uint64_t version = 0;
    foundry_err err = fdy_admin_arg_uint(call, "version", 0, &version, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_model_t *model = fdy_models_model(self, name, false);
    if (!model || model->count == 0)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no model %.64s", name);
    *out = version ? fdy_models_accepted(self, name, version) : model->accepted[model->count - 1];
    if (!*out)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "model %.64s has no version %" PRIu64,
                              name, version);
    return FOUNDRY_OK;
}

static foundry_err
s_show(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    fdy_model_accepted_t *a;
    foundry_err err = s_find(self_, call, &a, reason);
    if (err == FOUNDRY_OK)
        err = fdy_admin_table_begin(out, call->arena, s_release_columns, s_release_types,
                                    SHOW_COLUMNS, 1, reason);
    if (err == FOUNDRY_OK && !s_release_row(out, a, true))
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    return err;
}

static foundry_err
s_manifest(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    static const char *const columns[] = {"signed"};
    static const fdy_col_type_t types[] = {FDY_COL_BYTES};
    fdy_model_accepted_t *a;
    foundry_err err = s_find(self_, call, &a, reason);
    if (err == FOUNDRY_OK)
        err = fdy_admin_table_begin(out, call->arena, columns, types, 1, 1, reason);
    fdy_slice_t *row = err == FOUNDRY_OK ? fdy_admin_row_add(out) : NULL;
    if (err == FOUNDRY_OK &&
        !(row && fdy_admin_cell_copy(out, &row[0], a->signed_bytes, a->signed_len)))
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    return err;
}

static foundry_err
s_log(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    static const char *const columns[] = {"index", "version",       "rollback",
                                          "time",  "manifest_hash", "entry"};
    static const fdy_col_type_t types[] = {FDY_COL_INT, FDY_COL_INT,  FDY_COL_INT,
                                           FDY_COL_INT, FDY_COL_TEXT, FDY_COL_BYTES};
    fdy_models_t *self = self_;
    const char *name = fdy_admin_arg(call, "name");
    fdy_model_t *model = fdy_models_model(self, name, false);
    if (!model)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no model %.64s", name);
    foundry_err err =
        fdy_admin_table_begin(out, call->arena, columns, types, 6, model->count, reason);
    for (size_t i = 0; err == FOUNDRY_OK && i < model->count; i++) {
        const fdy_model_log_entry_t *e = &model->entries[i];
        char hash[HEX_LEN];
        fdy_blobs_hex(e->manifest_hash, hash);
        fdy_slice_t *row = fdy_admin_row_add(out);
        bool ok = row && fdy_admin_cell_int(out, &row[0], i + 1) &&
                  fdy_admin_cell_int(out, &row[1], e->version) &&
                  fdy_admin_cell_int(out, &row[2], e->rollback ? 1 : 0) &&
                  fdy_admin_cell_int(out, &row[3], e->time_ms) &&
                  fdy_admin_cell_text(out, &row[4], hash) &&
                  fdy_admin_cell_copy(out, &row[5], e->bytes, e->len);
        if (!ok)
            err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    }
    return err;
}

/* ---- the table ------------------------------------------------------------------------- */

static const fdy_admin_arg_spec_t s_trust_args[] = {
    {"name", true, false}, {"threshold", true, false}, {"key", true, true}};
static const fdy_admin_arg_spec_t s_name_arg[] = {{"name", true, false}};
static const fdy_admin_arg_spec_t s_name_version_args[] = {{"name", true, false},
                                                           {"version", false, false}};
static const fdy_admin_arg_spec_t s_manifest_args[] = {{"name", true, false},
                                                       {"version", true, false}};

static const fdy_admin_command_t s_commands[] = {
    {"model.trust", s_trust_args, ARG_COUNT(s_trust_args), s_trust},
    {"model.trust.ls", NULL, 0, s_trust_ls},
    {"model.release-key", NULL, 0, s_release_key},
    {"model.ls", NULL, 0, s_ls},
    {"model.show", s_name_version_args, ARG_COUNT(s_name_version_args), s_show},
    {"model.manifest", s_manifest_args, ARG_COUNT(s_manifest_args), s_manifest},
    {"model.log", s_name_arg, ARG_COUNT(s_name_arg), s_log},
};

const char *const fdy_models_admin_prefixes[] = {"model.", NULL};

foundry_err
fdy_models_admin(void *self, const fdy_admin_call_t *call, fdy_admin_table_t *out,
                 fdy_reason_t *reason)
{
    return fdy_admin_dispatch(self, s_commands, sizeof s_commands / sizeof s_commands[0], call, out,
                              reason);
}
