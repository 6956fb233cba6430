/*  tamper.c: the audit log and key record surgery of tamper.h, through the
 *  store's own table registration (store_table.h) and one raw write
 *  transaction. Knows the record layout of store_audit.h (hash at offset
 *  48). Tests only.
 */
#include "tamper.h"

#include "store_keys.h"
#include "store_table.h"

#include <stdbool.h>
#include <string.h>

#define HASH_OFFSET 48
#define HASH_LEN    32

typedef foundry_err(s_edit_fn)(MDB_txn *txn, MDB_dbi log, MDB_dbi meta, const MDB_val *key,
                               const MDB_val *value, void *ctx, fdy_reason_t *reason);

/* Opens the store, finds entry seq and runs fn on it in a write txn. */
static foundry_err
s_edit(const char *data_dir, uint64_t seq, s_edit_fn *fn, void *ctx, fdy_reason_t *reason)
{
    fdy_store_opts_t opts = {.dir = data_dir};
    fdy_store_t *store = NULL;
    foundry_err err = fdy_store_open(&opts, &store, reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_txn *txn = NULL;
    err = fdy_kv_txn_begin(store->kv, 0, &txn, reason);
    if (err == FOUNDRY_OK) {
        MDB_dbi log = fdy_store_dbi(store, &fdy_store_audit_table, 0);
        MDB_dbi meta = fdy_store_dbi(store, &fdy_store_audit_table, 1);
        uint8_t key_bytes[8];
        fdy_bytes_put_be64(key_bytes, seq);
        MDB_val key = {sizeof key_bytes, key_bytes}, value;
        int rc = mdb_get(txn, log, &key, &value);
        if (rc == MDB_NOTFOUND)
            err = fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no audit entry seq %llu",
                                 (unsigned long long) seq);
        else if (rc != 0)
            err = fdy_kv_err(rc, reason, "tamper");
        else
            err = fn(txn, log, meta, &key, &value, ctx, reason);
        if (err == FOUNDRY_OK)
            err = fdy_kv_commit(store->kv, txn, reason);
        else
            mdb_txn_abort(txn);
    }
    fdy_store_close(&store);
    return err;
}

/* Writes a changed copy of the record: flip (ctx = offset) or cut. */
typedef struct {
    size_t offset;
    bool cut;
} s_change_t;

static foundry_err
s_rewrite(MDB_txn *txn, MDB_dbi log, MDB_dbi meta, const MDB_val *key, const MDB_val *value,
          void *ctx, fdy_reason_t *reason)
{
    (void) meta;
    s_change_t *change = ctx;
    uint8_t copy[4096];
    if (value->mv_size > sizeof copy || change->offset >= value->mv_size)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "offset %zu: the record is %zu bytes",
                              change->offset, value->mv_size);
    memcpy(copy, value->mv_data, value->mv_size);
    MDB_val v = {change->cut ? change->offset : value->mv_size, copy};
    if (!change->cut)
        copy[change->offset] ^= 0x01;
    int rc = mdb_put(txn, log, (MDB_val *) key, &v, 0);
    return rc == 0 ? FOUNDRY_OK : fdy_kv_err(rc, reason, "tamper");
}

foundry_err
fdy_tamper_audit_flip(const char *data_dir, uint64_t seq, size_t offset, fdy_reason_t *reason)
{
    s_change_t change = {offset, false};
    return s_edit(data_dir, seq, s_rewrite, &change, reason);
}

foundry_err
fdy_tamper_audit_truncate(const char *data_dir, uint64_t seq, size_t len, fdy_reason_t *reason)
{
    s_change_t change = {len, true};
    return s_edit(data_dir, seq, s_rewrite, &change, reason);
}

static foundry_err
s_delete(MDB_txn *txn, MDB_dbi log, MDB_dbi meta, const MDB_val *key, const MDB_val *value,
         void *ctx, fdy_reason_t *reason)
{
    (void) meta;
    (void) value;
    (void) ctx;
    int rc = mdb_del(txn, log, (MDB_val *) key, NULL);
    return rc == 0 ? FOUNDRY_OK : fdy_kv_err(rc, reason, "tamper");
}

