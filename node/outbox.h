/*  outbox.h: foundry-node's store-and-forward outbox, one LMDB environment
 *  in <data_dir>/outbox. Telemetry is appended here before it is forwarded
 *  and removed only when the broker acknowledged it, so a broker or WAN
 *  outage delays telemetry and loses none, up to the configured bound.
 *
 *  Entries have a sequence number (1, 2, ... never reused, also after the
 *  outbox empties) and the outbox a random 64-bit epoch made when it is
 *  created: epoch and seq form the entry's message id, stable across
 *  restarts, so a resend is deduplicated by the broker.
 *
 *  Writes are grouped: appends and removals go into one open write
 *  transaction, made durable (one fsync) by fdy_outbox_commit(). Reads see
 *  committed entries only. Not thread-safe; one process per directory (an
 *  exclusive lock file enforces it). Record format: docs/node.md.
 */
#ifndef FDY_OUTBOX_H_INCLUDED
#define FDY_OUTBOX_H_INCLUDED

#include "reason.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct fdy_outbox fdy_outbox_t;

/* What to do when an append would exceed max_entries or max_bytes. */
typedef enum {
    FDY_OUTBOX_DROP_OLDEST = 0, /* delete the oldest entries until it fits */
    FDY_OUTBOX_DROP_NEWEST = 1, /* refuse the new entry */
} fdy_outbox_policy_t;

/* Returns FOUNDRY_OK or FOUNDRY_EINVAL for a name other than "drop-oldest"
 * or "drop-newest". */
foundry_err fdy_outbox_policy_parse(const char *text, fdy_outbox_policy_t *policy_out);
/* "drop-oldest" or "drop-newest". Static. */
const char *fdy_outbox_policy_name(fdy_outbox_policy_t policy);

typedef struct {
    const char *dir;      /* created (0700) if missing */
    uint64_t max_entries; /* at least 1 */
    uint64_t max_bytes;   /* entry bytes (FDY_OUTBOX_ENTRY_BYTES); at least 4 KiB */
    fdy_outbox_policy_t policy;
} fdy_outbox_opts_t;

/* Bytes one entry counts against max_bytes: key, header, subject, payload. */
#define FDY_OUTBOX_HEADER_LEN 20u
#define FDY_OUTBOX_ENTRY_BYTES(subject_len, payload_len)                                           \
    (8u + FDY_OUTBOX_HEADER_LEN + (uint64_t) (subject_len) + (uint64_t) (payload_len))

/* Message id of an entry: epoch (u64 big-endian) then seq (u64 big-endian). */
#define FDY_OUTBOX_MSG_ID_LEN 16u
void fdy_outbox_msg_id(uint64_t epoch, uint64_t seq, uint8_t out[FDY_OUTBOX_MSG_ID_LEN]);
/* The reverse. Returns false when id is not an id of this epoch. */
bool fdy_outbox_msg_id_parse(uint64_t epoch, const uint8_t *id, size_t id_len, uint64_t *seq_out);

/* Opens (creating if needed) the outbox and takes its lock.
 * Returns FOUNDRY_OK and *out (caller owns; fdy_outbox_close()),
 * FOUNDRY_EINVAL (opts), FOUNDRY_EEXIST (another process holds the
 * directory), FOUNDRY_EIO (directory or lock file), FOUNDRY_ESTORE (LMDB;
 * reason has mdb_strerror) or FOUNDRY_ECORRUPT (metadata unreadable), with
 * reason. */
foundry_err fdy_outbox_open(const fdy_outbox_opts_t *opts, fdy_outbox_t **out,
                            fdy_reason_t *reason);

/* Aborts uncommitted changes, closes and nulls *self_p. Accepts NULL. */
void fdy_outbox_close(fdy_outbox_t **self_p);

/* Adds an entry (subject 1..255 bytes, payload as is, the number of samples
 * it carries for drop accounting) to the open write transaction, beginning
 * one if needed. Not durable until fdy_outbox_commit(). Enforces the bound:
 * with drop-oldest the oldest entries are deleted first; with drop-newest
 * the entry is refused. Drops are counted in the stats.
 * Returns FOUNDRY_OK with *seq_out (may be NULL), or:
 *   FOUNDRY_EFULL    refused by drop-newest (counted as dropped);
 *   FOUNDRY_ETOOBIG  the entry alone exceeds max_bytes (counted as dropped);
 *   FOUNDRY_EINVAL   bad subject length;
 *   FOUNDRY_ESTORE   LMDB failed (MDB_MAP_FULL included): the transaction
 *                    was aborted and everything appended since the last
 *                    commit is lost (counted in stats.lost_*),
 * with reason. */
foundry_err fdy_outbox_append(fdy_outbox_t *self, const char *subject, const uint8_t *payload,
                              size_t payload_len, uint32_t samples, uint64_t *seq_out,
                              fdy_reason_t *reason);

/* Deletes entry seq (acknowledged) in the open write transaction. An entry
 * that is not there (dropped earlier) is not an error.
 * Returns FOUNDRY_OK or FOUNDRY_ESTORE (transaction aborted, as above). */
foundry_err fdy_outbox_remove(fdy_outbox_t *self, uint64_t seq, fdy_reason_t *reason);

/* Commits the open write transaction (one synchronous LMDB commit); OK when
 * none is open. On failure everything since the last commit is undone:
 * appends are counted in stats.lost_*, removals must be repeated.
 * Returns FOUNDRY_OK or FOUNDRY_ESTORE with reason. */
foundry_err fdy_outbox_commit(fdy_outbox_t *self, fdy_reason_t *reason);

/* One entry as read. Pointers borrowed, valid only during the callback. */
typedef struct {
    uint64_t seq;
    const char *subject; /* NUL-ended */
    const uint8_t *payload;
    size_t payload_len;
    uint32_t samples;
    uint64_t created_ns;
} fdy_outbox_entry_t;

/* Returns true when it consumed the entry, false to stop before it. */
typedef bool(fdy_outbox_read_fn)(const fdy_outbox_entry_t *entry, void *user);

/* Calls fn for up to max_count committed entries with seq >= from_seq, in
 * seq order, inside one short read transaction. *next_out gets the seq to
 * continue from: after the last entry fn consumed, or from_seq if none.
 * Entries failing their checksum are skipped, counted in stats.corrupt and
 * deleted at the next write. Must not be called while a write transaction
 * is open (commit first). Returns FOUNDRY_OK, FOUNDRY_EINVAL (a write
 * transaction is open) or FOUNDRY_ESTORE, with reason. */
foundry_err fdy_outbox_read(fdy_outbox_t *self, uint64_t from_seq, size_t max_count,
                            fdy_outbox_read_fn *fn, void *user, uint64_t *next_out,
                            fdy_reason_t *reason);

typedef struct {
    uint64_t entries;  /* now, including uncommitted changes */
    uint64_t bytes;    /* now, entry bytes */
    uint64_t appended; /* since open: entries and samples committed */
    uint64_t appended_samples;
    uint64_t removed; /* since open: removals committed */
    uint64_t dropped; /* since open: entries and samples dropped by policy */
    uint64_t dropped_samples;
    uint64_t lost; /* since open: appends undone by a failed commit */
    uint64_t lost_samples;
    uint64_t corrupt; /* since open: entries that failed their checksum */
} fdy_outbox_stats_t;

void fdy_outbox_stats(const fdy_outbox_t *self, fdy_outbox_stats_t *out);

/* The outbox's epoch (first half of every message id). */
uint64_t fdy_outbox_epoch(const fdy_outbox_t *self);

#endif
