/*  store_models.c: the models table (store_models.h): its four databases,
 *  the trust and upload record formats, the commit part and the store
 *  check of every record. Whether a manifest is trusted or a publish
 *  allowed is the models service's; this module only keeps the records
 *  and refuses ones that are damaged.
 */
#include "store_models.h"

#include "arena.h"
#include "artifact.h"
#include "bytes.h"
#include "codec_models.h"
#include "store_table.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define TRUST_FORMAT  1u
#define UPLOAD_FORMAT 1u
#define STREAM_FORMAT 2u /* a streamed push's record: hashes of held chunks only */
#define UPLOAD_HEADER (1u + 8u + 4u + 8u + 8u + 4u)

static const char *const s_dbs[] = {"model_trust", "model_manifests", "model_log", "model_uploads",
                                    NULL};

/* ---- keys ------------------------------------------------------------------ */

size_t
fdy_store_model_log_key(const char *name, uint64_t index, uint8_t out[FDY_STORE_MODEL_KEY_MAX])
{
    size_t len = strlen(name);
    if (len > FDY_MODEL_NAME_MAX)
        len = FDY_MODEL_NAME_MAX; /* names are checked before; never reached */
    memcpy(out, name, len);
    out[len] = 0;
    fdy_bytes_put_be64(out + len + 1, index);
    return len + 9;
}

foundry_err
fdy_store_model_log_key_parse(const uint8_t *key, size_t len, char name[FDY_MODEL_NAME_MAX + 1],
                              uint64_t *index_out, fdy_reason_t *reason)
{
    if (len < 10 || len > FDY_STORE_MODEL_KEY_MAX || key[len - 9] != 0)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "model key of %zu bytes is not NAME/index",
                              len);
    memcpy(name, key, len - 9);
    name[len - 9] = '\0';
    if (!fdy_model_name_ok(name))
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "model key names no valid model");
    *index_out = fdy_bytes_get_be64(key + len - 8);
    if (*index_out == 0)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "model %s: log index 0", name);
    return FOUNDRY_OK;
}

/* ---- trust records ------------------------------------------------------------ */

foundry_err
fdy_store_model_trust_encode(const fdy_trust_policy_t *policy, uint8_t **buf_out, size_t *len_out,
                             fdy_reason_t *reason)
{
    *buf_out = NULL;
    if (policy->key_count == 0 || policy->key_count > FDY_TRUST_KEYS_MAX ||
        policy->threshold == 0 || policy->threshold > policy->key_count)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "trust policy: threshold %u of %zu keys",
                              policy->threshold, policy->key_count);
    size_t len = 9 + policy->key_count * FDY_MODEL_KEY_LEN;
    uint8_t *buf = malloc(len);
    if (!buf)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "trust record: out of memory");
    buf[0] = TRUST_FORMAT;
    fdy_bytes_put_le32(buf + 1, policy->threshold);
    fdy_bytes_put_le32(buf + 5, (uint32_t) policy->key_count);
    for (size_t i = 0; i < policy->key_count; i++)
        memcpy(buf + 9 + i * FDY_MODEL_KEY_LEN, policy->keys[i], FDY_MODEL_KEY_LEN);
    *buf_out = buf;
    *len_out = len;
    return FOUNDRY_OK;
}

foundry_err
fdy_store_model_trust_decode(const char *name, const uint8_t *buf, size_t len,
                             fdy_trust_policy_t *out, fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    if (strlen(name) > FDY_MODEL_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "trust record: name too long");
    memcpy(out->name, name, strlen(name) + 1);
    if (len < 9 || buf[0] != TRUST_FORMAT)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "trust %s: not a trust record", name);
    uint32_t threshold = fdy_bytes_get_le32(buf + 1);
    uint32_t count = fdy_bytes_get_le32(buf + 5);
    if (count == 0 || count > FDY_TRUST_KEYS_MAX || len != 9 + (size_t) count * FDY_MODEL_KEY_LEN)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "trust %s: %u keys in %zu bytes", name,
                              count, len);
    if (threshold == 0 || threshold > count)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "trust %s: threshold %u of %u keys", name,
                              threshold, count);
    out->threshold = threshold;
    out->key_count = count;
    for (size_t i = 0; i < count; i++)
        memcpy(out->keys[i], buf + 9 + i * FDY_MODEL_KEY_LEN, FDY_MODEL_KEY_LEN);
    return FOUNDRY_OK;
}

/* ---- upload records -------------------------------------------------------------- */

