/*  store_keys.c: the key store's records: the registry's encoding inside
 *  a checksummed frame (so an altered record is refused, never read as
 *  another key), plus two counters in the meta DB: the key generation,
 *  which tells every process sharing the store that some key record
 *  changed, and the generation the running broker has applied, which tells
 *  foundryctl that its change is in force. Not for validation or lookups:
 *  that is registry.c.
 */
#include "store_keys.h"

#include "crc32c.h"

#include <stdlib.h>
#include <string.h>

/* Key names are principal names; LMDB keys must be 1..511 bytes. */
#define S_KEY_NAME_MAX 255
/* Meta DB key: bumped with every key record write. */
#define S_META_KEY_GENERATION "key_generation"
/* Meta DB key: the generation the broker's registry holds in memory,
 * written by the broker only (fdy_registry_confirm), read by foundryctl. */
#define S_META_KEY_APPLIED "key_generation_applied"

static foundry_err s_keys_open(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason);
static foundry_err s_keys_migrate(fdy_store_t *self, MDB_txn *txn, uint64_t from_schema,
                                  fdy_reason_t *reason);

static const char *const s_dbs[] = {"keys", NULL};
static foundry_err s_keys_check(const fdy_store_t *self, size_t db_index, const MDB_val *prev_key,
                                const MDB_val *key, const MDB_val *value, fdy_reason_t *reason);
const fdy_store_table_t fdy_store_keys_table = {"keys", s_dbs, s_keys_open, s_keys_migrate,
                                                s_keys_check};

static MDB_dbi
s_keys_dbi(const fdy_store_t *self)
{
    return fdy_store_dbi(self, &fdy_store_keys_table, 0);
}

static foundry_err
s_keys_open(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason)
{
    return fdy_store_meta_get(self, txn, S_META_KEY_GENERATION, &self->key_generation, reason);
}

/* ---- the record frame ----------------------------------------------------- */

static void
s_frame(uint8_t *out, const uint8_t *payload, size_t len)
{
    out[4] = FDY_KEY_REC_VERSION;
    memset(out + 5, 0, 3);
    if (len)
        memcpy(out + FDY_KEY_REC_HEADER, payload, len);
    fdy_bytes_put_le32(out, fdy_crc32c(0, out + 4, FDY_KEY_REC_HEADER - 4 + len));
}

foundry_err
fdy_store_key_record_open(uint64_t schema, const char *name, const MDB_val *val,
                          const uint8_t **payload_out, size_t *len_out, fdy_reason_t *reason)
{
    const uint8_t *p = val->mv_data;
    *payload_out = p;
    *len_out = val->mv_size;
    if (schema < FDY_KEY_REC_SCHEMA)
        return FOUNDRY_OK; /* a read-only open of an older store: the bare encoding */
    if (val->mv_size < FDY_KEY_REC_HEADER)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "key record \"%s\": %zu bytes, cut short (damaged on disk); the "
                              "key is refused",
                              name, val->mv_size);
    if (fdy_crc32c(0, p + 4, val->mv_size - 4) != fdy_bytes_get_le32(p))
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "key record \"%s\": checksum mismatch (altered or damaged on "
                              "disk); the key is refused, never read as another",
                              name);
    if (p[4] != FDY_KEY_REC_VERSION)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "key record \"%s\": format version %u, this build reads %u", name,
                              p[4], FDY_KEY_REC_VERSION);
    *payload_out = p + FDY_KEY_REC_HEADER;
    *len_out = val->mv_size - FDY_KEY_REC_HEADER;
    return FOUNDRY_OK;
}

/* Schema 3 and older stored the registry's encoding bare: each record is
 * framed as it is. Nothing can tell whether an old record was altered
 * before; from here on any change is found. */
