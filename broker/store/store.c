/*  store.c: the store as a whole: open (the environment through
 *  lib/daemon/kv.c, the map capped at map_size_max, the schema check and
 *  migration, then every registered table's databases), close, stats and
 *  upkeep, and the helpers the table modules share. Not for any table's
 *  records (store_*.c) or the group commit (commit.c). Durable by
 *  construction: kv.c never sets a NOSYNC flag.
 */
#include "store_clock.h"
#include "store_consumers.h"
#include "store_dedupe.h"
#include "store_keys.h"
#include "store_messages.h"
#include "store_streams.h"

#include "clock.h"
#include "log.h"
#include "names.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define S_DEFAULT_MAP_SIZE (64ull << 20)
#define S_DEFAULT_MAP_SIZE_MAX (16ull << 30)
#define S_DEFAULT_DEDUPE_WINDOW_MS 120000ull
#define S_DEFAULT_DEDUPE_INDEX_MAX 40000000ull

/* Schema 6: a job's changes go to a state record next to its whole
 * record (store_jobs.c; 5's jobs are read as they are); 5: no dedupe
 * database, the records are the durable index and it is kept in memory
 * (store_dedupe.h); 4: key records with a checksum
 * (store_keys.h); 3: dedupe keys
 * scoped by stream and principal (store_messages.h); 2: one message
 * database per stream, stream records with limits, consumers, dedupe keyed
 * by the producer id alone. 2 to 5 are migrated at the first read-write
 * open, each table's migrate bringing its records up; schema 1 (one "msgs"
 * database) is refused. */
#define S_SCHEMA FDY_STORE_SCHEMA
#define S_SCHEMA_MIGRATED_FROM 2
#define S_META_SCHEMA "schema"

static foundry_err s_meta_load(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason);

static const char *const s_meta_dbs[] = { "meta", NULL };
static const fdy_store_table_t s_meta_table = { .name = "meta", .dbs = s_meta_dbs,
                                                 .load = s_meta_load };

/* Every table, opened in this order ("meta" first: its load checks the
 * schema before the others are created). A new table is one line here. */
static const fdy_store_table_t *const s_tables[] = {
    &s_meta_table,          &fdy_store_clock_table,     &fdy_store_messages_table,
    &fdy_store_streams_table, &fdy_store_keys_table,    &fdy_store_consumers_table,
    &fdy_store_audit_table,   &fdy_store_jobs_table,
    &fdy_store_models_table,
    &fdy_store_rollouts_table,
};

/* ---- helpers for the table modules ------------------------------------- */

MDB_dbi
fdy_store_dbi(const fdy_store_t *self, const fdy_store_table_t *table, size_t index)
{
    for (size_t i = 0; i < self->table_count; i++)
        if (self->tables[i].table == table)
            return self->tables[i].dbi[index];
    assert(!"store table not registered");
    return 0;
}

typedef struct {
    fdy_store_t *self;
    fdy_store_txn_fn *fn;
    void *ctx;
} s_write_t;

static foundry_err
s_write_txn(MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_write_t *w = ctx;
    return w->fn(w->self, txn, w->ctx, skip_commit, reason);
}

foundry_err
fdy_store_write(fdy_store_t *self, fdy_store_txn_fn *fn, void *ctx, fdy_reason_t *reason)
{
    s_write_t w = { self, fn, ctx };
    return fdy_kv_write(self->kv, s_write_txn, &w, reason);
}

foundry_err
fdy_store_meta_get(fdy_store_t *self, MDB_txn *txn, const char *key, uint64_t *value_out,
                   fdy_reason_t *reason)
{
    return fdy_kv_meta_get(txn, fdy_store_dbi(self, &s_meta_table, 0), key, value_out, NULL,
                           reason);
}

foundry_err
fdy_store_meta_put(fdy_store_t *self, MDB_txn *txn, const char *key, uint64_t value,
                   fdy_reason_t *reason)
{
    return fdy_kv_meta_put(txn, fdy_store_dbi(self, &s_meta_table, 0), key, value, reason);
}

foundry_err
fdy_store_scan_txn(MDB_txn *txn, MDB_dbi dbi, fdy_store_scan_fn *fn, void *user,
                   fdy_reason_t *reason)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, dbi, &cursor);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "scan");
    foundry_err err = FOUNDRY_OK;
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) == 0) {
        err = fn(&k, &v, user, reason);
        if (err != FOUNDRY_OK)
            break;
    }
    if (err == FOUNDRY_OK && rc != MDB_NOTFOUND)
        err = fdy_kv_err(rc, reason, "scan");
    mdb_cursor_close(cursor);
    return err;
}