foundry_err
fdy_store_model_upload_encode(const fdy_store_model_upload_t *up, uint8_t **buf_out,
                              size_t *len_out, fdy_reason_t *reason)
{
    *buf_out = NULL;
    size_t have_len = (up->chunk_count + 7) / 8;
    size_t len = UPLOAD_HEADER + up->chunk_count * FDY_MODEL_HASH_LEN + have_len;
    uint8_t *buf = malloc(len);
    if (!buf)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "upload record: out of memory");
    uint8_t *p = buf;
    *p++ = up->stream ? STREAM_FORMAT : UPLOAD_FORMAT;
    fdy_bytes_put_le64(p, up->size);
    p += 8;
    fdy_bytes_put_le32(p, up->chunk_size);
    p += 4;
    fdy_bytes_put_le64(p, up->created_ms);
    p += 8;
    fdy_bytes_put_le64(p, up->touched_ms);
    p += 8;
    fdy_bytes_put_le32(p, (uint32_t) up->chunk_count);
    p += 4;
    if (up->chunk_count)
        memcpy(p, up->chunk_hashes, up->chunk_count * FDY_MODEL_HASH_LEN);
    p += up->chunk_count * FDY_MODEL_HASH_LEN;
    if (have_len)
        memcpy(p, up->have, have_len);
    *buf_out = buf;
    *len_out = len;
    return FOUNDRY_OK;
}

foundry_err
fdy_store_model_upload_decode(const uint8_t *buf, size_t len, fdy_store_model_upload_t *out,
                              fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    if (len < UPLOAD_HEADER || (buf[0] != UPLOAD_FORMAT && buf[0] != STREAM_FORMAT))
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "not an upload record (%zu bytes)", len);
    out->stream = buf[0] == STREAM_FORMAT;
    const uint8_t *p = buf + 1;
    out->size = fdy_bytes_get_le64(p);
    out->chunk_size = fdy_bytes_get_le32(p + 8);
    out->created_ms = fdy_bytes_get_le64(p + 12);
    out->touched_ms = fdy_bytes_get_le64(p + 20);
    out->chunk_count = fdy_bytes_get_le32(p + 28);
    if (out->chunk_size < FDY_MODEL_CHUNK_MIN || out->chunk_size > FDY_MODEL_CHUNK_MAX ||
        out->chunk_count != fdy_artifact_chunk_count(out->size, out->chunk_size))
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "upload record: %zu chunks of %u bytes for %" PRIu64 " bytes",
                              out->chunk_count, out->chunk_size, out->size);
    size_t have_len = (out->chunk_count + 7) / 8;
    if (len != UPLOAD_HEADER + out->chunk_count * FDY_MODEL_HASH_LEN + have_len)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "upload record: %zu bytes for %zu chunks",
                              len, out->chunk_count);
    out->chunk_hashes = buf + UPLOAD_HEADER;
    out->have = out->chunk_hashes + out->chunk_count * FDY_MODEL_HASH_LEN;
    return FOUNDRY_OK;
}

foundry_err
fdy_store_model_upload_check_id(const fdy_store_model_upload_t *up, const uint8_t key[32],
                                fdy_reason_t *reason)
{
    uint8_t id[FDY_MODEL_HASH_LEN];
    if (!up->stream) {
        fdy_artifact_id(up->size, up->chunk_size, up->chunk_hashes, up->chunk_count, id);
        if (memcmp(id, key, sizeof id) != 0)
            return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                                  "upload record: its chunk hashes do not give its artifact id");
        return FOUNDRY_OK;
    }
    /* A stream's id covers chunk 0's hash, known once chunk 0 is held. */
    if (up->chunk_count == 0 || !(up->have[0] & 1u))
        return FOUNDRY_OK;
    fdy_artifact_stream_id(up->size, up->chunk_size, up->chunk_hashes, id);
    if (memcmp(id, key, sizeof id) != 0)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "stream record: its chunk 0 does not give its stream id");
    return FOUNDRY_OK;
}

/* ---- the store check -------------------------------------------------------------- */

static foundry_err
s_check_trust(const MDB_val *key, const MDB_val *value, fdy_reason_t *reason)
{
    char name[FDY_MODEL_NAME_MAX + 1];
    if (key->mv_size == 0 || key->mv_size > FDY_MODEL_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "trust key of %zu bytes", key->mv_size);
    memcpy(name, key->mv_data, key->mv_size);
    name[key->mv_size] = '\0';
    if (strcmp(name, "*") != 0 && !fdy_model_name_ok(name))
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "trust key names no valid model");
    fdy_trust_policy_t policy;
    return fdy_store_model_trust_decode(name, value->mv_data, value->mv_size, &policy, reason);
}

/* A manifest (db 1) or a log entry (db 2): decodes, and names the model
 * and (entries) the index of its key. */
