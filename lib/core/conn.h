/*  conn.h: one CURVE-authenticated DEALER connection to a broker, shared by
 *  libfoundry and foundryctl. It watches the socket monitor because libzmq
 *  reports a refused key only as ZMQ_EVENT_HANDSHAKE_FAILED_* events: without
 *  that a client whose key was refused would hang instead of failing.
 *  Not thread-safe: one thread per connection.
 */
#ifndef FDY_CONN_H_INCLUDED
#define FDY_CONN_H_INCLUDED

#include "codec.h"

typedef struct fdy_conn fdy_conn_t;

typedef struct {
    const char *endpoint;       /* broker endpoint */
    const char *broker_public;  /* Z85 */
    const char *public_key;     /* Z85, ours */
    const char *secret_key;     /* Z85, ours */
    int sndhwm;                 /* 0 = 1000 frames */
    int rcvhwm;                 /* 0 = 1000 frames */
} fdy_conn_opts_t;

typedef enum {
    FDY_CONN_CONNECTING = 0, /* no handshake yet */
    FDY_CONN_UP = 1,         /* handshake succeeded, not disconnected since */
    FDY_CONN_DOWN = 2,       /* was up, disconnected; libzmq is reconnecting */
    FDY_CONN_AUTH_FAILED = 3 /* the broker refused our key (final until a later success) */
} fdy_conn_state_t;

/* Creates its own ZeroMQ context, a DEALER with CURVE client keys,
 * ZMQ_IMMEDIATE (nothing queued to a connection that is not up) and a
 * monitor, and connects. Does not wait. Returns FOUNDRY_OK and *out (caller
 * owns; fdy_conn_destroy()), FOUNDRY_EINVAL (bad endpoint or key),
 * FOUNDRY_EIO (out of sockets or file descriptors) or FOUNDRY_ENOMEM, with
 * reason. */
foundry_err fdy_conn_new(const fdy_conn_opts_t *opts, fdy_conn_t **out, fdy_reason_t *reason);

/* Closes without lingering and destroys the context. */
void fdy_conn_destroy(fdy_conn_t **self_p);

/* Waits until the state is UP, for up to timeout_ms. Returns FOUNDRY_OK,
 * FOUNDRY_EAUTH (key refused), FOUNDRY_EIO "connection refused at E" as
 * soon as a connect attempt was refused (nothing listens there), or
 * FOUNDRY_ETIMEDOUT (no handshake in time: host unreachable, or silent),
 * with reason. */
foundry_err fdy_conn_wait_up(fdy_conn_t *self, int timeout_ms, fdy_reason_t *reason);

/* Reads pending monitor events without blocking. Returns true when the
 * state changed. */
bool fdy_conn_process_events(fdy_conn_t *self);

fdy_conn_state_t fdy_conn_state(const fdy_conn_t *self);

/* Counts successful handshakes: when it changes, the broker may have lost
 * whatever was in flight, so callers resend what is unacknowledged. */
uint64_t fdy_conn_epoch(const fdy_conn_t *self);

/* Sends frames as one multipart message without blocking. Returns
 * FOUNDRY_OK, FOUNDRY_ETIMEDOUT (would block: not connected, or HWM reached;
 * nothing sent) or FOUNDRY_EIO. */
foundry_err fdy_conn_send(fdy_conn_t *self, const fdy_slice_t *frames, size_t frame_count);

/* Releases a frame sent without a copy; the same signature as zmq_free_fn. */
typedef void(fdy_conn_free_fn)(void *data, void *hint);

/* Like fdy_conn_send, but each frame whose hints[i] is not NULL is handed to
 * libzmq without a copy (for large frames on a hot path): free_fn(data,
 * hints[i]) is called exactly once for each such frame, whatever the
 * result, possibly later and on a libzmq thread. Until then its bytes must
 * stay valid and unchanged. Returns as fdy_conn_send, or FOUNDRY_ENOMEM. */
foundry_err fdy_conn_send_zero_copy(fdy_conn_t *self, const fdy_slice_t *frames, void *const *hints,
                                    size_t frame_count, fdy_conn_free_fn *free_fn);

/* Waits up to timeout_ms (0 = poll, -1 = forever) for one reply, processing
 * monitor events meanwhile, and decodes it into arena (reset by the
 * caller). Returns FOUNDRY_OK, FOUNDRY_ETIMEDOUT, FOUNDRY_EAUTH (handshake
 * refused while waiting), or a decode error (reply skipped), with reason. */
foundry_err fdy_conn_recv(fdy_conn_t *self, int timeout_ms, fdy_arena_t *arena,
                          fdy_envelope_t *env_out, fdy_reason_t *reason);

/* Sends env (one frame) and waits for the reply with the same request_id,
 * ignoring others, for up to timeout_ms. When the connection comes back
 * before the reply, the same frame is sent again, so env must be safe to
 * send twice (an ADMIN request with a token). Returns FOUNDRY_OK with the
 * reply in *reply_out (which may itself be kind ERROR), or as
 * fdy_conn_send/recv. */
foundry_err fdy_conn_request(fdy_conn_t *self, const fdy_envelope_t *env, int timeout_ms,
                             fdy_arena_t *arena, fdy_envelope_t *reply_out,
                             fdy_reason_t *reason);

/* The DEALER and monitor sockets, for zmq_poll in an event loop. Borrowed. */
void *fdy_conn_socket(fdy_conn_t *self);
void *fdy_conn_monitor_socket(fdy_conn_t *self);

#endif