foundry_err
fdy_store_scan(fdy_store_t *self, MDB_dbi dbi, fdy_store_scan_fn *fn, void *user,
               fdy_reason_t *reason)
{
    MDB_txn *txn;
    foundry_err err = fdy_kv_rtxn_begin(self->kv, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    err = fdy_store_scan_txn(txn, dbi, fn, user, reason);
    fdy_kv_rtxn_end(self->kv, txn);
    return err;
}

bool
fdy_store_name_valid(const char *name, size_t max)
{
    return name && fdy_name_ok(name, strlen(name), max, false);
}

foundry_err
fdy_store_writable(const fdy_store_t *self, fdy_reason_t *reason)
{
    if (self->read_only)
        return fdy_reason_set(reason, FOUNDRY_ESTORE, "store %s is open read-only", self->dir);
    return FOUNDRY_OK;
}

/* ---- open and close ----------------------------------------------------- */

/* The schema is checked before anything else is opened or created, so a
 * store of a refused version is left exactly as it was. A migrated one gets
 * the new number in the same transaction as the tables' migrations. */
static foundry_err
s_meta_load(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason)
{
    uint64_t schema;
    foundry_err err = fdy_store_meta_get(self, txn, S_META_SCHEMA, &schema, reason);
    if (err != FOUNDRY_OK)
        return err;
    /* What the tables read: a read-only open reads an older layout as is,
     * every other open leaves the store at this build's. */
    self->schema = self->read_only && schema ? schema : S_SCHEMA;
    if (schema == 0 && !self->read_only)
        return fdy_store_meta_put(self, txn, S_META_SCHEMA, S_SCHEMA, reason);
    if (schema > S_SCHEMA)
        return fdy_reason_set(reason, FOUNDRY_EVERSION,
                              "store %s: schema version %llu is newer than this build's %d; "
                              "run a newer foundry",
                              self->dir, (unsigned long long) schema, S_SCHEMA);
    if (schema == S_SCHEMA)
        return FOUNDRY_OK;
    if (schema < S_SCHEMA_MIGRATED_FROM)
        return fdy_reason_set(reason, FOUNDRY_EVERSION,
                              "store %s: schema version %llu is older than this build's %d "
                              "and is not migrated; move the directory away and start afresh",
                              self->dir, (unsigned long long) schema, S_SCHEMA);
    /* Read-only: what a reader sees (streams, messages, consumers, keys)
     * did not change; the first read-write open migrates. */
    if (self->read_only)
        return FOUNDRY_OK;
    self->migrate_from = schema;
    return fdy_store_meta_put(self, txn, S_META_SCHEMA, S_SCHEMA, reason);
}

static foundry_err
s_open_table(fdy_store_t *self, MDB_txn *txn, const fdy_store_table_t *table,
             fdy_reason_t *reason)
{
    size_t at = self->table_count++;
    self->tables[at].table = table;
    for (size_t i = 0; table->dbs[i]; i++) {
        assert(i < FDY_STORE_TABLE_DBS);
        int rc = mdb_dbi_open(txn, table->dbs[i], self->read_only ? 0 : MDB_CREATE,
                              &self->tables[at].dbi[i]);
        if (rc == MDB_NOTFOUND)
            return fdy_reason_set(reason, FOUNDRY_ESTORE, "store %s: no database \"%s\" (%s)",
                                  self->dir, table->dbs[i], "not initialised");
        if (rc != 0)
            return fdy_kv_err(rc, reason, "open database");
    }
    if (self->migrate_from && table->migrate) {
        foundry_err err = table->migrate(self, txn, self->migrate_from, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    return table->load ? table->load(self, txn, reason) : FOUNDRY_OK;
}

static foundry_err
s_open_tables(fdy_store_t *self, fdy_reason_t *reason)
{
    MDB_txn *txn;
    foundry_err err =
        fdy_kv_txn_begin(self->kv, self->read_only ? MDB_RDONLY : 0, &txn, reason);
    if (err != FOUNDRY_OK)
        return err;
    static_assert(sizeof s_tables / sizeof s_tables[0] <= FDY_STORE_TABLES_MAX, "tables");
    for (size_t i = 0; i < sizeof s_tables / sizeof s_tables[0] && err == FOUNDRY_OK; i++)
        err = s_open_table(self, txn, s_tables[i], reason);
    if (err != FOUNDRY_OK) {
        mdb_txn_abort(txn);
        return err;
    }
    /* Committing (also a read-only txn) keeps the database handles open. */
    if (!self->read_only)
        return fdy_kv_commit(self->kv, txn, reason);
    int rc = mdb_txn_commit(txn);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "open databases");
    return FOUNDRY_OK;
}

/* A map recorded larger than map_size_max (the store was created or grown
 * by a process with a bigger maximum, e.g. foundryctl bootstrap's 64 MiB
 * default) is shrunk to it here, so the cap holds however the store was
 * made: the map only grows on MDB_MAP_FULL, which would otherwise come
 * only at the recorded size. LMDB raises a size below the pages in use to
 * exactly those; then only the free pages are left, and writes that need
 * more get EFULL until map_size_max is raised or retention frees pages. No
 * transaction is open (mdb_env_set_mapsize requires it). */
static foundry_err
s_map_cap(fdy_store_t *self, fdy_reason_t *reason)
{
    MDB_env *env = fdy_kv_env(self->kv);
    MDB_envinfo info;
    mdb_env_info(env, &info);
    uint64_t max = fdy_kv_map_size_max(self->kv);
    if (self->read_only || info.me_mapsize <= max)
        return FOUNDRY_OK;
    uint64_t recorded = info.me_mapsize;
    int rc = mdb_env_set_mapsize(env, (size_t) max);
    if (rc != 0)
        return fdy_kv_err(rc, reason, "cap map size");
    mdb_env_info(env, &info);
    if (info.me_mapsize > max)
        fdy_log_warn("STORE-MAP-CAPPED",
                     "store %s: map size %llu bytes is over map_size_max %llu and the data "
                     "already uses %llu bytes: writes get EFULL (store full) until "
                     "map_size_max is raised or retention frees space",
                     self->dir, (unsigned long long) recorded, (unsigned long long) max,
                     (unsigned long long) info.me_mapsize);
    else
        fdy_log_notice("STORE-MAP-CAPPED",
                       "store %s: map size %llu bytes (as recorded in the file) capped to "
                       "map_size_max %llu",
                       self->dir, (unsigned long long) recorded, (unsigned long long) max);
    return FOUNDRY_OK;
}

foundry_err
fdy_store_open(const fdy_store_opts_t *opts, fdy_store_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    if (!opts || !opts->dir || !*opts->dir)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "store: no data directory");
    uint64_t map_size = opts->map_size ? opts->map_size : S_DEFAULT_MAP_SIZE;
    uint64_t map_size_max = opts->map_size_max ? opts->map_size_max : S_DEFAULT_MAP_SIZE_MAX;
    if (map_size_max < map_size)
        map_size_max = map_size;
    if (map_size_max > SIZE_MAX / 2)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "store: map_size_max too large");
    uint64_t window_ms = opts->dedupe_window_ms ? opts->dedupe_window_ms
                                                : S_DEFAULT_DEDUPE_WINDOW_MS;
    if (window_ms > UINT64_MAX / 1000000u)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "store: dedupe window too large");

    fdy_store_t *self = calloc(1, sizeof *self);
    if (self)
        fdy_histogram_init(&self->commit_batch, fdy_histogram_batch, fdy_histogram_batch_count);
    if (!self)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    self->read_only = opts->read_only;
    self->dedupe_window_ns = window_ms * 1000000u;
    foundry_err err = fdy_store_dedupe_init(
        self, opts->dedupe_index_max ? opts->dedupe_index_max : S_DEFAULT_DEDUPE_INDEX_MAX,
        reason);
    if (err != FOUNDRY_OK) {
        free(self);
        return err;
    }
    fdy_kv_opts_t kv_opts = {
        .dir = opts->dir,
        .label = "store",
        .map_size = map_size,
        .map_size_max = map_size_max,
        .max_dbs = FDY_STORE_MAX_DBS,
        .read_only = opts->read_only,
        .unchecked = opts->unchecked,
    };
    uint64_t load_start_ns = fdy_clock_mono_ns();
    err = fdy_kv_open(&kv_opts, &self->kv, reason);
    if (err == FOUNDRY_OK) {
        self->dir = fdy_kv_dir(self->kv);
        err = s_map_cap(self, reason);
    }
    if (err == FOUNDRY_OK)
        err = s_open_tables(self, reason);
    if (err != FOUNDRY_OK) {
        fdy_store_close(&self);
        return err;
    }
    if (self->migrate_from)
        fdy_log_notice("STORE-MIGRATED",
                       "store %s: schema %llu migrated to %d: %llu key records given checksums, "
                       "old dedupe database of %llu entries deleted (the index is rebuilt "
                       "from the message records), job records kept as they are (state records "
                       "are added as jobs change)",
                       self->dir, (unsigned long long) self->migrate_from, S_SCHEMA,
                       (unsigned long long) self->migrated_keys,
                       (unsigned long long) self->migrated_dedupe);
    if (!self->read_only) {
        uint64_t entries, bytes;
        fdy_store_dedupe_usage(self, &entries, &bytes);
        fdy_log_info("STORE-DEDUPE-LOADED",
                     "store %s: dedupe index of %llu ids (%llu bytes) built from the records "
                     "in %llu ms",
                     self->dir, (unsigned long long) entries, (unsigned long long) bytes,
                     (unsigned long long) ((fdy_clock_mono_ns() - load_start_ns) / 1000000u));
    }
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_store_close(fdy_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fdy_store_t *self = *self_p;
    fdy_kv_close(&self->kv); /* also closes the database handles */
    fdy_store_streams_free(self);
    fdy_store_dedupe_fini(self);
    free(self->copy);
    free(self);
    *self_p = NULL;
}