static foundry_err
s_check_logged(size_t db_index, const MDB_val *key, const MDB_val *value, fdy_reason_t *reason)
{
    char name[FDY_MODEL_NAME_MAX + 1];
    uint64_t index;
    foundry_err err =
        fdy_store_model_log_key_parse(key->mv_data, key->mv_size, name, &index, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(value->mv_size));
    if (!arena)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "model %s: out of memory", name);
    fdy_reason_t why;
    fdy_reason_clear(&why);
    const char *what = db_index == FDY_STORE_MODEL_MANIFESTS ? "manifest" : "log entry";
    const char *named = NULL;
    uint64_t named_index = index;
    if (db_index == FDY_STORE_MODEL_MANIFESTS) {
        fdy_model_signed_t s;
        fdy_model_manifest_t m;
        err = fdy_codec_model_signed_decode(value->mv_data, value->mv_size, arena, &s, &why);
        if (err == FOUNDRY_OK)
            err = fdy_codec_model_manifest_decode(s.manifest, s.manifest_len, arena, &m, &why);
        named = err == FOUNDRY_OK ? m.name : NULL;
    } else {
        fdy_model_signed_entry_t s;
        fdy_model_entry_t e;
        err = fdy_codec_model_signed_entry_decode(value->mv_data, value->mv_size, arena, &s, &why);
        if (err == FOUNDRY_OK)
            err = fdy_codec_model_entry_decode(s.entry, s.entry_len, arena, &e, &why);
        named = err == FOUNDRY_OK ? e.name : NULL;
        named_index = err == FOUNDRY_OK ? e.index : 0;
    }
    if (err != FOUNDRY_OK)
        err = fdy_reason_set(reason, FOUNDRY_ECORRUPT, "model %s %s %" PRIu64 ": %s", name, what,
                             index, why.text);
    else if (strcmp(named, name) != 0 || named_index != index)
        err = fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                             "model %s %s %" PRIu64 ": record names %.64s %" PRIu64, name, what,
                             index, named, named_index);
    fdy_arena_destroy(&arena);
    return err;
}

static foundry_err
s_check_upload(const MDB_val *key, const MDB_val *value, fdy_reason_t *reason)
{
    if (key->mv_size != FDY_MODEL_HASH_LEN)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "upload key of %zu bytes, not 32",
                              key->mv_size);
    fdy_store_model_upload_t up;
    foundry_err err = fdy_store_model_upload_decode(value->mv_data, value->mv_size, &up, reason);
    if (err != FOUNDRY_OK)
        return err;
    return fdy_store_model_upload_check_id(&up, key->mv_data, reason);
}

static foundry_err
s_check(const fdy_store_t *store, size_t db_index, const MDB_val *prev_key, const MDB_val *key,
        const MDB_val *value, fdy_reason_t *reason)
{
    (void) store;
    (void) prev_key;
    switch (db_index) {
    case FDY_STORE_MODEL_TRUST: return s_check_trust(key, value, reason);
    case FDY_STORE_MODEL_MANIFESTS:
    case FDY_STORE_MODEL_LOG: return s_check_logged(db_index, key, value, reason);
    case FDY_STORE_MODEL_UPLOADS: return s_check_upload(key, value, reason);
    }
    return FOUNDRY_OK;
}

const fdy_store_table_t fdy_store_models_table = {.name = "models", .dbs = s_dbs, .check = s_check};

/* ---- reads -------------------------------------------------------------------------- */

typedef struct {
    fdy_store_model_fn *fn;
    void *user;
} s_scan_t;

static foundry_err
s_scan_one(const MDB_val *key, const MDB_val *value, void *user, fdy_reason_t *reason)
{
    s_scan_t *scan = user;
    return scan->fn(key->mv_data, key->mv_size, value->mv_data, value->mv_size, scan->user, reason);
}

foundry_err
fdy_store_models_scan(fdy_store_t *store, fdy_store_model_db_t db, fdy_store_model_fn *fn,
                      void *user, fdy_reason_t *reason)
{
    s_scan_t scan = {fn, user};
    return fdy_store_scan(store, fdy_store_dbi(store, &fdy_store_models_table, db), s_scan_one,
                          &scan, reason);
}

/* ---- writes ------------------------------------------------------------------------- */

static foundry_err
s_write(void *data, fdy_store_t *store, MDB_txn *txn, uint64_t now_ns, size_t *writes,
        fdy_reason_t *reason)
{
    (void) now_ns;
    const fdy_store_models_t *d = data;
    for (size_t i = 0; i < d->count; i++) {
        const fdy_store_model_write_t *w = &d->items[i];
        MDB_dbi dbi = fdy_store_dbi(store, &fdy_store_models_table, w->db);
        MDB_val key = {w->key_len, (void *) w->key};
        int rc;
        if (!w->value) {
            rc = mdb_del(txn, dbi, &key, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        } else {
            MDB_val value = {w->len, (void *) w->value};
            rc = mdb_put(txn, dbi, &key, &value, 0);
        }
        if (rc != 0)
            return fdy_kv_err(rc, reason, "models: write");
        (*writes)++;
    }
    return FOUNDRY_OK;
}

const fdy_commit_part_t fdy_store_models_part = {
    .name = "models",
    .prepare = NULL,
    .write = s_write,
    .reset = NULL,
    .droppable = false,
};

static foundry_err
s_write_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    (void) skip_commit;
    size_t writes = 0;
    return s_write(ctx, self, txn, 0, &writes, reason);
}

foundry_err
fdy_store_models_write(fdy_store_t *store, const fdy_store_models_t *writes, fdy_reason_t *reason)
{
    foundry_err err = fdy_store_writable(store, reason);
    if (err != FOUNDRY_OK)
        return err;
    return fdy_store_write(store, s_write_txn, (void *) writes, reason);
}
