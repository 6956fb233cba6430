/*  store.h: the durable store, one LMDB environment in a data directory.
 *  Holds streams (messages by stream id and sequence), the dedupe index of
 *  producer message ids, durable consumers (config and delivery state), the
 *  key store, and metadata. Not thread-safe: one thread owns a store (other
 *  processes may open the same directory, as LMDB allows, e.g. foundryctl's
 *  offline bootstrap; stream and consumer administration belongs to one
 *  process, the broker).
 *
 *  Durability: every write transaction is committed with LMDB's default
 *  synchronous flags; a function that returns FOUNDRY_OK after writing has
 *  fsynced. Callers acknowledge only after that.
 *  Integrity: every message record carries a CRC-32C checked on read, and a
 *  stream's sequences are gap-free from its first_seq to its last_seq; a
 *  read that finds either problem returns FOUNDRY_ECORRUPT and serves
 *  nothing past it. Retention removes records from the head only, so
 *  first_seq moves forward and the stored range stays gap-free.
 *  Layout and record formats: docs/architecture.md (and the per-table
 *  headers store_messages.h, store_streams.h, store_consumers.h).
 */
#ifndef FDY_STORE_H_INCLUDED
#define FDY_STORE_H_INCLUDED

#include "histogram.h"
#include "reason.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct fdy_store fdy_store_t;

/* The layout version this build writes (meta "schema"): 6, a job's
 * transitions write a small state record next to its whole record (5's
 * job records are read as they are: nothing to convert); 5, no dedupe
 * database (the message records are the durable dedupe index, looked up
 * through a hash index in memory); 4, key records with a checksum; 3,
 * dedupe keys scoped by stream and principal; 2, one message database per
 * stream. 2 to 5 are migrated by the first read-write open;
 * docs/architecture.md has the layout. */
#define FDY_STORE_SCHEMA 6

typedef struct {
    const char *dir;           /* data directory; created (0700) if missing */
    uint64_t map_size;         /* initial LMDB map size, bytes */
    uint64_t map_size_max;     /* the map grows (doubling) up to this */
    uint64_t dedupe_window_ms; /* producer ids are remembered this long */
    bool read_only;            /* open for reading only (no growth, no writes) */
    /* Most ids the in-memory dedupe index holds (0: 40 million); past it
     * appends get FOUNDRY_EFULL "dedupe index full" until ids age out. */
    uint64_t dedupe_index_max;
    bool unchecked; /* read_only only: fdy_kv_opts_t.unchecked (salvage) */
} fdy_store_opts_t;

/* Opens (creating if needed) the store. Clears stale reader slots.
 * map_size_max holds however the store was created: a map recorded larger
 * (e.g. by foundryctl bootstrap, 64 MiB) is capped to it at open
 * (STORE-MAP-CAPPED), or to the pages already in use when they are more;
 * writes past the cap fail with FOUNDRY_EFULL. A store of schema 2 to 4 is
 * migrated to schema 5 by the first read-write open (key records framed
 * with a checksum; the old dedupe database deleted; STORE-MIGRATED); a
 * read-only open reads it as it is. A read-write open builds the dedupe
 * index from the records of the window (STORE-DEDUPE-LOADED, with its size
 * and time), reading every record of the window: about 0.7 s per million
 * ids of 256-byte messages on a loaded 2-core machine. An existing data.mdb is checked
 * against its meta pages first (lib/daemon/kv_check.h): an empty, short or
 * truncated file is refused, never made a new store.
 * Returns FOUNDRY_OK and *out (caller owns; fdy_store_close()), FOUNDRY_EIO
 * (directory), FOUNDRY_ESTORE (LMDB; reason has mdb_strerror), FOUNDRY_ECORRUPT
 * (metadata unreadable; data.mdb empty, short, truncated or with a damaged
 * meta page: the reason names it and what to do), FOUNDRY_EVERSION (schema 1, or newer than this
 * build: refused and left unchanged; the reason names both versions),
 * FOUNDRY_EFULL (no room for the migration) or FOUNDRY_EINVAL, with reason. */
foundry_err fdy_store_open(const fdy_store_opts_t *opts, fdy_store_t **out, fdy_reason_t *reason);
void fdy_store_close(fdy_store_t **self_p);

/* ---- streams -------------------------------------------------------- */

