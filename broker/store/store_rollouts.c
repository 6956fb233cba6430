/*  store_rollouts.c: the "rollouts" database (store_rollouts.h): key the
 *  rollout id (u64 BE, so LMDB order is id order), value one record in the
 *  format below. The store only keeps and returns records; what the
 *  states mean is the rollouts service's (broker/rollouts/).
 *
 *  Record, version 1, little endian; str8/16/32 = a length of that width
 *  then the bytes, no NUL:
 *    version(1) id(8) state(1) pause(1) wave(4) wave_done_ms(8)
 *    soak_from_ms(8) last_start_ms(8) created_ms(8) updated_ms(8) reason(str16)
 *    arg_count(2) args(str32 each)
 *    node_count(4) nodes: name(str8) site(str8) wave(4) state(1) flags(1)
 *      job_id(8) done_bytes(8) total_bytes(8) started_ms(8) updated_ms(8)
 *      reason(str16)
 */
#include "store_rollouts.h"

#include "bytes.h"
#include "commit.h"
#include "store_table.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_VERSION 1

static const char *const s_dbs[] = {"rollouts", NULL};

/* ---- writing ----------------------------------------------------------- */

typedef struct {
    uint8_t *buf;
    size_t len, cap;
} s_out_t;

static uint8_t *
s_room(s_out_t *o, size_t n)
{
    o->buf = fdy_xgrow(o->buf, &o->cap, o->len + n, 1);
    uint8_t *at = o->buf + o->len;
    o->len += n;
    return at;
}

static void
s_u8(s_out_t *o, uint8_t v)
{
    *s_room(o, 1) = v;
}

static void
s_u32(s_out_t *o, uint32_t v)
{
    fdy_bytes_put_le32(s_room(o, 4), v);
}

static void
s_u64(s_out_t *o, uint64_t v)
{
    fdy_bytes_put_le64(s_room(o, 8), v);
}

/* width 1, 2 or 4 bytes of length. */
static void
s_str(s_out_t *o, const char *s, int width)
{
    size_t len = strlen(s ? s : "");
    if (width == 1)
        s_u8(o, (uint8_t) len);
    else if (width == 2)
        fdy_bytes_put_le16(s_room(o, 2), (uint16_t) len);
    else
        s_u32(o, (uint32_t) len);
    if (len)
        memcpy(s_room(o, len), s, len);
}

foundry_err
fdy_store_rollouts_encode(const fdy_rollout_record_t *rec, uint8_t **buf_out, size_t *len_out,
                          fdy_reason_t *reason)
{
    *buf_out = NULL;
    *len_out = 0;
    if (rec->arg_count > FDY_ROLLOUT_ARGS_MAX || rec->node_count > FDY_ROLLOUT_NODES_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "rollout %" PRIu64 ": over %u args or %u nodes", rec->id,
                              FDY_ROLLOUT_ARGS_MAX, FDY_ROLLOUT_NODES_MAX);
    for (size_t i = 0; i < rec->arg_count; i++)
        if (strlen(rec->args[i]) > FDY_ROLLOUT_ARG_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "rollout %" PRIu64 ": argument %zu is over %u bytes", rec->id,
                                  i + 1, FDY_ROLLOUT_ARG_MAX);
    s_out_t o = {NULL, 0, 0};
    s_u8(&o, RECORD_VERSION);
    s_u64(&o, rec->id);
    s_u8(&o, rec->state);
    s_u8(&o, rec->pause);
    s_u32(&o, rec->wave);
    s_u64(&o, rec->wave_done_ms);
    s_u64(&o, rec->soak_from_ms);
    s_u64(&o, rec->last_start_ms);
    s_u64(&o, rec->created_ms);
    s_u64(&o, rec->updated_ms);
    s_str(&o, rec->reason, 2);
    fdy_bytes_put_le16(s_room(&o, 2), (uint16_t) rec->arg_count);
    for (size_t i = 0; i < rec->arg_count; i++)
        s_str(&o, rec->args[i], 4);
    s_u32(&o, (uint32_t) rec->node_count);
    for (size_t i = 0; i < rec->node_count; i++) {
        const fdy_rollout_node_t *n = &rec->nodes[i];
        s_str(&o, n->name, 1);
        s_str(&o, n->site, 1);
        s_u32(&o, n->wave);
        s_u8(&o, n->state);
        s_u8(&o, n->flags);
        s_u64(&o, n->job_id);
        s_u64(&o, n->done_bytes);
        s_u64(&o, n->total_bytes);
        s_u64(&o, n->started_ms);
        s_u64(&o, n->updated_ms);
        s_str(&o, n->reason, 2);
    }
    *buf_out = o.buf;
    *len_out = o.len;
    return FOUNDRY_OK;
}

