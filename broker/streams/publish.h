/*  publish.h: one group-commit turn of PUBLISH requests. The broker adds
 *  every publish request it drained this turn; each message is decoded,
 *  authorised and routed at once, then ONE fdy_store_append() stores all of
 *  them (one transaction, one fsync) and every request gets its ack.
 *  Knows nothing about sockets: requests arrive as borrowed frame slices and
 *  replies leave through a callback.
 */
#ifndef FDY_PUBLISH_H_INCLUDED
#define FDY_PUBLISH_H_INCLUDED

#include "broker_config.h"
#include "codec.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct fdy_publish fdy_publish_t;

typedef struct {
    uint64_t requests;    /* publish requests answered */
    uint64_t published;   /* messages stored */
    uint64_t duplicates;  /* messages acked from the dedupe index */
    uint64_t refused;     /* messages refused inside an ack */
    uint64_t failed;      /* requests refused whole at commit (store full, store error) */
    uint64_t commits;     /* successful group commits */
} fdy_publish_stats_t;

/* Returns a new turn over store (borrowed, must outlive it), sized from
 * cfg (commit_max_msgs, commit_max_bytes, max_payload, max_batch_bytes,
 * copied). Everything a turn needs is allocated here and reused. Aborts on
 * out-of-memory (daemon allocator). Caller owns; fdy_publish_destroy(). */
fdy_publish_t *fdy_publish_new(const fdy_broker_cfg_t *cfg, fdy_store_t *store);
void fdy_publish_destroy(fdy_publish_t **self_p);

/* True when the turn reached commit_max_msgs or commit_max_bytes: the
 * caller stops draining and commits. Until then one more request of any
 * size is guaranteed to fit. */
bool fdy_publish_turn_full(const fdy_publish_t *self);

/* Messages added to the current turn. */
size_t fdy_publish_turn_msgs(const fdy_publish_t *self);

/* Adds one PUBLISH request. frames[0] is its envelope, frames[1] the batch
 * frame, frames[2..] external payloads; all borrowed and must stay valid
 * until fdy_publish_commit() returns (items point into them: no copy).
 * publisher is borrowed for the call (its name is copied). tag is handed
 * back with the reply. Per-message refusals (EPROTO, EINVAL, ETOOBIG,
 * EDENIED, EAUTH, ENOSTREAM) go into the ack later.
 * Returns FOUNDRY_OK (request joined the turn), or a whole-request refusal
 * the caller answers with ERROR: FOUNDRY_EPROTO (missing batch frame, bad
 * count, frames without messages, malformed batch) or FOUNDRY_ETOOBIG
 * (batch frame over max_batch_bytes), with reason. */
foundry_err fdy_publish_add(fdy_publish_t *self, size_t tag, const fdy_principal_t *publisher,
                            uint64_t request_id, uint32_t count, const fdy_slice_t *frames,
                            size_t frame_count, fdy_reason_t *reason);

/* Called once per request of the turn with its reply: PUBLISH_ACK, or
 * ERROR (EFULL, ESTORE) when the commit failed. reply and everything it
 * points to are borrowed for the call. */
typedef void(fdy_publish_reply_fn)(size_t tag, const fdy_envelope_t *reply, void *user);

/* Stores every accepted message of the turn with one fdy_store_append(),
 * then calls fn for each request in the order they were added, then starts
 * a new turn. Returns the store's result: FOUNDRY_OK, FOUNDRY_EFULL or
 * FOUNDRY_ESTORE (already logged and answered). */
foundry_err fdy_publish_commit(fdy_publish_t *self, fdy_publish_reply_fn *fn, void *user);

/* Called after the acks with the turn's items (duplicates flagged, seqs
 * set), when they were stored; borrowed for the call. */
typedef void(fdy_publish_committed_fn)(const fdy_store_item_t *items, size_t count, void *user);

/* fdy_publish_commit(), plus: extra's dead letters and consumer states (may
 * be NULL or empty; its items are ignored) are written in the SAME
 * transaction. If that combined commit fails for another reason than a full
 * store, the publishes are committed alone, so a bad consumer state never
 * refuses a publish. *extra_err_out gets the result for extra (FOUNDRY_OK:
 * written; its dead letters' out fields are set). Then committed_fn (may be
 * NULL) sees the stored items before the turn is reset. Also commits when
 * there are no publishes but extra has something. */
foundry_err fdy_publish_commit_ex(fdy_publish_t *self, fdy_store_batch_t *extra,
                                  foundry_err *extra_err_out, fdy_publish_reply_fn *fn,
                                  fdy_publish_committed_fn *committed_fn, void *user);

/* Counters since start. */
void fdy_publish_stats(const fdy_publish_t *self, fdy_publish_stats_t *out);

#endif