static foundry_err
s_keys_migrate(fdy_store_t *self, MDB_txn *txn, uint64_t from_schema, fdy_reason_t *reason)
{
    if (from_schema >= FDY_KEY_REC_SCHEMA)
        return FOUNDRY_OK;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, s_keys_dbi(self), &cursor);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "migrate key records");
    foundry_err err = FOUNDRY_OK;
    MDB_val k, v;
    while (err == FOUNDRY_OK && (rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) == 0) {
        /* Key and value live in the page the put rewrites: copy both. */
        char name[S_KEY_NAME_MAX];
        uint8_t *framed = k.mv_size <= sizeof name ? malloc(FDY_KEY_REC_HEADER + v.mv_size) : NULL;
        if (!framed) {
            err = k.mv_size <= sizeof name
                      ? fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory")
                      : fdy_reason_set(reason, FOUNDRY_ECORRUPT, "a key record named by %zu bytes",
                                       k.mv_size);
            break;
        }
        memcpy(name, k.mv_data, k.mv_size);
        s_frame(framed, v.mv_data, v.mv_size);
        MDB_val nk = {k.mv_size, name};
        MDB_val nv = {FDY_KEY_REC_HEADER + v.mv_size, framed};
        rc = mdb_cursor_put(cursor, &nk, &nv, MDB_CURRENT);
        free(framed);
        if (rc != 0)
            err = fdy_kv_err(rc, reason, "migrate key records");
        else
            self->migrated_keys++;
    }
    if (err == FOUNDRY_OK && rc != MDB_NOTFOUND)
        err = fdy_kv_err(rc, reason, "migrate key records");
    mdb_cursor_close(cursor);
    return err;
}

/* ---- writing and listing ---------------------------------------------------- */

typedef struct {
    const char *name;
    const uint8_t *rec;
    size_t len;
} s_key_put_t;

static foundry_err
s_key_put_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_key_put_t *kp = ctx;
    (void) skip_commit;
    MDB_val k = {strlen(kp->name), (void *) kp->name};
    MDB_val v = {FDY_KEY_REC_HEADER + kp->len, NULL};
    int rc = mdb_put(txn, s_keys_dbi(self), &k, &v, MDB_RESERVE);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "write key record");
    s_frame(v.mv_data, kp->rec, kp->len);
    /* Same transaction as the record: a reader that sees the new generation
     * also sees the record. */
    uint64_t generation;
    foundry_err err = fdy_store_meta_get(self, txn, S_META_KEY_GENERATION, &generation, reason);
    if (err != FOUNDRY_OK)
        return err;
    return fdy_store_meta_put(self, txn, S_META_KEY_GENERATION, generation + 1, reason);
}

foundry_err
fdy_store_key_put(fdy_store_t *self, const char *name, const uint8_t *rec, size_t len,
                  fdy_reason_t *reason)
{
    size_t name_len = name ? strlen(name) : 0;
    if (name_len == 0 || name_len > S_KEY_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "key name must be 1..%d bytes",
                              S_KEY_NAME_MAX);
    if (!rec && len)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "key record: NULL data");
    if (len > FDY_KEY_REC_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "key record: %zu bytes, at most %d", len,
                              FDY_KEY_REC_MAX);
    s_key_put_t kp = {name, rec, len};
    return fdy_store_write(self, s_key_put_txn, &kp, reason);
}

static foundry_err
s_key_del_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    const char *name = ctx;
    (void) skip_commit;
    MDB_val k = {strlen(name), (void *) name};
    int rc = mdb_del(txn, s_keys_dbi(self), &k, NULL);
    if (rc == MDB_NOTFOUND)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no key named \"%.80s\"", name);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "delete key record");
    uint64_t generation;
    foundry_err err = fdy_store_meta_get(self, txn, S_META_KEY_GENERATION, &generation, reason);
    if (err != FOUNDRY_OK)
        return err;
    return fdy_store_meta_put(self, txn, S_META_KEY_GENERATION, generation + 1, reason);
}

