/*  baseline.h: raw libzmq CURVE DEALER -> ROUTER throughput, the reference
 *  foundry-bench compares durable publishing with, and the loopback CURVE
 *  pair it and the window-1 floor (commit_floor.h) are built on.
 */
#ifndef FDY_BASELINE_H_INCLUDED
#define FDY_BASELINE_H_INCLUDED

#include "foundry.h"

#include <stddef.h>

/* A CURVE ROUTER bound to tcp://127.0.0.1:* in a libzmq context of its
 * own. No ZAP handler runs in it, so libzmq accepts any client key:
 * encryption and the handshake are measured, key lookup is not (the broker
 * does it once per connection). Receives time out after 10 s, so a peer
 * that died is reported rather than waited for. */
typedef struct {
    void *ctx;
    void *router;
    char public_key[41];
    char endpoint[256];
} fdy_curve_server_t;

/* Opens *self. Returns FOUNDRY_OK, or FOUNDRY_EIO having printed why
 * (naming what); call fdy_curve_server_close() in both cases. */
foundry_err fdy_curve_server_open(fdy_curve_server_t *self, const char *what);

/* A DEALER of self's context with a fresh key pair, connected to it (for
 * the thread that uses it), or NULL with zmq_errno() set. */
void *fdy_curve_server_dealer(const fdy_curve_server_t *self);

/* After a failure, before joining the peer's thread: closes the router
 * without lingering and shuts the context, so the peer's blocked calls
 * return. */
void fdy_curve_server_unblock(fdy_curve_server_t *self);

void fdy_curve_server_close(fdy_curve_server_t *self);

/* Sends one warm-up frame (the CURVE handshake is not timed), then count
 * frames of payload_size bytes from a DEALER thread to a ROUTER with CURVE
 * on loopback; *seconds_out is the receiver's time from the warm-up frame to
 * the last one. No ZAP handler runs, so libzmq accepts the client key: the
 * handshake's key check is a per-connection cost the broker pays once.
 * Returns FOUNDRY_OK, or FOUNDRY_EIO having printed why. */
foundry_err fdy_baseline_run(size_t count, size_t payload_size, double *seconds_out);

#endif
