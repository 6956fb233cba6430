/*  store_table.h: what every table module of the store sees of it (private
 *  to broker/store/; everything else uses store.h and commit.h): the store
 *  struct, the registration of per-table databases opened at
 *  fdy_store_open, and the transaction helpers over lib/daemon/kv.c.
 *  Record formats live with their tables (store_messages.h, ...).
 */
#ifndef FDY_STORE_TABLE_H_INCLUDED
#define FDY_STORE_TABLE_H_INCLUDED

#include "bytes.h"
#include "kv.h"
#include "histogram.h"
#include "store.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Named databases: the tables' plus one per stream. */
#define FDY_STORE_MAX_DBS 4096
/* Most databases one table registers, and most tables. */
#define FDY_STORE_TABLE_DBS 4
#define FDY_STORE_TABLES_MAX 16

/* A table module: its named databases, opened (created unless read-only)
 * inside the open transaction of fdy_store_open in registration order
 * (store.c), then its migrate (when the store was written with an older
 * schema), then its load, which may read them or open more (streams).
 * Adding a table is one descriptor in its module plus one line in store.c. */
typedef struct {
    const char *name;
    const char *const *dbs; /* NULL-terminated, at most FDY_STORE_TABLE_DBS */
    /* May be NULL. Runs in the open transaction, after this table's dbs. */
    foundry_err (*load)(fdy_store_t *store, MDB_txn *txn, fdy_reason_t *reason);
    /* May be NULL. Runs in the open transaction of a read-write open, after
     * this table's dbs and before its load, when the store was written with
     * schema from_schema (older than this build's, and not refused): brings
     * the table's records to the current format. The whole migration
     * commits with the new schema number, or not at all. */
    foundry_err (*migrate)(fdy_store_t *store, MDB_txn *txn, uint64_t from_schema,
                           fdy_reason_t *reason);
    /* May be NULL (then only LMDB's pages are walked). The store check
     * (store_walk.c) calls it for every record of the table's db_index-th
     * database, in key order, with the key of the record before it in that
     * database (NULL for the first), so records that belong together can
     * be checked as a pair: FOUNDRY_OK, or FOUNDRY_ECORRUPT with a reason
     * naming the record. Reads only what it is given. */
    foundry_err (*check)(const fdy_store_t *store, size_t db_index, const MDB_val *prev_key,
                         const MDB_val *key, const MDB_val *value, fdy_reason_t *reason);
} fdy_store_table_t;

/* The audit log's table (store_audit.c): its API is public, in
 * store_audit.h, so the descriptor is declared here. */
extern const fdy_store_table_t fdy_store_audit_table; /* "audit", "audit_meta" */
extern const fdy_store_table_t fdy_store_jobs_table;  /* "jobs" (store_jobs.c) */
extern const fdy_store_table_t fdy_store_models_table; /* "model_*" (store_models.c) */
extern const fdy_store_table_t fdy_store_rollouts_table; /* "rollouts" (store_rollouts.c) */

typedef struct fdy_store_stream fdy_store_stream_t; /* store_streams.h */