#define FDY_STREAM_FILTERS_MAX 16
/* Streams per store (each has its own LMDB database; maxdbs is 4096).
 * Creating one more fails with FOUNDRY_EFULL "stream limit of 4000
 * reached", without growing the map. */
#define FDY_STORE_STREAMS_MAX 4000
/* Longest publisher (principal) name an appended item may carry: it is part
 * of the dedupe key. Principal names are at most FDY_NAME_MAX - 1 (codec.h). */
#define FDY_STORE_PUBLISHER_MAX 63

/* Retention limits of a stream; 0 = unlimited. The trimmer
 * (fdy_store_trim) removes records from the head while any limit is
 * exceeded. max_bytes counts message bytes, the same figure as
 * fdy_stream_info_t.bytes: each record counts data_len + ext_len, the
 * message exactly as its producer sent it (the encoded Message, with its
 * subject, id, headers, timestamps and inline payload, plus its payload
 * frame), not the record header, publisher name, dead-letter block or LMDB
 * pages. max_age_ms compares the record's stored_ns (broker wall clock at
 * commit) with the now_ns given to fdy_store_trim. */
typedef struct {
    uint64_t max_age_ms;
    uint64_t max_bytes;
    uint64_t max_msgs;
} fdy_stream_limits_t;

typedef struct {
    char name[FOUNDRY_STREAM_NAME_MAX + 1];
    uint32_t id;
    char *filters[FDY_STREAM_FILTERS_MAX]; /* malloc'd subject filters */
    size_t filter_count;
    uint64_t first_seq; /* 0 when empty */
    uint64_t last_seq;  /* 0 when nothing was ever stored */
    uint64_t messages;
    uint64_t bytes; /* message bytes stored (see fdy_stream_limits_t) */
    uint64_t created_ns;
    fdy_stream_limits_t limits;
    char **consumers; /* malloc'd consumer names, in name order */
    size_t consumer_count;
} fdy_stream_info_t;

/* Creates a stream capturing subjects that match any of the filters, with
 * no retention limits. Same as fdy_store_stream_create_ex() with limits
 * NULL, except that it needs at least one filter.
 * Name: [A-Za-z0-9_-]+, at most FOUNDRY_STREAM_NAME_MAX bytes.
 * Returns FOUNDRY_OK, FOUNDRY_EEXIST, FOUNDRY_EINVAL (name, filters),
 * FOUNDRY_EFULL or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_stream_create(fdy_store_t *self, const char *name,
                                    const char *const *filters, size_t filter_count,
                                    fdy_reason_t *reason);

/* Creates a stream with retention limits (limits NULL: unlimited). A stream
 * may have no filter at all (filter_count 0): it is then reachable only by
 * name, like the dead-letter streams.
 * Filters of different streams may overlap: a subject goes to the FIRST
 * stream, by creation order, with a matching filter (see
 * fdy_store_stream_route); a later stream only gets what no earlier stream
 * captures. Nothing checks for shadowed filters.
 * Returns FOUNDRY_OK, FOUNDRY_EEXIST, FOUNDRY_EINVAL (name, filters,
 * limits), FOUNDRY_EFULL (the map is at map_size_max: "store full ...";
 * or FDY_STORE_STREAMS_MAX streams exist: "stream limit of 4000 reached
 * ...", likewise when LMDB's database slots or the stream ids run out;
 * those never grow the map) or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_stream_create_ex(fdy_store_t *self, const char *name,
                                       const char *const *filters, size_t filter_count,
                                       const fdy_stream_limits_t *limits, fdy_reason_t *reason);

/* Replaces the filters (when filters is non-NULL; filter_count 0..16)
 * and/or the limits (when limits is non-NULL) of a stream, in one
 * transaction. Routing in this process follows at once; stored messages
 * stay where they are. Tighter limits apply at the next fdy_store_trim().
 * Returns FOUNDRY_OK, FOUNDRY_ENOTFOUND, FOUNDRY_EINVAL, FOUNDRY_EFULL or
 * FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_stream_update(fdy_store_t *self, const char *name,
                                    const char *const *filters, size_t filter_count,
                                    const fdy_stream_limits_t *limits, fdy_reason_t *reason);

/* Deletes a stream in one transaction: its messages, its consumers, and
 * its record; after the commit its in-memory dedupe table (its ids are
 * gone with its records). Its dead-letter stream, if any, is an ordinary
 * stream and stays. The work is proportional to its pages. Its id is never
 * reused; a name freed this way may be created again (a new, empty stream).
 * Names borrowed from fdy_store_stream_route()/_name() stay valid until
 * the store is closed.
 * Returns FOUNDRY_OK, FOUNDRY_ENOTFOUND, FOUNDRY_EFULL or FOUNDRY_ESTORE,
 * with reason. */