foundry_err
fdy_store_key_del(fdy_store_t *self, const char *name, fdy_reason_t *reason)
{
    size_t name_len = name ? strlen(name) : 0;
    if (name_len == 0 || name_len > S_KEY_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "key name must be 1..%d bytes",
                              S_KEY_NAME_MAX);
    return fdy_store_write(self, s_key_del_txn, (void *) name, reason);
}

typedef struct {
    fdy_store_key_fn *fn;
    void *user;
    uint64_t schema;
} s_list_t;

static foundry_err
s_list_one(const MDB_val *k, const MDB_val *v, void *user, fdy_reason_t *reason)
{
    s_list_t *l = user;
    char name[S_KEY_NAME_MAX + 1];
    if (k->mv_size == 0 || k->mv_size > S_KEY_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "a key record named by %zu bytes",
                              k->mv_size);
    memcpy(name, k->mv_data, k->mv_size);
    name[k->mv_size] = '\0';
    const uint8_t *payload;
    size_t len;
    foundry_err err = fdy_store_key_record_open(l->schema, name, v, &payload, &len, reason);
    if (err != FOUNDRY_OK)
        return err;
    return l->fn(name, payload, len, l->user);
}

foundry_err
fdy_store_key_list(fdy_store_t *self, fdy_store_key_fn *fn, void *user, fdy_reason_t *reason)
{
    s_list_t l = {fn, user, self->schema};
    return fdy_store_scan(self, s_keys_dbi(self), s_list_one, &l, reason);
}

uint64_t
fdy_store_key_generation(fdy_store_t *self)
{
    MDB_txn *txn;
    /* Called every loop turn: the reused read transaction keeps it cheap. */
    if (fdy_kv_rtxn_begin(self->kv, &txn, NULL) != FOUNDRY_OK)
        return self->key_generation; /* the last one seen: refresh retries later */
    uint64_t generation;
    if (fdy_store_meta_get(self, txn, S_META_KEY_GENERATION, &generation, NULL) == FOUNDRY_OK)
        self->key_generation = generation;
    fdy_kv_rtxn_end(self->kv, txn);
    return self->key_generation;
}

static foundry_err
s_applied_put_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit,
                  fdy_reason_t *reason)
{
    (void) skip_commit;
    return fdy_store_meta_put(self, txn, S_META_KEY_APPLIED, *(const uint64_t *) ctx, reason);
}

foundry_err
fdy_store_key_applied_set(fdy_store_t *self, uint64_t generation, fdy_reason_t *reason)
{
    foundry_err err = fdy_store_writable(self, reason);
    if (err != FOUNDRY_OK)
        return err;
    return fdy_store_write(self, s_applied_put_txn, &generation, reason);
}

foundry_err
fdy_store_key_applied_get(fdy_store_t *self, uint64_t *generation_out, fdy_reason_t *reason)
{
    *generation_out = 0;
    MDB_txn *txn;
    /* A fresh snapshot each call: foundryctl polls this while the broker
     * writes it. */
    foundry_err err = fdy_kv_rtxn_begin(self->kv, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    err = fdy_store_meta_get(self, txn, S_META_KEY_APPLIED, generation_out, reason);
    fdy_kv_rtxn_end(self->kv, txn);
    return err;
}

/* ---- store check ---------------------------------------------------------- */

/* A key record's frame and checksum, as a read would check it. */
static foundry_err
s_keys_check(const fdy_store_t *self, size_t db_index, const MDB_val *prev_key, const MDB_val *key,
             const MDB_val *value, fdy_reason_t *reason)
{
    (void) prev_key;
    (void) db_index;
    char name[256];
    size_t len = key->mv_size < sizeof name ? key->mv_size : sizeof name - 1;
    memcpy(name, key->mv_data, len);
    name[len] = '\0';
    const uint8_t *payload;
    size_t payload_len;
    return fdy_store_key_record_open(self->schema, name, value, &payload, &payload_len, reason);
}
