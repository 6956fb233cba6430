/*  reply.h: the only code that writes to the broker's ROUTER socket. Every
 *  reply, error and delivery leaves through here, so one place encodes,
 *  counts and logs refused sends; it is also the seam unit tests replace
 *  with a fake (tests/unit/fake_reply.c) to test a service without sockets.
 */
#ifndef FDY_REPLY_H_INCLUDED
#define FDY_REPLY_H_INCLUDED

#include "codec.h"
#include "service.h"

#include <stdint.h>
#include <zmq.h>

/* Returns a new sender on socket (a bound ROUTER; borrowed, must outlive
 * it). Aborts on out-of-memory. Caller owns; fdy_reply_destroy(). */
fdy_reply_t *fdy_reply_new(void *socket);
void fdy_reply_destroy(fdy_reply_t **self_p);

/* Encodes env and sends it to `to`. Never blocks: a message to a peer that
 * left or is over its high-water mark is dropped (logged, rate-limited);
 * clients resend by request id and durable deliveries come again. */
void fdy_reply_send(fdy_reply_t *self, const fdy_peer_t *to, const fdy_envelope_t *env);

/* Sends ERROR {request_id, subscription, code, reason}; an empty or NULL
 * reason becomes foundry_strerror(code). Counted in "errors". */
void fdy_reply_error(fdy_reply_t *self, const fdy_peer_t *to, uint64_t request_id,
                     uint64_t subscription, foundry_err code, const char *reason);

/* Sends env plus one body frame. Takes the buffer whether or not it is
 * sent: free_fn(frame, hint) runs once libzmq is done with it (possibly on
 * libzmq's I/O thread), or at once when the send fails. */
void fdy_reply_send_frame(fdy_reply_t *self, const fdy_peer_t *to, const fdy_envelope_t *env,
                          uint8_t *frame, size_t len, zmq_free_fn *free_fn, void *hint);

/* Error replies sent since start. */
uint64_t fdy_reply_errors(const fdy_reply_t *self);
/* Of those, the ones with error code `code` (foundry_err; codes past the
 * table count in its last slot). 0 for a code out of range. */
#define FDY_REPLY_CODES_MAX 64
uint64_t fdy_reply_errors_by_code(const fdy_reply_t *self, int code);

#endif
