/*  frames.h: DELIVER frame buffers and what each connection has queued in
 *  libzmq. A frame buffer is handed to libzmq without a copy; libzmq calls
 *  its free callback (on its I/O thread) once the bytes left for the
 *  socket, or the peer went. Until then the frame counts against its
 *  connection's send queue: a client that stops reading holds at most its
 *  queue's limit of the broker's memory, however much credit it gave.
 */
#ifndef FDY_FRAMES_H_INCLUDED
#define FDY_FRAMES_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

/* Below glibc's mmap threshold (128 KiB): pooled frames come from, and go
 * back to, the heap instead of fresh zeroed pages every time. */
#define FDY_FRAME_TARGET (96u * 1024u)
#define FDY_FRAME_CAP    (FDY_FRAME_TARGET + 1034u) /* + one record's prefix and slack */

typedef struct fdy_frames fdy_frames_t;
typedef struct fdy_send_queue fdy_send_queue_t;

/* A pool of frame buffers. Aborts on out-of-memory. Caller owns;
 * fdy_frames_close() (the pool lives on while libzmq holds frames). */
fdy_frames_t *fdy_frames_new(void);
void fdy_frames_close(fdy_frames_t **self_p);

/* A buffer with room for need bytes; *cap_out says how many. Frames up to
 * FDY_FRAME_CAP come from the pool; a bigger record gets its own. */
uint8_t *fdy_frames_take(fdy_frames_t *self, size_t need, size_t *cap_out);
/* Gives back a frame that was never sent. */
void fdy_frames_discard(fdy_frames_t *self, uint8_t *frame);
/* Prepares frame (len bytes used) for zmq_msg_init_data: *free_fn and
 * *hint to pass with it. Its bytes count against queue (may be NULL) until
 * libzmq frees it. */
void fdy_frames_hand_over(fdy_frames_t *self, uint8_t *frame, size_t len,
                          fdy_send_queue_t *queue, zmq_free_fn **free_fn, void **hint);

/* One connection's send queue, full at limit bytes. Shared with libzmq's
 * I/O thread: reference counted, so frames in flight outlive the
 * connection record. */
fdy_send_queue_t *fdy_send_queue_new(uint64_t limit);
void fdy_send_queue_release(fdy_send_queue_t **self_p);
uint64_t fdy_send_queue_bytes(const fdy_send_queue_t *self);
bool fdy_send_queue_full(const fdy_send_queue_t *self);

#endif
