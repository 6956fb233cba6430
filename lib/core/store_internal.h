/*  store_internal.h: state and helpers shared by store.c, store_streams.c
 *  and store_keys.c. Private to those three files: everything else uses
 *  store.h. Record formats are described where they are encoded.
 */
#ifndef FDY_STORE_INTERNAL_H_INCLUDED
#define FDY_STORE_INTERNAL_H_INCLUDED

#include "store.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDY_STORE_SCHEMA 1

/* Meta DB keys. */
#define FDY_META_SCHEMA "schema"
#define FDY_META_NEXT_STREAM "next_stream_id"
#define FDY_META_KEY_GENERATION "key_generation"

/* msgs key: stream_id (u32 BE) | seq (u64 BE), so memcmp order is numeric. */
#define FDY_MSG_KEY_LEN 12
/* msgs value header: crc32c(4) format(1) publisher_len(1) msg_id_len(1)
 * reserved(1) stored_ns(8) ext_len(4). */
#define FDY_MSG_HEADER_LEN 20
#define FDY_MSG_FORMAT 1
/* dedupe value: stream_id(u32 LE) | seq(u64 LE) | stored_ns(u64 LE). */
#define FDY_DEDUPE_VALUE_LEN 20

/* streams value: version(1) filter_count(1) reserved(2) id(u32) first_seq(u64)
 * last_seq(u64) messages(u64) bytes(u64) created_ns(u64) prune_seq(u64),
 * then per filter len(u16) + bytes. All little endian. */
#define FDY_STREAM_REC_VERSION 1
#define FDY_STREAM_REC_FIXED 56
#define FDY_STREAM_OFF_ID 4
#define FDY_STREAM_OFF_FIRST 8
#define FDY_STREAM_OFF_LAST 16
#define FDY_STREAM_OFF_MESSAGES 24
#define FDY_STREAM_OFF_BYTES 32
#define FDY_STREAM_OFF_CREATED 40
#define FDY_STREAM_OFF_PRUNE 48
/* Largest stream record: every filter at its longest. */
#define FDY_STREAM_REC_MAX                                                                        \
    (FDY_STREAM_REC_FIXED + FDY_STREAM_FILTERS_MAX * (2 + FOUNDRY_SUBJECT_MAX))

/* The counters of a stream record, as decoded. */
typedef struct {
    uint32_t id;
    uint64_t first_seq;
    uint64_t last_seq;
    uint64_t messages;
    uint64_t bytes;
    uint64_t created_ns;
    uint64_t prune_seq; /* next seq the dedupe prune looks at */
} fdy_stream_counters_t;

/* One stream of the in-memory routing table. Entries are allocated one by
 * one and never freed before the store closes, so the borrowed names that
 * fdy_store_stream_route() hands out stay valid. */
typedef struct {
    char name[FOUNDRY_STREAM_NAME_MAX + 1];
    uint32_t id;
    char *filters[FDY_STREAM_FILTERS_MAX];
    size_t filter_count;
    uint64_t created_ns;
    /* The dedupe prune has nothing to do in this stream before this wall
     * time; 0 = unknown, look. A hint only: the DB cursor is the truth. */
    uint64_t prune_due_ns;
    /* Scratch of the write transaction in progress (append). */
    bool txn_touched;
    fdy_stream_counters_t txn;
} fdy_store_stream_t;

struct fdy_store {
    MDB_env *env;
    MDB_dbi dbi_msgs;
    MDB_dbi dbi_dedupe;
    MDB_dbi dbi_streams;
    MDB_dbi dbi_keys;
    MDB_dbi dbi_meta;
    char *dir;
    uint64_t map_size_max;
    uint64_t dedupe_window_ns;
    bool read_only;
    uint64_t commits;
    uint64_t key_generation; /* last value read, served if a read fails */
    /* Routing table, by id (= creation order). */
    fdy_store_stream_t **streams;
    size_t stream_count;
    size_t stream_capacity;
    /* Streams touched by the append in progress; capacity stream_capacity. */
    fdy_store_stream_t **touched;
    size_t touched_count;
    size_t prune_next; /* round-robin start of the next prune */
    uint8_t scratch[FDY_STREAM_REC_MAX];
};