/* ---- maintenance and stats ---------------------------------------------- */

void
fdy_store_check_readers(fdy_store_t *self)
{
    fdy_kv_check_readers(self->kv);
}

void
fdy_store_release_pages(fdy_store_t *self)
{
    fdy_kv_release_pages(self->kv);
}

/* Pages on the free list: counted in the file, reusable by later writes. */
static foundry_err
s_free_pages(MDB_txn *txn, uint64_t *pages_out, fdy_reason_t *reason)
{
    MDB_cursor *cursor;
    *pages_out = 0;
    int rc = mdb_cursor_open(txn, 0, &cursor); /* dbi 0: LMDB's free list */
    if (rc != 0)
        return fdy_kv_err(rc, reason, "stats: free list");
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) == 0) {
        if (v.mv_size >= sizeof(size_t)) {
            size_t count;
            memcpy(&count, v.mv_data, sizeof count); /* an IDL: count first */
            *pages_out += count;
        }
    }
    mdb_cursor_close(cursor);
    if (rc != MDB_NOTFOUND)
        return fdy_kv_err(rc, reason, "stats: free list");
    return FOUNDRY_OK;
}

static foundry_err
s_stats_stream(const MDB_val *k, const MDB_val *v, void *user, fdy_reason_t *reason)
{
    (void) k;
    fdy_store_stats_t *out = user;
    fdy_stream_counters_t c;
    foundry_err err = fdy_store_stream_counters_decode("?", v, &c, reason);
    if (err != FOUNDRY_OK)
        return err;
    out->streams++;
    out->messages += c.messages;
    return FOUNDRY_OK;
}

