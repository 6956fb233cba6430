/*  store_keys.c: the key store as opaque records (the registry encodes
 *  them) plus two counters in the meta DB: the key generation, which tells
 *  every process sharing the store that some key record changed, and the
 *  generation the running broker has applied, which tells foundryctl that
 *  its change is in force. Not for validation or lookups: that is registry.c.
 */
#include "store_keys.h"

#include <string.h>

/* Key names are principal names; LMDB keys must be 1..511 bytes. */
#define S_KEY_NAME_MAX 255
/* Meta DB key: bumped with every key record write. */
#define S_META_KEY_GENERATION "key_generation"
/* Meta DB key: the generation the broker's registry holds in memory,
 * written by the broker only (fdy_registry_confirm), read by foundryctl. */
#define S_META_KEY_APPLIED "key_generation_applied"

static foundry_err s_keys_open(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason);

static const char *const s_dbs[] = { "keys", NULL };
const fdy_store_table_t fdy_store_keys_table = { "keys", s_dbs, s_keys_open, NULL };

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

typedef struct {
    const char *name;
    const uint8_t *rec;
    size_t len;
} s_key_put_t;

static foundry_err
s_key_put_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit,
              fdy_reason_t *reason)
{
    s_key_put_t *kp = ctx;
    (void) skip_commit;
    MDB_val k = { strlen(kp->name), (void *) kp->name };
    MDB_val v = { kp->len, (void *) kp->rec };
    int rc = mdb_put(txn, s_keys_dbi(self), &k, &v, 0);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "write key record");
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
    s_key_put_t kp = { name, rec, len };
    return fdy_store_write(self, s_key_put_txn, &kp, reason);
}

typedef struct {
    fdy_store_key_fn *fn;
    void *user;
} s_list_t;

static foundry_err
s_list_one(const MDB_val *k, const MDB_val *v, void *user, fdy_reason_t *reason)
{
    (void) reason;
    s_list_t *l = user;
    char name[S_KEY_NAME_MAX + 1];
    if (k->mv_size == 0 || k->mv_size > S_KEY_NAME_MAX)
        return FOUNDRY_ECORRUPT;
    memcpy(name, k->mv_data, k->mv_size);
    name[k->mv_size] = '\0';
    return l->fn(name, v->mv_data, v->mv_size, l->user);
}

foundry_err
fdy_store_key_list(fdy_store_t *self, fdy_store_key_fn *fn, void *user)
{
    fdy_reason_t reason;
    s_list_t l = { fn, user };
    return fdy_store_scan(self, s_keys_dbi(self), s_list_one, &l, &reason);
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