foundry_err fdy_store_stream_delete(fdy_store_t *self, const char *name, fdy_reason_t *reason);

/* Returns the id of the first stream (by creation order) with a filter
 * matching subject, in *stream_id_out, and its name (borrowed, valid until
 * the store is closed) in *name_out (may be NULL). FOUNDRY_ENOSTREAM if
 * none. Served from memory: cheap enough for every message. */
foundry_err fdy_store_stream_route(fdy_store_t *self, const char *subject,
                                   uint32_t *stream_id_out, const char **name_out);

/* The id of the stream called name, from memory (picking up streams other
 * processes created). Returns FOUNDRY_OK or FOUNDRY_ENOTFOUND. */
foundry_err fdy_store_stream_lookup(fdy_store_t *self, const char *name, uint32_t *stream_id_out);

/* Returns a snapshot of every stream, by creation order, consumer names
 * included. Caller owns *infos_out; free with fdy_store_stream_infos_free(). */
foundry_err fdy_store_stream_list(fdy_store_t *self, fdy_stream_info_t **infos_out,
                                  size_t *count_out);
void fdy_store_stream_infos_free(fdy_stream_info_t **infos_p, size_t count);

/* Fills *out with a snapshot of one stream: first/last seq, messages,
 * bytes, limits, filters and consumer names (one read transaction).
 * Caller owns what *out points to; free with fdy_store_stream_info_clear().
 * On error *out is zeroed (safe to clear).
 * Returns FOUNDRY_OK, FOUNDRY_ENOTFOUND, FOUNDRY_ENOMEM, FOUNDRY_ECORRUPT or
 * FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_stream_info(fdy_store_t *self, const char *name, fdy_stream_info_t *out,
                                  fdy_reason_t *reason);
void fdy_store_stream_info_clear(fdy_stream_info_t *info);

/* Name of a stream by id (borrowed, valid until the store is closed), or
 * NULL. */
const char *fdy_store_stream_name(fdy_store_t *self, uint32_t stream_id);

/* ---- appending (group commit) --------------------------------------- */

typedef struct {
    /* in */
    uint32_t stream_id;
    const uint8_t *msg_id;
    size_t msg_id_len;
    /* Principal name (at most FDY_STORE_PUBLISHER_MAX bytes; NULL = ""),
     * stored with the record and part of its dedupe key. */
    const char *publisher;
    const uint8_t *data;     /* the encoded Message, stored as is */
    size_t data_len;
    const uint8_t *ext;      /* its external payload frame, or NULL */
    size_t ext_len;
    /* out */
    uint64_t seq;            /* the sequence it has in stream_id (also a duplicate's) */
    uint64_t stored_ns;      /* when stored: the record's stored_ns (0 for a duplicate) */
    bool duplicate;          /* the id was in the dedupe window: not stored again */
} fdy_store_item_t;

/* Appends every item in ONE write transaction and ONE synchronous commit.
 * Dedupe is scoped per stream and per publisher: an item whose
 * (stream_id, publisher, msg_id) is in the dedupe index (also from earlier
 * in this call) gets the original's seq in that same stream and
 * duplicate = true, so stream_id and seq always name the original. The same
 * id from another publisher, or routed to another stream, is a new message
 * (retention forgets the ids of the records it trims: see fdy_store_trim).
 * On MDB_MAP_FULL the map is doubled (up to map_size_max) and the whole
 * call retried. A commit of fdy_store_messages_part alone (commit.h).
 * Returns FOUNDRY_OK (all items stored or deduplicated, durably),
 * FOUNDRY_EFULL (map_size_max reached: nothing stored), FOUNDRY_ENOTFOUND
 * (unknown stream id: nothing stored), FOUNDRY_EINVAL (an id not 1..64
 * bytes, a publisher over FDY_STORE_PUBLISHER_MAX bytes, NULL data),
 * FOUNDRY_ETOOBIG (a record over 2 GiB), FOUNDRY_ECORRUPT or
 * FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_append(fdy_store_t *self, fdy_store_item_t *items, size_t count,
                             fdy_reason_t *reason);

/* ---- durable consumers ---------------------------------------------- */

