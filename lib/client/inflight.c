/*  inflight.c: the batches libfoundry has queued or sent and not yet seen
 *  answered, oldest first, and the translation of a PUBLISH_ACK or ERROR
 *  reply into one outcome per message. It neither sends nor waits: client.c
 *  decides when batches go out and when they are resent.
 */
#include "inflight.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Recycled batches kept for reuse: enough for a steady pipeline of
 * default-sized batches without malloc, few enough not to hoard memory. */
#define POOL_MAX 16
/* A recycled batch gives back buffers grown beyond this. */
#define KEEP_BYTES_MAX (1024u * 1024u)

/* Per-message flags built from an ack's index lists. */
#define FLAG_DUPLICATE  0x80000000u
#define FLAG_ERROR_MASK 0x7fffffffu /* error entry + 1, 0 = none */

/* A batch frame's bytes with a reference count: one reference for the
 * batch, one per send libzmq has not finished with. The last one to let go
 * frees it, on whichever thread that is. */
struct fdy_frame_block {
    atomic_uint refs;
    alignas(16) uint8_t data[];
};

struct fdy_inflight {
    fdy_batch_t **ring; /* circular, oldest at head */
    size_t head;
    size_t count;
    size_t cap;
    size_t messages; /* in unresolved batches */
    fdy_batch_t *pool[POOL_MAX];
    size_t pool_count;
    uint32_t *flags; /* scratch, one per message of the batch being resolved */
    size_t flags_cap;
};

fdy_inflight_t *
fdy_inflight_new(void)
{
    return calloc(1, sizeof(fdy_inflight_t));
}

void *
fdy_inflight_frame_ref(fdy_batch_t *batch)
{
    atomic_fetch_add(&batch->frame_block->refs, 1);
    return batch->frame_block;
}

void
fdy_inflight_frame_release(void *data, void *hint)
{
    (void) data;
    struct fdy_frame_block *block = hint;
    if (atomic_fetch_sub(&block->refs, 1) == 1)
        free(block);
}

/* Lets go of the batch's own reference and forgets the frame. */
static void
s_frame_drop(fdy_batch_t *batch)
{
    if (batch->frame_block)
        fdy_inflight_frame_release(batch->frame, batch->frame_block);
    batch->frame_block = NULL;
    batch->frame = NULL;
    batch->frame_cap = 0;
    batch->frame_len = 0;
}

static void
s_batch_free(fdy_batch_t **batch_p)
{
    fdy_batch_t *batch = *batch_p;
    if (!batch)
        return;
    free(batch->env);
    s_frame_drop(batch);
    free(batch->payload);
    free(batch->recs);
    free(batch->ids);
    free(batch);
    *batch_p = NULL;
}

void
fdy_inflight_destroy(fdy_inflight_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fdy_inflight_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        s_batch_free(&self->ring[(self->head + i) % self->cap]);
    for (size_t i = 0; i < self->pool_count; i++)
        s_batch_free(&self->pool[i]);
    free(self->ring);
    free(self->flags);
    free(self);
    *self_p = NULL;
}

fdy_batch_t *
fdy_inflight_batch_new(fdy_inflight_t *self)
{
    if (self->pool_count > 0)
        return self->pool[--self->pool_count];
    return calloc(1, sizeof(fdy_batch_t));
}

void
fdy_inflight_recycle(fdy_inflight_t *self, fdy_batch_t **batch_p)
{
    fdy_batch_t *batch = *batch_p;
    if (!batch)
        return;
    *batch_p = NULL;
    if (self->pool_count == POOL_MAX) {
        s_batch_free(&batch);
        return;
    }
    free(batch->env);
    batch->env = NULL;
    batch->env_len = 0;
    /* Reuse the frame only when libzmq holds no reference to it. */
    if (batch->frame_block &&
        (batch->frame_cap > KEEP_BYTES_MAX || atomic_load(&batch->frame_block->refs) != 1))
        s_frame_drop(batch);
    /* External payloads are rare and large: never keep their buffer. */
    free(batch->payload);
    batch->payload = NULL;
    batch->payload_cap = 0;
    batch->payload_len = 0;
    batch->request_id = 0;
    batch->count = 0;
    batch->frame_len = 0;
    batch->ids_len = 0;
    batch->opened_us = 0;
    batch->sent_ms = 0;
    batch->sent_epoch = 0;
    batch->resolved = false;
    self->pool[self->pool_count++] = batch;
}

static foundry_err
s_grow(void **buf, size_t *cap, size_t need, size_t item_size)
{
    if (need <= *cap)
        return FOUNDRY_OK;
    size_t new_cap = *cap ? *cap : 64;
    while (new_cap < need)
        new_cap *= 2;
    void *grown = realloc(*buf, new_cap * item_size);
    if (!grown)
        return FOUNDRY_ENOMEM;
    *buf = grown;
    *cap = new_cap;
    return FOUNDRY_OK;
}

