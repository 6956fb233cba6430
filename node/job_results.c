/*  job_results.c: the job result outbox (job_results.h) on lib/daemon/kv.
 *  Key: job id and fence (u64 BE each). Value: ok (u8), then the result,
 *  error, log tail and type, each a u32 LE length and its bytes.
 */
#include "job_results.h"

#include "bytes.h"
#include "kv.h"
#include "xalloc.h"

#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024ull * 1024ull)

struct fdy_job_results {
    fdy_kv_t *kv;
    MDB_dbi dbi;
};

static foundry_err
s_open_db(MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    (void) skip_commit;
    fdy_job_results_t *self = ctx;
    int rc = mdb_dbi_open(txn, "results", MDB_CREATE, &self->dbi);
    return rc ? fdy_kv_err(rc, reason, "results: open") : FOUNDRY_OK;
}

foundry_err
fdy_job_results_open(const char *dir, fdy_job_results_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    fdy_job_results_t *self = fdy_xalloc(sizeof *self);
    fdy_kv_opts_t opts = { .dir = dir,
                           .label = "results",
                           .lock_file = "owner.lock",
                           .map_size = 16 * MIB,
                           .map_size_max = 4096 * MIB,
                           .max_dbs = 1 };
    foundry_err err = fdy_kv_open(&opts, &self->kv, reason);
    if (err == FOUNDRY_OK)
        err = fdy_kv_write(self->kv, s_open_db, self, reason);
    if (err != FOUNDRY_OK) {
        fdy_job_results_close(&self);
        return err;
    }
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_job_results_close(fdy_job_results_t **self_p)
{
    fdy_job_results_t *self = *self_p;
    if (!self)
        return;
    fdy_kv_close(&self->kv);
    free(self);
    *self_p = NULL;
}

static void
s_key(uint8_t key[16], uint64_t job_id, uint64_t fence)
{
    fdy_bytes_put_be64(key, job_id);
    fdy_bytes_put_be64(key + 8, fence);
}

static uint8_t *
s_field(uint8_t *at, const void *data, size_t len)
{
    fdy_bytes_put_le32(at, (uint32_t) len);
    if (len)
        memcpy(at + 4, data, len);
    return at + 4 + len;
}

typedef struct {
    fdy_job_results_t *self;
    const fdy_job_result_t *items;
    size_t count;
    const uint64_t *job_ids, *fences;
    size_t id_count;
} s_op_t;

/* Puts and removals go in key order through one cursor: LMDB then finds
 * most keys on the page the cursor is on, without a descent from the root
 * (mdb_cursor_set). The keys' order: id, then fence. */
static int
s_cmp_key(uint64_t id_a, uint64_t fence_a, uint64_t id_b, uint64_t fence_b)
{
    if (id_a != id_b)
        return id_a < id_b ? -1 : 1;
    return fence_a < fence_b ? -1 : fence_a > fence_b;
}

static int
s_cmp_item(const void *a_, const void *b_)
{
    const fdy_job_result_t *const *a = a_, *const *b = b_;
    int c = s_cmp_key((*a)->job_id, (*a)->fence, (*b)->job_id, (*b)->fence);
    return c ? c : (*a < *b ? -1 : *a > *b); /* a key twice: the later one wins */
}

typedef struct {
    uint64_t id, fence;
} s_id_t;

static int
s_cmp_id(const void *a_, const void *b_)
{
    const s_id_t *a = a_, *b = b_;
    return s_cmp_key(a->id, a->fence, b->id, b->fence);
}

static foundry_err
s_cursor(fdy_job_results_t *self, MDB_txn *txn, MDB_cursor **cursor, fdy_reason_t *reason)
{
    int rc = mdb_cursor_open(txn, self->dbi, cursor);
    return rc ? fdy_kv_err(rc, reason, "results: cursor") : FOUNDRY_OK;
}

static foundry_err
s_put_one(MDB_cursor *cursor, const fdy_job_result_t *r, fdy_reason_t *reason)
{
    const char *texts[] = { r->error ? r->error : "", r->log_tail ? r->log_tail : "",
                            r->type ? r->type : "" };
    size_t size = 1 + 4 + r->result_len;
    for (size_t i = 0; i < 3; i++)
        size += 4 + strlen(texts[i]);
    uint8_t key[16];
    s_key(key, r->job_id, r->fence);
    MDB_val k = { sizeof key, key }, v = { size, NULL };
    int rc = mdb_cursor_put(cursor, &k, &v, MDB_RESERVE);
    if (rc)
        return fdy_kv_err(rc, reason, "results: put");
    uint8_t *at = v.mv_data;
    *at++ = r->ok ? 1 : 0;
    at = s_field(at, r->result, r->result_len);
    for (size_t i = 0; i < 3; i++)
        at = s_field(at, texts[i], strlen(texts[i]));
    return FOUNDRY_OK;
}

static foundry_err
s_put(MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_op_t *op = ctx;
    *skip_commit = op->count == 0;
    if (op->count == 0)
        return FOUNDRY_OK;
    const fdy_job_result_t **order = fdy_xalloc(op->count * sizeof *order);
    for (size_t i = 0; i < op->count; i++)
        order[i] = &op->items[i];
    qsort(order, op->count, sizeof *order, s_cmp_item);
    MDB_cursor *cursor = NULL;
    foundry_err err = s_cursor(op->self, txn, &cursor, reason);
    for (size_t i = 0; i < op->count && err == FOUNDRY_OK; i++)
        err = s_put_one(cursor, order[i], reason);
    if (cursor)
        mdb_cursor_close(cursor);
    free(order);
    return err;
}

foundry_err
fdy_job_results_put(fdy_job_results_t *self, const fdy_job_result_t *items, size_t count,
                    fdy_reason_t *reason)
{
    s_op_t op = { self, items, count, NULL, NULL, 0 };
    return fdy_kv_write(self->kv, s_put, &op, reason);
}

static foundry_err
s_remove_ids(s_op_t *op, MDB_txn *txn, size_t *removed_out, fdy_reason_t *reason)
{
    *removed_out = 0;
    if (op->id_count == 0)
        return FOUNDRY_OK;
    s_id_t *ids = fdy_xalloc(op->id_count * sizeof *ids);
    for (size_t i = 0; i < op->id_count; i++)
        ids[i] = (s_id_t){ op->job_ids[i], op->fences[i] };
    qsort(ids, op->id_count, sizeof *ids, s_cmp_id);
    MDB_cursor *cursor = NULL;
    foundry_err err = s_cursor(op->self, txn, &cursor, reason);
    size_t removed = 0;
    for (size_t i = 0; i < op->id_count && err == FOUNDRY_OK; i++) {
        uint8_t key[16];
        s_key(key, ids[i].id, ids[i].fence);
        MDB_val k = { sizeof key, key }, v;
        int rc = mdb_cursor_get(cursor, &k, &v, MDB_SET);
        if (rc == 0)
            rc = mdb_cursor_del(cursor, 0);
        if (rc == 0)
            removed++;
        else if (rc != MDB_NOTFOUND)
            err = fdy_kv_err(rc, reason, "results: remove");
    }
    if (cursor)
        mdb_cursor_close(cursor);
    free(ids);
    *removed_out = removed;
    return err;
}

static foundry_err
s_remove(MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    size_t removed = 0;
    foundry_err err = s_remove_ids(ctx, txn, &removed, reason);
    *skip_commit = removed == 0;
    return err;
}

foundry_err
fdy_job_results_remove(fdy_job_results_t *self, const uint64_t *job_ids, const uint64_t *fences,
                       size_t count, fdy_reason_t *reason)
{
    s_op_t op = { self, NULL, 0, job_ids, fences, count };
    return fdy_kv_write(self->kv, s_remove, &op, reason);
}

static foundry_err
s_update(MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_op_t *op = ctx;
    size_t removed = 0;
    foundry_err err = s_put(txn, ctx, skip_commit, reason);
    if (err == FOUNDRY_OK)
        err = s_remove_ids(op, txn, &removed, reason);
    *skip_commit = op->count == 0 && removed == 0;
    return err;
}

foundry_err
fdy_job_results_update(fdy_job_results_t *self, const fdy_job_result_t *items, size_t count,
                       const uint64_t *job_ids, const uint64_t *fences, size_t id_count,
                       fdy_reason_t *reason)
{
    s_op_t op = { self, items, count, job_ids, fences, id_count };
    return fdy_kv_write(self->kv, s_update, &op, reason);
}

/* Reads one length-prefixed field; false when the value is too short. */
static bool
s_take(const uint8_t **at, const uint8_t *end, const uint8_t **data, size_t *len)
{
    if (end - *at < 4)
        return false;
    size_t n = fdy_bytes_get_le32(*at);
    if ((size_t) (end - *at - 4) < n)
        return false;
    *data = *at + 4;
    *len = n;
    *at += 4 + n;
    return true;
}

static char *
s_text(const uint8_t *data, size_t len)
{
    char *text = fdy_xalloc(len + 1);
    memcpy(text, data, len);
    return text;
}

foundry_err
fdy_job_results_each(fdy_job_results_t *self, fdy_job_result_fn *fn, void *user,
                     fdy_reason_t *reason)
{
    MDB_txn *txn;
    foundry_err err = fdy_kv_txn_begin(self->kv, MDB_RDONLY, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, self->dbi, &cursor);
    if (rc) {
        mdb_txn_abort(txn);
        return fdy_kv_err(rc, reason, "results: cursor");
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
        const uint8_t *at = v.mv_data, *end = at + v.mv_size;
        const uint8_t *fields[4];
        size_t lens[4];
        bool ok = k.mv_size == 16 && v.mv_size >= 1;
        for (size_t i = 0; ok && i < 4; i++) {
            if (i == 0)
                at++;
            ok = s_take(&at, end, &fields[i], &lens[i]);
        }
        if (!ok)
            continue; /* a damaged entry is skipped: the broker's lease expires instead */
        char *error = s_text(fields[1], lens[1]), *tail = s_text(fields[2], lens[2]),
             *type = s_text(fields[3], lens[3]);
        fdy_job_result_t r = { fdy_bytes_get_be64(k.mv_data),
                               fdy_bytes_get_be64((const uint8_t *) k.mv_data + 8),
                               ((const uint8_t *) v.mv_data)[0] == 1,
                               fields[0],
                               lens[0],
                               error,
                               tail,
                               type };
        fn(&r, user);
        free(error);
        free(tail);
        free(type);
    }
    mdb_cursor_close(cursor);
    mdb_txn_abort(txn);
    return FOUNDRY_OK;
}

static void
s_count(const fdy_job_result_t *r, void *user)
{
    (void) r;
    (*(size_t *) user)++;
}

size_t
fdy_job_results_count(fdy_job_results_t *self)
{
    size_t count = 0;
    fdy_reason_t reason;
    (void) fdy_job_results_each(self, s_count, &count, &reason);
    return count;
}
