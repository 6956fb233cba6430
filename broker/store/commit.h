/*  commit.h: ONE write transaction, ONE fsync, built from the parts of a
 *  broker turn (appended messages, dead letters, consumer states, later
 *  jobs). Services add parts and read per-part results; they never see the
 *  transaction. For replication later, the part list of one run is the
 *  batch one log entry carries, so parts keep no state between attempts.
 *
 *  Durability: a result is FOUNDRY_OK only after mdb_txn_commit() returned
 *  0 with LMDB's default (synchronous) flags, or when the part had nothing
 *  new to write (duplicates of durable records). Not thread-safe.
 */
#ifndef FDY_COMMIT_H_INCLUDED
#define FDY_COMMIT_H_INCLUDED

#include "store.h"
#include "store_audit.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>

#define FDY_COMMIT_PARTS_MAX 16

typedef struct {
    const char *name; /* "messages", "dead-letters", "consumer-states", "audit" */
    /* Before the transaction: zero the out-fields, shape checks; may create
     * what must exist first (a DLQ stream, in a committed transaction of
     * its own). May be NULL. */
    foundry_err (*prepare)(void *data, fdy_store_t *store, fdy_reason_t *reason);
    /* Inside it. Runs again from scratch after a map growth or a dropped
     * part, so keeps no state between attempts and sets every out-field it
     * owns. Adds what it wrote to *writes (all parts 0: nothing is
     * committed or fsynced). A FOUNDRY_EFULL must mean MDB_MAP_FULL. */
    foundry_err (*write)(void *data, fdy_store_t *store, MDB_txn *txn, uint64_t now_ns,
                         size_t *writes, fdy_reason_t *reason);
    /* Zero the out-fields: before prepare, and when nothing of the part is
     * stored after all. May be NULL (no out-fields). */
    void (*reset)(void *data);
    /* A failure other than FOUNDRY_EFULL (in prepare or write) drops the
     * part and the rest is committed again without it. */
    bool droppable;
} fdy_commit_part_t;

/* One part of a commit. Read it with the accessors below. */
typedef struct {
    const fdy_commit_part_t *part; /* borrowed, valid until the commit is done with */
    void *data;                    /* borrowed, likewise */
    foundry_err result;
    bool dropped;
    fdy_reason_t reason; /* why it failed, when it did */
} fdy_commit_slot_t;

/* A stack struct: fdy_commit_init, fdy_commit_add..., fdy_commit_run, then
 * the results. Holds no allocation, so it needs no destroy. */
typedef struct fdy_commit {
    fdy_commit_slot_t slots[FDY_COMMIT_PARTS_MAX];
    size_t count;
    bool overflow; /* more than FDY_COMMIT_PARTS_MAX adds: run refuses */
} fdy_commit_t;

/* Empties self. */
void fdy_commit_init(fdy_commit_t *self);

/* Adds a part with its data; part and data are borrowed and must outlive
 * the last fdy_commit_result(). Parts are prepared and written in the
 * order added. More than FDY_COMMIT_PARTS_MAX parts make fdy_commit_run
 * fail with FOUNDRY_EINVAL (a programmer error, also asserted). */
void fdy_commit_add(fdy_commit_t *self, const fdy_commit_part_t *part, void *data);

/* True when no part was added. */
bool fdy_commit_empty(const fdy_commit_t *self);

/* Prepares every part, then writes them all in ONE write transaction and
 * commits it synchronously (ONE fsync), unless every part wrote nothing
 * (all duplicates): then nothing is committed and nothing fsynced. On
 * MDB_MAP_FULL the map is doubled (up to map_size_max) and every part
 * written again from scratch. A droppable part that fails with anything
 * but FOUNDRY_EFULL keeps its error as its result and the others are
 * committed without it. A non-droppable failure, FOUNDRY_EFULL or a failed
 * commit fails every part still in: nothing is stored, out-fields are
 * zeroed (reset), each result is that error.
 * Returns the result of the non-droppable parts (FOUNDRY_OK when there are
 * none): FOUNDRY_OK, FOUNDRY_EINVAL, FOUNDRY_ENOTFOUND, FOUNDRY_ETOOBIG,
 * FOUNDRY_EFULL, FOUNDRY_ECORRUPT or FOUNDRY_ESTORE (also for a read-only
 * store), with reason. An empty commit returns FOUNDRY_OK and touches
 * nothing. */
foundry_err fdy_commit_run(fdy_commit_t *self, fdy_store_t *store, fdy_reason_t *reason);

/* The result of the part added with data (the first such part), or
 * FOUNDRY_ENOTFOUND when none was. Valid after fdy_commit_run. */
foundry_err fdy_commit_result(const fdy_commit_t *self, const void *data);

/* Why that part failed: "" when it did not. Borrowed, valid while self is. */
const char *fdy_commit_reason(const fdy_commit_t *self, const void *data);

/* ---- the store's parts (services never see MDB_txn) ------------------- */

/* data: fdy_store_items_t. As fdy_store_append: dedupe, then the records;
 * each item's seq and duplicate are its out-fields. Not droppable. */
typedef struct {
    fdy_store_item_t *items;
    size_t count;
} fdy_store_items_t;
extern const fdy_commit_part_t fdy_store_messages_part;

/* data: fdy_store_dead_letters_t. Each message copied into its stream's
 * dead-letter stream (created by prepare if missing); dlq_stream_id,
 * dlq_seq and gone are the out-fields. Droppable. */
typedef struct {
    fdy_dead_letter_t *items;
    size_t count;
} fdy_store_dead_letters_t;
extern const fdy_commit_part_t fdy_store_dead_letters_part;

/* data: fdy_store_states_t. Each state replaces the stored state of an
 * existing consumer (FOUNDRY_ENOTFOUND otherwise). Droppable: a bad
 * consumer state never refuses a publish. */
typedef struct {
    const fdy_consumer_state_t *items; /* borrowed */
    size_t count;
} fdy_store_states_t;
extern const fdy_commit_part_t fdy_store_states_part;

/* data: fdy_store_audit_entries_t. Appends each entry to the audit log's
 * hash chain, in order (store_audit.h); seq, prev_hash and hash are the
 * out-fields. Droppable: a refused handshake's entry never refuses a
 * publish. */
typedef struct {
    fdy_audit_entry_t *items;
    size_t count;
} fdy_store_audit_entries_t;
extern const fdy_commit_part_t fdy_store_audit_part;

/* data: fdy_store_jobs_t (store_jobs.h): each job's record replaced (or
 * removed). Not droppable: a submit or result is acked only once stored. */
extern const fdy_commit_part_t fdy_store_jobs_part;

/* data: fdy_store_rollouts_t (store_rollouts.h): each rollout's record
 * replaced. Not droppable: a rollout's node starts go with its jobs. */
extern const fdy_commit_part_t fdy_store_rollouts_part;

#endif