/* A consumer is named per stream; its config is written once (create), its
 * delivery state is rewritten by the broker (fdy_store_states_part) as it
 * delivers and receives acks. The store does not deliver: it keeps what
 * the broker needs to resume after a restart. */

#define FDY_CONSUMER_NAME_MAX 63
/* Most entries in a state's acked and redelivered lists. */
#define FDY_CONSUMER_PENDING_MAX (1u << 20)

typedef enum {
    FDY_CONSUMER_START_FIRST = 0, /* from the stream's first stored message */
    FDY_CONSUMER_START_LAST = 1,  /* from its last stored message */
    FDY_CONSUMER_START_NEW = 2,   /* only messages stored after the create */
    FDY_CONSUMER_START_SEQ = 3,   /* from start_value (a seq >= 1) */
    FDY_CONSUMER_START_TIME = 4,  /* from the first message stored at or after
                                     start_value (wall ns) */
} fdy_consumer_start_t;

typedef struct {
    char name[FDY_CONSUMER_NAME_MAX + 1]; /* [A-Za-z0-9_-]+ */
    /* Subject filter within the stream ("" = everything). The store keeps
     * it; the broker applies it (records hold encoded Messages). */
    char filter[FOUNDRY_SUBJECT_MAX + 1];
    fdy_consumer_start_t start;
    uint64_t start_value;     /* SEQ: the seq; TIME: wall ns; else ignored */
    uint64_t ack_wait_ms;     /* redeliver an unacked message after this */
    uint32_t max_deliver;     /* dead-letter after this many deliveries; 0 = never */
    uint32_t max_ack_pending; /* most unacked deliveries at once; 0 = unlimited */
    uint64_t created_ns;      /* set by the store at create */
} fdy_consumer_config_t;

/* A pending seq that was delivered more than once, and how often. */
typedef struct {
    uint64_t seq;
    uint32_t count;
} fdy_consumer_redelivery_t;

/* Delivery state of a consumer. Every seq <= ack_floor is acked (or was
 * trimmed: the broker treats seqs below the stream's first_seq as gone);
 * seqs in (ack_floor, delivered_seq] are acked when listed in acked and
 * pending otherwise; redelivered holds delivery counts of pending seqs
 * delivered more than once (a pending seq not listed was delivered once).
 * Both lists are sorted by seq, strictly increasing, every seq in
 * (ack_floor, delivered_seq], at most FDY_CONSUMER_PENDING_MAX entries.
 * As input (a commit part) the arrays are borrowed; from
 * fdy_store_consumer_get/list they are malloc'd (caller owns). */
typedef struct {
    uint32_t stream_id;
    char name[FDY_CONSUMER_NAME_MAX + 1];
    uint64_t ack_floor;
    uint64_t delivered_seq;
    uint64_t *acked;
    size_t acked_count;
    fdy_consumer_redelivery_t *redelivered;
    size_t redelivered_count;
    uint64_t updated_ns; /* out only: wall time of the last save */
} fdy_consumer_state_t;

typedef struct {
    fdy_consumer_config_t config;
    fdy_consumer_state_t state;
} fdy_consumer_t;

/* Creates consumer cfg->name on stream, resolving the start policy into
 * its initial state at once (so "new" means new as of now, durably):
 * ack_floor = delivered_seq = the seq before the first one to deliver.
 * TIME finds that seq by binary search over stored_ns (exact while the
 * broker's wall clock never stepped back). cfg->created_ns is ignored.
 * Returns FOUNDRY_OK, FOUNDRY_ENOTFOUND (stream), FOUNDRY_EEXIST,
 * FOUNDRY_EINVAL (name, filter, start), FOUNDRY_ECORRUPT, FOUNDRY_EFULL or
 * FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_consumer_create(fdy_store_t *self, const char *stream,
                                      const fdy_consumer_config_t *cfg, fdy_reason_t *reason);

/* Reads one consumer. Caller owns the state's arrays in *out; free with
 * fdy_store_consumer_clear() (also safe after an error: *out is zeroed).
 * Returns FOUNDRY_OK, FOUNDRY_ENOTFOUND (stream or consumer),
 * FOUNDRY_ECORRUPT (record checksum or format), FOUNDRY_ENOMEM or
 * FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_consumer_get(fdy_store_t *self, const char *stream, const char *name,
                                   fdy_consumer_t *out, fdy_reason_t *reason);
void fdy_store_consumer_clear(fdy_consumer_t *consumer);

/* Every consumer of a stream, in name order. Caller owns *out; free with
 * fdy_store_consumers_free(). Returns as fdy_store_consumer_get(). */
