/*  store_jobs.c: the "jobs" database (store_jobs.h): key the job id (u64,
 *  big-endian, so LMDB order is id order), value the record as the jobs
 *  service encoded it. No format of its own: the record is a JobRecord
 *  (proto/jobs.proto), checked by its decoder when it is loaded.
 */
#include "store_jobs.h"

#include "arena.h"
#include "bytes.h"
#include "codec_jobs.h"
#include "commit.h"
#include "store_table.h"

#include <inttypes.h>

static const char *const s_dbs[] = { "jobs", NULL };
/* The store check: every record decodes as a JobRecord whose id is its
 * key. */
static foundry_err
s_check(const fdy_store_t *store, size_t db_index, const MDB_val *key, const MDB_val *value,
        fdy_reason_t *reason)
{
    (void) store;
    (void) db_index;
    if (key->mv_size != 8)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "job key of %zu bytes, not 8",
                              key->mv_size);
    uint64_t id = fdy_bytes_get_be64(key->mv_data);
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(value->mv_size));
    if (!arena)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "job %" PRIu64 ": out of memory", id);
    fdy_job_record_t rec;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err = fdy_codec_job_record_decode(value->mv_data, value->mv_size, arena, &rec, &why);
    if (err != FOUNDRY_OK)
        err = fdy_reason_set(reason, FOUNDRY_ECORRUPT, "job %" PRIu64 ": %s", id, why.text);
    else if (rec.id != id)
        err = fdy_reason_set(reason, FOUNDRY_ECORRUPT, "job %" PRIu64 ": record names job %" PRIu64,
                             id, rec.id);
    fdy_arena_destroy(&arena);
    return err;
}

const fdy_store_table_t fdy_store_jobs_table = { .name = "jobs", .dbs = s_dbs, .check = s_check };

typedef struct {
    fdy_store_job_fn *fn;
    void *user;
} s_scan_t;

static foundry_err
s_scan_one(const MDB_val *key, const MDB_val *value, void *user, fdy_reason_t *reason)
{
    s_scan_t *scan = user;
    if (key->mv_size != 8)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "jobs: key of %zu bytes", key->mv_size);
    return scan->fn(fdy_bytes_get_be64(key->mv_data), value->mv_data, value->mv_size,
                    scan->user, reason);
}

foundry_err
fdy_store_jobs_scan(fdy_store_t *store, fdy_store_job_fn *fn, void *user, fdy_reason_t *reason)
{
    s_scan_t scan = { fn, user };
    return fdy_store_scan(store, fdy_store_dbi(store, &fdy_store_jobs_table, 0), s_scan_one,
                          &scan, reason);
}

static foundry_err
s_write(void *data, fdy_store_t *store, MDB_txn *txn, uint64_t now_ns, size_t *writes,
        fdy_reason_t *reason)
{
    (void) now_ns;
    const fdy_store_jobs_t *d = data;
    MDB_dbi dbi = fdy_store_dbi(store, &fdy_store_jobs_table, 0);
    for (size_t i = 0; i < d->count; i++) {
        uint8_t key_bytes[8];
        fdy_bytes_put_be64(key_bytes, d->items[i].id);
        MDB_val key = { sizeof key_bytes, key_bytes };
        int rc;
        if (d->items[i].len == 0) {
            rc = mdb_del(txn, dbi, &key, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        } else {
            MDB_val value = { d->items[i].len, (void *) d->items[i].record };
            rc = mdb_put(txn, dbi, &key, &value, 0);
        }
        if (rc != 0)
            return fdy_kv_err(rc, reason, "jobs: write");
        (*writes)++;
    }
    return FOUNDRY_OK;
}

const fdy_commit_part_t fdy_store_jobs_part = {
    .name = "jobs",
    .prepare = NULL,
    .write = s_write,
    .reset = NULL,
    .droppable = false,
};
