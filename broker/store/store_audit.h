/*  store_audit.h: the audit log, an append-only table of the store. Every
 *  entry holds the BLAKE2b-256 hash of the entry before it (a hash chain),
 *  so an edited, inserted or deleted entry is found by
 *  fdy_store_audit_verify(). Retention trims only from the start and
 *  records the trim point (the seq and hash of the last entry removed), so
 *  the chain still verifies from there. Used by the broker (admin entries,
 *  refused authentications, retention, audit.ls/verify) and by foundryctl's
 *  offline `audit ls|verify --data-dir`. Not thread-safe, like the store.
 *
 *  Layout: database "audit", key = seq (u64 BE), value = the entry record
 *  (below); database "audit_meta": "head" (seq u64 LE | hash, 40 bytes:
 *  the last entry appended), "anchor" (the same for the trim point; absent
 *  before the first trim) and "bytes" (u64 LE: keys plus values stored).
 *  Entry record, version 1, little-endian:
 *    version(1) kind(1) result(u16) reserved(4) time_ns(u64)
 *    prev_hash(32) hash(32)
 *    principal_len(1) command_len(1) key_len(1) peer_len(1)
 *    args_len(u16) reason_len(u16) | principal | command | key | peer |
 *    args | reason
 *  hash = BLAKE2b-256("foundry-audit-v1" | seq (u64 BE) | the record
 *  without its hash field). The first entry's prev_hash is 32 zero bytes.
 *
 *  Durability: as the store's; a write that returned FOUNDRY_OK has fsynced.
 */
#ifndef FDY_STORE_AUDIT_H_INCLUDED
#define FDY_STORE_AUDIT_H_INCLUDED

#include "audit_entry.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- writing -------------------------------------------------------------------- */

/* Appends count entries, in order, in one synchronous write transaction:
 * each gets the next seq and the previous entry's hash, and its own hash.
 * A damaged or missing meta record does not stop the log: the next seq
 * follows the last entry stored, chained to the head record's hash (or
 * zeros), so the break stays for verify to name.
 * Returns FOUNDRY_OK (durable; seq, prev_hash and hash set), FOUNDRY_EINVAL
 * (a NULL array or a bad kind), FOUNDRY_ECORRUPT (an entry already holds
 * the next seq), FOUNDRY_EFULL or FOUNDRY_ESTORE (also for a read-only
 * store), with reason. On error nothing is stored. The commit part
 * (commit.h: fdy_store_audit_part) does the same inside a turn's commit. */
foundry_err fdy_store_audit_append(fdy_store_t *self, fdy_audit_entry_t *entries, size_t count,
                                   fdy_reason_t *reason);

typedef struct {
    uint64_t removed;     /* entries removed */
    uint64_t through_seq; /* the new trim point (0: nothing removed) */
    bool more;            /* stopped at max_entries with more to remove */
} fdy_audit_trimmed_t;

/* Removes entries from the start while the first is older than max_age_ns
 * (by time_ns against now_ns; 0: no age limit) or the log holds more than
 * max_bytes (then down to 7/8 of it, so trims come in batches; 0: no
 * limit), at most max_entries in one write transaction. When it removed
 * any, it records the trim point (anchor) and appends a trim entry naming
 * it ("through_seq=N entries=M"), in the same transaction. Nothing to
 * remove: no transaction is committed.
 * Damaged meta records count as absent, as for an append.
 * Returns FOUNDRY_OK with *out, FOUNDRY_ECORRUPT (an entry already holds
 * the trim entry's seq), FOUNDRY_EFULL or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_audit_trim(fdy_store_t *self, uint64_t now_ns, uint64_t max_age_ns,
                                 uint64_t max_bytes, size_t max_entries, fdy_audit_trimmed_t *out,
                                 fdy_reason_t *reason);

/* ---- reading --------------------------------------------------------------------- */

typedef struct {
    uint64_t from_seq;     /* first seq wanted (0 or 1: from the start) */
    uint64_t since_ns;     /* only entries with time_ns >= this (0: all) */
    const char *principal; /* only this principal's entries (NULL: all); borrowed */
} fdy_audit_query_t;

/* One entry of a read, borrowed for the call. Set *stop to end the read.
 * Any error but FOUNDRY_OK ends it too and is returned. */
typedef foundry_err(fdy_store_audit_fn)(const fdy_audit_entry_t *entry, void *user, bool *stop);

/* Calls fn for every entry matching query, in seq order, in one read
 * transaction. A record that does not decode is passed as kind
 * FDY_AUDIT_DAMAGED with its seq and the reason (and matches every
 * query), so one bad record hides nothing after it; verify names it.
 * Returns FOUNDRY_OK, what fn returned, or FOUNDRY_ESTORE with reason. */
foundry_err fdy_store_audit_read(fdy_store_t *self, const fdy_audit_query_t *query,
                                 fdy_store_audit_fn *fn, void *user, fdy_reason_t *reason);

typedef struct {
    uint64_t entries;                      /* entries checked */
    uint64_t from_seq;                     /* the first seq the chain starts at (trim point + 1) */
    uint64_t last_seq;                     /* the last entry's seq (0: none) */
    uint64_t anchor_seq;                   /* the trim point (0: never trimmed) */
    uint8_t head_hash[FDY_AUDIT_HASH_LEN]; /* the hash of the last entry */
    uint64_t bad_seq;                      /* the first seq that fails (0: intact) */
    char reason[FDY_AUDIT_REASON_MAX + 1]; /* why it fails ("" when intact) */
} fdy_audit_verify_t;

/* Checks the whole chain in one read transaction: from the trim point,
 * every seq present and in order, every record decoding, each prev_hash
 * equal to the hash of the entry before (or the trim point's), each hash
 * recomputed, the last entry equal to the head record, and the last trim
 * entry naming the trim point. Reads every entry: O(size) in one call.
 * Returns FOUNDRY_OK (intact), FOUNDRY_ECORRUPT (out->bad_seq and
 * out->reason name the first failure; reason too) or FOUNDRY_ESTORE, with
 * reason; *out is filled in every case. */
foundry_err fdy_store_audit_verify(fdy_store_t *self, fdy_audit_verify_t *out,
                                   fdy_reason_t *reason);

/* Entries and bytes held now (bytes as retention counts them). Returns
 * FOUNDRY_OK, FOUNDRY_ECORRUPT or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_store_audit_size(fdy_store_t *self, uint64_t *entries_out, uint64_t *bytes_out,
                                 fdy_reason_t *reason);

/* ---- as a table (audit.verify, and foundryctl offline) -------------------- */

/* audit.verify columns: ok entries from_seq last_seq anchor_seq head_hash
 * (hex) bad_seq reason. */
#define FDY_AUDIT_VERIFY_COLUMNS 8
extern const char *const fdy_store_audit_verify_columns[FDY_AUDIT_VERIFY_COLUMNS];
extern const fdy_col_type_t fdy_store_audit_verify_types[FDY_AUDIT_VERIFY_COLUMNS];

typedef struct {
    char numbers[5][24];
    char ok[2];
    char head_hash[2 * FDY_AUDIT_HASH_LEN + 1];
} fdy_audit_verify_text_t;

/* Fills the FDY_AUDIT_VERIFY_COLUMNS cells of a verify result; they borrow
 * from result and text. */
void fdy_store_audit_verify_row(const fdy_audit_verify_t *result, fdy_audit_verify_text_t *text,
                                fdy_slice_t *cells);

#endif
