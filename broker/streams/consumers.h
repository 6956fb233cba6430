/*  consumers.h: the durable consumers at run time. A consumer's delivery
 *  state (ack floor, delivered seq, pending deliveries with their deadlines
 *  and counts) is loaded from the store when a client first binds to it and
 *  is saved back through the group commit. Each loop turn reads new records
 *  once per stream and fans them out to every consumer that needs them,
 *  round-robin over the clients bound to each (a queue group), within their
 *  credit; expired deliveries are redelivered, and after max_deliver they
 *  are dead-lettered. Framing and sockets are subs.c's.
 */
#ifndef FDY_CONSUMERS_H_INCLUDED
#define FDY_CONSUMERS_H_INCLUDED

#include "commit.h"
#include "subs.h"

typedef struct fdy_consumers fdy_consumers_t;

/* A consumer pauses new deliveries while this many seqs lie between its
 * ack floor and its delivered seq: it bounds the saved acked list. */
#define FDY_CONSUMERS_WINDOW_MAX (1u << 18)

/* Returns the runtime over store (borrowed) sending through subs
 * (borrowed). Aborts on out-of-memory. Caller owns; fdy_consumers_destroy(). */
fdy_consumers_t *fdy_consumers_new(fdy_store_t *store, fdy_subs_t *subs);
void fdy_consumers_destroy(fdy_consumers_t **self_p);

/* Binds sub (durable) to consumer `name` of `stream` for principal p
 * (borrowed), loading the consumer's state on first use; the read ACL is
 * checked here. Returns FOUNDRY_OK, FOUNDRY_ENOTFOUND (stream or consumer),
 * FOUNDRY_EDENIED, FOUNDRY_EAUTH, FOUNDRY_ECORRUPT or FOUNDRY_ESTORE, with
 * reason. */
foundry_err fdy_consumers_bind(fdy_consumers_t *self, fdy_sub_t *sub, const fdy_principal_t *p,
                               const char *stream, const char *name, fdy_reason_t *reason);

/* Unbinds sub: its pending deliveries become due for redelivery at once. */
void fdy_consumers_unbind(fdy_consumers_t *self, fdy_sub_t *sub);

/* Re-checks that p (borrowed) may still read what sub is bound to.
 * Returns as fdy_acl_check_consumer(), or FOUNDRY_ENOTFOUND (stream gone). */
foundry_err fdy_consumers_recheck(fdy_consumers_t *self, fdy_sub_t *sub, const fdy_principal_t *p,
                                  fdy_reason_t *reason);

/* Applies an ACK of sub: individual seqs and/or a floor (0 = none). All or
 * nothing. Returns FOUNDRY_OK or FOUNDRY_EINVAL (a seq or floor beyond what
 * the consumer delivered), with reason. */
foundry_err fdy_consumers_ack(fdy_consumers_t *self, fdy_sub_t *sub, const uint64_t *seqs,
                              size_t seq_count, uint64_t floor, fdy_reason_t *reason);

/* ---- the group commit ---------------------------------------------------- */

/* True when dirty states or dead letters wait and the last save is old
 * enough for a commit of their own (when nothing is published). */
bool fdy_consumers_want_save(const fdy_consumers_t *self, int64_t now_ms);

/* Adds the dirty consumer states and waiting dead letters to commit as one
 * droppable part (both or neither), when force (publishes share the
 * fsync, or a clean stop) or fdy_consumers_want_save(). Its data lives in
 * self until fdy_consumers_committed(). */
void fdy_consumers_collect(fdy_consumers_t *self, fdy_commit_t *commit, bool force,
                           int64_t now_ms);

/* After commit ran: on success the states are clean and dead letters
 * gone; on failure (logged) they are kept for the next commit (and given
 * up after a few failures). Nothing when collect added nothing. */
void fdy_consumers_committed(fdy_consumers_t *self, const fdy_commit_t *commit, int64_t now_ms);

/* Tells the runtime about stored items (publishes of the turn): their
 * streams' last seqs move. */
void fdy_consumers_note_items(fdy_consumers_t *self, const fdy_store_item_t *items, size_t count);

/* Writes every dirty state and dead letter now (clean stop). */
foundry_err fdy_consumers_save(fdy_consumers_t *self);

/* ---- delivery ------------------------------------------------------------- */

/* One turn of delivery: expired pending deliveries (redelivery, dead
 * letters), then new records, read once per stream and fanned out, with
 * bounded work. Returns true when work is left that could run at once
 * (credit and records both available). */
bool fdy_consumers_deliver(fdy_consumers_t *self, int64_t now_ms);

/* ---- administration -------------------------------------------------------- */

/* Run-time view of a consumer for the admin commands. When the consumer is
 * loaded, sets *ack_floor and *delivered_seq from memory and returns true
 * with pending and bound; otherwise returns false and leaves them. */
bool fdy_consumers_info(const fdy_consumers_t *self, uint32_t stream_id, const char *name,
                        uint64_t *ack_floor, uint64_t *delivered_seq, uint64_t *pending,
                        uint64_t *bound);

/* Forgets consumer `name` of stream_id (NULL: every consumer of the stream,
 * and its dead letters not yet written), ending bound subscriptions with
 * ECLOSED and reason. Called before the store deletes them. */
void fdy_consumers_forget(fdy_consumers_t *self, uint32_t stream_id, const char *name,
                          const char *reason);

/* Stream id of a bound sub, 0 if none. */
uint32_t fdy_consumers_stream_of(const fdy_sub_t *sub);

#endif