/* Grows the frame of a batch that was never sent (so its block has one
 * reference: ours, and realloc may move it). */
static foundry_err
s_frame_grow(fdy_batch_t *batch, size_t need)
{
    if (need <= batch->frame_cap)
        return FOUNDRY_OK;
    size_t cap = batch->frame_cap ? batch->frame_cap : 4096;
    while (cap < need)
        cap *= 2;
    struct fdy_frame_block *block = realloc(batch->frame_block, sizeof *block + cap);
    if (!block)
        return FOUNDRY_ENOMEM;
    if (!batch->frame_block)
        atomic_init(&block->refs, 1);
    batch->frame_block = block;
    batch->frame = block->data;
    batch->frame_cap = cap;
    return FOUNDRY_OK;
}

foundry_err
fdy_inflight_batch_reserve(fdy_batch_t *batch, size_t frame_bytes, size_t id_len)
{
    if (s_frame_grow(batch, batch->frame_len + frame_bytes) != FOUNDRY_OK)
        return FOUNDRY_ENOMEM;
    if (s_grow((void **) &batch->ids, &batch->ids_cap, batch->ids_len + id_len, 1) != FOUNDRY_OK)
        return FOUNDRY_ENOMEM;
    size_t rec_cap = batch->rec_cap;
    if (s_grow((void **) &batch->recs, &rec_cap, (size_t) batch->count + 1,
               sizeof(fdy_inflight_rec_t)) != FOUNDRY_OK)
        return FOUNDRY_ENOMEM;
    batch->rec_cap = (uint32_t) rec_cap;
    return FOUNDRY_OK;
}

foundry_err
fdy_inflight_push(fdy_inflight_t *self, fdy_batch_t *batch)
{
    if (self->count == self->cap) {
        size_t new_cap = self->cap ? self->cap * 2 : 64;
        fdy_batch_t **ring = malloc(new_cap * sizeof *ring);
        if (!ring)
            return FOUNDRY_ENOMEM;
        for (size_t i = 0; i < self->count; i++)
            ring[i] = self->ring[(self->head + i) % self->cap];
        free(self->ring);
        self->ring = ring;
        self->cap = new_cap;
        self->head = 0;
    }
    self->ring[(self->head + self->count) % self->cap] = batch;
    self->count++;
    self->messages += batch->count;
    return FOUNDRY_OK;
}

size_t
fdy_inflight_messages(const fdy_inflight_t *self)
{
    return self->messages;
}

size_t
fdy_inflight_count(const fdy_inflight_t *self)
{
    return self->count;
}

fdy_batch_t *
fdy_inflight_at(fdy_inflight_t *self, size_t index)
{
    return self->ring[(self->head + index) % self->cap];
}

size_t
fdy_inflight_lower_bound(const fdy_inflight_t *self, uint64_t request_id)
{
    size_t low = 0, high = self->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (self->ring[(self->head + mid) % self->cap]->request_id < request_id)
            low = mid + 1;
        else
            high = mid;
    }
    return low;
}

/* Marks batch resolved and hands resolved batches at the head back to the
 * pool. Batches resolved out of order wait until they reach the head so
 * the ring stays sorted by request id. */
static void
s_finish(fdy_inflight_t *self, fdy_batch_t *batch)
{
    batch->resolved = true;
    self->messages -= batch->count;
    while (self->count > 0 && self->ring[self->head]->resolved) {
        fdy_batch_t *done = self->ring[self->head];
        self->head = (self->head + 1) % self->cap;
        self->count--;
        fdy_inflight_recycle(self, &done);
    }
}

static void
s_fail(fdy_batch_t *batch, foundry_err err, const char *reason, fdy_inflight_ack_fn *fn, void *ctx)
{
    for (uint32_t i = 0; i < batch->count && fn; i++) {
        const fdy_inflight_rec_t *rec = &batch->recs[i];
        foundry_ack_t ack = {
            .msg_id = batch->ids + rec->id_offset,
            .msg_id_len = rec->id_len,
            .stream = "",
            .seq = 0,
            .duplicate = 0,
            .err = err,
            .reason = reason ? reason : "",
            .user = rec->user,
        };
        fn(&ack, batch->request_id, i, ctx);
    }
}

/* Checks that ack describes exactly batch's messages and builds the flags.
 * The broker is authenticated, but a bug there must not make us read out
 * of bounds. */