struct fdy_store {
    fdy_kv_t *kv;
    const char *dir; /* borrowed from kv */
    bool read_only;
    uint64_t dedupe_window_ns;
    /* The store's time (store_clock.c): last value handed out, and the
     * monotonic clock then. */
    uint64_t clock_ns;
    uint64_t clock_mono_ns;
    /* The schema the records are in: FDY_STORE_SCHEMA, except in a
     * read-only open of an older store, which reads it as it is. */
    uint64_t schema;
    /* At open: the schema found in the file when it is older than this
     * build's (0: current or new), and what the migration did (logged once
     * the open committed). */
    uint64_t migrate_from;
    uint64_t migrated_dedupe;
    uint64_t migrated_keys;
    struct {
        const fdy_store_table_t *table;
        MDB_dbi dbi[FDY_STORE_TABLE_DBS];
    } tables[FDY_STORE_TABLES_MAX];
    size_t table_count;
    uint64_t key_generation; /* last value read, served if a read fails */
    /* Routing table (store_streams.c), by id (= creation order). */
    fdy_store_stream_t **streams;
    size_t stream_count;
    size_t stream_capacity;
    /* Entries of deleted streams, kept for their borrowed names. */
    fdy_store_stream_t **retired;
    size_t retired_count;
    /* Streams touched by the commit in progress (commit.c); capacity
     * stream_capacity. */
    fdy_store_stream_t **touched;
    size_t touched_count;
    size_t prune_next; /* round-robin start of the next prune */
    size_t trim_next;  /* and of the next trim */
    /* The dedupe index (store_dedupe.c): the SipHash key drawn at open,
     * the cap and the entries of every stream's table, and the changes of
     * the write transaction in progress. */
    uint8_t dedupe_hash_key[16];
    uint64_t dedupe_max;
    uint64_t dedupe_entries;
    struct fdy_store_dedupe_undo *dedupe_undo;
    size_t dedupe_undo_count;
    size_t dedupe_undo_capacity;
    /* A copy of a record being dead-lettered (grows, kept). */
    uint8_t *copy;
    size_t copy_capacity;
    /* Records written per group commit (commit.c), for the metrics endpoint. */
    fdy_histogram_t commit_batch;
};

/* The index-th database of a registered table (a programmer error if the
 * table is not registered). */
MDB_dbi fdy_store_dbi(const fdy_store_t *self, const fdy_store_table_t *table, size_t index);

/* The body of a store write transaction: fdy_kv_txn_fn with the store. */
typedef foundry_err(fdy_store_txn_fn)(fdy_store_t *self, MDB_txn *txn, void *ctx,
                                      bool *skip_commit, fdy_reason_t *reason);

/* fdy_kv_write over the store's environment: runs fn in a write
 * transaction, commits it synchronously, grows the map on MDB_MAP_FULL up
 * to map_size_max and runs fn again from scratch. Returns what fn returned,
 * or FOUNDRY_EFULL / FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_write(fdy_store_t *self, fdy_store_txn_fn *fn, void *ctx,
                            fdy_reason_t *reason);

/* A u64 of the meta DB; *value_out = 0 when absent. As fdy_kv_meta_get/put. */
foundry_err fdy_store_meta_get(fdy_store_t *self, MDB_txn *txn, const char *key,
                               uint64_t *value_out, fdy_reason_t *reason);
foundry_err fdy_store_meta_put(fdy_store_t *self, MDB_txn *txn, const char *key,
                               uint64_t value, fdy_reason_t *reason);

/* One record of a scan. Borrowed, valid only during the call. */
typedef foundry_err(fdy_store_scan_fn)(const MDB_val *key, const MDB_val *value, void *user,
                                       fdy_reason_t *reason);

/* Calls fn for every record of dbi in key order, in txn. Returns
 * FOUNDRY_OK, FOUNDRY_ESTORE (reason "scan: ...") or what fn returned. */
foundry_err fdy_store_scan_txn(MDB_txn *txn, MDB_dbi dbi, fdy_store_scan_fn *fn, void *user,
                               fdy_reason_t *reason);

/* fdy_store_scan_txn in the store's reused read transaction (also
 * FOUNDRY_ESTORE when it cannot begin). */
foundry_err fdy_store_scan(fdy_store_t *self, MDB_dbi dbi, fdy_store_scan_fn *fn, void *user,
                           fdy_reason_t *reason);

/* Name bytes for stream and consumer names: [A-Za-z0-9_-], 1..max. */
bool fdy_store_name_valid(const char *name, size_t max);

/* FOUNDRY_ESTORE "store <dir> is open read-only" when it is, else OK. */
foundry_err fdy_store_writable(const fdy_store_t *self, fdy_reason_t *reason);

#endif