foundry_err
fdy_tamper_audit_delete(const char *data_dir, uint64_t seq, fdy_reason_t *reason)
{
    return s_edit(data_dir, seq, s_delete, NULL, reason);
}

static foundry_err
s_anchor(MDB_txn *txn, MDB_dbi log, MDB_dbi meta, const MDB_val *key, const MDB_val *value,
         void *ctx, fdy_reason_t *reason)
{
    (void) log;
    (void) ctx;
    if (value->mv_size < HASH_OFFSET + HASH_LEN)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "record too short for a hash");
    uint8_t point[8 + HASH_LEN];
    fdy_bytes_put_le64(point, fdy_bytes_get_be64(key->mv_data));
    memcpy(point + 8, (const uint8_t *) value->mv_data + HASH_OFFSET, HASH_LEN);
    MDB_val k = {6, (void *) "anchor"}, v = {sizeof point, point};
    int rc = mdb_put(txn, meta, &k, &v, 0);
    return rc == 0 ? FOUNDRY_OK : fdy_kv_err(rc, reason, "tamper");
}

foundry_err
fdy_tamper_audit_anchor(const char *data_dir, uint64_t seq, fdy_reason_t *reason)
{
    return s_edit(data_dir, seq, s_anchor, NULL, reason);
}

static foundry_err
s_forget_head(MDB_txn *txn, MDB_dbi log, MDB_dbi meta, const MDB_val *key, const MDB_val *value,
              void *ctx, fdy_reason_t *reason)
{
    (void) log;
    (void) key;
    (void) value;
    (void) ctx;
    MDB_val k = {4, (void *) "head"};
    int rc = mdb_del(txn, meta, &k, NULL);
    if (rc == MDB_NOTFOUND)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no head record");
    return rc == 0 ? FOUNDRY_OK : fdy_kv_err(rc, reason, "tamper");
}

foundry_err
fdy_tamper_audit_forget_head(const char *data_dir, fdy_reason_t *reason)
{
    return s_edit(data_dir, 1, s_forget_head, NULL, reason); /* seq 1 must exist */
}

foundry_err
fdy_tamper_key_set(const char *data_dir, const char *name, size_t offset, uint8_t byte,
                   fdy_reason_t *reason)
{
    fdy_store_opts_t opts = {.dir = data_dir};
    fdy_store_t *store = NULL;
    foundry_err err = fdy_store_open(&opts, &store, reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_txn *txn = NULL;
    err = fdy_kv_txn_begin(store->kv, 0, &txn, reason);
    if (err == FOUNDRY_OK) {
        MDB_dbi keys = fdy_store_dbi(store, &fdy_store_keys_table, 0);
        MDB_val key = {strlen(name), (void *) name}, value;
        uint8_t copy[4096];
        int rc = mdb_get(txn, keys, &key, &value);
        if (rc == MDB_NOTFOUND)
            err = fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no key record %s", name);
        else if (rc != 0)
            err = fdy_kv_err(rc, reason, "tamper");
        else if (offset >= value.mv_size || value.mv_size > sizeof copy)
            err = fdy_reason_set(reason, FOUNDRY_EINVAL, "offset %zu: the record is %zu bytes",
                                 offset, value.mv_size);
        if (err == FOUNDRY_OK) {
            memcpy(copy, value.mv_data, value.mv_size);
            copy[offset] = byte;
            MDB_val v = {value.mv_size, copy};
            rc = mdb_put(txn, keys, &key, &v, 0);
            if (rc != 0)
                err = fdy_kv_err(rc, reason, "tamper");
        }
        if (err == FOUNDRY_OK)
            err = fdy_kv_commit(store->kv, txn, reason);
        else
            mdb_txn_abort(txn);
    }
    fdy_store_close(&store);
    return err;
}
