/*  store_internal.h: state and helpers shared by the store's files
 *  (store.c, store_streams.c, store_keys.c, store_retention.c,
 *  store_consumers.c). Private to them: everything else uses store.h.
 *  Record formats are described here and in docs/architecture.md.
 */
#ifndef FDY_STORE_INTERNAL_H_INCLUDED
#define FDY_STORE_INTERNAL_H_INCLUDED

#include "store.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Schema 2: one message database per stream ("m.<id>"), stream records
 * with limits, consumers. Schema 1 (one "msgs" database) is refused. */
#define FDY_STORE_SCHEMA 2

/* Meta DB keys. */
#define FDY_META_SCHEMA "schema"
#define FDY_META_NEXT_STREAM "next_stream_id"
#define FDY_META_KEY_GENERATION "key_generation"

/* Named databases: the fixed ones plus one per stream. */
#define FDY_STORE_MAX_DBS 4096
/* "m." + decimal u32 + NUL */
#define FDY_STREAM_DB_NAME_LEN 16

/* Message databases "m.<stream id>": key = seq (u64 BE), so memcmp order is
 * numeric and every append is past the last key (MDB_APPEND).
 * Value (format 1): crc32c(4) format(1) publisher_len(1) msg_id_len(1)
 * reserved(1) stored_ns(8) ext_len(4) | publisher | msg_id | data | ext.
 * The CRC-32C (LE) covers everything after it.
 * Format 2 (dead letters) inserts a dead-letter block after msg_id:
 *   block_len(u16) origin_seq(u64) origin_stored_ns(u64) deliveries(u32)
 *   origin_len(u8) consumer_len(u8) reason_len(u16) | origin | consumer |
 *   reason
 * (block_len counts the whole block, itself included; all LE). */
#define FDY_MSG_KEY_LEN 8
#define FDY_MSG_HEADER_LEN 20
#define FDY_MSG_FORMAT 1
#define FDY_MSG_FORMAT_DEAD 2
#define FDY_DEAD_BLOCK_FIXED 26
#define FDY_DEAD_BLOCK_MAX                                                                        \
    (FDY_DEAD_BLOCK_FIXED + FOUNDRY_STREAM_NAME_MAX + FDY_CONSUMER_NAME_MAX +                     \
     FDY_DEAD_LETTER_REASON_MAX)
/* dedupe value: stream_id(u32 LE) | seq(u64 LE) | stored_ns(u64 LE). */
#define FDY_DEDUPE_VALUE_LEN 20

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

/* consumers and consumer_states keys: stream_id (u32 BE) | consumer name,
 * so one stream's consumers are one key range in name order. */
#define FDY_CONSUMER_KEY_MAX (4 + FDY_CONSUMER_NAME_MAX)

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
typedef struct {
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
} fdy_store_stream_t;

struct fdy_store {
    MDB_env *env;
    MDB_dbi dbi_dedupe;
    MDB_dbi dbi_streams;
    MDB_dbi dbi_keys;
    MDB_dbi dbi_meta;
    MDB_dbi dbi_consumers;
    MDB_dbi dbi_consumer_states;
    char *dir;
    uint64_t map_size_max;
    uint64_t dedupe_window_ns;
    bool read_only;
    uint64_t commits;
    uint64_t key_generation; /* last value read, served if a read fails */
    /* A reset read transaction kept for reuse: beginning one from scratch
     * allocates per-database arrays (maxdbs entries). */
    MDB_txn *rtxn;
    bool rtxn_busy;
    /* Routing table, by id (= creation order). */
    fdy_store_stream_t **streams;
    size_t stream_count;
    size_t stream_capacity;
    /* Entries of deleted streams, kept for their borrowed names. */
    fdy_store_stream_t **retired;
    size_t retired_count;
    /* Streams touched by the commit in progress; capacity stream_capacity. */
    fdy_store_stream_t **touched;
    size_t touched_count;
    size_t prune_next; /* round-robin start of the next prune */
    size_t trim_next;  /* and of the next trim */
    /* A copy of a record being dead-lettered (grows, kept). */
    uint8_t *copy;
    size_t copy_capacity;
    uint8_t scratch[FDY_STREAM_REC_MAX];
};

/* ---- byte order --------------------------------------------------------- */

static inline void
fdy_store_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
}

static inline uint16_t
fdy_store_get_le16(const uint8_t *p)
{
    return (uint16_t) (p[0] | (unsigned) p[1] << 8);
}

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
fdy_store_put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (24 - 8 * i));
}

static inline void
fdy_store_msg_key(uint8_t *key, uint64_t seq)
{
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t) (seq >> (56 - 8 * i));
}

static inline uint64_t
fdy_store_msg_key_seq(const uint8_t *key)
{
    uint64_t s = 0;
    for (int i = 0; i < 8; i++)
        s = (s << 8) | key[i];
    return s;
}

/* ---- store.c ------------------------------------------------------------ */

/* Maps an LMDB error once: MDB_MAP_FULL -> FOUNDRY_EFULL, anything else ->
 * FOUNDRY_ESTORE; the reason is "<what>: <mdb_strerror>". */
foundry_err fdy_store_mdb_err(int rc, fdy_reason_t *reason, const char *what);