foundry_err fdy_store_consumer_list(fdy_store_t *self, const char *stream,
                                    fdy_consumer_t **out, size_t *count_out,
                                    fdy_reason_t *reason);
void fdy_store_consumers_free(fdy_consumer_t **consumers_p, size_t count);

/* Deletes a consumer (config and state). Returns FOUNDRY_OK,
 * FOUNDRY_ENOTFOUND, FOUNDRY_EFULL or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_consumer_delete(fdy_store_t *self, const char *stream, const char *name,
                                      fdy_reason_t *reason);

/* Saves consumer states in one transaction (a commit of the states part
 * alone, not droppable). Returns FOUNDRY_OK, FOUNDRY_EINVAL (a malformed
 * state), FOUNDRY_ENOTFOUND (no such consumer: nothing saved),
 * FOUNDRY_EFULL or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_consumer_save_states(fdy_store_t *self, const fdy_consumer_state_t *states,
                                           size_t count, fdy_reason_t *reason);

/* ---- dead letters --------------------------------------------------- */

/* A message a consumer gave up on (max_deliver reached) is copied into the
 * dead-letter stream of its stream, named "<stream>-dlq": created on
 * demand (no filters: reachable only by name; the limits of its stream),
 * or used as it is if a stream of that name exists. The copy keeps the
 * original publisher, msg id, data and ext; its record (format 2) adds a
 * dead-letter block: origin stream, seq and stored_ns, consumer, delivery
 * count and reason, served as fdy_stored_t.dead_letter. The copy does not
 * enter the dedupe index. */
#define FDY_DEAD_LETTER_SUFFIX "-dlq"
#define FDY_DEAD_LETTER_REASON_MAX 1024

typedef struct {
    /* in */
    uint32_t stream_id;   /* the stream holding the message */
    uint64_t seq;         /* its seq there */
    const char *consumer; /* the consumer that gave up (a consumer name), or NULL */
    uint32_t deliveries;  /* delivery attempts made */
    const char *reason;   /* why: 1..FDY_DEAD_LETTER_REASON_MAX bytes */
    /* out */
    uint32_t dlq_stream_id;
    uint64_t dlq_seq;     /* its seq in the dead-letter stream; 0 if gone */
    bool gone;            /* the original was trimmed meanwhile: nothing copied */
} fdy_dead_letter_t;

/* The dead-letter block of a format-2 record. Borrowed like the record. */
typedef struct {
    const char *stream;   /* where it was dead-lettered from */
    uint64_t seq;         /* its seq there */
    uint64_t stored_ns;   /* when it was stored there */
    const char *consumer; /* "" when none was named */
    uint32_t deliveries;
    const char *reason;
} fdy_dead_letter_info_t;

/* ---- group commit (DEPRECATED: use commit.h) ------------------------ */

/* Deprecated: the broker rewrite builds its turn from commit.h parts and
 * removes the last callers (broker/streams/publish.c, consumers.c).
 * Everything the broker's loop turn wants durable, written in ONE
 * transaction with ONE synchronous commit: appended messages, dead
 * letters, and consumer states. Any part may be empty. */
typedef struct {
    fdy_store_item_t *items;
    size_t item_count;
    fdy_dead_letter_t *dead_letters;
    size_t dead_letter_count;
    const fdy_consumer_state_t *states; /* borrowed; see fdy_consumer_state_t */
    size_t state_count;
} fdy_store_batch_t;

/* Deprecated: a commit of the messages, dead-letter and states parts, all
 * made not droppable (commit.c). Writes the batch: items as
 * fdy_store_append(), then dead letters (each
 * copied from its stream; missing dead-letter streams are created first,
 * each in its own committed transaction), then consumer states (each
 * replacing the stored state of an existing consumer). A state naming a
 * consumer that does not exist fails the whole batch (the broker drops
 * states of consumers it deleted). When nothing needs writing (only
 * duplicates) nothing is committed and nothing is fsynced.
 * Returns FOUNDRY_OK (all durable), FOUNDRY_EINVAL (a malformed item, dead
 * letter or state; reason names it), FOUNDRY_ENOTFOUND (unknown stream id
 * or consumer), FOUNDRY_EFULL, FOUNDRY_ECORRUPT or FOUNDRY_ESTORE, with
 * reason; on error nothing of the batch is stored and every out field is
 * zeroed. */
