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
 *  Writes are grouped: appends go into one open write transaction, which
 *  begins by deleting the entries acknowledged so far, and
 *  fdy_outbox_commit() makes it durable (one fsync), with the deletes of
 *  acks recorded meanwhile. Reads see committed entries only, never an
 *  acknowledged one. A full disk refuses new entries but never the deletes:
 *  the data file keeps a reserve of allocated blocks for them, and acks
 *  whose delete still fails are kept in <dir>/acked, written in place
 *  (outbox_space.h, outbox_acks.h, docs/node.md "A full disk"). Not
 *  thread-safe; one process per directory (an exclusive lock file enforces
 *  it). Record format: docs/node.md.
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

/* Opens (creating if needed) the outbox and takes its lock, allocates the
 * disk reserve, and loads <dir>/acked: entries acknowledged before a
 * restart whose delete did not commit are deleted at the next commit and
 * never read. A full disk is not an error here (appends are refused).
 * Returns FOUNDRY_OK and *out (caller owns; fdy_outbox_close()),
 * FOUNDRY_EINVAL (opts), FOUNDRY_EEXIST (another process holds the
 * directory), FOUNDRY_EIO (directory or lock file), FOUNDRY_ENOMEM,
 * FOUNDRY_ESTORE (LMDB, a full disk included; reason has mdb_strerror or
 * "disk full at DIR") or FOUNDRY_ECORRUPT (metadata unreadable), with
 * reason. */
foundry_err fdy_outbox_open(const fdy_outbox_opts_t *opts, fdy_outbox_t **out,
                            fdy_reason_t *reason);

/* Aborts uncommitted changes, saves acks not yet deleted to <dir>/acked,
 * closes and nulls *self_p. Accepts NULL. */
void fdy_outbox_close(fdy_outbox_t **self_p);

/* Adds an entry (subject 1..255 bytes, payload as is, the number of samples
 * it carries for drop accounting) to the open write transaction, beginning
 * one if needed. Not durable until fdy_outbox_commit(). Enforces the bound:
 * with drop-oldest the oldest entries are deleted first; with drop-newest
 * the entry is refused. Drops are counted in the stats.
 * Returns FOUNDRY_OK with *seq_out (may be NULL), or:
 *   FOUNDRY_EFULL    refused by drop-newest (counted as dropped), or
 *                    because the disk is full ("disk full at DIR", counted
 *                    in stats.lost_* and stats.disk_full_lost_*): the open
 *                    transaction stays, with what it held;
 *   FOUNDRY_ETOOBIG  the entry alone exceeds max_bytes (counted as dropped);
 *   FOUNDRY_EINVAL   bad subject length;
 *   FOUNDRY_ESTORE   LMDB failed (MDB_MAP_FULL included): the transaction
 *                    was aborted and everything appended since the last
 *                    commit is lost (counted in stats.lost_*),
 * with reason. */
foundry_err fdy_outbox_append(fdy_outbox_t *self, const char *subject, const uint8_t *payload,
                              size_t payload_len, uint32_t samples, uint64_t *seq_out,
                              fdy_reason_t *reason);

/* Records entry seq as acknowledged: from now on it is not read, and the
 * next fdy_outbox_commit() deletes it. Memory only, so it may be called
 * from an ack callback while a read is open. An entry that is not there
 * (dropped earlier) is not an error.
 * Returns FOUNDRY_OK or FOUNDRY_ENOMEM (not recorded: the entry stays and
 * is sent again), with reason. */
foundry_err fdy_outbox_remove(fdy_outbox_t *self, uint64_t seq, fdy_reason_t *reason);

/* Deletes the acknowledged entries and commits them with the open write
 * transaction (one synchronous LMDB commit; a large backlog of acks takes
 * up to 8 commits, each delete transaction bounded to fit the reserve); OK
 * when there is nothing to do. If the commit fails, its appends are undone
 * and counted in stats.lost_*, the deletes are tried once more alone, and
 * if they fail too the acknowledged seqs are saved in <dir>/acked (in
 * place) and retried at the next commit, also after a restart.
 * Returns FOUNDRY_OK or FOUNDRY_ESTORE with reason (the first failure). */
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
 * seq order, inside one short read transaction, skipping acknowledged
 * entries (fn may call fdy_outbox_remove()). *next_out gets the seq to
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
    uint64_t lost; /* since open: appends undone by a failed commit or refused for disk space */
    uint64_t lost_samples;
    uint64_t disk_full_lost; /* since open: the part of lost refused for disk space */
    uint64_t disk_full_lost_samples;
    bool disk_full;   /* now: new entries are refused for disk space */
    uint64_t corrupt; /* since open: entries that failed their checksum */
} fdy_outbox_stats_t;

void fdy_outbox_stats(const fdy_outbox_t *self, fdy_outbox_stats_t *out);

/* The outbox's epoch (first half of every message id). */
uint64_t fdy_outbox_epoch(const fdy_outbox_t *self);

#endif
