/*  store_streams.h: stream records and the in-memory routing table
 *  (private to broker/store/): the record format, counters read and
 *  written inside transactions, and the entries commits and reads work on.
 *  The composite catalog operations (delete, info, list) are store_catalog.c.
 */
#ifndef FDY_STORE_STREAMS_H_INCLUDED
#define FDY_STORE_STREAMS_H_INCLUDED

#include "dedupe_index.h"
#include "store_table.h"

extern const fdy_store_table_t fdy_store_streams_table; /* "streams" + every "m.<id>" */

/* The stream records database. */
MDB_dbi fdy_store_streams_dbi(const fdy_store_t *self);

/* "m." + decimal u32 + NUL */
#define FDY_STREAM_DB_NAME_LEN 16

/* streams value (version 2): version(1) filter_count(1) reserved(2) id(u32)
 * first_seq(u64) last_seq(u64) messages(u64) bytes(u64) created_ns(u64)
 * prune_seq(u64) max_age_ms(u64) max_bytes(u64) max_msgs(u64), then per
 * filter len(u16) + bytes. All little endian. */
#define FDY_STREAM_REC_VERSION 2
#define FDY_STREAM_REC_FIXED 80
#define FDY_STREAM_OFF_ID 4
#define FDY_STREAM_OFF_FIRST 8
#define FDY_STREAM_OFF_LAST 16
#define FDY_STREAM_OFF_MESSAGES 24
#define FDY_STREAM_OFF_BYTES 32
#define FDY_STREAM_OFF_CREATED 40
#define FDY_STREAM_OFF_PRUNE 48
#define FDY_STREAM_OFF_MAX_AGE 56
#define FDY_STREAM_OFF_MAX_BYTES 64
#define FDY_STREAM_OFF_MAX_MSGS 72
/* Largest stream record: every filter at its longest. */
#define FDY_STREAM_REC_MAX                                                                        \
    (FDY_STREAM_REC_FIXED + FDY_STREAM_FILTERS_MAX * (2 + FOUNDRY_SUBJECT_MAX))

/* The counters (and limits) of a stream record, as decoded. */
typedef struct {
    uint32_t id;
    uint64_t first_seq;
    uint64_t last_seq;
    uint64_t messages;
    uint64_t bytes;
    uint64_t created_ns;
    uint64_t prune_seq; /* next seq the dedupe prune looks at */
    fdy_stream_limits_t limits;
} fdy_stream_counters_t;

/* One stream of the in-memory routing table. Entries are allocated one by
 * one and freed only when the store closes (a deleted stream's entry moves
 * to the retired list), so the borrowed names that fdy_store_stream_route()
 * hands out stay valid. */
struct fdy_store_stream {
    char name[FOUNDRY_STREAM_NAME_MAX + 1];
    uint32_t id;
    MDB_dbi dbi; /* its message database */
    char *filters[FDY_STREAM_FILTERS_MAX];
    size_t filter_count;
    uint64_t created_ns;
    fdy_stream_limits_t limits; /* as last loaded; the DB record is the truth */
    /* The dedupe prune has nothing to do in this stream before this wall
     * time; 0 = unknown, look. A hint only: the DB cursor is the truth. */
    uint64_t prune_due_ns;
    /* Same for the retention trimmer: 0 = look, UINT64_MAX = nothing to do
     * until an append. */
    uint64_t trim_due_ns;
    /* Scratch of the write transaction in progress (commit). The cursor
     * belongs to that transaction and dies with it. */
    bool txn_touched;
    fdy_stream_counters_t txn;
    MDB_cursor *txn_cursor;
    bool seen; /* scratch of fdy_store_streams_load */
    /* Its dedupe table (store_dedupe.h); NULL until the first claim in a
     * stream created since the open, and in a read-only store. */
    fdy_dedupe_index_t *dedupe;
};

/* Decodes the counters of a stream record. Returns FOUNDRY_OK or
 * FOUNDRY_ECORRUPT (reason names the stream). */
foundry_err fdy_store_stream_counters_decode(const char *name, const MDB_val *val,
                                             fdy_stream_counters_t *out, fdy_reason_t *reason);

/* Reads the counters of stream `name` in txn. FOUNDRY_ENOTFOUND if absent. */
foundry_err fdy_store_stream_counters_get(fdy_store_t *self, MDB_txn *txn, const char *name,
                                          fdy_stream_counters_t *out, fdy_reason_t *reason);

/* Rewrites the counters and limits (not the filters) of the record `name`. */
foundry_err fdy_store_stream_counters_put(fdy_store_t *self, MDB_txn *txn, const char *name,
                                          const fdy_stream_counters_t *counters,
                                          fdy_reason_t *reason);

/* Writes the name of stream id's message database into buf. */
void fdy_store_stream_db_name(char buf[FDY_STREAM_DB_NAME_LEN], uint32_t id);

/* Brings the routing table in line with the stream records in txn: adds
 * new streams (opening their databases), refreshes filters and limits,
 * retires streams that are gone. The caller must COMMIT txn (even a
 * read-only one): database handles opened in a transaction that is
 * aborted or reset are closed again. */
foundry_err fdy_store_streams_load(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason);

/* fdy_store_streams_load in a transaction of its own. */
foundry_err fdy_store_streams_sync(fdy_store_t *self, fdy_reason_t *reason);

/* The routing table entry of a stream id, or NULL. */
fdy_store_stream_t *fdy_store_stream_find(fdy_store_t *self, uint32_t stream_id);

/* The routing table entry of a stream name, or NULL (linear: admin paths). */
fdy_store_stream_t *fdy_store_stream_find_name(fdy_store_t *self, const char *name);

/* Frees the routing table and the retired entries. */
void fdy_store_streams_free(fdy_store_t *self);

/* Decodes the filters of a record into filters[] (malloc'd strings; free
 * with fdy_store_stream_filters_free, also after an error). Returns
 * FOUNDRY_OK, FOUNDRY_ECORRUPT or FOUNDRY_ENOMEM, with reason. */
foundry_err fdy_store_stream_filters_decode(const char *name, const MDB_val *val, char **filters,
                                            size_t *count_out, fdy_reason_t *reason);
void fdy_store_stream_filters_free(char **filters, size_t count);

/* Moves a deleted stream's entry out of routing; freed at close so that
 * names handed out stay valid. Returns FOUNDRY_OK or FOUNDRY_ENOMEM. */
foundry_err fdy_store_stream_retire(fdy_store_t *self, fdy_store_stream_t *st,
                                    fdy_reason_t *reason);

#endif
