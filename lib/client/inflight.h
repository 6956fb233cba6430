/*  inflight.h: libfoundry's table of batches sent (or waiting to be sent)
 *  and not yet acknowledged. Each batch keeps its encoded frames, so a resend
 *  after a reconnect is byte for byte the original (same request id, same
 *  message ids), and the per-message records needed to report outcomes.
 *  Private to libfoundry. Not thread-safe: the client's thread only.
 */
#ifndef FDY_INFLIGHT_H_INCLUDED
#define FDY_INFLIGHT_H_INCLUDED

#include "codec.h"
#include "foundry.h"

#include <stdbool.h>
#include <stdint.h>

/* What we remember of one message until its outcome is known: where its id
 * is in the batch's id buffer and the caller's tag. */
typedef struct {
    void *user;
    uint32_t id_offset;
    uint32_t id_len;
} fdy_inflight_rec_t;

/* One PUBLISH request. The client fills the open batch directly (frame,
 * recs, ids) so the per-message path does no call it does not need. */
typedef struct {
    uint64_t request_id; /* 0 while open */
    uint32_t count;      /* messages (records of frame) */
    uint8_t *env;        /* encoded envelope (frame 0), malloc'd by the codec */
    size_t env_len;
    uint8_t *frame; /* batch frame (frame 1), inside frame_block */
    size_t frame_len;
    size_t frame_cap;
    struct fdy_frame_block *frame_block; /* refcounted: libzmq sends it without a copy */
    uint8_t *payload;                    /* external payload (frame 2) of a batch of one, or NULL */
    size_t payload_len;
    size_t payload_cap;
    fdy_inflight_rec_t *recs;
    uint32_t rec_cap;
    uint8_t *ids; /* message ids, back to back */
    size_t ids_len;
    size_t ids_cap;
    uint64_t opened_us;  /* monotonic time of the first message (linger) */
    int64_t sent_ms;     /* monotonic time of the last send; 0 = never sent */
    uint64_t sent_epoch; /* connection epoch of the last send */
    bool resolved;       /* every message has its outcome */
} fdy_batch_t;

typedef struct fdy_inflight fdy_inflight_t;

/* Receives one message outcome. `index` is the message's position in the
 * batch with `request_id`. */
typedef void(fdy_inflight_ack_fn)(const foundry_ack_t *ack, uint64_t request_id, uint32_t index,
                                  void *ctx);

/* Returns a new, empty table or NULL (out of memory). Caller owns. */
fdy_inflight_t *fdy_inflight_new(void);
/* Frees every batch, resolved or not, and the table. */
void fdy_inflight_destroy(fdy_inflight_t **self_p);

/* Returns an empty batch (recycled when possible) or NULL on out of
 * memory. Caller owns until fdy_inflight_push() or fdy_inflight_recycle(). */
fdy_batch_t *fdy_inflight_batch_new(fdy_inflight_t *self);
/* Returns a batch the caller owns to the pool (or frees it). Nulls *batch_p. */
void fdy_inflight_recycle(fdy_inflight_t *self, fdy_batch_t **batch_p);

/* Makes room for `frame_bytes` more bytes in the batch frame and one more
 * record with an id of `id_len` bytes. FOUNDRY_OK or FOUNDRY_ENOMEM. */
foundry_err fdy_inflight_batch_reserve(fdy_batch_t *batch, size_t frame_bytes, size_t id_len);

/* Takes a reference on the batch frame for libzmq to send without copying
 * it, and returns the hint to pass with fdy_inflight_frame_release as its
 * free function. The frame stays valid, and unchanged, until every
 * reference is released: a batch acked while libzmq still holds a resend
 * in a queue does not free the bytes under it. */
void *fdy_inflight_frame_ref(fdy_batch_t *batch);

/* Drops a reference taken by fdy_inflight_frame_ref. Matches zmq_free_fn
 * and is safe on libzmq's I/O thread. */
void fdy_inflight_frame_release(void *data, void *hint);

/* Appends a sealed batch (request_id set, envelope encoded). Request ids
 * must increase. Takes ownership on success; FOUNDRY_ENOMEM otherwise. */
foundry_err fdy_inflight_push(fdy_inflight_t *self, fdy_batch_t *batch);

/* Unresolved messages in the table. */
size_t fdy_inflight_messages(const fdy_inflight_t *self);

/* Batches in the table (resolved ones included until they reach the head),
 * oldest first, and the position of the first batch whose request id is
 * at least request_id (the count when none). Borrowed. */
size_t fdy_inflight_count(const fdy_inflight_t *self);
fdy_batch_t *fdy_inflight_at(fdy_inflight_t *self, size_t index);
size_t fdy_inflight_lower_bound(const fdy_inflight_t *self, uint64_t request_id);

/* Resolves the batch that env (PUBLISH_ACK or ERROR) answers: calls fn once
 * per message, then frees the batch's memory for reuse. A reply to no
 * unresolved batch (an ack of a resend that was already answered) is
 * ignored. Returns FOUNDRY_OK, or FOUNDRY_EPROTO when the ack does not fit
 * the batch (every message then fails with FOUNDRY_EPROTO), with reason. */
foundry_err fdy_inflight_resolve(fdy_inflight_t *self, const fdy_envelope_t *env,
                                 fdy_inflight_ack_fn *fn, void *ctx, fdy_reason_t *reason);

/* Resolves every unresolved batch with err and reason (closing). */
void fdy_inflight_fail_all(fdy_inflight_t *self, foundry_err err, const char *reason,
                           fdy_inflight_ack_fn *fn, void *ctx);

#endif