/* ---- byte order --------------------------------------------------------- */

static inline void
fdy_store_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static inline void
fdy_store_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static inline uint32_t
fdy_store_get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline uint64_t
fdy_store_get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline void
fdy_store_msg_key(uint8_t *key, uint32_t stream_id, uint64_t seq)
{
    for (int i = 0; i < 4; i++)
        key[i] = (uint8_t) (stream_id >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        key[4 + i] = (uint8_t) (seq >> (56 - 8 * i));
}

static inline void
fdy_store_msg_key_parse(const uint8_t *key, uint32_t *stream_id, uint64_t *seq)
{
    uint32_t id = 0;
    uint64_t s = 0;
    for (int i = 0; i < 4; i++)
        id = (id << 8) | key[i];
    for (int i = 0; i < 8; i++)
        s = (s << 8) | key[4 + i];
    *stream_id = id;
    *seq = s;
}

/* ---- store.c ------------------------------------------------------------ */

/* Maps an LMDB error once: MDB_MAP_FULL -> FOUNDRY_EFULL, anything else ->
 * FOUNDRY_ESTORE; the reason is "<what>: <mdb_strerror>". */
foundry_err fdy_store_mdb_err(int rc, fdy_reason_t *reason, const char *what);

/* Begins a transaction, adopting a map another process has grown. */
foundry_err fdy_store_txn_begin(fdy_store_t *self, unsigned flags, MDB_txn **txn_out,
                                fdy_reason_t *reason);

/* The body of a write transaction. Returns FOUNDRY_OK to commit; sets
 * *skip_commit to abort instead (nothing changed: no fsync). A FOUNDRY_EFULL
 * must come from MDB_MAP_FULL only: it makes fdy_store_write() grow the map
 * and run the body again from scratch. */
typedef foundry_err(fdy_store_txn_fn)(fdy_store_t *self, MDB_txn *txn, void *ctx,
                                      bool *skip_commit, fdy_reason_t *reason);

/* Runs fn in a write transaction and commits it synchronously, growing the
 * map on MDB_MAP_FULL up to map_size_max. Returns what fn returned, or
 * FOUNDRY_EFULL / FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_write(fdy_store_t *self, fdy_store_txn_fn *fn, void *ctx,
                            fdy_reason_t *reason);

/* Reads a u64 from the meta DB; *value_out = 0 when absent. */
foundry_err fdy_store_meta_get(fdy_store_t *self, MDB_txn *txn, const char *key,
                               uint64_t *value_out, fdy_reason_t *reason);
foundry_err fdy_store_meta_put(fdy_store_t *self, MDB_txn *txn, const char *key,
                               uint64_t value, fdy_reason_t *reason);

/* ---- store_streams.c ---------------------------------------------------- */

/* Decodes the counters of a stream record. Returns FOUNDRY_OK or
 * FOUNDRY_ECORRUPT (reason names the stream). */
foundry_err fdy_store_stream_counters_decode(const char *name, const MDB_val *val,
                                             fdy_stream_counters_t *out, fdy_reason_t *reason);

/* Reads the counters of stream `name` in txn. FOUNDRY_ENOTFOUND if absent. */
foundry_err fdy_store_stream_counters_get(fdy_store_t *self, MDB_txn *txn, const char *name,
                                          fdy_stream_counters_t *out, fdy_reason_t *reason);

/* Rewrites the counters (not the filters) of the stream record `name`. */
foundry_err fdy_store_stream_counters_put(fdy_store_t *self, MDB_txn *txn, const char *name,
                                          const fdy_stream_counters_t *counters,
                                          fdy_reason_t *reason);

/* Adds to the routing table every stream record not yet in it (streams
 * created by this or another process). */
foundry_err fdy_store_streams_load(fdy_store_t *self, MDB_txn *txn, fdy_reason_t *reason);

/* The routing table entry of a stream id, or NULL. */
fdy_store_stream_t *fdy_store_stream_find(fdy_store_t *self, uint32_t stream_id);

/* Frees the routing table. */
void fdy_store_streams_free(fdy_store_t *self);

#endif
