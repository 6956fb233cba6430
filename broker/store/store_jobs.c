/*  store_jobs.c: the "jobs" database (store_jobs.h): key the job id (u64,
 *  big-endian, so LMDB order is id order), value the whole record as the
 *  jobs service encoded it, a JobRecord (proto/jobs.proto), checked by its
 *  decoder when it is loaded; key the id and 's' (9 bytes, so it sorts
 *  right after its job's), value the job's state record
 *  (store_job_state.h), which overrides the whole record's state fields.
 *  Stores of schema 5 and before have only whole records. Key 0 (no job
 *  has id 0) holds the ids' high-water mark: the next id, 8 bytes
 *  big-endian, raised by every commit that writes a newer job.
 */
#include "store_jobs.h"

#include "arena.h"
#include "bytes.h"
#include "codec_jobs.h"
#include "commit.h"
#include "store_job_state.h"
#include "store_table.h"

#include "xalloc.h"

#include <inttypes.h>
#include <stdlib.h>

static const char *const s_dbs[] = { "jobs", NULL };

/* The key of the high-water mark. */
#define HIGH_WATER_ID 0
/* The last byte of a state record's key, after the job id. */
#define STATE_SUFFIX 's'

static bool
s_is_state_key(const MDB_val *key)
{
    return key->mv_size == 9 && ((const uint8_t *) key->mv_data)[8] == STATE_SUFFIX;
}

/* The store check of a state record: its job's whole record comes right
 * before it (the key is the job's with STATE_SUFFIX after it: a job is
 * written whole first and removed with its state record, so one alone is
 * damage), and it decodes. */
static foundry_err
s_check_state(uint64_t id, const MDB_val *prev_key, const MDB_val *value, fdy_reason_t *reason)
{
    if (!prev_key || prev_key->mv_size != 8 || fdy_bytes_get_be64(prev_key->mv_data) != id)
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT,
                              "job %" PRIu64 ": a state record without its job's record", id);
    fdy_arena_t *arena = fdy_arena_new(FDY_JOB_ATTEMPTS_MAX * sizeof(fdy_job_attempt_t));
    if (!arena)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "job %" PRIu64 ": out of memory", id);
    fdy_job_record_t rec = {.id = id};
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err =
        fdy_store_job_state_decode(value->mv_data, value->mv_size, arena, &rec, &why);
    if (err != FOUNDRY_OK)
        err = fdy_reason_set(reason, FOUNDRY_ECORRUPT, "job %" PRIu64 ": %s", id, why.text);
    fdy_arena_destroy(&arena);
    return err;
}

/* The store check: every whole record decodes as a JobRecord whose id is
 * its key, every state record as a state record right after its job's. */