/* Begins a transaction, adopting a map another process has grown. */
foundry_err fdy_store_txn_begin(fdy_store_t *self, unsigned flags, MDB_txn **txn_out,
                                fdy_reason_t *reason);

/* A read transaction for looking only (it must not open database handles:
 * they would close when it is reset). Reuses the cached one when it is
 * free. End it with fdy_store_rtxn_end(). */
foundry_err fdy_store_rtxn_begin(fdy_store_t *self, MDB_txn **txn_out, fdy_reason_t *reason);
void fdy_store_rtxn_end(fdy_store_t *self, MDB_txn *txn);

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

/* Name bytes for stream and consumer names: [A-Za-z0-9_-], 1..max. */
bool fdy_store_name_valid(const char *name, size_t max);

/* Buffers a parsed record points into (publisher and dead-letter strings
 * are copied out NUL-terminated). */
typedef struct {
    char publisher[256];
    char origin[FOUNDRY_STREAM_NAME_MAX + 1];
    char consumer[FDY_CONSUMER_NAME_MAX + 1];
    char reason[FDY_DEAD_LETTER_REASON_MAX + 1];
    fdy_dead_letter_info_t dead_letter;
} fdy_store_parse_buf_t;

/* Checks a message record (the checksum too when verify) and fills rec.
 * Returns FOUNDRY_OK or FOUNDRY_ECORRUPT naming stream and seq. */
foundry_err fdy_store_record_parse(const char *stream, uint64_t seq, const MDB_val *val,
                                   bool verify, fdy_stored_t *rec, fdy_store_parse_buf_t *buf,
                                   fdy_reason_t *reason);

/* Payload bytes (data + ext) of a record whose header was checked by
 * fdy_store_record_parse, or computed from the header alone (trim). */
uint64_t fdy_store_record_payload(const MDB_val *val);

/* What one new message record holds (a dead letter also has a block). */
typedef struct {
    const char *publisher;
    size_t publisher_len;
    const uint8_t *msg_id;
    size_t msg_id_len;
    const uint8_t *block; /* the format-2 dead-letter block, or NULL */
    size_t block_len;
    const uint8_t *data;
    size_t data_len;
    const uint8_t *ext;
    size_t ext_len;
} fdy_store_rec_t;

/* Adds st to the write transaction in progress: loads its counters into
 * st->txn and opens its append cursor (once per transaction). */
foundry_err fdy_store_stream_touch(fdy_store_t *self, MDB_txn *txn, fdy_store_stream_t *st,
                                   fdy_reason_t *reason);

/* Appends rec as seq st->txn.last_seq + 1 of a touched stream and updates
 * st->txn. */
foundry_err fdy_store_record_put(fdy_store_t *self, fdy_store_stream_t *st,
                                 const fdy_store_rec_t *rec, uint64_t stored_ns,
                                 uint64_t *seq_out, fdy_reason_t *reason);

/* ---- store_streams.c ---------------------------------------------------- */

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

/* ---- store_retention.c -------------------------------------------------- */

/* Removes the dedupe entry of the record val (seq of stream_id) if it still
 * points at that record. *removed_out (may be NULL) tells whether it did.
 * Records whose header is damaged are skipped (reads report them). */
foundry_err fdy_store_dedupe_forget(fdy_store_t *self, MDB_cursor *dedupe, uint32_t stream_id,
                                    uint64_t seq, const MDB_val *val, bool *removed_out,
                                    fdy_reason_t *reason);

/* ---- store_consumers.c -------------------------------------------------- */

/* Checks the shape of a state (sizes, ordering, ranges, name). */
foundry_err fdy_store_state_check(const fdy_consumer_state_t *state, size_t index,
                                  fdy_reason_t *reason);

/* Replaces the stored state of an existing consumer (FOUNDRY_ENOTFOUND if
 * it does not exist). */
foundry_err fdy_store_state_put(fdy_store_t *self, MDB_txn *txn,
                                const fdy_consumer_state_t *state, uint64_t now_ns,
                                fdy_reason_t *reason);

/* Deletes every consumer (config and state) of a stream. */
foundry_err fdy_store_consumers_drop(fdy_store_t *self, MDB_txn *txn, uint32_t stream_id,
                                     fdy_reason_t *reason);

/* Appends the names of stream_id's consumers to info (malloc'd). */
foundry_err fdy_store_consumer_names(fdy_store_t *self, MDB_txn *txn, uint32_t stream_id,
                                     fdy_stream_info_t *info, fdy_reason_t *reason);

/* Checks a dead letter's arguments (before any transaction). */
foundry_err fdy_store_dead_letter_check(fdy_store_t *self, const fdy_dead_letter_t *dl,
                                        size_t index, fdy_reason_t *reason);

/* Creates the dead-letter stream of every dead letter's stream that has
 * none yet (each in its own transaction) and sets dl->dlq_stream_id. */
foundry_err fdy_store_dead_letter_streams(fdy_store_t *self, fdy_dead_letter_t *dls,
                                          size_t count, fdy_reason_t *reason);

/* Copies the dead letter's message into its dead-letter stream (touched in
 * txn); sets dlq_seq, or gone when the original was trimmed. */
foundry_err fdy_store_dead_letter_put(fdy_store_t *self, MDB_txn *txn, fdy_dead_letter_t *dl,
                                      uint64_t now_ns, fdy_reason_t *reason);

#endif