static foundry_err
s_check_ack(fdy_inflight_t *self, const fdy_batch_t *batch, const fdy_publish_ack_t *ack,
            fdy_reason_t *reason)
{
    if (ack->count != batch->count)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "ack has %zu results for %u messages",
                              ack->count, (unsigned) batch->count);
    size_t flags_cap = self->flags_cap;
    if (s_grow((void **) &self->flags, &flags_cap, batch->count, sizeof(uint32_t)) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    self->flags_cap = flags_cap;
    memset(self->flags, 0, batch->count * sizeof(uint32_t));
    for (size_t i = 0; i < ack->duplicate_count; i++) {
        if (ack->duplicates[i] >= batch->count)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "ack names duplicate %u of %u",
                                  (unsigned) ack->duplicates[i], (unsigned) batch->count);
        self->flags[ack->duplicates[i]] |= FLAG_DUPLICATE;
    }
    for (size_t i = 0; i < ack->error_count; i++) {
        if (ack->errors[i].index >= batch->count)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "ack names error %u of %u",
                                  (unsigned) ack->errors[i].index, (unsigned) batch->count);
        uint32_t *flag = &self->flags[ack->errors[i].index];
        *flag = (*flag & ~FLAG_ERROR_MASK) | (uint32_t) (i + 1);
    }
    for (uint32_t i = 0; i < batch->count; i++) {
        if ((self->flags[i] & FLAG_ERROR_MASK) == 0 && ack->stream_refs[i] >= ack->stream_count)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "ack names stream %u of %zu",
                                  (unsigned) ack->stream_refs[i], ack->stream_count);
    }
    return FOUNDRY_OK;
}

static void
s_deliver(fdy_inflight_t *self, fdy_batch_t *batch, const fdy_publish_ack_t *ack,
          fdy_inflight_ack_fn *fn, void *ctx)
{
    for (uint32_t i = 0; i < batch->count && fn; i++) {
        const fdy_inflight_rec_t *rec = &batch->recs[i];
        uint32_t flag = self->flags[i];
        foundry_ack_t out = {
            .msg_id = batch->ids + rec->id_offset,
            .msg_id_len = rec->id_len,
            .user = rec->user,
        };
        uint32_t error = flag & FLAG_ERROR_MASK;
        if (error) {
            const fdy_msg_error_t *entry = &ack->errors[error - 1];
            out.stream = "";
            out.err = entry->code != FOUNDRY_OK ? entry->code : FOUNDRY_EPROTO;
            out.reason = entry->reason ? entry->reason : "";
        } else {
            out.stream = ack->streams[ack->stream_refs[i]];
            out.seq = ack->seqs[i];
            out.duplicate = (flag & FLAG_DUPLICATE) != 0;
            out.err = FOUNDRY_OK;
            out.reason = "";
        }
        fn(&out, batch->request_id, i, ctx);
    }
}

foundry_err
fdy_inflight_resolve(fdy_inflight_t *self, const fdy_envelope_t *env, fdy_inflight_ack_fn *fn,
                     void *ctx, fdy_reason_t *reason)
{
    size_t pos = fdy_inflight_lower_bound(self, env->request_id);
    if (pos == self->count)
        return FOUNDRY_OK;
    fdy_batch_t *batch = fdy_inflight_at(self, pos);
    if (batch->request_id != env->request_id || batch->resolved)
        return FOUNDRY_OK;
    foundry_err err = FOUNDRY_OK;
    if (env->kind == FDY_KIND_ERROR) {
        foundry_err code = env->error_code != FOUNDRY_OK ? env->error_code : FOUNDRY_EPROTO;
        s_fail(batch, code, env->error_reason, fn, ctx);
    } else if (env->kind == FDY_KIND_PUBLISH_ACK) {
        err = s_check_ack(self, batch, &env->ack, reason);
        if (err == FOUNDRY_OK) {
            s_deliver(self, batch, &env->ack, fn, ctx);
        } else {
            char text[FDY_REASON_MAX + 32];
            snprintf(text, sizeof text, "malformed ack: %s", reason ? reason->text : "");
            s_fail(batch, FOUNDRY_EPROTO, text, fn, ctx);
        }
    } else {
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "reply of kind %d to a publish",
                              (int) env->kind);
    }
    s_finish(self, batch);
    return err;
}

void
fdy_inflight_fail_all(fdy_inflight_t *self, foundry_err err, const char *reason,
                      fdy_inflight_ack_fn *fn, void *ctx)
{
    while (self->count > 0) {
        /* Resolving pops from the head, so the first unresolved batch is
         * always found again from the start. */
        fdy_batch_t *batch = NULL;
        for (size_t i = 0; i < self->count && !batch; i++) {
            if (!fdy_inflight_at(self, i)->resolved)
                batch = fdy_inflight_at(self, i);
        }
        if (!batch)
            break;
        s_fail(batch, err, reason, fn, ctx);
        s_finish(self, batch);
    }
}
