/*  publish.h: the PUBLISH requests of one loop turn. Each message is
 *  decoded, authorised and routed as its request is added; the turn's items
 *  become the messages part of the turn's one commit (one transaction, one
 *  fsync), and every request gets its ack once that committed. Requests
 *  arrive as borrowed frame slices; replies leave through reply.h.
 */
#ifndef FDY_PUBLISH_H_INCLUDED
#define FDY_PUBLISH_H_INCLUDED

#include "broker_config.h"
#include "codec.h"
#include "commit.h"
#include "reply.h"
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
    uint64_t rate_refused; /* messages refused by a rate limit (counted in refused too) */
    uint64_t rate_floods;  /* keys found flooding, their connections closed */
} fdy_publish_stats_t;

/* Returns a new turn over store and reply (borrowed, must outlive it), sized from
 * cfg (commit_max_msgs, commit_max_bytes, max_payload, max_batch_bytes,
 * copied). Everything a turn needs is allocated here and reused. A key
 * found flooding (rate.h) has its connections closed through peers
 * (borrowed; NULL: nothing is closed) for rate_flood_backoff. Aborts on
 * out-of-memory (daemon allocator). Caller owns; fdy_publish_destroy(). */
fdy_publish_t *fdy_publish_new(const fdy_broker_cfg_t *cfg, fdy_store_t *store,
                               fdy_reply_t *reply, fdy_peers_t *peers);
void fdy_publish_destroy(fdy_publish_t **self_p);

/* True when the turn reached commit_max_msgs or commit_max_bytes: the
 * caller stops draining and commits. Until then one more request of any
 * size is guaranteed to fit. */
bool fdy_publish_turn_full(const fdy_publish_t *self);

/* Messages added to the current turn. */
size_t fdy_publish_turn_msgs(const fdy_publish_t *self);

/* Adds one PUBLISH request from peer. frames[0] is its envelope, frames[1]
 * the batch frame, frames[2..] external payloads; they and peer->id are
 * borrowed and must stay valid until fdy_publish_committed() returns
 * (items point into them: no copy). publisher is borrowed for the call
 * (its name is copied). Per-message refusals (EPROTO, EINVAL, ETOOBIG,
 * EDENIED, EAUTH, ENOSTREAM) go into the ack later.
 * Returns FOUNDRY_OK (request joined the turn), or a whole-request refusal
 * the caller answers with ERROR: FOUNDRY_EPROTO (missing batch frame, bad
 * count, frames without messages, malformed batch) or FOUNDRY_ETOOBIG
 * (batch frame over max_batch_bytes), with reason. */
foundry_err fdy_publish_add(fdy_publish_t *self, const fdy_peer_t *peer,
                            const fdy_principal_t *publisher, uint64_t request_id, uint32_t count,
                            const fdy_slice_t *frames, size_t frame_count, fdy_reason_t *reason);

/* The connection behind peer closed or changed hands: its requests of this
 * turn are still stored, but get no reply (it would reach someone else). */
void fdy_publish_peer_gone(fdy_publish_t *self, const fdy_peer_t *peer);

/* Adds the turn's items to commit as its messages part (nothing when the
 * turn has none). */
void fdy_publish_collect(fdy_publish_t *self, fdy_commit_t *commit);

/* Called after the acks with the turn's items (duplicates flagged, seqs
 * set), when they were stored; borrowed for the call. */
typedef void(fdy_publish_committed_fn)(const fdy_store_item_t *items, size_t count, void *user);

/* After commit ran: sends every request its reply, in the order they were
 * added: PUBLISH_ACK, or ERROR (EFULL, ESTORE: nothing stored) when the
 * messages part failed. Then committed_fn (may be NULL) sees the stored
 * items, and a new turn starts. Returns the messages part's result:
 * FOUNDRY_OK, FOUNDRY_EFULL or FOUNDRY_ESTORE (already answered). */
foundry_err fdy_publish_committed(fdy_publish_t *self, const fdy_commit_t *commit,
                                  fdy_publish_committed_fn *committed_fn, void *user);

/* Counters since start. */
void fdy_publish_stats(const fdy_publish_t *self, fdy_publish_stats_t *out);

#endif
