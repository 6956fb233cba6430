/*  frames.c: DELIVER frame buffers (pooled) and per-connection send-queue
 *  accounting. Each buffer starts with a small head that says where it
 *  goes back and which queue it counts against, so libzmq's free callback
 *  needs no allocation of its own.
 */
#include "frames.h"

#include "log.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Frame buffers kept for reuse. */
#define POOL_MAX 64u

struct fdy_send_queue {
    _Atomic uint64_t bytes; /* handed to libzmq, not yet freed by it */
    _Atomic uint32_t refs;  /* the connection's, and one per frame in flight */
    uint64_t limit;
};

/* Recycling frames spares a malloc, a free and fresh pages per frame.
 * Shared by two threads, hence the mutex; it outlives its owner while
 * libzmq still holds frames (the last one returned frees it). */
struct fdy_frames {
    pthread_mutex_t mutex;
    void *buffers[POOL_MAX];
    size_t count;
    size_t outstanding; /* taken, not yet returned */
    bool closed;
};

typedef struct {
    fdy_frames_t *pool; /* NULL: a big frame of its own, freed */
    fdy_send_queue_t *queue;
    size_t len;
} head_t;

/* The head is padded so the frame itself stays 16-byte aligned. */
#define HEAD_LEN ((sizeof(head_t) + 15u) & ~(size_t) 15u)

static head_t *
s_head(uint8_t *frame)
{
    return (head_t *) (void *) (frame - HEAD_LEN);
}

fdy_frames_t *
fdy_frames_new(void)
{
    fdy_frames_t *self = fdy_xalloc(sizeof *self);
    pthread_mutex_init(&self->mutex, NULL);
    return self;
}

static void
s_pool_free(fdy_frames_t *self)
{
    pthread_mutex_destroy(&self->mutex);
    free(self);
}

void
fdy_frames_close(fdy_frames_t **self_p)
{
    fdy_frames_t *self = *self_p;
    *self_p = NULL;
    if (!self)
        return;
    pthread_mutex_lock(&self->mutex);
    self->closed = true;
    for (size_t i = 0; i < self->count; i++)
        free(self->buffers[i]);
    self->count = 0;
    bool last = self->outstanding == 0;
    pthread_mutex_unlock(&self->mutex);
    if (last)
        s_pool_free(self);
}

uint8_t *
fdy_frames_take(fdy_frames_t *self, size_t need, size_t *cap_out)
{
    uint8_t *raw = NULL;
    fdy_frames_t *pool = NULL;
    if (need <= FDY_FRAME_CAP) {
        pool = self;
        pthread_mutex_lock(&self->mutex);
        if (self->count > 0)
            raw = self->buffers[--self->count];
        self->outstanding++;
        pthread_mutex_unlock(&self->mutex);
        if (!raw)
            raw = malloc(HEAD_LEN + FDY_FRAME_CAP); /* written before read: no zeroing */
        need = FDY_FRAME_CAP;
    } else {
        raw = malloc(HEAD_LEN + need);
    }
    if (!raw) {
        fdy_log_err("OUT-OF-MEMORY", "delivery frame: out of memory; aborting");
        abort();
    }
    head_t *head = (head_t *) (void *) raw;
    *head = (head_t){.pool = pool};
    *cap_out = need;
    return raw + HEAD_LEN;
}

static void
s_queue_unref(fdy_send_queue_t *queue)
{
    if (atomic_fetch_sub(&queue->refs, 1) == 1)
        free(queue);
}

/* libzmq's free callback (any thread), and our own discards. */
static void
s_frame_done(void *data, void *hint)
{
    (void) hint;
    head_t *head = s_head(data);
    if (head->queue) {
        atomic_fetch_sub(&head->queue->bytes, head->len);
        s_queue_unref(head->queue);
    }
    fdy_frames_t *pool = head->pool;
    void *raw = head;
    if (!pool) {
        free(raw);
        return;
    }
    pthread_mutex_lock(&pool->mutex);
    pool->outstanding--;
    bool keep = !pool->closed && pool->count < POOL_MAX;
    if (keep)
        pool->buffers[pool->count++] = raw;
    bool last = pool->closed && pool->outstanding == 0;
    pthread_mutex_unlock(&pool->mutex);
    if (!keep)
        free(raw);
    if (last)
        s_pool_free(pool);
}

void
fdy_frames_discard(fdy_frames_t *self, uint8_t *frame)
{
    (void) self;
    if (frame)
        s_frame_done(frame, NULL);
}

void
fdy_frames_hand_over(fdy_frames_t *self, uint8_t *frame, size_t len, fdy_send_queue_t *queue,
                     zmq_free_fn **free_fn, void **hint)
{
    (void) self;
    head_t *head = s_head(frame);
    head->len = len;
    head->queue = queue;
    if (queue) {
        atomic_fetch_add(&queue->refs, 1);
        atomic_fetch_add(&queue->bytes, len);
    }
    *free_fn = s_frame_done;
    *hint = NULL;
}

fdy_send_queue_t *
fdy_send_queue_new(uint64_t limit)
{
    fdy_send_queue_t *self = fdy_xalloc(sizeof *self);
    atomic_init(&self->bytes, 0);
    atomic_init(&self->refs, 1);
    self->limit = limit;
    return self;
}

void
fdy_send_queue_release(fdy_send_queue_t **self_p)
{
    if (*self_p)
        s_queue_unref(*self_p);
    *self_p = NULL;
}

uint64_t
fdy_send_queue_bytes(const fdy_send_queue_t *self)
{
    return atomic_load(&((fdy_send_queue_t *) self)->bytes);
}

bool
fdy_send_queue_full(const fdy_send_queue_t *self)
{
    return self->limit && fdy_send_queue_bytes(self) >= self->limit;
}