foundry_err fdy_store_commit(fdy_store_t *self, fdy_store_batch_t *batch, fdy_reason_t *reason);

/* ---- reading -------------------------------------------------------- */

/* One stored record. Pointers are borrowed, valid only during the
 * callback (LMDB values die with their transaction). */
typedef struct {
    const char *stream;
    uint64_t seq;
    uint64_t stored_ns;
    const char *publisher;
    const uint8_t *msg_id;
    size_t msg_id_len;
    const uint8_t *data;
    size_t data_len;
    const uint8_t *ext;
    size_t ext_len;
    const fdy_dead_letter_info_t *dead_letter; /* NULL unless a dead letter */
} fdy_stored_t;

/* Returns FOUNDRY_OK to continue; anything else stops the read and is
 * returned by fdy_store_read(). */
typedef foundry_err(fdy_store_read_fn)(const fdy_stored_t *rec, void *user);

/* Calls fn for up to max_count records of stream, from max(from_seq,
 * first_seq) on, in sequence order, inside one short read transaction
 * (callers page through long ranges; a reader that asked for a seq that
 * retention has trimmed sees the first stored seq instead, so compare
 * rec->seq with what you asked for). Each record's checksum and the
 * sequence continuity are verified before fn sees it. No allocation per
 * record; the read transaction is reused between calls.
 * Returns FOUNDRY_OK, FOUNDRY_ENOTFOUND (no such stream), FOUNDRY_ECORRUPT
 * (checksum mismatch or gap; reason names stream and seq), FOUNDRY_ESTORE,
 * or what fn returned. */
foundry_err fdy_store_read(fdy_store_t *self, const char *stream, uint64_t from_seq,
                           size_t max_count, fdy_store_read_fn *fn, void *user,
                           fdy_reason_t *reason);

/* ---- time ----------------------------------------------------------- */

/* The store's time now, ns since the epoch: what stored_ns, the dedupe
 * window and retention by age are measured in. It never goes backwards,
 * advances with the monotonic clock and follows the wall clock by slewing
 * (at most 1/16 as fast as time passes), so a step of the wall clock never
 * re-admits a resend, trims a stream at once or stores time backwards. It
 * goes on from the last commit's after a restart. (store_clock.c) */
uint64_t fdy_store_now_ns(fdy_store_t *self);

/* ---- maintenance ---------------------------------------------------- */

/* Forgets dedupe ids older than the window, at most max_work of them per
 * call (bounded work per loop turn): walks each stream from its prune
 * cursor and removes the entry (stream, publisher, id) of each record older
 * than the window, when it still names that record. *pruned_out (may be
 * NULL) gets the number removed. Returns FOUNDRY_OK, FOUNDRY_ESTORE or
 * FOUNDRY_EFULL. */
foundry_err fdy_store_prune_dedupe(fdy_store_t *self, uint64_t now_ns, size_t max_work,
                                   size_t *pruned_out);

/* The reason an append gets when the in-memory dedupe index is at
 * dedupe_index_max (FOUNDRY_EFULL) starts with this. */
#define FDY_STORE_DEDUPE_FULL "dedupe index full"
/* True when reason_text (may be NULL) is such a reason. */
bool fdy_store_reason_dedupe_full(const char *reason_text);

/* Retention: removes records from the head of every stream over one of
 * its limits, at most max_work records per call, in one synchronous
 * transaction (none when there is nothing to do: most calls cost a few
 * comparisons in memory). A trimmed record's dedupe entry is removed with
 * it, so a producer resending a trimmed message within the dedupe window
 * stores it again. Consumer states are left alone (their ack floors may
 * fall below first_seq). *trimmed_out (may be NULL) gets the number of
 * records removed. Failures are logged (STORE-TRIM-FAILED, rate-limited).
 * Returns FOUNDRY_OK, FOUNDRY_EFULL, FOUNDRY_ECORRUPT or FOUNDRY_ESTORE. */