static foundry_err
s_check(const fdy_store_t *store, size_t db_index, const MDB_val *prev_key, const MDB_val *key,
        const MDB_val *value, fdy_reason_t *reason)
{
    (void) store;
    (void) db_index;
    if (s_is_state_key(key))
        return s_check_state(fdy_bytes_get_be64(key->mv_data), prev_key, value, reason);
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

/* The scan holds a job's whole record until it sees whether a state
 * record follows (both stay valid for the scan's read transaction). */
typedef struct {
    fdy_store_job_fn *fn;
    void *user;
    uint64_t next_id;
    uint64_t held_id; /* 0: none held */
    MDB_val held;
} s_scan_t;

static foundry_err
s_flush(s_scan_t *scan, const MDB_val *state, fdy_reason_t *reason)
{
    if (!scan->held_id)
        return FOUNDRY_OK;
    uint64_t id = scan->held_id;
    scan->held_id = 0;
    return scan->fn(id, scan->held.mv_data, scan->held.mv_size, state ? state->mv_data : NULL,
                    state ? state->mv_size : 0, scan->user, reason);
}

static foundry_err
s_scan_one(const MDB_val *key, const MDB_val *value, void *user, fdy_reason_t *reason)
{
    s_scan_t *scan = user;
    if (s_is_state_key(key)) {
        uint64_t id = fdy_bytes_get_be64(key->mv_data);
        if (id == scan->held_id)
            return s_flush(scan, value, reason);
        foundry_err err = s_flush(scan, NULL, reason);
        /* A state record without its job: the loader reports it. */
        return err == FOUNDRY_OK ? scan->fn(id, NULL, 0, value->mv_data, value->mv_size,
                                            scan->user, reason)
                                 : err;
    }
    foundry_err err = s_flush(scan, NULL, reason);
    if (err != FOUNDRY_OK)
        return err;
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
    scan->held_id = id;
    scan->held = *value;
    return FOUNDRY_OK;
}

foundry_err
fdy_store_jobs_scan(fdy_store_t *store, fdy_store_job_fn *fn, void *user, uint64_t *next_id_out,
                    fdy_reason_t *reason)
{
    s_scan_t scan = { fn, user, 1, 0, { 0, NULL } };
    foundry_err err = fdy_store_scan(store, fdy_store_dbi(store, &fdy_store_jobs_table, 0),
                                     s_scan_one, &scan, reason);
    if (err == FOUNDRY_OK)
        err = s_flush(&scan, NULL, reason);
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

/* Orders writes by job id (unique in a commit), then by their place. */
static int
s_cmp_write(const void *a_, const void *b_)
{
    const fdy_store_job_write_t *const *a = a_, *const *b = b_;
    if ((*a)->id != (*b)->id)
        return (*a)->id < (*b)->id ? -1 : 1;
    return *a < *b ? -1 : *a > *b;
}

/* One write; an LMDB code. */
static int
s_write_one(MDB_txn *txn, MDB_dbi dbi, MDB_cursor *cursor, const fdy_store_job_write_t *w)
{
    uint8_t key_bytes[9];
    fdy_bytes_put_be64(key_bytes, w->id);
    key_bytes[8] = STATE_SUFFIX;
    MDB_val key = { w->state ? 9 : 8, key_bytes };
    int rc = 0;
    if (w->len == 0) {
        /* A removal takes both records. */
        for (size_t size = 8; size <= 9 && (rc == 0 || rc == MDB_NOTFOUND); size++) {
            key.mv_size = size;
            rc = mdb_del(txn, dbi, &key, NULL);
        }
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    MDB_val value = { w->len, (void *) w->record };
    return mdb_cursor_put(cursor, &key, &value, 0);
}

static foundry_err
s_write(void *data, fdy_store_t *store, MDB_txn *txn, uint64_t now_ns, size_t *writes,
        fdy_reason_t *reason)
{
    (void) now_ns;
    const fdy_store_jobs_t *d = data;
    MDB_dbi dbi = fdy_store_dbi(store, &fdy_store_jobs_table, 0);
    if (d->count == 0)
        return FOUNDRY_OK;
    /* In key order through one cursor: LMDB then finds most keys on the
     * leaf page the cursor is on and skips the descent from the root
     * (mdb_cursor_set): about 40% of a put's instructions. */
    const fdy_store_job_write_t **order = fdy_xalloc(d->count * sizeof *order);
    for (size_t i = 0; i < d->count; i++)
        order[i] = &d->items[i];
    qsort(order, d->count, sizeof *order, s_cmp_write);
    MDB_cursor *cursor = NULL;
    int rc = mdb_cursor_open(txn, dbi, &cursor);
    uint64_t newest = 0;
    for (size_t i = 0; i < d->count && rc == 0; i++) {
        const fdy_store_job_write_t *w = order[i];
        if (w->len && !w->state && w->id > newest)
            newest = w->id;
        rc = s_write_one(txn, dbi, cursor, w);
        if (rc == 0)
            (*writes)++;
    }
    if (cursor)
        mdb_cursor_close(cursor);
    free(order);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "jobs: write");
    return newest ? s_raise_high_water(txn, dbi, newest, reason) : FOUNDRY_OK;
}

const fdy_commit_part_t fdy_store_jobs_part = {
    .name = "jobs",
    .prepare = NULL,
    .write = s_write,
    .reset = NULL,
    .droppable = false,
};