const fdy_histogram_t *
fdy_store_commit_latency(const fdy_store_t *self)
{
    return fdy_kv_commit_latency(self->kv);
}

const fdy_histogram_t *
fdy_store_commit_batch(const fdy_store_t *self)
{
    return &self->commit_batch;
}

foundry_err
fdy_store_stats(fdy_store_t *self, fdy_store_stats_t *out)
{
    memset(out, 0, sizeof *out);
    fdy_reason_t reason;
    MDB_txn *txn;
    foundry_err err = fdy_kv_rtxn_begin(self->kv, &txn, &reason);
    if (err != FOUNDRY_OK)
        return err;
    MDB_envinfo info;
    MDB_stat est, cst;
    MDB_env *env = fdy_kv_env(self->kv);
    mdb_env_info(env, &info);
    mdb_env_stat(env, &est);
    out->map_size = info.me_mapsize;
    out->map_size_max = fdy_kv_map_size_max(self->kv);
    out->commits = fdy_kv_commits(self->kv);
    uint64_t free_pages = 0;
    err = s_free_pages(txn, &free_pages, &reason);
    if (err != FOUNDRY_OK)
        goto out;
    uint64_t pages = (uint64_t) info.me_last_pgno + 1;
    out->used_bytes = (pages > free_pages ? pages - free_pages : 0) * est.ms_psize;
    int rc = mdb_stat(txn, fdy_store_consumers_dbi(self), &cst);
    if (rc != 0) {
        err = fdy_kv_err(rc, &reason, "stats");
        goto out;
    }
    fdy_store_dedupe_usage(self, &out->dedupe_entries, &out->dedupe_bytes);
    out->consumers = cst.ms_entries;
    err = fdy_store_scan_txn(txn, fdy_store_streams_dbi(self), s_stats_stream, out, &reason);
out:
    fdy_kv_rtxn_end(self->kv, txn);
    return err;
}