/* ---- reading ----------------------------------------------------------- */

/* A string of len bytes into buf (size bytes with its NUL); bad when it is
 * too long or holds a NUL. */
static void
s_get_str(fdy_bytes_in_t *in, size_t len, char *buf, size_t size)
{
    const uint8_t *p = fdy_bytes_take(in, len);
    if (!p || len >= size || memchr(p, 0, len)) {
        in->bad = true;
        buf[0] = '\0';
        return;
    }
    memcpy(buf, p, len);
    buf[len] = '\0';
}

foundry_err
fdy_store_rollouts_decode(const uint8_t *buf, size_t len, fdy_rollout_record_t *out,
                          fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    fdy_bytes_in_t in = {buf, len, false};
    uint8_t version = fdy_bytes_take_u8(&in);
    if (in.bad || version != RECORD_VERSION)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "rollout record version %u, not %u",
                              version, RECORD_VERSION);
    out->id = fdy_bytes_take_le64(&in);
    out->state = fdy_bytes_take_u8(&in);
    out->pause = fdy_bytes_take_u8(&in);
    out->wave = fdy_bytes_take_le32(&in);
    out->wave_done_ms = fdy_bytes_take_le64(&in);
    out->soak_from_ms = fdy_bytes_take_le64(&in);
    out->last_start_ms = fdy_bytes_take_le64(&in);
    out->created_ms = fdy_bytes_take_le64(&in);
    out->updated_ms = fdy_bytes_take_le64(&in);
    s_get_str(&in, fdy_bytes_take_le16(&in), out->reason, sizeof out->reason);
    size_t args = fdy_bytes_take_le16(&in);
    if (in.bad || args > FDY_ROLLOUT_ARGS_MAX)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "rollout record: bad header or %zu args",
                              args);
    out->args = fdy_xalloc((args ? args : 1) * sizeof *out->args);
    for (size_t i = 0; i < args && !in.bad; i++) {
        uint32_t arg_len = fdy_bytes_take_le32(&in);
        if (arg_len > FDY_ROLLOUT_ARG_MAX) {
            in.bad = true;
            break;
        }
        out->args[i] = fdy_xalloc(arg_len + 1);
        out->arg_count = i + 1;
        s_get_str(&in, arg_len, out->args[i], arg_len + 1);
    }
    uint32_t nodes = fdy_bytes_take_le32(&in);
    if (in.bad || nodes > FDY_ROLLOUT_NODES_MAX || nodes > in.left / 50)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "rollout %" PRIu64 ": bad arguments or node count", out->id);
    out->nodes = fdy_xalloc((nodes ? nodes : 1) * sizeof *out->nodes);
    out->node_count = nodes;
    for (size_t i = 0; i < nodes && !in.bad; i++) {
        fdy_rollout_node_t *n = &out->nodes[i];
        s_get_str(&in, fdy_bytes_take_u8(&in), n->name, sizeof n->name);
        s_get_str(&in, fdy_bytes_take_u8(&in), n->site, sizeof n->site);
        n->wave = fdy_bytes_take_le32(&in);
        n->state = fdy_bytes_take_u8(&in);
        n->flags = fdy_bytes_take_u8(&in);
        n->job_id = fdy_bytes_take_le64(&in);
        n->done_bytes = fdy_bytes_take_le64(&in);
        n->total_bytes = fdy_bytes_take_le64(&in);
        n->started_ms = fdy_bytes_take_le64(&in);
        n->updated_ms = fdy_bytes_take_le64(&in);
        s_get_str(&in, fdy_bytes_take_le16(&in), n->reason, sizeof n->reason);
        if (!in.bad && n->name[0] == '\0')
            in.bad = true;
    }
    if (in.bad || in.left != 0)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "rollout %" PRIu64 ": %s", out->id,
                              in.bad ? "truncated or bad node" : "bytes after the last node");
    return FOUNDRY_OK;
}

void
fdy_store_rollouts_record_clear(fdy_rollout_record_t *rec)
{
    for (size_t i = 0; i < rec->arg_count; i++)
        free(rec->args[i]);
    free(rec->args);
    free(rec->nodes);
    memset(rec, 0, sizeof *rec);
}

/* ---- the table ----------------------------------------------------------- */

