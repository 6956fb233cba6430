/*  store_jobs.c: the "jobs" database (store_jobs.h): key the job id (u64,
 *  big-endian, so LMDB order is id order), value the record as the jobs
 *  service encoded it. No format of its own: the record is a JobRecord
 *  (proto/jobs.proto), checked by its decoder when it is loaded. Key 0 (no
 *  job has id 0) holds the ids' high-water mark: the next id, 8 bytes
 *  big-endian, raised by every commit that writes a newer job.
 */
#include "store_jobs.h"

#include "arena.h"
#include "bytes.h"
#include "codec_jobs.h"
#include "commit.h"
#include "store_table.h"

#include <inttypes.h>

static const char *const s_dbs[] = { "jobs", NULL };

/* The key of the high-water mark. */
#define HIGH_WATER_ID 0
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
    if (id == HIGH_WATER_ID)
        return value->mv_size == 8 ? FOUNDRY_OK
                                   : fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                                                    "jobs high-water mark of %zu bytes, not 8",
                                                    value->mv_size);
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
    uint64_t next_id;
} s_scan_t;

static foundry_err
s_scan_one(const MDB_val *key, const MDB_val *value, void *user, fdy_reason_t *reason)
{
    s_scan_t *scan = user;
    if (key->mv_size != 8)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "jobs: key of %zu bytes", key->mv_size);
    uint64_t id = fdy_bytes_get_be64(key->mv_data);
    if (id == HIGH_WATER_ID) {
        if (value->mv_size == 8)
            scan->next_id = fdy_bytes_get_be64(value->mv_data);
        return FOUNDRY_OK; /* a bad one is the store check's finding; ids then follow the jobs */
    }
    if (id >= scan->next_id)
        scan->next_id = id + 1;
    return scan->fn(id, value->mv_data, value->mv_size, scan->user, reason);
}

foundry_err
fdy_store_jobs_scan(fdy_store_t *store, fdy_store_job_fn *fn, void *user, uint64_t *next_id_out,
                    fdy_reason_t *reason)
{
    s_scan_t scan = { fn, user, 1 };
    foundry_err err = fdy_store_scan(store, fdy_store_dbi(store, &fdy_store_jobs_table, 0),
                                     s_scan_one, &scan, reason);
    if (next_id_out)
        *next_id_out = scan.next_id;
    return err;
}

/* Raises the high-water mark past the newest job this commit writes, so a
 * job id is never given twice, even after every job was removed. */
static foundry_err
s_raise_high_water(MDB_txn *txn, MDB_dbi dbi, uint64_t newest, fdy_reason_t *reason)
{
    uint8_t key_bytes[8];
    fdy_bytes_put_be64(key_bytes, HIGH_WATER_ID);
    MDB_val key = { sizeof key_bytes, key_bytes };
    MDB_val value;
    int rc = mdb_get(txn, dbi, &key, &value);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return fdy_kv_err(rc, reason, "jobs: read the high-water mark");
    if (rc == 0 && value.mv_size == 8 && fdy_bytes_get_be64(value.mv_data) > newest)
        return FOUNDRY_OK;
    uint8_t next[8];
    fdy_bytes_put_be64(next, newest + 1);
    MDB_val put = { sizeof next, next };
    rc = mdb_put(txn, dbi, &key, &put, 0);
    return rc == 0 ? FOUNDRY_OK : fdy_kv_err(rc, reason, "jobs: write the high-water mark");
}

static foundry_err
s_write(void *data, fdy_store_t *store, MDB_txn *txn, uint64_t now_ns, size_t *writes,
        fdy_reason_t *reason)
{
    (void) now_ns;
    const fdy_store_jobs_t *d = data;
    MDB_dbi dbi = fdy_store_dbi(store, &fdy_store_jobs_table, 0);
    uint64_t newest = 0;
    for (size_t i = 0; i < d->count; i++) {
        if (d->items[i].len && d->items[i].id > newest)
            newest = d->items[i].id;
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
    return newest ? s_raise_high_water(txn, dbi, newest, reason) : FOUNDRY_OK;
}

const fdy_commit_part_t fdy_store_jobs_part = {
    .name = "jobs",
    .prepare = NULL,
    .write = s_write,
    .reset = NULL,
    .droppable = false,
};
