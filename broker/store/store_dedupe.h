/*  store_dedupe.h: the dedupe index (private to broker/store/). The
 *  durable index is the message records themselves: each names its
 *  publisher and producer id and sits in its stream's append-ordered
 *  database, and each stream's prune cursor (prune_seq) marks where the
 *  window starts. In memory, one dedupe_index.h table per stream maps a
 *  keyed SipHash of (publisher, id) to the seq of the record; it is built
 *  from the records when a stream is loaded (at open), and every hit is
 *  confirmed against the record, so a hash collision never drops a
 *  message. Changes made inside a write transaction are logged and undone
 *  when it does not commit.
 */
#ifndef FDY_STORE_DEDUPE_H_INCLUDED
#define FDY_STORE_DEDUPE_H_INCLUDED

#include "store_streams.h"


/* One change of a write transaction: (old_seq, new_seq) of hash in st's
 * table; old 0 = inserted, new 0 = removed. */
typedef struct fdy_store_dedupe_undo {
    fdy_store_stream_t *st;
    uint64_t hash;
    uint64_t old_seq;
    uint64_t new_seq;
} fdy_store_dedupe_undo_t;

/* At open: draws the hash key (per open: the tables live in memory only,
 * so nothing on disk depends on it and it never touches the disk).
 * Returns FOUNDRY_OK or FOUNDRY_EIO (libsodium cannot initialise). */
foundry_err fdy_store_dedupe_init(fdy_store_t *self, uint64_t max_entries,
                                  fdy_reason_t *reason);

/* Frees the undo log (the tables go with their streams). */
void fdy_store_dedupe_fini(fdy_store_t *self);

/* Builds st's table from its records in txn, from its prune cursor on
 * (older ones are past the window), skipping records already past the
 * window and dead-letter copies (which never had entries). Nothing in a
 * read-only store. Returns FOUNDRY_OK or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_dedupe_stream_load(fdy_store_t *self, MDB_txn *txn, fdy_store_stream_t *st,
                                         const fdy_stream_counters_t *counters,
                                         fdy_reason_t *reason);

/* Frees st's table (stream deleted or store closed). */
void fdy_store_dedupe_stream_free(fdy_store_t *self, fdy_store_stream_t *st);

/* Refuses a batch of count new ids when the tables would hold more than
 * max_entries: FOUNDRY_EFULL "dedupe index full ..." (logged, rate-limited;
 * publishes succeed again as ids age out of the window). Else FOUNDRY_OK. */
foundry_err fdy_store_dedupe_room(fdy_store_t *self, size_t count, fdy_reason_t *reason);

/* A dedupe key of the append path and its hash, computed once for both
 * the prefetch and the claim. */
typedef struct {
    const char *publisher;
    size_t publisher_len;
    const uint8_t *msg_id;
    size_t msg_id_len;
    uint64_t hash;
    bool hashed; /* false: out of bounds, no key (the claim refuses it) */
} fdy_store_dedupe_key_t;

/* Fills *key for (publisher, msg_id) in st: the pointers are borrowed. */
void fdy_store_dedupe_key_init(const fdy_store_t *self, const fdy_store_stream_t *st,
                               const char *publisher, size_t publisher_len,
                               const uint8_t *msg_id, size_t msg_id_len,
                               fdy_store_dedupe_key_t *key);

/* Starts loading what fdy_store_dedupe_claim() will read first for key in
 * st, so the append path can overlap the cache misses of the items ahead
 * of the one it claims. Only a hint. */
void fdy_store_dedupe_prefetch(const fdy_store_stream_t *st, const fdy_store_dedupe_key_t *key);

/* The append path, in a write transaction: looks key (from
 * fdy_store_dedupe_key_init() for st) up in st. Within the window (a
 * record naming it stored less than a window before now_ns): *dup_seq_out
 * = that record's seq. Otherwise the id is claimed for seq (the record the
 * caller is about to append) and *dup_seq_out = 0. Returns FOUNDRY_OK,
 * FOUNDRY_EINVAL (no key: out of bounds) or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_dedupe_claim(fdy_store_t *self, MDB_txn *txn, fdy_store_stream_t *st,
                                   const fdy_store_dedupe_key_t *key, uint64_t seq,
                                   uint64_t now_ns, uint64_t *dup_seq_out, fdy_reason_t *reason);

/* Removes the entry of the record val (seq of st) if it still names that
 * record (an id reused after its window names a later one; dead-letter
 * copies have none). Returns whether it did. Records whose header is
 * damaged are skipped (reads report them). */
bool fdy_store_dedupe_forget(fdy_store_t *self, fdy_store_stream_t *st, uint64_t seq,
                             const MDB_val *val);

/* Bracket every write transaction that claims or forgets: _undo before
 * each attempt and after a failed one (puts the tables back as the last
 * commit left them), _keep after a commit. */
void fdy_store_dedupe_undo(fdy_store_t *self);
void fdy_store_dedupe_keep(fdy_store_t *self);

/* Entries in every table, and the bytes their slots take. */
void fdy_store_dedupe_usage(const fdy_store_t *self, uint64_t *entries_out, uint64_t *bytes_out);

#endif