/* The store check: every record decodes and carries its key's id. */
static foundry_err
s_check(const fdy_store_t *store, size_t db_index, const MDB_val *prev_key, const MDB_val *key,
        const MDB_val *value, fdy_reason_t *reason)
{
    (void) store;
    (void) prev_key;
    (void) db_index;
    if (key->mv_size != 8)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "rollout key of %zu bytes, not 8",
                              key->mv_size);
    uint64_t id = fdy_bytes_get_be64(key->mv_data);
    fdy_rollout_record_t rec;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err = fdy_store_rollouts_decode(value->mv_data, value->mv_size, &rec, &why);
    if (err != FOUNDRY_OK)
        err = fdy_reason_set(reason, FOUNDRY_ECORRUPT, "rollout %" PRIu64 ": %s", id, why.text);
    else if (rec.id != id)
        err = fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                             "rollout %" PRIu64 ": record names rollout %" PRIu64, id, rec.id);
    fdy_store_rollouts_record_clear(&rec);
    return err;
}

const fdy_store_table_t fdy_store_rollouts_table = {
    .name = "rollouts", .dbs = s_dbs, .check = s_check};

typedef struct {
    fdy_store_rollout_fn *fn;
    void *user;
} s_scan_t;

static foundry_err
s_scan_one(const MDB_val *key, const MDB_val *value, void *user, fdy_reason_t *reason)
{
    s_scan_t *scan = user;
    if (key->mv_size != 8)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "rollouts: key of %zu bytes", key->mv_size);
    uint64_t id = fdy_bytes_get_be64(key->mv_data);
    fdy_rollout_record_t rec;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err = fdy_store_rollouts_decode(value->mv_data, value->mv_size, &rec, &why);
    if (err == FOUNDRY_OK && rec.id != id)
        err = fdy_reason_set(&why, FOUNDRY_ECORRUPT, "record names rollout %" PRIu64, rec.id);
    err = scan->fn(id, err == FOUNDRY_OK ? &rec : NULL, why.text, scan->user, reason);
    fdy_store_rollouts_record_clear(&rec);
    return err;
}

foundry_err
fdy_store_rollouts_scan(fdy_store_t *store, fdy_store_rollout_fn *fn, void *user,
                        fdy_reason_t *reason)
{
    s_scan_t scan = {fn, user};
    return fdy_store_scan(store, fdy_store_dbi(store, &fdy_store_rollouts_table, 0), s_scan_one,
                          &scan, reason);
}

static foundry_err
s_put_one(MDB_txn *txn, MDB_dbi dbi, uint64_t id, const uint8_t *record, size_t len,
          fdy_reason_t *reason)
{
    uint8_t key_bytes[8];
    fdy_bytes_put_be64(key_bytes, id);
    MDB_val key = {sizeof key_bytes, key_bytes};
    if (!record) {
        int rc = mdb_del(txn, dbi, &key, NULL);
        return rc == 0 || rc == MDB_NOTFOUND ? FOUNDRY_OK : fdy_kv_err(rc, reason, "rollouts: remove");
    }
    MDB_val value = {len, (void *) record};
    int rc = mdb_put(txn, dbi, &key, &value, 0);
    return rc == 0 ? FOUNDRY_OK : fdy_kv_err(rc, reason, "rollouts: write");
}

static foundry_err
s_write(void *data, fdy_store_t *store, MDB_txn *txn, uint64_t now_ns, size_t *writes,
        fdy_reason_t *reason)
{
    (void) now_ns;
    const fdy_store_rollouts_t *d = data;
    MDB_dbi dbi = fdy_store_dbi(store, &fdy_store_rollouts_table, 0);
    for (size_t i = 0; i < d->count; i++) {
        foundry_err err =
            s_put_one(txn, dbi, d->items[i].id, d->items[i].record, d->items[i].len, reason);
        if (err != FOUNDRY_OK)
            return err;
        (*writes)++;
    }
    return FOUNDRY_OK;
}

const fdy_commit_part_t fdy_store_rollouts_part = {
    .name = "rollouts",
    .prepare = NULL,
    .write = s_write,
    .reset = NULL,
    .droppable = false,
};

typedef struct {
    uint64_t id;
    const uint8_t *record;
    size_t len;
} s_put_t;

static foundry_err
s_put_txn(fdy_store_t *self, MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    (void) skip_commit;
    const s_put_t *put = ctx;
    return s_put_one(txn, fdy_store_dbi(self, &fdy_store_rollouts_table, 0), put->id, put->record,
                     put->len, reason);
}

foundry_err
fdy_store_rollouts_put(fdy_store_t *store, const fdy_rollout_record_t *rec, fdy_reason_t *reason)
{
    foundry_err err = fdy_store_writable(store, reason);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (err == FOUNDRY_OK)
        err = fdy_store_rollouts_encode(rec, &buf, &len, reason);
    if (err == FOUNDRY_OK) {
        s_put_t put = {rec->id, buf, len};
        err = fdy_store_write(store, s_put_txn, &put, reason);
    }
    free(buf);
    return err;
}