foundry_err fdy_store_trim(fdy_store_t *self, uint64_t now_ns, size_t max_work,
                           size_t *trimmed_out);

/* Clears stale reader slots (mdb_reader_check). */
void fdy_store_check_readers(fdy_store_t *self);

/* Drops this process's mappings of the store's pages (madvise
 * MADV_DONTNEED over the LMDB map). The data stays in the page cache and is
 * mapped again on the next read, so nothing changes for readers; what
 * changes is the resident set, which otherwise grows with every page a
 * read ever touched (deliveries from a long stream), although the kernel
 * could reclaim them. Cheap; the broker calls it a few times a second. */
void fdy_store_release_pages(fdy_store_t *self);

typedef struct {
    uint64_t map_size;      /* current LMDB map size */
    uint64_t map_size_max;
    uint64_t used_bytes;    /* pages in use * page size */
    uint64_t messages;      /* across streams */
    uint64_t streams;
    uint64_t dedupe_entries; /* ids in the in-memory dedupe index (0 read-only) */
    uint64_t dedupe_bytes;   /* memory its hash tables take */
    uint64_t commits;       /* write transactions committed since open */
    uint64_t consumers;     /* across streams */
} fdy_store_stats_t;

foundry_err fdy_store_stats(fdy_store_t *self, fdy_store_stats_t *out);

/* Group commits since open: how long each one's commit (fsyncs) took in
 * microseconds, and how many records each wrote (commits through
 * fdy_commit_run). Borrowed, valid until fdy_store_close(). */
const fdy_histogram_t *fdy_store_commit_latency(const fdy_store_t *self);
const fdy_histogram_t *fdy_store_commit_batch(const fdy_store_t *self);

/* ---- key store (opaque records, encoded by the registry) ------------- */

/* Writes (or replaces) the record of a key name, in a frame with a
 * CRC-32C, and bumps the key generation, in one synchronous transaction.
 * Returns FOUNDRY_OK, FOUNDRY_EINVAL (name not 1..255 bytes, NULL rec, len
 * over 1 MiB), FOUNDRY_EFULL or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_key_put(fdy_store_t *self, const char *name, const uint8_t *rec,
                              size_t len, fdy_reason_t *reason);

/* Deletes the record of a key name and bumps the key generation, in one
 * synchronous transaction. Returns FOUNDRY_OK, FOUNDRY_ENOTFOUND,
 * FOUNDRY_EINVAL, FOUNDRY_EFULL or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_key_del(fdy_store_t *self, const char *name, fdy_reason_t *reason);

typedef foundry_err(fdy_store_key_fn)(const char *name, const uint8_t *rec, size_t len,
                                      void *user);

/* Calls fn for every key record, by name order, in one read transaction,
 * with the record as it was given to fdy_store_key_put. Each record's
 * checksum is verified first: an altered or damaged record stops the
 * listing, never reaches fn. Returns FOUNDRY_OK, FOUNDRY_ECORRUPT (a record
 * that fails its checksum or a bad key name: the reason names it),
 * FOUNDRY_ESTORE or what fn returned, with reason (fn's own errors carry
 * whatever fn set). */
foundry_err fdy_store_key_list(fdy_store_t *self, fdy_store_key_fn *fn, void *user,
                               fdy_reason_t *reason);

/* Returns the key generation: it changes whenever any process writes a key
 * record. 0 if never written. */
uint64_t fdy_store_key_generation(fdy_store_t *self);

/* The key generation the running broker has applied: its registry in
 * memory holds every key record up to it, so a key revoked at or below it
 * is refused at its next request and handshake. Written only by the broker
 * (fdy_registry_confirm), in a synchronous transaction of its own; read by
 * foundryctl's offline commands to wait for their change to be in force.
 * _set returns FOUNDRY_OK, FOUNDRY_EFULL or FOUNDRY_ESTORE (also for a
 * read-only store), with reason. _get puts 0 in *generation_out when it was
 * never written (no broker has run since this was added) and returns
 * FOUNDRY_OK, FOUNDRY_ECORRUPT (not 8 bytes) or FOUNDRY_ESTORE, with
 * reason. */
foundry_err fdy_store_key_applied_set(fdy_store_t *self, uint64_t generation,
                                      fdy_reason_t *reason);
foundry_err fdy_store_key_applied_get(fdy_store_t *self, uint64_t *generation_out,
                                      fdy_reason_t *reason);

#endif
